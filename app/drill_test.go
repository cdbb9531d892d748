package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/app"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/keys/vaulttest"
	"github.com/verwerker/verwerker/records"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
	"github.com/verwerker/verwerker/subject"
)

// TestBackupDrill is the backup drill of docs/operations.md, against a
// real Vault: a pg_dump taken before a subject's erasure (crypto-shredding)
// still reveals the subject until the next key rotation cycle; after one
// cycle (records.DefaultRotationInterval, the job's RotateDue), the same
// dump restored into a new database cannot decrypt the erased subject's
// records, while a subject of a customer whose cycle has not run yet
// decrypts from it, and a dump taken after the cycle decrypts every live
// subject. That is the erasure horizon docs/keys.md states: one rotation
// cycle (plus Vault's snapshot retention, which this drill does not
// restore). The price it also shows: a dump older than its customer's
// last cycle decrypts none of that customer's subjects.
func TestBackupDrill(t *testing.T) {
	t.Parallel()
	ring := drillKeyring(t)
	server := storetest.ServerURL(t)
	e := newEnv(t, storetest.NewURL(t))
	e.ring = ring
	a := e.replica(t)
	e.client(t, a, false) // erasure enqueues its purge; the purge does not run, as on a replica without workers
	customerA := e.customer(t, a, "Alpha B.V.")
	e.write(t, a, customerA.ID, "erased", 1, 3)
	e.write(t, a, customerA.ID, "kept", 1, 2)
	e.clock.Advance(10 * 24 * time.Hour)
	customerB := e.customer(t, a, "Bravo B.V.")
	e.write(t, a, customerB.ID, "other", 1, 2)

	var erasedID string
	require.NoError(t, e.db.Pool.QueryRow(e.ctx, `SELECT subject_id FROM records WHERE tenant_id = $1 GROUP BY subject_id HAVING count(*) = 3`,
		customerA.ID).Scan(&erasedID))
	before := dump(t, e.url)
	_, err := a.Records.EraseSubject(e.ctx, customerA.ID, "erased-0")
	require.NoError(t, err)
	_, err = readable(e.ctx, a, customerA.ID, "erased-0")
	require.Error(t, err, "erased: unreadable in the live database at once")

	// Before a rotation cycle the dump still reveals the subject: the
	// erasure has not reached the backup yet.
	r1 := e.restored(t, server, before)
	n, err := readable(e.ctx, r1, customerA.ID, "erased-0")
	require.NoError(t, err, "a backup reveals the erased subject until the next cycle")
	require.Equal(t, 3, n)

	// One rotation cycle, as the periodic job runs it: customer A's key
	// is due, customer B's (ten days younger) not yet.
	e.clock.Advance(4*24*time.Hour + time.Hour)
	res, err := a.Records.RotateDue(e.ctx, records.DefaultRotationInterval, keys.RotateOptions{Settle: -1})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Equal(t, customerA.ID, res[0].Tenant)
	n, err = readable(e.ctx, a, customerA.ID, "kept-0")
	require.NoError(t, err, "live subjects are rewrapped and stay readable")
	require.Equal(t, 2, n)

	r2 := e.restored(t, server, before)
	_, err = readable(e.ctx, r2, customerA.ID, "erased-0")
	require.Error(t, err, "after one cycle the backup cannot reveal the erased subject")
	require.Equal(t, 3, e.countIn(t, r2, `SELECT count(*) FROM records r JOIN subject_keys k USING (tenant_id, subject_id)
		WHERE r.tenant_id = $1 AND r.subject_id = $2`, customerA.ID, erasedID),
		"the backup holds the subject's sealed records and wrapped key; the key no longer unwraps")
	n, err = readable(e.ctx, r2, customerB.ID, "other-0")
	require.NoError(t, err, "the restored backup works: a customer whose cycle has not run decrypts")
	require.Equal(t, 2, n)
	_, err = readable(e.ctx, r2, customerA.ID, "kept-0")
	require.Error(t, err, "the price: a dump older than its customer's last cycle decrypts none of its subjects")

	after := dump(t, e.url)
	r3 := e.restored(t, server, after)
	n, err = readable(e.ctx, r3, customerA.ID, "kept-0")
	require.NoError(t, err, "a backup taken after the cycle restores the live subjects")
	require.Equal(t, 2, n)
	_, err = readable(e.ctx, r3, customerA.ID, "erased-0")
	require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err), "and holds nothing of the erased subject")
}

// drillKeyring is the test Vault's Transit keyring: the erasure horizon is
// a property of Vault's key versions, so the drill fails without Vault.
func drillKeyring(t *testing.T) keys.Keyring {
	t.Helper()
	if os.Getenv("VERWERKER_TEST_VAULT_ADDR") == "" || os.Getenv("VERWERKER_TEST_VAULT_TOKEN") == "" {
		t.Fatal("the backup drill needs a real Vault: set VERWERKER_TEST_VAULT_ADDR and VERWERKER_TEST_VAULT_TOKEN (make test, or eval \"$(deploy/vault.sh env)\")")
	}
	return vaulttest.Shared(t).Transit(t, keys.TransitOptions{})
}

// dump takes a pg_dump (custom format) of the database at url, as a backup
// does, and returns the file.
func dump(t *testing.T, url string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "backup.dump")
	out, err := exec.Command("pg_dump", "--format=custom", "--file="+file, "--dbname="+url).CombinedOutput()
	require.NoError(t, err, "pg_dump: %s", out)
	return file
}

// restored restores file into a new database on server and returns an
// application on it (the env's clock, keyring and subject key), as an
// operator restoring a backup would run one.
func (e *env) restored(t *testing.T, server, file string) *app.App {
	t.Helper()
	ctx := context.Background()
	name := "verwerker_restore_" + strings.ToLower(verwerker.NewID("r", time.Now()))[2:14]
	conn, err := pgx.Connect(ctx, server)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0")
	require.NoError(t, err)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), server)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	url := withDatabase(t, server, name)
	out, err := exec.Command("pg_restore", "--exit-on-error", "--no-owner", "--dbname="+url, file).CombinedOutput()
	require.NoError(t, err, "pg_restore: %s", out)
	db, err := store.Open(ctx, url, store.Options{MaxConns: 5})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	a, err := app.New(ctx, app.Config{Version: "test"}, app.Deps{DB: db, Clock: e.clock, Logger: slog.New(slog.DiscardHandler), Keyring: e.ring,
		SubjectKey: make([]byte, subject.KeySize)})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	return a
}

// countIn runs a query that returns one number on a's database.
func (e *env) countIn(t *testing.T, a *app.App, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, a.DB.Pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// readable exports the records of ref's subject, decrypted, and returns
// how many there are.
func readable(ctx context.Context, a *app.App, tenantID, ref string) (int, error) {
	x, err := a.Records.OpenExport(ctx, tenantID, ref)
	if err != nil {
		return 0, err
	}
	defer x.Close()
	var buf bytes.Buffer
	st, err := x.WriteTo(ctx, func() io.Writer { return &buf })
	return st.Records, err
}

// withDatabase returns server's URL with its database replaced by name.
func withDatabase(t *testing.T, server, name string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(server)
	require.NoError(t, err)
	return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Password, cfg.Host, cfg.Port, name)
}

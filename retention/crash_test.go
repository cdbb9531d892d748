package retention_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/records"
	"github.com/verwerker/verwerker/retention"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/subject"
	"github.com/verwerker/verwerker/subprocessor"
)

// The child process of TestSweepProcessKilledMidBatch: it sweeps the
// customer named in the environment and blocks inside its third deleting
// transaction until it is killed.
const (
	envChildDB     = "VERWERKER_RETENTION_CHILD_DB"
	envChildTenant = "VERWERKER_RETENTION_CHILD_TENANT"
	envChildNow    = "VERWERKER_RETENTION_CHILD_NOW"
)

func TestSweepChildProcess(t *testing.T) {
	url := os.Getenv(envChildDB)
	if url == "" {
		return // only as the child of TestSweepProcessKilledMidBatch
	}
	ctx := verwerker.WithPrincipal(context.Background(), verwerker.Principal{ID: "key_child", Kind: verwerker.PrincipalAPIKey})
	now, err := time.Parse(time.RFC3339Nano, os.Getenv(envChildNow))
	require.NoError(t, err)
	clock := verwerker.NewManualClock(now)
	db, err := store.Open(ctx, url, store.Options{MaxConns: 4})
	require.NoError(t, err)
	log := audit.NewLog(db, clock)
	agreements := dpa.NewService(db, clock, log, subprocessor.Lists{})
	subjects, err := subject.NewService(db, clock, log, make([]byte, subject.KeySize))
	require.NoError(t, err)
	decisions, err := decision.New(ctx, db, agreements, subjects, log, clock, nil)
	require.NoError(t, err)
	ring, err := keys.OpenLocalKeyring(t.TempDir()+"/keyring.key", nil)
	require.NoError(t, err)
	mgr := keys.NewManager(db, ring, keys.ManagerOptions{Clock: clock})
	svc := retention.New(db, records.New(db, mgr, decisions, subjects, log, clock, nil), agreements, log, clock, nil, nil)
	retention.SetBatchSize(svc, 5)
	batches := 0
	retention.SetInBatch(svc, func(ctx context.Context, _ pgx.Tx) {
		if batches++; batches == 3 {
			fmt.Println("CHILD: inside batch 3")
			select {} // killed here, with the batch's transaction open
		}
	})
	_, _, err = svc.Run(ctx, os.Getenv(envChildTenant))
	t.Fatalf("the child was not killed: %v", err)
}

// TestSweepProcessKilledMidBatch: a replica's process is killed (SIGKILL)
// inside a deleting transaction; the next sweep resumes the same sweep and
// deletes everything exactly once.
func TestSweepProcessKilledMidBatch(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.many(t, "v", 8, 5)
	f.clock.Advance(days(31))
	cmd := exec.Command(os.Args[0], "-test.run=^TestSweepChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChildDB+"="+f.url, envChildTenant+"="+f.tenant, envChildNow+"="+f.clock.Now().Format(time.RFC3339Nano))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	buf := make([]byte, 4096)
	var got string
	for {
		n, err := out.Read(buf)
		got += string(buf[:n])
		if err != nil || len(got) > 0 && strings.Contains(got, "CHILD: inside batch 3") {
			break
		}
	}
	require.Contains(t, got, "CHILD: inside batch 3")
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	// The open batch rolled back: two batches of five are gone.
	f.waitNoLocks(t)
	assert.Equal(t, 40-10, f.records_(t))

	w := f.run(t)
	assert.EqualValues(t, 40, w.Records, "the resumed sweep certifies everything, once")
	total, distinct := f.ledgerIDs(t)
	assert.Equal(t, 40, total)
	assert.Equal(t, 40, distinct)
	assert.Equal(t, 1, f.count(t, `SELECT count(*) FROM retention_sweeps WHERE tenant_id = $1`, f.tenant))
}

// waitNoLocks waits until the killed child's session is gone from the
// server (it notices the closed socket), bounded.
func (f *fixture) waitNoLocks(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		return f.count(t, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
			AND state LIKE 'idle in transaction%'`) == 0
	}, 30*time.Second, 20*time.Millisecond)
}

// TestSweepSessionEndedByServer: the database server ends the sweeper's
// session inside a deleting transaction (as a restart of PostgreSQL does);
// the sweep fails without deleting that batch and the next run resumes it,
// deleting everything exactly once.
func TestSweepSessionEndedByServer(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.many(t, "v", 6, 5)
	f.clock.Advance(days(31))
	retention.SetBatchSize(f.svc, 4)
	batches := 0
	retention.SetInBatch(f.svc, func(ctx context.Context, tx pgx.Tx) {
		if batches++; batches != 2 {
			return
		}
		var pid int
		require.NoError(t, tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid))
		_, err := f.db.Pool.Exec(context.Background(), `SELECT pg_terminate_backend($1)`, pid)
		require.NoError(t, err)
	})
	_, _, err := f.svc.Run(f.ctx, f.tenant)
	require.Error(t, err)
	assert.Equal(t, 30-4, f.records_(t), "only the first batch is gone")
	retention.SetInBatch(f.svc, nil)
	w := f.run(t)
	assert.EqualValues(t, 30, w.Records)
	total, distinct := f.ledgerIDs(t)
	assert.Equal(t, 30, total)
	assert.Equal(t, 30, distinct)
}

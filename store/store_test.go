package store_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
	"golang.org/x/sync/errgroup"
)

func TestMigrateEmptyDatabaseAndRerun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.NewEmptyURL(t), store.Options{})
	require.NoError(t, err)
	defer db.Close()

	cur, target, err := db.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Zero(t, cur)
	require.Positive(t, target)

	v, err := db.Migrate(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, target, v)

	// A second run is a no-op and keeps the data.
	_, err = db.Pool.Exec(ctx, `INSERT INTO tenants (id, name, country, contact_email, created_at, updated_at)
		VALUES ('tnt_x', 'Keep Me', 'NL', 'privacy@keep.example', now(), now())`)
	require.NoError(t, err)
	v2, err := db.Migrate(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, v, v2)
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM tenants").Scan(&n))
	require.Equal(t, 1, n)
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.NewEmptyURL(t)

	// Several replicas start at once, each with its own pool.
	const replicas = 4
	var g errgroup.Group
	versions := make([]int64, replicas)
	for i := range replicas {
		g.Go(func() error {
			db, err := store.Open(ctx, url, store.Options{})
			if err != nil {
				return err
			}
			defer db.Close()
			versions[i], err = db.Migrate(ctx, nil)
			return err
		})
	}
	require.NoError(t, g.Wait())

	db, err := store.Open(ctx, url, store.Options{})
	require.NoError(t, err)
	defer db.Close()
	cur, target, err := db.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, target, cur)
	for _, v := range versions {
		require.Equal(t, target, v)
	}
	// Each migration was recorded exactly once (numbers may have gaps).
	var applied, distinct int
	require.NoError(t, db.Pool.QueryRow(ctx,
		"SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0").Scan(&applied, &distinct))
	require.Equal(t, distinct, applied)
	files, err := fs.Glob(store.Migrations(), "*.sql")
	require.NoError(t, err)
	require.Equal(t, len(files), distinct)
}

func TestInTxRollsBackOnError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO tenants (id, name, country, contact_email, created_at, updated_at)
			VALUES ('tnt_y', 'Half', 'NL', 'a@b.example', now(), now())`); err != nil {
			return err
		}
		return errors.New("boom")
	})
	require.EqualError(t, err, "boom")
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM tenants").Scan(&n))
	require.Zero(t, n, "nothing half-written")
}

func TestClusterStartsAndStops(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := store.FindPostgres(""); err != nil {
		t.Fatalf("PostgreSQL binaries are required for the embedded default: %v", err)
	}
	c, err := store.StartCluster(ctx, store.ClusterOptions{})
	require.NoError(t, err)
	db, err := store.Open(ctx, c.URL(), store.Options{})
	require.NoError(t, err)
	_, err = db.Migrate(ctx, nil)
	require.NoError(t, err)
	db.Close()

	dir := c.Dir()
	require.NoError(t, c.Stop())
	_, err = os.Stat(dir)
	require.True(t, os.IsNotExist(err), "cluster directory removed")
	_, err = store.Open(ctx, c.URL(), store.Options{})
	require.Error(t, err, "server gone")
}

// TestClusterRestart: a pool opened before a fast restart of the server
// answers after it (pgxpool replaces the ended sessions), a transaction in
// flight during the restart rolls back, and the data stays.
func TestClusterRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := storetest.NewCluster(t)
	require.NotZero(t, c.Port())
	db, err := store.Open(ctx, c.URL(), store.Options{MaxConns: 4})
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Pool.Exec(ctx, `CREATE TABLE restart_probe (n int)`)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `INSERT INTO restart_probe VALUES (1)`)
	require.NoError(t, err)
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `INSERT INTO restart_probe VALUES (2)`)
	require.NoError(t, err)

	c.Restart(t)
	require.Error(t, tx.Commit(ctx), "the transaction in flight ended with its session")
	var n, sum int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(n), 0) FROM restart_probe`).Scan(&n, &sum))
	require.Equal(t, 1, n)
	require.Equal(t, 1, sum)

	require.NoError(t, c.StopServer())
	_, err = db.Pool.Exec(ctx, `SELECT 1`)
	require.Error(t, err, "stopped")
	require.NoError(t, c.StartServer(ctx))
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM restart_probe`).Scan(&n))
	require.Equal(t, 1, n)
}

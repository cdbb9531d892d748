package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
)

// TestRecordsPartitionMigration: migration 40 partitions the records table
// by deadline month and keeps every row, its creation order and its
// deadline (a deadline from the contract's end becomes infinity, in
// records_never); new rows continue the creation order; down restores the
// unpartitioned table with the same rows.
func TestRecordsPartitionMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.NewEmptyURL(t), store.Options{})
	require.NoError(t, err)
	defer db.Close()
	sqlDB := stdlib.OpenDBFromPool(db.Pool)
	defer sqlDB.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, store.Migrations(), goose.WithDisableGlobalRegistry(true))
	require.NoError(t, err)
	_, err = p.UpTo(ctx, 39)
	require.NoError(t, err)

	at := time.Date(2024, time.May, 2, 9, 0, 0, 0, time.UTC)
	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := db.Pool.Exec(ctx, sql, args...)
		require.NoError(t, err)
	}
	count := func(sql string) int {
		t.Helper()
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, sql).Scan(&n))
		return n
	}
	exec(`INSERT INTO tenants (id, name, country, contact_email, created_at, updated_at) VALUES ('tnt_a', 'A', 'NL', 'privacy@a.example', $1, $1)`, at)
	exec(`INSERT INTO subjects (tenant_id, id, ref, created_at, updated_at) VALUES ('tnt_a', 'sub_a', sha256('a'), $1, $1)`, at)
	insert := func(id string, due any) {
		exec(`INSERT INTO records (tenant_id, id, subject_id, kind, category, purpose, region, dpa_version, decision_id, retention_rule, delete_after, created_at, sealed)
			VALUES ('tnt_a', $1, 'sub_a', 'chat.message', 'chat.message', 'service.delivery', 'nl', 1, 'dec', '30d_after_last_interaction', $2, $3, '\x00')`, id, due, at)
	}
	insert("rec_1", at.AddDate(0, 1, 0))
	insert("rec_2", nil)
	insert("rec_3", at.AddDate(7, 0, 0))
	_, err = p.UpTo(ctx, 40)
	require.NoError(t, err)

	require.Equal(t, 1, count(`SELECT count(*) FROM pg_partitioned_table WHERE partrelid = 'records'::regclass`))
	require.Equal(t, 1, count(`SELECT count(*) FROM records_2024_06 WHERE id = 'rec_1'`), "its deadline month")
	require.Equal(t, 1, count(`SELECT count(*) FROM records_never WHERE id = 'rec_2' AND delete_after = 'infinity'`))
	require.Equal(t, 1, count(`SELECT count(*) FROM records_default WHERE id = 'rec_3'`), "beyond the months created")
	require.Equal(t, 3, count(`SELECT count(*) FROM records WHERE seq IN (1, 2, 3)`), "creation order kept")
	insert("rec_4", at.AddDate(0, 1, 0))
	require.Equal(t, 4, count(`SELECT seq FROM records WHERE id = 'rec_4'`), "and continued")

	_, err = p.DownTo(ctx, 39)
	require.NoError(t, err)
	require.Equal(t, 0, count(`SELECT count(*) FROM pg_partitioned_table`))
	require.Equal(t, 4, count(`SELECT count(*) FROM records`))
	require.Equal(t, 1, count(`SELECT count(*) FROM records WHERE id = 'rec_2' AND delete_after IS NULL`))
}

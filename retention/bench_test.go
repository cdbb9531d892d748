package retention_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/retention"
)

// benchSize reads a size from the environment, with a default.
func benchSize(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// once runs fn the first time a sub-benchmark runs and reports its metrics
// every time, so the one-shot measurement of a large data set is not
// repeated when the framework asks for more iterations.
func once(fn func(b *testing.B) map[string]float64) func(b *testing.B) {
	var o sync.Once
	var m map[string]float64
	return func(b *testing.B) {
		o.Do(func() { m = fn(b) })
		for unit, v := range m {
			b.ReportMetric(v, unit)
		}
		b.ReportMetric(0, "ns/op")
	}
}

func (f *fixture) exec(b testing.TB, sql string, args ...any) {
	b.Helper()
	_, err := f.db.Pool.Exec(context.Background(), sql, args...)
	require.NoError(b, err)
}

func (f *fixture) lsn(b testing.TB) string {
	var l string
	require.NoError(b, f.db.Pool.QueryRow(context.Background(), `SELECT pg_current_wal_lsn()::text`).Scan(&l))
	return l
}

func (f *fixture) walSince(b testing.TB, from string) float64 {
	var d float64
	require.NoError(b, f.db.Pool.QueryRow(context.Background(), `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)`, from).Scan(&d))
	return d
}

// fillSQL inserts $1 sealed chat messages of about 100 bytes into the table
// named by %s, their deadlines spread over $3 seconds from $2.
const fillSQL = `INSERT INTO %s (tenant_id, id, subject_id, kind, category, purpose, region, dpa_version, decision_id, retention_rule,
		delete_after, created_at, sealed)
	SELECT 'tnt_bench', 'rec_' || lpad(i::text, 26, '0'), 'sub_' || lpad((i / 10)::text, 26, '0'), 'chat.message', 'chat.message',
		'service.delivery', 'nl', 1, 'dec_bench', '30d_after_last_interaction', $2::timestamptz + (i %% $3) * interval '1 second',
		$2::timestamptz - interval '30 days', decode(repeat('5a', 100), 'hex')
	FROM generate_series(1, $1) AS i`

// BenchmarkPurge purges 1,000,000 expired chat messages (VERWERKER_BENCH_PURGE_ROWS)
// on one database, three ways: batched DELETE + VACUUM on the records layout
// (a copy of the table with its indexes), dropping a partition of a layout
// partitioned by deadline when the deadlines align with the partition, and
// batched DELETE on the partitioned layout when they do not. Rows/s and WAL
// bytes (pg_current_wal_lsn() before and after; the server is shared, so
// others' writes count too).
func BenchmarkPurge(b *testing.B) {
	n := benchSize("VERWERKER_BENCH_PURGE_ROWS", 1_000_000)
	f := setup(b)
	day := time.Date(2026, time.January, 10, 0, 0, 0, 0, time.UTC)
	const batch = 5000

	b.Run("delete-vacuum", once(func(b *testing.B) map[string]float64 {
		f.exec(b, `CREATE TABLE bench_plain (LIKE records INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES)`)
		f.exec(b, fmt.Sprintf(fillSQL, "bench_plain"), n, day, 86399)
		f.exec(b, `VACUUM ANALYZE bench_plain`)
		start, lsn := time.Now(), f.lsn(b)
		for {
			tag, err := f.db.Pool.Exec(context.Background(), `DELETE FROM bench_plain WHERE tenant_id = 'tnt_bench' AND id IN (
				SELECT id FROM bench_plain WHERE tenant_id = 'tnt_bench' AND delete_after <= $1 ORDER BY delete_after LIMIT $2 FOR UPDATE SKIP LOCKED)`,
				day.Add(24*time.Hour), batch)
			require.NoError(b, err)
			if tag.RowsAffected() < batch {
				break
			}
		}
		f.exec(b, `VACUUM bench_plain`)
		secs, wal := time.Since(start).Seconds(), f.walSince(b, lsn)
		f.exec(b, `DROP TABLE bench_plain`)
		return map[string]float64{"rows/s": float64(n) / secs, "wal-bytes": wal, "s": secs}
	}))

	b.Run("partition-drop", once(func(b *testing.B) map[string]float64 {
		f.exec(b, `CREATE TABLE bench_part (LIKE records INCLUDING DEFAULTS INCLUDING IDENTITY) PARTITION BY RANGE (delete_after)`)
		f.exec(b, `CREATE INDEX ON bench_part (tenant_id, delete_after)`)
		for d := range 3 {
			from := day.AddDate(0, 0, d-1)
			f.exec(b, fmt.Sprintf(`CREATE TABLE bench_part_%d PARTITION OF bench_part FOR VALUES FROM ('%s') TO ('%s')`, d,
				from.Format(time.RFC3339), from.AddDate(0, 0, 1).Format(time.RFC3339)))
		}
		f.exec(b, fmt.Sprintf(fillSQL, "bench_part"), n, day, 86399)
		f.exec(b, `VACUUM ANALYZE bench_part`)
		start, lsn := time.Now(), f.lsn(b)
		f.exec(b, `ALTER TABLE bench_part DETACH PARTITION bench_part_1`)
		f.exec(b, `DROP TABLE bench_part_1`)
		secs, wal := time.Since(start).Seconds(), f.walSince(b, lsn)
		return map[string]float64{"rows/s": float64(n) / secs, "wal-bytes": wal, "s": secs}
	}))

	b.Run("partition-unaligned-delete", once(func(b *testing.B) map[string]float64 {
		// Deadlines over two days: the first day's rows are due, in a
		// partition that also holds the rows of the day after.
		f.exec(b, `CREATE TABLE bench_part_wide PARTITION OF bench_part FOR VALUES FROM ('2026-01-20T00:00:00Z') TO ('2026-01-22T00:00:00Z')`)
		wide := time.Date(2026, time.January, 20, 0, 0, 0, 0, time.UTC)
		f.exec(b, fmt.Sprintf(fillSQL, "bench_part"), 2*n, wide, 2*86400)
		f.exec(b, `VACUUM ANALYZE bench_part`)
		// Without whole partitions to drop, the purge deletes by deadline
		// windows of about one batch each: index range deletes, no join.
		window := time.Duration(float64(batch) / float64(n) * float64(24*time.Hour))
		start, lsn := time.Now(), f.lsn(b)
		for from := wide; from.Before(wide.Add(24 * time.Hour)); from = from.Add(window) {
			to := from.Add(window)
			if end := wide.Add(24 * time.Hour); to.After(end) {
				to = end
			}
			_, err := f.db.Pool.Exec(context.Background(), `DELETE FROM bench_part WHERE tenant_id = 'tnt_bench' AND delete_after >= $1 AND delete_after < $2`, from, to)
			require.NoError(b, err)
		}
		secs, wal := time.Since(start).Seconds(), f.walSince(b, lsn)
		f.exec(b, `DROP TABLE bench_part`)
		return map[string]float64{"rows/s": float64(n) / secs, "wal-bytes": wal, "s": secs}
	}))
}

// seedDue inserts n subjects of the fixture's customer, each with a data
// key and one chat message due an hour ago.
func (f *fixture) seedDue(b testing.TB, prefix string, n int) {
	now := f.clock.Now()
	f.exec(b, `INSERT INTO subjects (tenant_id, id, ref, last_interaction_at, created_at, updated_at)
		SELECT $1, 'sub_' || $2 || lpad(i::text, 24, '0'), sha256(convert_to($2 || i::text, 'UTF8')), $3, $3, $3 FROM generate_series(1, $4) AS i`,
		f.tenant, prefix, now.Add(-31*24*time.Hour), n)
	f.exec(b, `INSERT INTO subject_keys (tenant_id, subject_id, wrapped, key_version, created_at)
		SELECT $1, 'sub_' || $2 || lpad(i::text, 24, '0'), 'vault:v1:bench', 1, $3 FROM generate_series(1, $4) AS i`,
		f.tenant, prefix, now.Add(-31*24*time.Hour), n)
	f.exec(b, `INSERT INTO records (tenant_id, id, subject_id, kind, category, purpose, region, dpa_version, decision_id, retention_rule,
			delete_after, created_at, sealed)
		SELECT $1, 'rec_' || $2 || lpad(i::text, 24, '0'), 'sub_' || $2 || lpad(i::text, 24, '0'), 'chat.message', 'chat.message',
			'service.delivery', 'nl', 1, 'dec_bench', '30d_after_last_interaction', $3::timestamptz, $3::timestamptz - interval '30 days',
			decode(repeat('5a', 100), 'hex')
		FROM generate_series(1, $4) AS i`, f.tenant, prefix, now.Add(-time.Hour), n)
}

// BenchmarkShred sweeps 10,000 subjects past their deadline
// (VERWERKER_BENCH_SHRED_SUBJECTS), one message each: the real sweep, which
// crypto-shreds each subject (its data key deleted, its reference
// unlinked), deletes the rows, writes the ledger per batch, verifies and
// certifies, with its audit event.
func BenchmarkShred(b *testing.B) {
	n := benchSize("VERWERKER_BENCH_SHRED_SUBJECTS", 10_000)
	f := setup(b)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		f.seedDue(b, fmt.Sprintf("s%02d", i%100), n)
		b.StartTimer()
		start := time.Now()
		w, ok, err := f.svc.Run(f.ctx, f.tenant)
		total += time.Since(start)
		require.NoError(b, err)
		require.True(b, ok)
		require.EqualValues(b, n, w.Subjects)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "subjects/s")
}

// BenchmarkForecast builds 10,000,000 records (VERWERKER_BENCH_FORECAST_RECORDS)
// of 1,000 customers with deadlines over the next 120 days, and measures one
// customer's forecast (7/30/90 days per category) and the forecast of all
// 1,000 customers one after the other.
func BenchmarkForecast(b *testing.B) {
	total := benchSize("VERWERKER_BENCH_FORECAST_RECORDS", 10_000_000)
	const customers = 1000
	f := setup(b)
	now, built := f.clock.Now(), time.Now()
	f.exec(b, `INSERT INTO tenants (id, name, country, contact_email, created_at, updated_at)
		SELECT 'tnt_b' || lpad(i::text, 25, '0'), 'Bench ' || i, 'NL', 'privacy@bench.example', $1, $1 FROM generate_series(1, $2) AS i`, now, customers)
	f.exec(b, `INSERT INTO subjects (tenant_id, id, ref, created_at, updated_at)
		SELECT 'tnt_b' || lpad((i / 10 + 1)::text, 25, '0'), 'sub_b' || lpad(i::text, 25, '0'), sha256(convert_to('b' || i::text, 'UTF8')), $1, $1
		FROM generate_series(0, $2 * 10 - 1) AS i`, now, customers)
	cats := []string{"chat.message", "chat.metadata", "contact.email"}
	// A bulk load into this throwaway database: constraints and indexes
	// are built once after it, as a restore does.
	f.exec(b, `ALTER TABLE records DROP CONSTRAINT records_tenant_id_subject_id_fkey, DROP CONSTRAINT records_pkey`)
	f.exec(b, `DROP INDEX records_subject, records_due`)
	f.exec(b, `INSERT INTO records (tenant_id, id, subject_id, kind, category, purpose, region, dpa_version, decision_id, retention_rule,
			delete_after, created_at, sealed)
		SELECT 'tnt_b' || lpad((i % $2 + 1)::text, 25, '0'), 'rec_b' || lpad(i::text, 25, '0'),
			'sub_b' || lpad(((i % $2) * 10 + i % 10)::text, 25, '0'), 'chat.message', ($4::text[])[i % 3 + 1], 'service.delivery', 'nl', 1, 'dec_bench',
			'30d_after_last_interaction', $3::timestamptz + (i % 10368000) * interval '1 second', $3, '\x00'::bytea
		FROM generate_series(0, $1 - 1) AS i`, total, customers, now, cats)
	f.exec(b, `ALTER TABLE records ADD PRIMARY KEY (tenant_id, id)`)
	f.exec(b, `CREATE INDEX records_subject ON records (tenant_id, subject_id, seq)`)
	f.exec(b, `CREATE INDEX records_due ON records (tenant_id, delete_after, id) INCLUDE (category)`)
	f.exec(b, `ALTER TABLE records ADD FOREIGN KEY (tenant_id, subject_id) REFERENCES subjects (tenant_id, id) NOT VALID`)
	f.exec(b, `VACUUM ANALYZE records`)
	b.Logf("built %d records of %d customers in %s", total, customers, time.Since(built).Round(time.Second))
	ids := make([]string, customers)
	for i := range ids {
		ids[i] = fmt.Sprintf("tnt_b%025d", i+1)
	}

	b.Run("one-customer", func(b *testing.B) {
		i := 0
		for b.Loop() {
			fc, err := f.svc.Forecast(f.ctx, ids[i%customers])
			require.NoError(b, err)
			require.Len(b, fc.Categories, len(cats))
			i++
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/forecast")
	})
	b.Run("all-customers", once(func(b *testing.B) map[string]float64 {
		start := time.Now()
		for _, id := range ids {
			_, err := f.svc.Forecast(f.ctx, id)
			require.NoError(b, err)
		}
		return map[string]float64{"ms/all": float64(time.Since(start).Microseconds()) / 1000}
	}))
}

var _ = retention.SweepBatch

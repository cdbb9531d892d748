package retention_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/records"
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

// seedBench inserts $1 sealed chat messages of about 100 bytes of the
// fixture's customer into the real records table, ten per subject (subject
// ids from prefix $4), their deadlines spread over $3 seconds from $2. The
// subjects have no data key: they were crypto-shredded when their deadline
// passed, and what is measured is the purge of the rows.
func (f *fixture) seedBench(b testing.TB, prefix string, n int, from time.Time, spread int) {
	f.exec(b, `INSERT INTO subjects (tenant_id, id, ref, created_at, updated_at, erased_at)
		SELECT $1, 'sub_' || $2 || lpad(i::text, 24, '0'), sha256(convert_to($2 || i::text, 'UTF8')), $3, $3, $3
		FROM generate_series(0, $4 / 10) AS i`, f.tenant, prefix, from.Add(-30*24*time.Hour), n)
	f.exec(b, `INSERT INTO records (tenant_id, id, subject_id, kind, category, purpose, region, dpa_version, decision_id, retention_rule,
			delete_after, created_at, sealed)
		SELECT $1, 'rec_' || $2 || lpad(i::text, 24, '0'), 'sub_' || $2 || lpad((i / 10)::text, 24, '0'), 'chat.message', 'chat.message',
			'service.delivery', 'nl', 1, 'dec_bench', '30d_after_last_interaction',
			$3::timestamptz + ((i - 1)::float8 * $5 / $4) * interval '1 second', $3::timestamptz - interval '30 days', decode(repeat('5a', 100), 'hex')
		FROM generate_series(1, $4) AS i`, f.tenant, prefix, from, n, spread)
}

// BenchmarkPurge purges 1,000,000 expired chat messages (VERWERKER_BENCH_PURGE_ROWS)
// on the real records table (partitioned by deadline month, with all its
// indexes), three ways on one database: the retention job dropping the
// month partition whose deadlines all passed (PurgePartitions, with its
// ledger line, certificate and audit event), batched DELETE + VACUUM of
// another month's rows, and, where deadlines do not align with partitions
// (the due rows share a month with rows not yet due), DELETE by deadline
// windows. Rows/s and WAL bytes (pg_current_wal_lsn() before and after; the
// server is shared, so others' writes count too). It also checks that a
// lookup by id is an index scan per partition and reports its time.
func BenchmarkPurge(b *testing.B) {
	n := benchSize("VERWERKER_BENCH_PURGE_ROWS", 1_000_000)
	f := setup(b)
	ctx := context.Background()
	_, err := f.svc.EnsurePartitions(f.ctx)
	require.NoError(b, err)
	jan := time.Date(2026, time.January, 10, 0, 0, 0, 0, time.UTC)
	feb := time.Date(2026, time.February, 10, 0, 0, 0, 0, time.UTC)
	require.NoError(b, f.db.InTx(ctx, func(tx pgx.Tx) error {
		_, err := records.EnsurePartitions(ctx, tx, jan, feb)
		return err
	}))
	// January: n rows due within one day. February: 2n rows over two days.
	f.seedBench(b, "a", n, jan, 86400)
	f.seedBench(b, "b", 2*n, feb, 2*86400)
	f.exec(b, `VACUUM ANALYZE records`)
	const batch = 5000

	b.Run("lookup-by-id", once(func(b *testing.B) map[string]float64 {
		var plan strings.Builder
		rows, err := f.db.Pool.Query(ctx, `EXPLAIN SELECT kind FROM records WHERE tenant_id = $1 AND id = $2`, f.tenant, "rec_b"+fmt.Sprintf("%024d", n/2))
		require.NoError(b, err)
		for rows.Next() {
			var line string
			require.NoError(b, rows.Scan(&line))
			plan.WriteString(line + "\n")
		}
		rows.Close()
		// Empty partitions are read whole (nothing to read); the filled
		// one by its primary key.
		require.Regexp(b, `Index (Only )?Scan using records_2026_02_pkey`, plan.String())
		require.NotContains(b, plan.String(), "Seq Scan on records_2026_02", plan.String())
		var parts int
		require.NoError(b, f.db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'records'::regclass`).Scan(&parts))
		const lookups = 2000
		start := time.Now()
		for i := range lookups {
			var kind string
			require.NoError(b, f.db.Pool.QueryRow(ctx, `SELECT kind FROM records WHERE tenant_id = $1 AND id = $2`, f.tenant,
				"rec_b"+fmt.Sprintf("%024d", 1+i*997%(2*n))).Scan(&kind))
		}
		return map[string]float64{"us/lookup": float64(time.Since(start).Microseconds()) / lookups, "partitions": float64(parts)}
	}))

	b.Run("partition-drop", once(func(b *testing.B) map[string]float64 {
		f.clock.Set(time.Date(2026, time.February, 1, 1, 0, 0, 0, time.UTC))
		start, lsn := time.Now(), f.lsn(b)
		dropped, err := f.svc.PurgePartitions(f.ctx)
		require.NoError(b, err)
		secs, wal := time.Since(start).Seconds(), f.walSince(b, lsn)
		require.Contains(b, dropped, "records_2026_01")
		w, err := f.svc.Sweeps(f.ctx, f.tenant, "", 1)
		require.NoError(b, err)
		require.EqualValues(b, n, w[0].Records, "certified")
		return map[string]float64{"rows/s": float64(n) / secs, "wal-bytes": wal, "s": secs}
	}))

	b.Run("delete-vacuum", once(func(b *testing.B) map[string]float64 {
		start, lsn := time.Now(), f.lsn(b)
		for {
			tag, err := f.db.Pool.Exec(ctx, `DELETE FROM records WHERE tenant_id = $1 AND delete_after >= $2 AND delete_after < $3 AND (id, delete_after) IN (
				SELECT id, delete_after FROM records WHERE tenant_id = $1 AND delete_after >= $2 AND delete_after < $3 ORDER BY delete_after LIMIT $4 FOR UPDATE SKIP LOCKED)`,
				f.tenant, feb, feb.Add(24*time.Hour), batch)
			require.NoError(b, err)
			if tag.RowsAffected() < batch {
				break
			}
		}
		f.exec(b, `VACUUM records_2026_02`)
		secs, wal := time.Since(start).Seconds(), f.walSince(b, lsn)
		return map[string]float64{"rows/s": float64(n) / secs, "wal-bytes": wal, "s": secs}
	}))

	b.Run("partition-unaligned-delete", once(func(b *testing.B) map[string]float64 {
		// The second day of February: due, in a partition whose month is
		// not over. Without a whole partition to drop, the purge deletes by
		// deadline windows of about 100,000 rows: index range deletes.
		from := feb.Add(24 * time.Hour)
		window := time.Duration(float64(100_000) / float64(n) * float64(24*time.Hour))
		start, lsn := time.Now(), f.lsn(b)
		var deleted int64
		end := from.Add(24 * time.Hour)
		for at := from; at.Before(end); at = at.Add(window) {
			to := at.Add(window)
			if to.After(end) {
				to = end
			}
			tag, err := f.db.Pool.Exec(ctx, `DELETE FROM records WHERE tenant_id = $1 AND delete_after >= $2 AND delete_after < $3`, f.tenant, at, to)
			require.NoError(b, err)
			deleted += tag.RowsAffected()
		}
		secs, wal := time.Since(start).Seconds(), f.walSince(b, lsn)
		require.EqualValues(b, n, deleted)
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
// (VERWERKER_BENCH_SHRED_SUBJECTS), one message each, three times: the real
// sweep, which crypto-shreds each subject (its data key deleted, its
// reference unlinked), deletes the rows, writes the ledger per batch,
// verifies and certifies, with its audit event. It reports the slowest and
// the median of the three rounds.
func BenchmarkShred(b *testing.B) {
	n := benchSize("VERWERKER_BENCH_SHRED_SUBJECTS", 10_000)
	f := setup(b)
	_, err := f.svc.EnsurePartitions(f.ctx)
	require.NoError(b, err)
	b.Run("sweep", once(func(b *testing.B) map[string]float64 {
		var rates []float64
		for i := range 3 {
			f.seedDue(b, fmt.Sprintf("s%02d", i), n)
			f.exec(b, `ANALYZE records`)
			start := time.Now()
			w, ok, err := f.svc.Run(f.ctx, f.tenant)
			secs := time.Since(start).Seconds()
			require.NoError(b, err)
			require.True(b, ok)
			require.EqualValues(b, n, w.Subjects)
			require.NotEmpty(b, w.AuditHash)
			rates = append(rates, float64(n)/secs)
		}
		sort.Float64s(rates)
		return map[string]float64{"subjects/s": rates[1], "min-subjects/s": rates[0]}
	}))
}

// BenchmarkForecast builds 10,000,000 records (VERWERKER_BENCH_FORECAST_RECORDS)
// of 1,000 customers with deadlines over the next 120 days in the real
// records table (month partitions created ahead; the primary key and the
// deadline index, not the breach window index the forecast does not read),
// and measures the platform-wide forecast for the DPO (read as the
// dashboard and the API do, and the job's count behind it), and one
// customer's forecast.
func BenchmarkForecast(b *testing.B) {
	total := benchSize("VERWERKER_BENCH_FORECAST_RECORDS", 10_000_000)
	const customers = 1000
	f := setup(b)
	_, err := f.svc.EnsurePartitions(f.ctx)
	require.NoError(b, err)
	now, built := f.clock.Now(), time.Now()
	f.exec(b, `INSERT INTO tenants (id, name, country, contact_email, created_at, updated_at)
		SELECT 'tnt_b' || lpad(i::text, 25, '0'), 'Bench ' || i, 'NL', 'privacy@bench.example', $1, $1 FROM generate_series(1, $2) AS i`, now, customers)
	f.exec(b, `INSERT INTO subjects (tenant_id, id, ref, created_at, updated_at)
		SELECT 'tnt_b' || lpad((i / 10 + 1)::text, 25, '0'), 'sub_b' || lpad(i::text, 25, '0'), sha256(convert_to('b' || i::text, 'UTF8')), $1, $1
		FROM generate_series(0, $2 * 10 - 1) AS i`, now, customers)
	cats := []string{"chat.message", "chat.metadata", "contact.email"}
	// A bulk load into this throwaway database: constraints and indexes
	// are built once after it, as a restore does.
	var fk string
	require.NoError(b, f.db.Pool.QueryRow(context.Background(), `SELECT conname FROM pg_constraint WHERE conrelid = 'records'::regclass AND contype = 'f'`).Scan(&fk))
	f.exec(b, `ALTER TABLE records DROP CONSTRAINT `+fk+`, DROP CONSTRAINT records_pkey`)
	f.exec(b, `DROP INDEX records_subject, records_due, records_breach_window`)
	f.exec(b, `INSERT INTO records (tenant_id, id, subject_id, kind, category, purpose, region, dpa_version, decision_id, retention_rule,
			delete_after, created_at, sealed)
		SELECT 'tnt_b' || lpad((i % $2 + 1)::text, 25, '0'), 'rec_b' || lpad(i::text, 25, '0'),
			'sub_b' || lpad(((i % $2) * 10 + i % 10)::text, 25, '0'), 'chat.message', ($4::text[])[i % 3 + 1], 'service.delivery', 'nl', 1, 'dec_bench',
			'30d_after_last_interaction', $3::timestamptz + (i % 10368000) * interval '1 second', $3, '\x00'::bytea
		FROM generate_series(0, $1 - 1) AS i`, total, customers, now, cats)
	f.exec(b, `ALTER TABLE records ADD PRIMARY KEY (tenant_id, id, delete_after)`)
	f.exec(b, `CREATE INDEX records_due ON records (tenant_id, delete_after, id) INCLUDE (category)`)
	f.exec(b, `VACUUM ANALYZE records`)
	b.Logf("built %d records of %d customers in %s", total, customers, time.Since(built).Round(time.Second))
	ids := make([]string, customers)
	for i := range ids {
		ids[i] = fmt.Sprintf("tnt_b%025d", i+1)
	}

	b.Run("platform-count", once(func(b *testing.B) map[string]float64 {
		start := time.Now()
		require.NoError(b, f.svc.RefreshForecast(f.ctx))
		return map[string]float64{"ms/count": float64(time.Since(start).Microseconds()) / 1000}
	}))
	b.Run("platform", func(b *testing.B) {
		for b.Loop() {
			p, err := f.svc.PlatformForecast(f.ctx, 20)
			require.NoError(b, err)
			require.Len(b, p.Categories, len(cats))
			require.Len(b, p.Customers, 20)
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/forecast")
	})
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
}

var _ = retention.SweepBatch

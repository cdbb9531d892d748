package breach_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/breach"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/store/storetest"
)

// benchBase is where the benchmark's records start: 100 days of them.
var benchBase = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// BenchmarkImpact counts the impact of an incident over 10,000,000 records
// of 1,000 customers (100 subjects each, 100 days, four categories), built
// once per run with generate_series in a database of its own. Each
// sub-benchmark is Service.Scope of one incident: the exact count per
// customer and category of its window, the customers' keys, and storing
// the result.
func BenchmarkImpact(b *testing.B) {
	ctx := verwerker.WithPrincipal(context.Background(), verwerker.Principal{ID: "usr_bench"})
	db := storetest.New(b)
	start := time.Now()
	for _, q := range []string{
		`INSERT INTO tenants (id, name, country, contact_email, created_at, updated_at)
			SELECT 'tnt_' || lpad(t::text, 4, '0'), 'Customer ' || t, 'NL', 'privacy@c' || t || '.example', $1, $1 FROM generate_series(0, 999) t`,
		`INSERT INTO subjects (tenant_id, id, ref, created_at, updated_at)
			SELECT 'tnt_' || lpad(t::text, 4, '0'), 'sub_' || t || '_' || s, sha256(convert_to(t || '/' || s, 'UTF8')), $1, $1
			FROM generate_series(0, 999) t, generate_series(0, 99) s`,
		`INSERT INTO subject_keys (tenant_id, subject_id, wrapped, key_version, created_at)
			SELECT tenant_id, id, 'wrapped', 1 + (abs(hashtext(id)) % 2), $1 FROM subjects`,
		// Loaded without the other indexes and the foreign key, which the
		// impact query does not use; its own index is built after.
		`ALTER TABLE records DROP CONSTRAINT records_tenant_id_subject_id_fkey, DROP CONSTRAINT records_pkey`,
		`DROP INDEX records_subject, records_breach_window`,
		`INSERT INTO records (tenant_id, id, subject_id, kind, category, purpose, region, dpa_version, decision_id, retention_rule, created_at, sealed)
			SELECT 'tnt_' || lpad((g % 1000)::text, 4, '0'), 'rec_' || g, 'sub_' || (g % 1000) || '_' || ((g / 1000) % 100),
				(ARRAY['chat.message', 'chat.conversation', 'admin.account', 'chat.message'])[(g / 7) % 4 + 1],
				(ARRAY['chat.message', 'chat.metadata', 'contact.email', 'contact.phone'])[(g / 7) % 4 + 1],
				'service.delivery', 'nl', 1, 'dec', '30d_after_last_interaction', $1::timestamptz + g * interval '864 milliseconds', '\x00'
			FROM generate_series(0, 9999999) g`,
		`CREATE INDEX records_breach_window ON records (created_at) INCLUDE (tenant_id, category, kind, region, subject_id)`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = []any{benchBase}
		}
		_, err := db.Pool.Exec(ctx, q, args...)
		require.NoError(b, err, q)
	}
	_, err := db.Pool.Exec(ctx, `VACUUM ANALYZE records`)
	require.NoError(b, err)
	b.Logf("built 10,000,000 records of 1,000 customers in %s", time.Since(start).Round(time.Second))

	svc, err := breach.New(ctx, db, verwerker.NewManualClock(benchBase.Add(101*24*time.Hour)), nil, nil, breach.Options{})
	require.NoError(b, err)
	for _, tc := range []struct {
		name       string
		days       int
		categories []string
		want       int64
	}{
		{"window=1d", 1, nil, 100000},
		{"window=7d", 7, nil, 700000},
		{"window=7d/category", 7, []string{"contact.email"}, 175000},
	} {
		from := benchBase.Add(50 * 24 * time.Hour)
		to := from.Add(time.Duration(tc.days)*24*time.Hour - time.Second)
		i, err := svc.Report(ctx, breach.Report{Title: tc.name, DiscoveredAt: to.Add(time.Hour), StartedAt: &from, EndedAt: &to,
			Categories: tc.categories}, breach.ViaStaff)
		require.NoError(b, err)
		if tc.name == "window=1d" {
			var plan []string
			rows, err := db.Pool.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS) SELECT tenant_id, category, subject_id, count(*) FROM records
				WHERE created_at >= $1 AND created_at < $2 GROUP BY 1, 2, 3`, from, to)
			require.NoError(b, err)
			for rows.Next() {
				var line string
				require.NoError(b, rows.Scan(&line))
				plan = append(plan, line)
			}
			require.NoError(b, rows.Err())
			b.Logf("plan of the window's scan:\n%s", strings.Join(plan, "\n"))
		}
		b.Run(tc.name, func(b *testing.B) {
			var got breach.Incident
			for b.Loop() {
				got, err = svc.Scope(ctx, i.ID)
				require.NoError(b, err)
			}
			require.Len(b, got.Impact.Customers, 1000)
			require.False(b, got.Impact.Estimated)
			require.InDelta(b, tc.want, got.Impact.Records, 10, "exact counts of the window")
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/impact")
			b.ReportMetric(float64(got.Impact.Records), "records")
		})
	}
}

// BenchmarkNotify fans one breach out to 1,000 affected customers: each
// its own notice, e-mail outbox row and delivery job, in one transaction
// (durable when it returns).
func BenchmarkNotify(b *testing.B) {
	ctx := verwerker.WithPrincipal(context.Background(), verwerker.Principal{ID: "usr_bench"})
	db := storetest.New(b)
	clock := verwerker.NewManualClock(benchBase.Add(24 * time.Hour))
	for _, q := range []string{
		`INSERT INTO tenants (id, name, country, contact_email, created_at, updated_at)
			SELECT 'tnt_' || lpad(t::text, 4, '0'), 'Customer ' || t, 'NL', 'privacy@c' || t || '.example', $1, $1 FROM generate_series(0, 999) t`,
		`INSERT INTO subjects (tenant_id, id, ref, created_at, updated_at)
			SELECT id, 'sub_' || id, sha256(convert_to(id, 'UTF8')), $1, $1 FROM tenants`,
		`INSERT INTO records (tenant_id, id, subject_id, kind, category, purpose, region, dpa_version, decision_id, retention_rule, created_at, sealed)
			SELECT tenant_id, 'rec_' || id, id, 'chat.message', 'chat.message', 'service.delivery', 'nl', 1, 'dec', '30d_after_last_interaction', $1, '\x00'
			FROM subjects`,
	} {
		_, err := db.Pool.Exec(ctx, q, benchBase)
		require.NoError(b, err, q)
	}
	log := audit.NewLog(db, clock)
	b.Cleanup(log.Close)
	mb, err := notify.OpenMailbox(b.TempDir())
	require.NoError(b, err)
	outbox, err := notify.New(db, clock, log, notify.Config{Mailbox: mb})
	require.NoError(b, err)
	// Insert-only: the jobs are enqueued, nothing delivers them here.
	client, err := river.NewClient(riverpgxv5.New(db.Pool), &river.Config{})
	require.NoError(b, err)
	outbox.UseClient(client)
	svc, err := breach.New(ctx, db, clock, log, outbox, breach.Options{})
	require.NoError(b, err)
	n := 0
	for b.Loop() {
		b.StopTimer()
		n++
		i, err := svc.Report(ctx, breach.Report{Title: fmt.Sprint("fan-out ", n), DiscoveredAt: clock.Now(), StartedAt: ptr(benchBase.Add(-time.Hour)),
			Kinds: []string{"confidentiality"}}, breach.ViaStaff)
		require.NoError(b, err)
		_, err = svc.Triage(ctx, i.ID, breach.Assessment{Actual: true, PersonalData: true})
		require.NoError(b, err)
		b.StartTimer()
		notices, err := svc.Notify(ctx, i.ID)
		require.NoError(b, err)
		require.Len(b, notices, 1000)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/fan-out")
	var jobs int
	require.NoError(b, db.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1`, notify.DeliverArgs{}.Kind()).Scan(&jobs))
	require.Equal(b, 1000*n, jobs, "every notice's delivery job is stored")
}

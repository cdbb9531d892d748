package records

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// The day rollup record_days (migration 00050) keeps, per customer, UTC day
// of creation, category, kind, region and subject, how many records exist.
// This package is its only writer: Write adds to it in the statement that
// inserts the records, and every delete of records takes off what it
// deleted in the same statement (deleteCounted). So it always equals a
// GROUP BY over the records, and CountWindow answers from one row per
// subject and day instead of one per record.

// addDays is the tail of the statement that inserts records: ins is a
// data-modifying CTE returning the inserted rows' subject_id, kind,
// category, region and created_at, and $1 is the tenant.
const addDays = `
	INSERT INTO record_days (tenant_id, day, category, kind, region, subject_id, records)
	SELECT $1, (created_at AT TIME ZONE 'UTC')::date, category, kind, region, subject_id, count(*)
	FROM ins GROUP BY 2, 3, 4, 5, 6
	ON CONFLICT (day, tenant_id, category, kind, region, subject_id) DO UPDATE SET records = record_days.records + excluded.records`

// deleteCounted runs del, a DELETE FROM records whose $1 is the tenant and
// which returns subject_id, kind, category, region and created_at, and in
// the same statement takes what it deleted off record_days. It returns how
// many records it deleted per kind.
func deleteCounted(ctx context.Context, tx pgx.Tx, del string, args ...any) (map[string]int64, error) {
	rows, err := tx.Query(ctx, `WITH d AS (`+del+`),
		g AS (SELECT (created_at AT TIME ZONE 'UTC')::date AS day, category, kind, region, subject_id, count(*) AS n
			FROM d GROUP BY 1, 2, 3, 4, 5),
		gone AS (DELETE FROM record_days r USING g
			WHERE r.day = g.day AND r.tenant_id = $1 AND r.category = g.category AND r.kind = g.kind AND r.region = g.region
			  AND r.subject_id = g.subject_id AND r.records <= g.n),
		fewer AS (UPDATE record_days r SET records = r.records - g.n FROM g
			WHERE r.day = g.day AND r.tenant_id = $1 AND r.category = g.category AND r.kind = g.kind AND r.region = g.region
			  AND r.subject_id = g.subject_id AND r.records > g.n)
		SELECT kind, sum(n)::bigint FROM g GROUP BY kind`, args...)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	var kind string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&kind, &n}, func() error {
		out[kind] = n
		return nil
	})
	return out, err
}

// RebuildDays recomputes, in tx, the day rollup of tenants (every tenant
// when tenants is empty) from their records: after records were loaded in
// bulk around the write path (benchmarks, tests, a restore), or to repair.
// It reads every record of those tenants.
func RebuildDays(ctx context.Context, tx pgx.Tx, tenants []string) error {
	if tenants == nil {
		tenants = []string{}
	}
	if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '256MB'`); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM record_days WHERE cardinality($1::text[]) = 0 OR tenant_id = ANY ($1)`, tenants)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO record_days (tenant_id, day, category, kind, region, subject_id, records)
		SELECT tenant_id, (created_at AT TIME ZONE 'UTC')::date, category, kind, region, subject_id, count(*)
		FROM records WHERE cardinality($1::text[]) = 0 OR tenant_id = ANY ($1)
		GROUP BY 1, 2, 3, 4, 5, 6
		ORDER BY 2`, tenants) // a day's rows together, as the write path leaves them
	return err
}

// Window is a question about the records created in a time window, for a
// breach's impact (GDPR Art. 33(3)(a)). Empty lists do not filter.
type Window struct {
	// Kinds are LIKE patterns of record kinds, for example "chat.%".
	Kinds, Categories, Regions, Tenants []string
	// From and To bound the window: records created in [From, To) count.
	From, To time.Time
}

// WindowCount is what a window holds of one customer: of one category, or
// (Category "") of all of them.
type WindowCount struct {
	TenantID, Category string
	// Subjects counts distinct data subjects, Records records; both exact.
	Subjects, Records int64
}

// day is one UTC day.
const day = 24 * time.Hour

// CountWindow counts, in tx (a platform-scope transaction), the records of
// window w per customer and category and per customer: exact records and
// distinct subjects. The window's whole UTC days are read from record_days
// (one row per subject, day, category, kind and region); the partial days
// at its edges from the records (index records_breach_window). The result
// is in no particular order.
func CountWindow(ctx context.Context, tx pgx.Tx, w Window) ([]WindowCount, error) {
	from, to := w.From.UTC(), w.To.UTC()
	// Whole days [first, last); edges [from, first) and [last, to).
	first, last := from.Truncate(day), to.Truncate(day)
	if first.Before(from) {
		first = first.Add(day)
	}
	if !first.Before(last) {
		first, last = to, to // no whole day: the edges cover the window
	}
	for _, l := range []*[]string{&w.Kinds, &w.Categories, &w.Regions, &w.Tenants} {
		if *l == nil {
			*l = []string{}
		}
	}
	// The plan is simple and its cost estimate high: compiling it with JIT
	// costs more than it saves. The hash tables of a week of a thousand
	// customers must not spill to disk.
	if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '256MB'`); err != nil {
		return nil, err
	}
	const filter = `(cardinality($7::text[]) = 0 OR kind LIKE ANY ($7))
		  AND (cardinality($8::text[]) = 0 OR category = ANY ($8))
		  AND (cardinality($9::text[]) = 0 OR region = ANY ($9))
		  AND (cardinality($10::text[]) = 0 OR tenant_id = ANY ($10))`
	// Hash aggregates only: per subject first, then per category and per
	// customer (a count(DISTINCT) would sort the window by collated text).
	// A subject's count is an integer: sum(integer) adds in bigint, where
	// sum(bigint) would add in numeric, at twice the time.
	rows, err := tx.Query(ctx, `WITH w AS (
			SELECT tenant_id, category, subject_id, records::integer AS n FROM record_days
			WHERE day >= $1::date AND day < $2::date AND `+filter+`
			UNION ALL
			SELECT tenant_id, category, subject_id, 1 FROM records
			WHERE ((created_at >= $3 AND created_at < $4) OR (created_at >= $5 AND created_at < $6)) AND `+filter+`),
		s AS (SELECT tenant_id, category, subject_id, sum(n)::integer AS n FROM w GROUP BY 1, 2, 3)
		SELECT tenant_id, category, count(*), sum(n) FROM s GROUP BY 1, 2
		UNION ALL
		SELECT tenant_id, NULL, count(*), sum(n) FROM (SELECT tenant_id, subject_id, sum(n)::integer AS n FROM s GROUP BY 1, 2) t GROUP BY 1`,
		first.Format(time.DateOnly), last.Format(time.DateOnly), from, first, last, to,
		w.Kinds, w.Categories, w.Regions, w.Tenants)
	if err != nil {
		return nil, err
	}
	var out []WindowCount
	var c WindowCount
	var category *string
	_, err = pgx.ForEachRow(rows, []any{&c.TenantID, &category, &c.Subjects, &c.Records}, func() error {
		c.Category = ""
		if category != nil {
			c.Category = *category
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

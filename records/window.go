package records

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

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

// CountWindow counts, in tx (a platform-scope transaction), the records of
// window w per customer and category and per customer: exact records and
// distinct subjects. It is one query over the records, an index-only scan
// of the window's range of the covering index records_breach_window
// (migration 00030). The result is in no particular order.
func CountWindow(ctx context.Context, tx pgx.Tx, w Window) ([]WindowCount, error) {
	for _, l := range []*[]string{&w.Kinds, &w.Categories, &w.Regions, &w.Tenants} {
		if *l == nil {
			*l = []string{}
		}
	}
	// The plan is simple and its cost estimate high: compiling it with JIT
	// costs more than it saves.
	if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
		return nil, err
	}
	// Hash aggregates only: per subject first, then per category and per
	// customer (a count(DISTINCT) would sort the window by collated text).
	// A subject's count is an integer: sum(integer) adds in bigint, where
	// sum(bigint) would add in numeric.
	rows, err := tx.Query(ctx, `WITH s AS (
			SELECT tenant_id, category, subject_id, count(*)::integer AS n FROM records
			WHERE created_at >= $1 AND created_at < $2
			  AND (cardinality($3::text[]) = 0 OR kind LIKE ANY ($3))
			  AND (cardinality($4::text[]) = 0 OR category = ANY ($4))
			  AND (cardinality($5::text[]) = 0 OR region = ANY ($5))
			  AND (cardinality($6::text[]) = 0 OR tenant_id = ANY ($6))
			GROUP BY 1, 2, 3)
		SELECT tenant_id, category, count(*), sum(n) FROM s GROUP BY 1, 2
		UNION ALL
		SELECT tenant_id, NULL, count(*), sum(n) FROM (SELECT tenant_id, subject_id, sum(n)::integer AS n FROM s GROUP BY 1, 2) t GROUP BY 1`,
		w.From, w.To, w.Kinds, w.Categories, w.Regions, w.Tenants)
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

package records

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Deadliner computes a record's new deadline under a changed rule from its
// creation and its subject's last interaction; ok false means the deadline
// runs from an event still to come (the contract's end).
type Deadliner func(created, lastInteraction time.Time) (due time.Time, ok bool)

// recomputable selects the records of tenant $1 in category $2 stored
// under another rule than $3. Invoices keep the statutory rule, and a
// minor's record (a flagged subject, or a deadline within 24 hours of its
// creation) keeps its short deadline.
const recomputable = `FROM records r JOIN subjects s ON s.tenant_id = r.tenant_id AND s.id = r.subject_id
	WHERE r.tenant_id = $1 AND r.category = $2 AND r.retention_rule <> $3 AND r.kind <> 'admin.invoice'
		AND s.minor_flagged_at IS NULL AND NOT (r.delete_after <= r.created_at + interval '24 hours')`

// Recompute gives, inside tx, up to limit records of tenant in category
// stored under another rule the rule and the deadline deadlineOf computes
// (moving them to the partition of their new deadline), skipping rows
// other transactions have locked. It returns how many it changed.
func Recompute(ctx context.Context, tx pgx.Tx, tenant, category, rule string, limit int, deadlineOf Deadliner) (int, error) {
	rows, err := tx.Query(ctx, `SELECT r.id, r.delete_after, r.created_at, coalesce(s.last_interaction_at, r.created_at) `+recomputable+`
		LIMIT $4 FOR UPDATE OF r SKIP LOCKED`, tenant, category, rule, limit)
	if err != nil {
		return 0, err
	}
	var ids []string
	var old, due []pgtype.Timestamptz
	for rows.Next() {
		var id string
		var was pgtype.Timestamptz
		var created, last time.Time
		if err := rows.Scan(&id, &was, &created, &last); err != nil {
			rows.Close()
			return 0, err
		}
		d := pgtype.Timestamptz{Valid: true, InfinityModifier: pgtype.Infinity}
		if t, ok := deadlineOf(created, last); ok {
			d = pgtype.Timestamptz{Valid: true, Time: t}
		}
		ids, old, due = append(ids, id), append(old, was), append(due, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return 0, err
	}
	tag, err := tx.Exec(ctx, `UPDATE records r SET retention_rule = $2, delete_after = u.due
		FROM unnest($3::text[], $4::timestamptz[], $5::timestamptz[]) AS u(id, old, due)
		WHERE r.tenant_id = $1 AND r.id = u.id AND r.delete_after = u.old`, tenant, rule, ids, old, due)
	return int(tag.RowsAffected()), err
}

// CountRecomputable counts, inside tx, the records of tenant in category
// still stored under another rule than rule (zero: the recompute is done).
func CountRecomputable(ctx context.Context, tx pgx.Tx, tenant, category, rule string) (int64, error) {
	var n int64
	err := tx.QueryRow(ctx, `SELECT count(*) `+recomputable, tenant, category, rule).Scan(&n)
	return n, err
}

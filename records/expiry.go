package records

import (
	"context"
	"fmt"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/dpa"
	tenants "github.com/verwerker/verwerker/tenant"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// StatutoryGround is the legal ground of the statutory retention period of
// fiscal records (invoices): Dutch tax law keeps them for seven years.
const StatutoryGround = "AWR art. 52(4): 7 years"

// StatutoryPeriod is how long fiscal records are kept at least.
const StatutoryPeriod = "7 years"

// Held is what legal holds keep back from deletion in one tenant: all of
// its records, or those of some subjects or some categories. Package
// retention owns the holds and passes them in.
type Held struct {
	All        bool
	Subjects   []string
	Categories []string
}

func (h Held) args() (bool, []string, []string) {
	s, c := h.Subjects, h.Categories
	if s == nil {
		s = []string{}
	}
	if c == nil {
		c = []string{}
	}
	return h.All, s, c
}

// dueSQL selects the records of $1 due by the cutoff $2: their deadline
// passed, or ($3) the customer's contract ended and the record is not
// statutory. Fiscal records (admin.invoice, or rule statutory_7y) are due
// only when their own deadline passed and seven years since their creation
// passed too: the statutory rule beats a shorter contractual one. $4, $5
// and $6 are the holds (Held). Outside the contract-end purge the deadline
// bounds an index range (records_due), so a batch reads only due rows.
func dueSQL(contractEnded bool) string {
	const held = ` AND NOT $4 AND NOT (subject_id = ANY($5)) AND NOT (category = ANY($6))`
	if !contractEnded {
		return `tenant_id = $1 AND delete_after <= $2 AND NOT $3
			AND (NOT (kind = 'admin.invoice' OR retention_rule = 'statutory_7y') OR created_at + interval '7 years' <= $2)` + held
	}
	return `tenant_id = $1 AND $3
		AND CASE WHEN kind = 'admin.invoice' OR retention_rule = 'statutory_7y'
			THEN delete_after <= $2 AND created_at + interval '7 years' <= $2
			ELSE true END` + held
}

// Expired describes one batch of deleted records: what a sweep certifies.
type Expired struct {
	// IDs are the deleted records.
	IDs []string
	// What counts them per category.
	What map[string]int64
	// Shredded are the subjects whose data key was destroyed: all of
	// their records are deleted.
	Shredded []string
	// KeyVersions are the tenant key versions of the destroyed data keys.
	KeyVersions []int
	// Oldest and Newest are the range of the deleted records' deadlines
	// (nil when none had one: contract-end purge).
	Oldest, Newest *time.Time
}

// DeleteExpired deletes, inside tx, up to limit records of tenant due by
// cutoff (everything not statutory when contractEnded) and not held. The
// rows are locked with SKIP LOCKED, so sweepers running at once never take
// the same record. Subjects none of whose records remain are crypto-shredded
// first (their wrapped data key deleted, their reference unlinked), then the
// rows are deleted. An empty result means nothing is due that another
// transaction has not locked.
func (s *Store) DeleteExpired(ctx context.Context, tx pgx.Tx, tenant string, cutoff time.Time, contractEnded bool, held Held, limit int) (Expired, error) {
	all, subs, cats := held.args()
	e := Expired{What: map[string]int64{}}
	rows, err := tx.Query(ctx, `SELECT id, subject_id, category, delete_after FROM records WHERE `+dueSQL(contractEnded)+`
		ORDER BY delete_after NULLS LAST, id LIMIT $7 FOR UPDATE SKIP LOCKED`, tenant, cutoff, contractEnded, all, subs, cats, limit)
	if err != nil {
		return e, err
	}
	seen := map[string]bool{}
	var subjects []string
	for rows.Next() {
		var id, sid, cat string
		var due *time.Time
		if err := rows.Scan(&id, &sid, &cat, &due); err != nil {
			rows.Close()
			return e, err
		}
		e.IDs = append(e.IDs, id)
		e.What[cat]++
		if !seen[sid] {
			seen[sid] = true
			subjects = append(subjects, sid)
		}
		if due != nil {
			if e.Oldest == nil || due.Before(*e.Oldest) {
				e.Oldest = due
			}
			if e.Newest == nil || due.After(*e.Newest) {
				e.Newest = due
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(e.IDs) == 0 {
		return e, err
	}
	// Crypto-shred first: the subjects with nothing left after this batch.
	krows, err := tx.Query(ctx, `DELETE FROM subject_keys k WHERE k.tenant_id = $1 AND k.subject_id = ANY($2)
			AND NOT EXISTS (SELECT 1 FROM records r WHERE r.tenant_id = $1 AND r.subject_id = k.subject_id AND NOT (r.id = ANY($3)))
		RETURNING subject_id, wrapped, key_version`, tenant, subjects, e.IDs)
	if err != nil {
		return e, err
	}
	versions := map[int]bool{}
	for krows.Next() {
		var sid, wrapped string
		var v int
		if err := krows.Scan(&sid, &wrapped, &v); err != nil {
			krows.Close()
			return e, err
		}
		e.Shredded = append(e.Shredded, sid)
		if !versions[v] {
			versions[v] = true
			e.KeyVersions = append(e.KeyVersions, v)
		}
		// Harmless if tx rolls back: the key is unwrapped again on demand.
		s.keys.Forget(tenant, []byte(wrapped))
	}
	krows.Close()
	if err := krows.Err(); err != nil {
		return e, err
	}
	if e.KeyVersions == nil {
		e.KeyVersions = []int{}
	}
	if len(e.Shredded) > 0 {
		if err := s.subjects.MarkErasedMany(ctx, tx, tenant, e.Shredded, cutoff); err != nil {
			return e, err
		}
	}
	_, err = tx.Exec(ctx, `DELETE FROM records WHERE tenant_id = $1 AND id = ANY($2)`, tenant, e.IDs)
	return e, err
}

// CountDue counts, inside tx, the records of tenant due by cutoff and not
// held (locked ones included): zero means a sweep is complete.
func CountDue(ctx context.Context, tx pgx.Tx, tenant string, cutoff time.Time, contractEnded bool, held Held) (int64, error) {
	all, subs, cats := held.args()
	var n int64
	err := tx.QueryRow(ctx, `SELECT count(*) FROM records WHERE `+dueSQL(contractEnded), tenant, cutoff, contractEnded, all, subs, cats).Scan(&n)
	return n, err
}

// DueRecord is one record a sweep would delete (a dry run's line).
type DueRecord struct {
	ID, SubjectID, Kind, Category, Rule string
	DeleteAfter                         *time.Time
}

// ListDue lists, inside tx, up to limit records of tenant due by cutoff and
// not held, oldest deadline first: exactly what DeleteExpired would take.
func ListDue(ctx context.Context, tx pgx.Tx, tenant string, cutoff time.Time, contractEnded bool, held Held, limit int) ([]DueRecord, error) {
	all, subs, cats := held.args()
	rows, err := tx.Query(ctx, `SELECT id, subject_id, kind, category, retention_rule, delete_after FROM records WHERE `+dueSQL(contractEnded)+`
		ORDER BY delete_after NULLS LAST, id LIMIT $7`, tenant, cutoff, contractEnded, all, subs, cats, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DueRecord, error) {
		var d DueRecord
		err := r.Scan(&d.ID, &d.SubjectID, &d.Kind, &d.Category, &d.Rule, &d.DeleteAfter)
		return d, err
	})
}

// CountHeldBack counts, inside tx, the records of tenant due by cutoff that
// h keeps back (for a sweep's certificate: what each hold kept).
func CountHeldBack(ctx context.Context, tx pgx.Tx, tenant string, cutoff time.Time, contractEnded bool, h Held) (int64, error) {
	all, subs, cats := h.args()
	var n int64
	err := tx.QueryRow(ctx, `SELECT count(*) FROM records WHERE `+dueSQL(contractEnded)+` AND ($7 OR subject_id = ANY($8) OR category = ANY($9))`,
		tenant, cutoff, contractEnded, false, []string{}, []string{}, all, subs, cats).Scan(&n)
	return n, err
}

// Remaining counts, inside tx, how many of ids are still stored: a sweep
// certifies only what is verified deleted.
func Remaining(ctx context.Context, tx pgx.Tx, tenant string, ids []string) (int64, error) {
	var n int64
	err := tx.QueryRow(ctx, `SELECT count(*) FROM records WHERE tenant_id = $1 AND id = ANY($2)`, tenant, ids).Scan(&n)
	return n, err
}

// StatutoryCategories returns, inside tx, the categories of a subject's
// records under statutory retention at now (fiscal records younger than
// seven years).
func StatutoryCategories(ctx context.Context, tx pgx.Tx, tenant, subjectID string, now time.Time) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT DISTINCT category FROM records WHERE tenant_id = $1 AND subject_id = $2
		AND (kind = 'admin.invoice' OR retention_rule = 'statutory_7y') AND (created_at + interval '7 years' > $3 OR delete_after > $3)
		ORDER BY category`, tenant, subjectID, now)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// CountStatutory counts, inside tx, the tenant's records still under
// statutory retention at now: while any remain, the tenant key stays.
func CountStatutory(ctx context.Context, tx pgx.Tx, tenant string, now time.Time) (int64, error) {
	var n int64
	err := tx.QueryRow(ctx, `SELECT count(*) FROM records WHERE tenant_id = $1
		AND (kind = 'admin.invoice' OR retention_rule = 'statutory_7y') AND (created_at + interval '7 years' > $2 OR delete_after > $2)`,
		tenant, now).Scan(&n)
	return n, err
}

// Due counts one category's records falling due in a window.
type Due struct {
	Category string
	// Counts holds one count per horizon: records due by that instant
	// (overdue ones included).
	Counts []int64
}

// DueBy counts, inside tx, the records of tenant per category whose
// deadline is at or before each of horizons (ascending), ignoring holds.
// purgeDue, when set (a terminated customer), is the contract-end purge's
// deadline: every record but statutory ones is due by then.
func DueBy(ctx context.Context, tx pgx.Tx, tenant string, horizons []time.Time, purgeDue *time.Time) ([]Due, error) {
	if len(horizons) == 0 {
		return nil, nil
	}
	if purgeDue == nil {
		// One pass over an index range, index-only (records_due includes
		// the category): no heap page per record.
		var cols strings.Builder
		for i := range horizons {
			if i > 0 {
				cols.WriteString(", ")
			}
			fmt.Fprintf(&cols, "count(*) FILTER (WHERE delete_after <= $%d)", i+2)
		}
		args := []any{tenant}
		for _, h := range horizons {
			args = append(args, h)
		}
		rows, err := tx.Query(ctx, `SELECT category, ARRAY[`+cols.String()+`] FROM records
			WHERE tenant_id = $1 AND delete_after <= $`+strconv.Itoa(len(horizons)+1)+` GROUP BY category ORDER BY category`, args...)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Due, error) {
			var d Due
			err := r.Scan(&d.Category, &d.Counts)
			return d, err
		})
	}
	rows, err := tx.Query(ctx, `SELECT category, array_agg(n ORDER BY i) FROM (
			SELECT r.category, h.i, count(r.*) FILTER (WHERE r.due <= h.at) AS n
			FROM (SELECT category, CASE WHEN $4::timestamptz IS NULL OR kind = 'admin.invoice' OR retention_rule = 'statutory_7y' THEN delete_after
					ELSE least(coalesce(delete_after, $4), $4) END AS due
				FROM records WHERE tenant_id = $1 AND (delete_after <= $3 OR $4::timestamptz IS NOT NULL)) r
			CROSS JOIN unnest($2::timestamptz[]) WITH ORDINALITY AS h(at, i)
			WHERE r.due <= $3
			GROUP BY r.category, h.i) t
		GROUP BY category ORDER BY category`, tenant, horizons, horizons[len(horizons)-1], purgeDue)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Due, error) {
		var d Due
		err := r.Scan(&d.Category, &d.Counts)
		return d, err
	})
}

// Overdue is one tenant's records past their deadline.
type Overdue struct {
	TenantID string
	Records  int64
	Oldest   time.Time
}

// OverdueBefore lists, inside tx (scope "*"), per tenant the records whose
// deadline is before before, skipping what heldOf (per tenant) holds.
func OverdueBefore(ctx context.Context, tx pgx.Tx, before time.Time, heldOf map[string]Held) ([]Overdue, error) {
	rows, err := tx.Query(ctx, `SELECT tenant_id, count(*), min(delete_after) FROM records WHERE delete_after < $1
		GROUP BY tenant_id ORDER BY min(delete_after)`, before)
	if err != nil {
		return nil, err
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Overdue, error) {
		var o Overdue
		err := r.Scan(&o.TenantID, &o.Records, &o.Oldest)
		return o, err
	})
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, o := range all {
		if h, ok := heldOf[o.TenantID]; ok {
			a, subs, cats := h.args()
			var oldest *time.Time
			if err := tx.QueryRow(ctx, `SELECT count(*), min(delete_after) FROM records WHERE tenant_id = $1 AND delete_after < $2
				AND NOT $3 AND NOT (subject_id = ANY($4)) AND NOT (category = ANY($5))`, o.TenantID, before, a, subs, cats).Scan(&o.Records, &oldest); err != nil {
				return nil, err
			}
			if oldest == nil {
				continue
			}
			o.Oldest = *oldest
		}
		out = append(out, o)
	}
	return out, nil
}

// postpone moves, inside tx, the deadline of the subjects' records under
// the rule "30 days after the last interaction" to due when that is later:
// an interaction on day 29 postpones the deletion of everything before it.
// A minor's records keep their short deadline (the caller passes only
// subjects not flagged as minors).
func postpone(ctx context.Context, tx pgx.Tx, tenant string, subjects []string, due time.Time) error {
	if len(subjects) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE records SET delete_after = $3 WHERE tenant_id = $1 AND subject_id = ANY($2)
		AND retention_rule = '30d_after_last_interaction' AND delete_after < $3`, tenant, subjects, due)
	return err
}

// Count counts, inside tx, every record of tenant still stored.
func Count(ctx context.Context, tx pgx.Tx, tenant string) (int64, error) {
	var n int64
	err := tx.QueryRow(ctx, `SELECT count(*) FROM records WHERE tenant_id = $1`, tenant).Scan(&n)
	return n, err
}

// statutory puts a fiscal record (an invoice) under the statutory rule
// whatever its category's contractual rule: AWR art. 52(4) beats a shorter
// period. The deadline is seven years from now per Regulation 1182/71 in
// the time zone of the decision's deadline.
func statutory(st *Stored, kind string, now time.Time) {
	if kind != KindInvoice || st.RetentionRule == dpa.RetentionStatutory7Years {
		return
	}
	tz := "UTC"
	if st.DeleteAfter != nil {
		tz = st.DeleteAfter.Location().String()
	}
	cal := tenants.Calendar(nil, tz)
	d := cal.Deadline(now.In(cal.Location()), deadline.Years(7))
	st.RetentionRule, st.DeleteAfter = dpa.RetentionStatutory7Years, &d.Due
}

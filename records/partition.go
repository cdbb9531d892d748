package records

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
)

// The records table is partitioned by deadline (migration 00040): one
// partition per calendar month (UTC) of delete_after, records_never for
// deadlines that run from the contract's end (stored as infinity) and
// records_default for deadlines outside every month created so far.

// PartitionHorizon is how far ahead month partitions are created: past the
// 30-day chat deadlines and the next sweeps, while few partitions keep
// lookups by id (one index probe per partition) cheap. Longer deadlines
// (fiscal records, seven years) wait in records_default, indexed by
// deadline, and move into their month when it is created.
const PartitionHorizon = 100 * 24 * time.Hour

// Partition is one month of the records table by deadline: every record
// in it has From <= delete_after < To.
type Partition struct {
	Name     string
	From, To time.Time
}

var monthPartition = regexp.MustCompile(`^records_([0-9]{4})_([0-9]{2})$`)

// EnsurePartitions creates, inside tx (an owner connection: store.DB.InTx),
// the month partitions from the month of from through the month of through
// that do not exist yet, moving rows of those months out of
// records_default. It returns how many it created.
func EnsurePartitions(ctx context.Context, tx pgx.Tx, from, through time.Time) (int, error) {
	// One creator at a time across replicas.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7117, 0)`); err != nil {
		return 0, err
	}
	existing, err := partitions(ctx, tx)
	if err != nil {
		return 0, err
	}
	have := map[string]bool{}
	for _, p := range existing {
		have[p.Name] = true
	}
	n := 0
	for m := monthStart(from); !m.After(through); m = m.AddDate(0, 1, 0) {
		if have[partitionName(m)] {
			continue
		}
		if _, err := tx.Exec(ctx, `SELECT verwerker_records_month($1)`, m); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func partitionName(m time.Time) string {
	return fmt.Sprintf("records_%04d_%02d", m.Year(), int(m.Month()))
}

// partitions lists the month partitions, oldest first.
func partitions(ctx context.Context, tx pgx.Tx) ([]Partition, error) {
	rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'records'::regclass ORDER BY c.relname`)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var out []Partition
	for _, n := range names {
		m := monthPartition.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		var y, mo int
		fmt.Sscanf(m[1]+" "+m[2], "%d %d", &y, &mo)
		from := time.Date(y, time.Month(mo), 1, 0, 0, 0, 0, time.UTC)
		out = append(out, Partition{Name: n, From: from, To: from.AddDate(0, 1, 0)})
	}
	return out, nil
}

// PastPartitions lists, inside tx, the month partitions whose every
// deadline is before cutoff (their end is at or before it), oldest first.
func PastPartitions(ctx context.Context, tx pgx.Tx, cutoff time.Time) ([]Partition, error) {
	all, err := partitions(ctx, tx)
	var out []Partition
	for _, p := range all {
		if !p.To.After(cutoff) {
			out = append(out, p)
		}
	}
	return out, err
}

// PartitionTenants lists, inside tx, the tenants with records in p.
func PartitionTenants(ctx context.Context, tx pgx.Tx, p Partition) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT DISTINCT tenant_id FROM records WHERE delete_after >= $1 AND delete_after < $2 ORDER BY tenant_id`, p.From, p.To)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// PartitionBlocked reports, inside tx, whether p holds a record that must
// not be deleted at cutoff: a fiscal record younger than seven years, or a
// record a legal hold keeps (heldOf, per tenant). Such a partition is not
// dropped; the sweeps delete its other records row by row.
func PartitionBlocked(ctx context.Context, tx pgx.Tx, p Partition, cutoff time.Time, heldOf map[string]Held) (bool, error) {
	var blocked bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM records WHERE delete_after >= $1 AND delete_after < $2
		AND (kind = 'admin.invoice' OR retention_rule = 'statutory_7y') AND created_at + interval '7 years' > $3)`, p.From, p.To, cutoff).Scan(&blocked)
	if err != nil || blocked {
		return blocked, err
	}
	for tenant, h := range heldOf {
		all, subs, cats := h.args()
		if !all && len(subs) == 0 && len(cats) == 0 {
			continue
		}
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM records WHERE tenant_id = $1 AND delete_after >= $2 AND delete_after < $3
			AND ($4 OR subject_id = ANY($5) OR category = ANY($6)))`, tenant, p.From, p.To, all, subs, cats).Scan(&blocked)
		if err != nil || blocked {
			return blocked, err
		}
	}
	return false, nil
}

// DropPartition purges every record of p inside tx (an owner connection)
// by dropping the partition: first the subjects none of whose records
// remain outside p are crypto-shredded (their data keys deleted, their
// references unlinked), then the partition is dropped, which writes no WAL
// per row and leaves nothing to VACUUM. It returns, per tenant, what was
// deleted (IDs stays empty: the partition's name stands for them). The
// caller checks PartitionBlocked in the same transaction first; p is
// locked against writes from the start.
func (s *Store) DropPartition(ctx context.Context, tx pgx.Tx, p Partition, at time.Time) (map[string]*Expired, error) {
	ident := pgx.Identifier{p.Name}.Sanitize()
	// Short lock waits: the job retries rather than queueing every query
	// of the records table behind the drop.
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+ident+` IN SHARE MODE`); err != nil {
		return nil, err
	}
	out := map[string]*Expired{}
	get := func(t string) *Expired {
		e := out[t]
		if e == nil {
			e = &Expired{IDs: []string{}, What: map[string]int64{}, KeyVersions: []int{}}
			out[t] = e
		}
		return e
	}
	rows, err := tx.Query(ctx, `SELECT tenant_id, category, count(*), min(delete_after), max(delete_after) FROM `+ident+` GROUP BY 1, 2`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var t, cat string
		var n int64
		var oldest, newest time.Time
		if err := rows.Scan(&t, &cat, &n, &oldest, &newest); err != nil {
			rows.Close()
			return nil, err
		}
		e := get(t)
		e.What[cat] += n
		if e.Oldest == nil || oldest.Before(*e.Oldest) {
			e.Oldest = &oldest
		}
		if e.Newest == nil || newest.After(*e.Newest) {
			e.Newest = &newest
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Crypto-shred first: the subjects with nothing left outside p.
	krows, err := tx.Query(ctx, `DELETE FROM subject_keys k USING (SELECT DISTINCT tenant_id, subject_id FROM `+ident+`) s
		WHERE k.tenant_id = s.tenant_id AND k.subject_id = s.subject_id
			AND NOT EXISTS (SELECT 1 FROM records r WHERE r.tenant_id = s.tenant_id AND r.subject_id = s.subject_id
				AND NOT (r.delete_after >= $1 AND r.delete_after < $2))
		RETURNING k.tenant_id, k.subject_id, k.wrapped, k.key_version`, p.From, p.To)
	if err != nil {
		return nil, err
	}
	versions := map[string]map[int]bool{}
	for krows.Next() {
		var t, sid, wrapped string
		var v int
		if err := krows.Scan(&t, &sid, &wrapped, &v); err != nil {
			krows.Close()
			return nil, err
		}
		e := get(t)
		e.Shredded = append(e.Shredded, sid)
		if versions[t] == nil {
			versions[t] = map[int]bool{}
		}
		if !versions[t][v] {
			versions[t][v] = true
			e.KeyVersions = append(e.KeyVersions, v)
		}
		s.keys.Forget(t, []byte(wrapped))
	}
	krows.Close()
	if err := krows.Err(); err != nil {
		return nil, err
	}
	for t, e := range out {
		if len(e.Shredded) > 0 {
			if err := s.subjects.MarkErasedMany(ctx, tx, t, e.Shredded, at); err != nil {
				return nil, err
			}
		}
	}
	_, err = tx.Exec(ctx, `DROP TABLE `+ident)
	return out, err
}

// PartitionGone reports, inside tx, whether the partition named name no
// longer exists (a sweep certifies a dropped partition only then).
func PartitionGone(ctx context.Context, tx pgx.Tx, name string) (bool, error) {
	var gone bool
	err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NULL`, pgx.Identifier{name}.Sanitize()).Scan(&gone)
	return gone, err
}

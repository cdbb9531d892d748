package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/records"
	tenants "github.com/verwerker/verwerker/tenant"
)

// SweepBatch is how many records one deleting transaction takes: small
// enough that no sweep holds long locks.
const SweepBatch = 2000

// PrefixSweep names a sweep (and its certificate).
const PrefixSweep = "swp"

// Sweep statuses.
const (
	StatusRunning   = "running"
	StatusCompleted = "completed"
)

// HeldBack is what one legal hold kept back in a sweep.
type HeldBack struct {
	HoldID  string `json:"hold_id"`
	Scope   string `json:"scope"`
	Target  string `json:"target"`
	Records int64  `json:"records"`
}

// Sweep is one customer's deletion run; once completed it is the deletion
// certificate of that run.
type Sweep struct {
	ID       string
	TenantID string
	// Cutoff: records whose deadline is at or before it are due.
	Cutoff time.Time
	// ContractEnded: the contract-end purge, where every record but the
	// statutory ones is due.
	ContractEnded bool
	Status        string
	StartedAt     time.Time
	CompletedAt   *time.Time
	// What counts the deleted records per category; Records and Subjects
	// (crypto-shredded) total them. Only what was verified deleted counts.
	What              map[string]int64
	Records, Subjects int64
	// KeyVersionsDestroyed are the tenant key versions of the destroyed
	// data keys.
	KeyVersionsDestroyed []int
	// OldestDeadline and NewestDeadline are the range of the deleted
	// records' deadlines.
	OldestDeadline, NewestDeadline *time.Time
	// Held lists the holds that kept due data back.
	Held []HeldBack
	// AuditSeq and AuditHash name the sweep's audit event in the tenant's
	// chain: the chain's head when the sweep completed. A sweep that
	// deleted nothing has no event (zero and empty).
	AuditSeq  int64
	AuditHash []byte
}

const sweepColumns = `tenant_id, id, cutoff, contract_ended, status, started_at, completed_at, coalesce(what, '{}'), coalesce(records_count, 0),
	coalesce(subjects_count, 0), coalesce(key_versions_destroyed, '{}'), oldest_deadline, newest_deadline, coalesce(held, '[]'),
	coalesce(audit_seq, 0), coalesce(audit_hash, '')`

func scanSweep(row pgx.Row) (Sweep, error) {
	var w Sweep
	var what, heldJSON []byte
	var versions []int32
	err := row.Scan(&w.TenantID, &w.ID, &w.Cutoff, &w.ContractEnded, &w.Status, &w.StartedAt, &w.CompletedAt, &what, &w.Records, &w.Subjects,
		&versions, &w.OldestDeadline, &w.NewestDeadline, &heldJSON, &w.AuditSeq, &w.AuditHash)
	if err != nil {
		return w, err
	}
	w.What = map[string]int64{}
	if err := json.Unmarshal(what, &w.What); err != nil {
		return w, err
	}
	w.Held = []HeldBack{}
	if err := json.Unmarshal(heldJSON, &w.Held); err != nil {
		return w, err
	}
	w.KeyVersionsDestroyed = make([]int, len(versions))
	for i, v := range versions {
		w.KeyVersionsDestroyed[i] = int(v)
	}
	return w, nil
}

// errIncomplete: due records remain that another sweeper has locked.
var errIncomplete = errors.New("retention: sweep still running elsewhere")

// Run sweeps one customer: it joins the customer's running sweep or
// starts one with the cutoff now, deletes in batches until nothing due and
// unheld remains, and completes the sweep's certificate. Run is idempotent
// and safe on many replicas at once: a sweep interrupted at any point is
// resumed by the next Run. A customer whose data was erased is not swept
// (ok is false). When the sweep is the contract-end purge and no record
// remains, the tenant key is destroyed (records.Store.EraseTenant). The
// returned sweep is running when another replica still holds due records.
func (s *Service) Run(ctx context.Context, tenantID string) (_ Sweep, ok bool, err error) {
	defer func() {
		if err != nil && ctx.Err() == nil {
			s.metrics.failures.Inc()
		}
	}()
	w, ok, err := s.begin(ctx, tenantID)
	if err != nil || !ok {
		return w, ok, err
	}
	s.metrics.running.Inc()
	defer s.metrics.running.Dec()
	for {
		n, err := s.batch(ctx, w)
		if err != nil {
			return w, true, err
		}
		if n == 0 {
			break
		}
		if s.afterBatch != nil {
			s.afterBatch(ctx, w.ID)
		}
	}
	done, err := s.complete(ctx, w)
	if errors.Is(err, errIncomplete) {
		return w, true, nil
	}
	if err != nil {
		return w, true, err
	}
	if done.ContractEnded {
		if err := s.eraseTenantIfEmpty(ctx, tenantID); err != nil {
			return done, true, err
		}
	}
	return done, true, nil
}

// state reads the customer inside tx: whether it can be swept (its data
// not erased) and whether its contract has ended at now (the contract-end
// purge).
func state(ctx context.Context, tx pgx.Tx, tenantID string, now time.Time) (sweepable, ended bool, err error) {
	t, err := tenants.Read(ctx, tx, tenantID, now, false)
	if err != nil {
		return false, false, err
	}
	return t.ErasedAt == nil, t.StatusAt(now) == tenants.StatusEnded, nil
}

// begin returns the customer's running sweep, or starts one.
func (s *Service) begin(ctx context.Context, tenantID string) (Sweep, bool, error) {
	var w Sweep
	ok := true
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		now := s.clock.Now().UTC()
		sweepable, ended, err := state(ctx, tx, tenantID, now)
		if err != nil || !sweepable {
			ok = false
			return err
		}
		w, err = scanSweep(tx.QueryRow(ctx, `SELECT `+sweepColumns+` FROM retention_sweeps WHERE tenant_id = $1 AND status = 'running'`, tenantID))
		if err == nil || !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		w = Sweep{ID: verwerker.NewID(PrefixSweep, now), TenantID: tenantID, Cutoff: now, ContractEnded: ended,
			Status: StatusRunning, StartedAt: now, What: map[string]int64{}, Held: []HeldBack{}, KeyVersionsDestroyed: []int{}}
		// ON CONFLICT: another replica started one meanwhile; join it.
		tag, err := tx.Exec(ctx, `INSERT INTO retention_sweeps (tenant_id, id, cutoff, contract_ended, status, started_at)
			VALUES ($1, $2, $3, $4, 'running', $3) ON CONFLICT (tenant_id) WHERE status = 'running' DO NOTHING`, tenantID, w.ID, now, w.ContractEnded)
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		w, err = scanSweep(tx.QueryRow(ctx, `SELECT `+sweepColumns+` FROM retention_sweeps WHERE tenant_id = $1 AND status = 'running'`, tenantID))
		return err
	})
	if err != nil {
		return w, false, verwerker.Wrap("retention: sweep", err)
	}
	return w, ok, nil
}

// batch deletes one batch of w and writes its ledger line, in one
// transaction that re-reads the holds under the customer's hold lock.
func (s *Service) batch(ctx context.Context, w Sweep) (int, error) {
	var n int
	err := s.db.InTenantTx(ctx, w.TenantID, func(tx pgx.Tx) error {
		if err := lockHolds(ctx, tx, w.TenantID, false); err != nil {
			return err
		}
		hs, err := holdsIn(ctx, tx, w.TenantID, false)
		if err != nil {
			return err
		}
		e, err := s.records.DeleteExpired(ctx, tx, w.TenantID, w.Cutoff, w.ContractEnded, held(hs), s.batchSize)
		if err != nil || len(e.IDs) == 0 {
			return err
		}
		n = len(e.IDs)
		err = s.ledger(ctx, tx, w, e, "")
		if err == nil && s.inBatch != nil {
			s.inBatch(ctx, tx)
		}
		return err
	})
	if err != nil {
		return 0, verwerker.Wrap("retention: sweep batch", err)
	}
	s.metrics.deleted.Add(float64(n))
	return n, nil
}

// complete certifies w once nothing due and unheld remains: it totals the
// batches, verifies that every record they name is gone, counts what each
// hold kept back, appends the audit event and stores the certificate.
func (s *Service) complete(ctx context.Context, w Sweep) (Sweep, error) {
	var out Sweep
	err := s.db.InTenantTx(ctx, w.TenantID, func(tx pgx.Tx) error {
		cur, err := scanSweep(tx.QueryRow(ctx, `SELECT `+sweepColumns+` FROM retention_sweeps WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, w.TenantID, w.ID))
		if err != nil {
			return err
		}
		if cur.Status == StatusCompleted {
			out = cur
			return nil
		}
		if err := lockHolds(ctx, tx, w.TenantID, false); err != nil {
			return err
		}
		hs, err := holdsIn(ctx, tx, w.TenantID, false)
		if err != nil {
			return err
		}
		left, err := records.CountDue(ctx, tx, w.TenantID, w.Cutoff, w.ContractEnded, held(hs))
		if err != nil {
			return err
		}
		if left > 0 {
			return errIncomplete
		}
		rows, err := tx.Query(ctx, `SELECT what, records_count, subjects_count, key_versions_destroyed, oldest_deadline, newest_deadline, record_ids,
				coalesce(dropped_partition, '')
			FROM retention_sweep_batches WHERE tenant_id = $1 AND sweep_id = $2 ORDER BY seq`, w.TenantID, w.ID)
		if err != nil {
			return err
		}
		out = cur
		versions := map[int]bool{}
		var ids, partitions []string
		for rows.Next() {
			var what []byte
			var recs, subs int64
			var vs []int32
			var oldest, newest *time.Time
			var batchIDs []string
			var partition string
			if err := rows.Scan(&what, &recs, &subs, &vs, &oldest, &newest, &batchIDs, &partition); err != nil {
				rows.Close()
				return err
			}
			m := map[string]int64{}
			if err := json.Unmarshal(what, &m); err != nil {
				rows.Close()
				return err
			}
			for k, v := range m {
				out.What[k] += v
			}
			out.Records += recs
			out.Subjects += subs
			for _, v := range vs {
				versions[int(v)] = true
			}
			if oldest != nil && (out.OldestDeadline == nil || oldest.Before(*out.OldestDeadline)) {
				out.OldestDeadline = oldest
			}
			if newest != nil && (out.NewestDeadline == nil || newest.After(*out.NewestDeadline)) {
				out.NewestDeadline = newest
			}
			ids = append(ids, batchIDs...)
			if partition != "" {
				partitions = append(partitions, partition)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// Certify only what is verified deleted.
		if remaining, err := records.Remaining(ctx, tx, w.TenantID, ids); err != nil {
			return err
		} else if remaining > 0 {
			return verwerker.Errorf(verwerker.EINTERNAL, "retention: sweep %s: %d records its ledger names are still stored", w.ID, remaining)
		}
		for _, p := range partitions {
			if gone, err := records.PartitionGone(ctx, tx, p); err != nil {
				return err
			} else if !gone {
				return verwerker.Errorf(verwerker.EINTERNAL, "retention: sweep %s: the partition its ledger names is still stored", w.ID)
			}
		}
		for v := range versions {
			out.KeyVersionsDestroyed = append(out.KeyVersionsDestroyed, v)
		}
		slices.Sort(out.KeyVersionsDestroyed)
		for _, h := range hs {
			n, err := records.CountHeldBack(ctx, tx, w.TenantID, w.Cutoff, w.ContractEnded, held([]Hold{h}))
			if err != nil {
				return err
			}
			if n > 0 {
				out.Held = append(out.Held, HeldBack{HoldID: h.ID, Scope: h.Scope, Target: h.target(), Records: n})
			}
		}
		now := s.clock.Now().UTC()
		out.Status, out.CompletedAt, out.AuditHash = StatusCompleted, &now, []byte{}
		// A sweep that deleted nothing changed nothing: no audit event.
		if out.Records > 0 {
			ev, err := s.audit.AppendTx(ctx, tx, audit.Event{Chain: w.TenantID, Actor: audit.Actor(ctx), Action: "retention.sweep", Resource: w.ID,
				Outcome: audit.Success, Reason: summary(out)})
			if err != nil {
				return err
			}
			out.AuditSeq, out.AuditHash = ev.Seq, ev.Hash
		}
		what, err := json.Marshal(out.What)
		if err != nil {
			return err
		}
		heldJSON, err := json.Marshal(out.Held)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE retention_sweeps SET status = 'completed', completed_at = $3, what = $4, records_count = $5, subjects_count = $6,
				key_versions_destroyed = $7, oldest_deadline = $8, newest_deadline = $9, held = $10, audit_seq = $11, audit_hash = $12
			WHERE tenant_id = $1 AND id = $2`, w.TenantID, w.ID, now, what, out.Records, out.Subjects, out.KeyVersionsDestroyed,
			out.OldestDeadline, out.NewestDeadline, heldJSON, out.AuditSeq, out.AuditHash)
		return err
	})
	if err != nil {
		if errors.Is(err, errIncomplete) {
			return w, err
		}
		return w, verwerker.Wrap("retention: complete sweep", err)
	}
	s.metrics.completed.Inc()
	return out, nil
}

// summary is the sweep's audit reason: codes and counts only.
func summary(w Sweep) string {
	cats := make([]string, 0, len(w.What))
	for k := range w.What {
		cats = append(cats, k)
	}
	sort.Strings(cats)
	parts := make([]string, len(cats))
	for i, k := range cats {
		parts[i] = k + "=" + strconv.FormatInt(w.What[k], 10)
	}
	holds := make([]string, len(w.Held))
	for i, h := range w.Held {
		holds[i] = h.HoldID + "=" + strconv.FormatInt(h.Records, 10)
	}
	r := fmt.Sprintf("records=%d subjects=%d contract_ended=%t categories=%s held=%s", w.Records, w.Subjects, w.ContractEnded,
		strings.Join(parts, ","), strings.Join(holds, ","))
	if len(r) > 300 {
		r = r[:300]
	}
	return r
}

// eraseTenantIfEmpty destroys the tenant key of a customer whose contract
// ended once none of its records remains (statutory records keep it until
// their period ends).
func (s *Service) eraseTenantIfEmpty(ctx context.Context, tenantID string) error {
	var n int64
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		n, err = records.Count(ctx, tx, tenantID)
		return err
	})
	if err != nil {
		return verwerker.Wrap("retention: contract-end purge", err)
	}
	if n > 0 {
		return nil
	}
	_, err = s.records.EraseTenant(ctx, tenantID, records.TenantErasure{})
	return err
}

// Preview is a dry run: exactly the records a sweep started now would
// delete first (up to limit, oldest deadline first), with the total.
func (s *Service) Preview(ctx context.Context, tenantID string, limit int) ([]records.DueRecord, int64, error) {
	var list []records.DueRecord
	var total int64
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		now := s.clock.Now().UTC()
		sweepable, ended, err := state(ctx, tx, tenantID, now)
		if err != nil || !sweepable {
			return err
		}
		hs, err := holdsIn(ctx, tx, tenantID, false)
		if err != nil {
			return err
		}
		if list, err = records.ListDue(ctx, tx, tenantID, now, ended, held(hs), limit); err != nil {
			return err
		}
		total, err = records.CountDue(ctx, tx, tenantID, now, ended, held(hs))
		return err
	})
	return list, total, verwerker.Wrap("retention: preview", err)
}

// Sweeps lists the customer's sweeps (their certificates), newest first, up
// to limit, after the sweep id before ("" for the first page).
func (s *Service) Sweeps(ctx context.Context, tenantID, before string, limit int) ([]Sweep, error) {
	var out []Sweep
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+sweepColumns+` FROM retention_sweeps WHERE tenant_id = $1 AND ($2 = '' OR id < $2)
			ORDER BY id DESC LIMIT $3`, tenantID, before, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Sweep, error) { return scanSweep(r) })
		return err
	})
	return out, verwerker.Wrap("retention: sweeps", err)
}

// Certificate returns one sweep; ENOTFOUND when the customer has none of
// that id.
func (s *Service) Certificate(ctx context.Context, tenantID, sweepID string) (Sweep, error) {
	var w Sweep
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		w, err = scanSweep(tx.QueryRow(ctx, `SELECT `+sweepColumns+` FROM retention_sweeps WHERE tenant_id = $1 AND id = $2`, tenantID, sweepID))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return w, verwerker.Errorf(verwerker.ENOTFOUND, "sweep not found")
	}
	return w, verwerker.Wrap("retention: certificate", err)
}

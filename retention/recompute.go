package retention

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/records"
	tenants "github.com/verwerker/verwerker/tenant"
)

// RecomputeBatch is how many records one recompute transaction changes.
const RecomputeBatch = 1000

// Recompute is one customer's recompute of stored deadlines after its
// active agreement changed a category's retention rule.
type Recompute struct {
	TenantID string
	// DPAVersion is the agreement version whose rules the deadlines follow.
	DPAVersion  int
	StartedAt   time.Time
	CompletedAt *time.Time
	// What counts the records given a new rule and deadline per category;
	// Records totals them.
	What    map[string]int64
	Records int64
	// AuditHash names the audit event closing a recompute that changed
	// records (empty otherwise).
	AuditHash []byte
}

// Recompute brings the stored deadlines of the customer's records in line
// with its active agreement: every record of a category stored under
// another rule than the agreement's (a new version changed the period) gets
// the new rule and its deadline, computed per Regulation 1182/71 in the
// customer's calendar from the subject's last interaction, the record's
// creation or the contract's end. Fiscal records keep the statutory rule and
// a minor's records their short deadline. It works in batches of
// RecomputeBatch, resumes where a crash left it, and is recorded once per
// agreement version; a recompute that changed records is audited. The sweep
// job runs it before each sweep. done is false while another transaction
// holds some of the records.
func (s *Service) Recompute(ctx context.Context, tenantID string) (rc Recompute, done bool, err error) {
	v, err := s.dpa.Active(ctx, tenantID)
	if verwerker.ErrorCode(err) == verwerker.ENOTFOUND {
		return rc, true, nil
	}
	if err != nil {
		return rc, false, verwerker.Wrap("retention: recompute", err)
	}
	var t tenants.Tenant
	err = s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		now := s.clock.Now().UTC()
		if _, err := tx.Exec(ctx, `INSERT INTO retention_recomputes (tenant_id, dpa_version, started_at) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, tenantID, v.Number, now); err != nil {
			return err
		}
		if rc, err = readRecompute(ctx, tx, tenantID, v.Number); err != nil {
			return err
		}
		t, err = tenants.Read(ctx, tx, tenantID, now, false)
		return err
	})
	if err != nil || rc.CompletedAt != nil {
		return rc, err == nil, verwerker.Wrap("retention: recompute", err)
	}
	cal := t.Calendar(s.calendar)
	for _, c := range v.Scope.Categories {
		deadlineOf := s.deadliner(c.Retention, &t, cal)
		if deadlineOf == nil {
			continue
		}
		for {
			var n int
			err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
				var err error
				if n, err = records.Recompute(ctx, tx, tenantID, c.ID, c.Retention, RecomputeBatch, deadlineOf); err != nil || n == 0 {
					return err
				}
				_, err = tx.Exec(ctx, `UPDATE retention_recomputes SET what = jsonb_set(what, ARRAY[$3], to_jsonb(coalesce((what->>$3)::bigint, 0) + $4)),
					records_count = records_count + $4 WHERE tenant_id = $1 AND dpa_version = $2`, tenantID, v.Number, c.ID, n)
				return err
			})
			if err != nil {
				return rc, false, verwerker.Wrap("retention: recompute", err)
			}
			if n == 0 {
				break
			}
		}
	}
	err = s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		for _, c := range v.Scope.Categories {
			if s.deadliner(c.Retention, &t, cal) == nil {
				continue
			}
			left, err := records.CountRecomputable(ctx, tx, tenantID, c.ID, c.Retention)
			if err != nil || left > 0 {
				return err
			}
		}
		cur, err := readRecompute(ctx, tx, tenantID, v.Number)
		if err != nil || cur.CompletedAt != nil {
			rc, done = cur, err == nil
			return err
		}
		now := s.clock.Now().UTC()
		cur.CompletedAt, cur.AuditHash = &now, []byte{}
		if cur.Records > 0 {
			ev, err := s.audit.AppendTx(ctx, tx, audit.Event{Chain: tenantID, Actor: audit.Actor(ctx), Action: "retention.recompute",
				Resource: fmt.Sprintf("dpa.v%d", v.Number), Outcome: audit.Success, Reason: recomputeSummary(cur)})
			if err != nil {
				return err
			}
			cur.AuditHash = ev.Hash
		}
		_, err = tx.Exec(ctx, `UPDATE retention_recomputes SET completed_at = $3, audit_hash = $4 WHERE tenant_id = $1 AND dpa_version = $2`,
			tenantID, v.Number, now, cur.AuditHash)
		rc, done = cur, err == nil
		return err
	})
	return rc, done, verwerker.Wrap("retention: recompute", err)
}

// deadliner computes deadlines under rule for the customer t in cal, nil
// for a rule it does not know.
func (s *Service) deadliner(rule string, t *tenants.Tenant, cal *deadline.Calendar) records.Deadliner {
	switch rule {
	case dpa.Retention30DaysAfterLastInteraction:
		return func(_, last time.Time) (time.Time, bool) {
			return cal.Deadline(last.In(cal.Location()), deadline.Days(30)).Due, true
		}
	case dpa.RetentionStatutory7Years:
		return func(created, _ time.Time) (time.Time, bool) {
			return cal.Deadline(created.In(cal.Location()), deadline.Years(7)).Due, true
		}
	case dpa.RetentionContractEndPlus30Days:
		due := t.PurgeDue(s.calendar)
		return func(_, _ time.Time) (time.Time, bool) {
			if due == nil {
				return time.Time{}, false
			}
			return due.Due, true
		}
	}
	return nil
}

func readRecompute(ctx context.Context, tx pgx.Tx, tenantID string, version int) (Recompute, error) {
	rc := Recompute{TenantID: tenantID, DPAVersion: version}
	var what []byte
	err := tx.QueryRow(ctx, `SELECT started_at, completed_at, what, records_count, coalesce(audit_hash, '') FROM retention_recomputes
		WHERE tenant_id = $1 AND dpa_version = $2`, tenantID, version).Scan(&rc.StartedAt, &rc.CompletedAt, &what, &rc.Records, &rc.AuditHash)
	if err != nil {
		return rc, err
	}
	rc.What = map[string]int64{}
	return rc, json.Unmarshal(what, &rc.What)
}

// recomputeSummary is the recompute's audit reason: codes and counts only.
func recomputeSummary(rc Recompute) string {
	cats := make([]string, 0, len(rc.What))
	for k, n := range rc.What {
		cats = append(cats, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(cats)
	r := fmt.Sprintf("dpa_version=%d records=%d categories=%s", rc.DPAVersion, rc.Records, strings.Join(cats, ","))
	if len(r) > 300 {
		r = r[:300]
	}
	return r
}

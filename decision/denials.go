package decision

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/deadline"
)

// ReasonDay are the denials of one day under one reason code
// (policy.ReasonCodes). A denial with several reasons counts under each.
type ReasonDay struct {
	Day    deadline.Date
	Reason string
	Denied uint64
}

// ReasonCodes returns the deny reason codes counted, in the order of
// policy.ReasonCodes.
func (s *Service) ReasonCodes() []string { return s.counts.reasons }

// Denials returns tenantID's denials by reason code on the days from
// through to, oldest first, then in the order of ReasonCodes: what every
// replica stored (decision_denials), plus what this replica counted since
// its last flush, as in Stats. The range is checked as in Stats.
func (s *Service) Denials(ctx context.Context, tenantID string, from, to deadline.Date) ([]ReasonDay, error) {
	if err := checkRange(from, to); err != nil {
		return nil, err
	}
	c := s.counts
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	counts := map[deadline.Date][]uint64{}
	add := func(d deadline.Date, k int, n uint64) {
		if counts[d] == nil {
			counts[d] = make([]uint64, len(c.reasons))
		}
		counts[d][k] += n
	}
	if s.db != nil {
		err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
			return scanDenials(ctx, tx, `SELECT day::text, reason, denied FROM decision_denials
				WHERE tenant_id = $3 AND day BETWEEN $1::date AND $2::date`, c.reasonIdx, add, from.String(), to.String(), tenantID)
		})
		if err != nil {
			return nil, verwerker.Wrap("decision: denials", err)
		}
	}
	if e := c.tenants.lookup(tenantID); e != nil {
		today := deadline.DateOf(s.clock.Now().In(s.calendar(e.timezone()).Location()))
		if !today.Before(from) && !today.After(to) {
			tc := &e.counts
			for k := range c.reasons {
				i := c.reasonBase + k
				if d := tc.n[i].Load() - tc.stored[i]; d > 0 {
					add(today, k, d)
				}
			}
		}
	}
	out := []ReasonDay{}
	for d := from; !d.After(to); d = d.AddDays(1) {
		for k, n := range counts[d] {
			if n > 0 {
				out = append(out, ReasonDay{Day: d, Reason: c.reasons[k], Denied: n})
			}
		}
	}
	return out, nil
}

// PlatformDenials returns every customer's stored denials by reason code on
// the days from through to (each customer's own calendar days), oldest
// first: the DPO's picture (counts only). Decisions not yet flushed are
// not in it. The range is checked as in Stats.
func (s *Service) PlatformDenials(ctx context.Context, from, to deadline.Date) ([]ReasonDay, error) {
	if err := checkRange(from, to); err != nil {
		return nil, err
	}
	out := []ReasonDay{}
	if s.db == nil {
		return out, nil
	}
	c := s.counts
	err := s.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		return scanDenials(ctx, tx, `SELECT day::text, reason, denied FROM decision_denials_platform
			WHERE day BETWEEN $1::date AND $2::date ORDER BY day`, c.reasonIdx, func(d deadline.Date, k int, n uint64) {
			out = append(out, ReasonDay{Day: d, Reason: c.reasons[k], Denied: n})
		}, from.String(), to.String())
	})
	if err != nil {
		return nil, verwerker.Wrap("decision: platform denials", err)
	}
	return out, nil
}

// scanDenials runs query (day, reason, denied) and hands each row with a
// known reason to add.
func scanDenials(ctx context.Context, tx pgx.Tx, query string, idx map[string]int, add func(deadline.Date, int, uint64), args ...any) error {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var day, reason string
		var n int64
		if err := rows.Scan(&day, &reason, &n); err != nil {
			return err
		}
		d, err := deadline.ParseDate(day)
		k, ok := idx[reason]
		if err != nil || !ok {
			continue // a reason no longer given
		}
		add(d, k, uint64(n))
	}
	return rows.Err()
}

// checkRange checks a range of days as Stats does.
func checkRange(from, to deadline.Date) error {
	if to.Before(from) {
		return verwerker.Invalid("the range of days is not valid", verwerker.FieldError{Field: "to", Message: "must not be before from"})
	}
	if from.AddDays(MaxStatsDays - 1).Before(to) {
		return verwerker.Invalid("the range of days is not valid",
			verwerker.FieldError{Field: "from", Message: fmt.Sprintf("must be at most %d days before to", MaxStatsDays-1)})
	}
	return nil
}

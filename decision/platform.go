package decision

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/deadline"
)

// PurposeDay are the decisions of one day for one purpose, over every
// customer.
type PurposeDay struct {
	Day             deadline.Date
	Purpose         string
	Allowed, Denied uint64
}

// PlatformStats returns every customer's stored decisions on the days from
// through to (each customer's own calendar days), per day and purpose,
// oldest first: the DPO's picture of the platform (counts only). Decisions
// not yet flushed by Run are not in it. The range is checked as in Stats.
func (s *Service) PlatformStats(ctx context.Context, from, to deadline.Date) ([]PurposeDay, error) {
	if to.Before(from) || from.AddDays(MaxStatsDays-1).Before(to) {
		return nil, verwerker.Invalid("the range of days is not valid",
			verwerker.FieldError{Field: "from", Message: fmt.Sprintf("must be at most %d days before to, and not after it", MaxStatsDays-1)})
	}
	out := []PurposeDay{}
	if s.db == nil {
		return out, nil
	}
	err := s.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT day::text, purpose, allowed, denied FROM decision_counts_platform
			WHERE day BETWEEN $1::date AND $2::date ORDER BY day, purpose`, from.String(), to.String())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var day, purpose string
			var a, d int64
			if err := rows.Scan(&day, &purpose, &a, &d); err != nil {
				return err
			}
			dd, err := deadline.ParseDate(day)
			if err != nil {
				return err
			}
			out = append(out, PurposeDay{Day: dd, Purpose: purpose, Allowed: uint64(a), Denied: uint64(d)})
		}
		return rows.Err()
	})
	if err != nil {
		return nil, verwerker.Wrap("decision: platform stats", err)
	}
	return out, nil
}

// Count is one customer's decisions on one day for one data category and
// purpose, as stored by the counters' flush.
type Count struct {
	TenantID          string
	Day               deadline.Date
	Category, Purpose string
	Allowed, Denied   uint64
	// Reasons are denials of the customer on the day by reason code
	// (policy.ReasonCodes), whatever the category and purpose; a denial
	// may count under several.
	Reasons map[string]uint64
}

// ImportCounts adds counts of past days to the stored statistics, as the
// counters' flush would have: for demo data and the benchmarks' year of
// activity. Decisions themselves are not made or audited.
func (s *Service) ImportCounts(ctx context.Context, counts []Count) error {
	if s.db == nil || len(counts) == 0 {
		return nil
	}
	ids, days, cats, purposes := make([]string, len(counts)), make([]string, len(counts)), make([]string, len(counts)), make([]string, len(counts))
	allowed, denied := make([]int64, len(counts)), make([]int64, len(counts))
	var dn denials
	for i, c := range counts {
		ids[i], days[i], cats[i], purposes[i] = c.TenantID, c.Day.String(), c.Category, c.Purpose
		allowed[i], denied[i] = int64(c.Allowed), int64(c.Denied)
		for _, code := range s.counts.reasons { // in a fixed order
			if n := c.Reasons[code]; n > 0 {
				dn.add(c.TenantID, days[i], code, n)
			}
		}
	}
	return verwerker.Wrap("decision: import counts", s.insertCounts(ctx, ids, days, cats, purposes, allowed, denied, &dn))
}

// denials are rows of decision_denials to add: tenant, day, reason code,
// denials.
type denials struct {
	ids, days, reasons []string
	denied             []int64
}

func (d *denials) add(tenantID, day, reason string, n uint64) {
	d.ids, d.days, d.reasons, d.denied = append(d.ids, tenantID), append(d.days, day), append(d.reasons, reason), append(d.denied, int64(n))
}

// insertCounts adds day counts to decision_counts, and their sums per day
// and purpose to decision_counts_platform, and the denials by reason to
// decision_denials and their sums to decision_denials_platform, in one
// transaction.
func (s *Service) insertCounts(ctx context.Context, ids, days, cats, purposes []string, allowed, denied []int64, dn *denials) error {
	return s.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		if len(dn.ids) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO decision_denials_platform AS dp (day, reason, denied)
				SELECT u.day::date, u.reason, sum(u.denied)
				FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(day, reason, denied)
				GROUP BY u.day, u.reason
				ON CONFLICT (day, reason) DO UPDATE SET denied = dp.denied + excluded.denied`,
				dn.days, dn.reasons, dn.denied); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO decision_denials AS dd (tenant_id, day, reason, denied)
				SELECT u.tenant_id, u.day::date, u.reason, sum(u.denied)
				FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(tenant_id, day, reason, denied)
				GROUP BY u.tenant_id, u.day, u.reason
				ON CONFLICT (tenant_id, day, reason) DO UPDATE SET denied = dd.denied + excluded.denied`,
				dn.ids, dn.days, dn.reasons, dn.denied); err != nil {
				return err
			}
		}
		if len(ids) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO decision_counts_platform AS dp (day, purpose, allowed, denied)
			SELECT u.day::date, u.purpose, sum(u.allowed), sum(u.denied)
			FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS u(day, purpose, allowed, denied)
			GROUP BY u.day, u.purpose
			ON CONFLICT (day, purpose)
			DO UPDATE SET allowed = dp.allowed + excluded.allowed, denied = dp.denied + excluded.denied`,
			days, purposes, allowed, denied); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO decision_counts AS dc (tenant_id, day, category, purpose, allowed, denied)
			SELECT u.tenant_id, u.day::date, u.category, u.purpose, u.allowed, u.denied
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])
				AS u(tenant_id, day, category, purpose, allowed, denied)
			ON CONFLICT (tenant_id, day, category, purpose)
			DO UPDATE SET allowed = dc.allowed + excluded.allowed, denied = dc.denied + excluded.denied`,
			ids, days, cats, purposes, allowed, denied)
		return err
	})
}

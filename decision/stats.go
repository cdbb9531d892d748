package decision

import (
	"context"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/deadline"
)

// Stats are a customer's decision counts over a range of days of its own
// calendar (its time zone): what the metrics no longer show per customer.
type Stats struct {
	TenantID string
	// From and To are the first and the last day counted.
	From, To        deadline.Date
	Allowed, Denied uint64
	// Cells are the counts per data category and purpose, in taxonomy
	// order; only those with decisions.
	Cells []CellStats
	// Days are the counts per day, oldest first; only days with decisions.
	Days []DayStats
}

// CellStats are the decisions about one data category for one purpose.
type CellStats struct {
	Category string
	// Special says the category is a special category of personal data
	// (GDPR Art. 9).
	Special         bool
	Purpose         string
	Allowed, Denied uint64
}

// DayStats are the decisions of one day.
type DayStats struct {
	Day             deadline.Date
	Allowed, Denied uint64
}

// MaxStatsDays is the longest range of days Stats counts over.
const MaxStatsDays = 366

// Stats returns tenantID's decisions on the days from through to: what
// every replica has added to decision_counts (at each flush), plus what this
// replica counted since its last flush. Another replica's latest decisions
// show after its next flush (Run's interval). A decision is counted on the
// day, in the customer's time zone, of the flush that stored it. The range
// is checked: to before from, or more than MaxStatsDays days, is an
// EINVALID error naming "from" or "to".
func (s *Service) Stats(ctx context.Context, tenantID string, from, to deadline.Date) (Stats, error) {
	if err := checkRange(from, to); err != nil {
		return Stats{}, err
	}
	c := s.counts
	// Under flushMu, what is stored and what is still to store agree.
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	type key struct {
		day  deadline.Date
		cell int
	}
	counts := map[key]uint64{}
	if s.db != nil {
		err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT day::text, category, purpose, allowed, denied FROM decision_counts
				WHERE tenant_id = $1 AND day BETWEEN $2::date AND $3::date`, tenantID, from.String(), to.String())
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var day, cat, purpose string
				var allowed, denied int64
				if err := rows.Scan(&day, &cat, &purpose, &allowed, &denied); err != nil {
					return err
				}
				d, err := deadline.ParseDate(day)
				ci, ok1 := c.catIdx[cat]
				pi, ok2 := c.purIdx[purpose]
				if err != nil || !ok1 || !ok2 {
					continue // no longer in the taxonomy
				}
				counts[key{d, c.index(ci, pi, true)}] += uint64(allowed)
				counts[key{d, c.index(ci, pi, false)}] += uint64(denied)
			}
			return rows.Err()
		})
		if err != nil {
			return Stats{}, verwerker.Wrap("decision: stats", err)
		}
	}
	if e := c.tenants.lookup(tenantID); e != nil {
		today := deadline.DateOf(s.clock.Now().In(s.calendar(e.timezone()).Location()))
		if !today.Before(from) && !today.After(to) {
			tc := &e.counts
			for i := range c.reasonBase {
				if d := tc.n[i].Load() - tc.stored[i]; d > 0 {
					counts[key{today, i}] += d
				}
			}
		}
	}

	out := Stats{TenantID: tenantID, From: from, To: to, Cells: []CellStats{}, Days: []DayStats{}}
	cells := make([]uint64, len(c.cats)*len(c.purposes)*2)
	days := map[deadline.Date]*DayStats{}
	for k, n := range counts {
		if n == 0 {
			continue
		}
		cells[k.cell] += n
		d := days[k.day]
		if d == nil {
			d = &DayStats{Day: k.day}
			days[k.day] = d
		}
		if k.cell%2 == 1 { // index: allowed is the odd cell
			d.Allowed += n
			out.Allowed += n
		} else {
			d.Denied += n
			out.Denied += n
		}
	}
	for ci, cat := range c.cats {
		for pi, p := range c.purposes {
			a, d := cells[c.index(ci, pi, true)], cells[c.index(ci, pi, false)]
			if a != 0 || d != 0 {
				out.Cells = append(out.Cells, CellStats{Category: cat, Special: c.special[ci], Purpose: p, Allowed: a, Denied: d})
			}
		}
	}
	for _, d := range days {
		out.Days = append(out.Days, *d)
	}
	sort.Slice(out.Days, func(i, j int) bool { return out.Days[i].Day.Before(out.Days[j].Day) })
	return out, nil
}

// storeCounts adds the tenants' decisions since the last flush to
// decision_counts, on the day of now in each customer's time zone, in one
// statement. Called by Flush under flushMu.
func (s *Service) storeCounts(ctx context.Context, tenants []*customer) error {
	if s.db == nil {
		return nil
	}
	c := s.counts
	now := s.clock.Now()
	var ids, days, cats, purposes []string
	var allowed, denied []int64
	var dn denials
	snaps := make([][]uint64, len(tenants))
	for k, e := range tenants {
		tc := &e.counts
		snap := make([]uint64, len(tc.n))
		changed := false
		for i := range snap {
			snap[i] = tc.n[i].Load()
			changed = changed || snap[i] != tc.stored[i]
		}
		if !changed {
			continue
		}
		snaps[k] = snap
		day := deadline.DateOf(now.In(s.calendar(e.timezone()).Location())).String()
		for ci, cat := range c.cats {
			for pi, p := range c.purposes {
				ai, di := c.index(ci, pi, true), c.index(ci, pi, false)
				a, d := snap[ai]-tc.stored[ai], snap[di]-tc.stored[di]
				if a == 0 && d == 0 {
					continue
				}
				ids, days, cats, purposes = append(ids, e.id), append(days, day), append(cats, cat), append(purposes, p)
				allowed, denied = append(allowed, int64(a)), append(denied, int64(d))
			}
		}
		for k, code := range c.reasons {
			i := c.reasonBase + k
			if d := snap[i] - tc.stored[i]; d > 0 {
				dn.add(e.id, day, code, d)
			}
		}
	}
	if len(ids) == 0 && len(dn.ids) == 0 {
		return nil
	}
	err := s.insertCounts(ctx, ids, days, cats, purposes, allowed, denied, &dn)
	if err != nil {
		return verwerker.Wrap("decision: store counts", err)
	}
	for k, snap := range snaps {
		if snap != nil {
			copy(tenants[k].counts.stored, snap)
		}
	}
	return nil
}

// Today is the current day in the calendar of a customer in time zone tz
// (an IANA name; the default calendar's when unknown), by the service's
// clock: the end of Stats' default range.
func (s *Service) Today(tz string) deadline.Date {
	return deadline.DateOf(s.clock.Now().In(s.calendar(tz).Location()))
}

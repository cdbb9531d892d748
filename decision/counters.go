package decision

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/policy"
)

// counters count decisions per tenant, category, purpose and outcome. They
// back the Prometheus counter verwerker_decisions_total (summed over
// tenants: metric labels never name customers), the per-customer counts in
// decision_counts (Stats) and the periodic aggregate audit events. Each
// tenant's counts are plain atomic counters in its cache entry.
type counters struct {
	cats, purposes []string
	special        []bool // by category index
	catIdx, purIdx map[string]int
	// reasons are the deny reason codes counted, reasonIdx their indexes;
	// a tenant's denials by reason are its cells from reasonBase on.
	reasons    []string
	reasonIdx  map[string]int
	reasonBase int
	tenants    *tenants

	flushMu sync.Mutex // serialises Flush
}

// counts are one tenant's counts: [category][purpose][allowed], then the
// denials per reason code.
type counts struct {
	n       []atomic.Uint64
	flushed []uint64 // the allow counts already in the audit log; under flushMu
	stored  []uint64 // the counts already added to decision_counts; under flushMu
}

func newCounts(cells int) counts {
	return counts{n: make([]atomic.Uint64, cells), flushed: make([]uint64, cells), stored: make([]uint64, cells)}
}

func newCounters(tax policy.Taxonomy, ts *tenants) *counters {
	c := &counters{catIdx: map[string]int{}, purIdx: map[string]int{}, purposes: tax.Purposes, tenants: ts}
	for i, x := range tax.Categories {
		c.cats = append(c.cats, x.ID)
		c.special = append(c.special, x.Special)
		c.catIdx[x.ID] = i
	}
	for i, p := range tax.Purposes {
		c.purIdx[p] = i
	}
	c.reasonIdx = map[string]int{}
	for _, code := range policy.ReasonCodes {
		if code != policy.ReasonInScope {
			c.reasonIdx[code] = len(c.reasons)
			c.reasons = append(c.reasons, code)
		}
	}
	c.reasonBase = len(c.cats) * len(c.purposes) * 2
	ts.cells = c.reasonBase + len(c.reasons)
	return c
}

func (c *counters) index(ci, pi int, allowed bool) int {
	i := (ci*len(c.purposes) + pi) * 2
	if allowed {
		i++
	}
	return i
}

// add counts one decision of t.
func (c *counters) add(t *customer, category, purpose string, allowed bool) {
	ci, ok1 := c.catIdx[category]
	pi, ok2 := c.purIdx[purpose]
	if !ok1 || !ok2 {
		return
	}
	t.counts.n[c.index(ci, pi, allowed)].Add(1)
}

// deny counts a denial of t under each of its reason codes (reasons are
// sorted by code, so a code given twice is next to itself): one atomic
// increment per code, no lock, no allocation.
func (c *counters) deny(t *customer, reasons []policy.Reason) {
	last := ""
	for i := range reasons {
		code := reasons[i].Code
		if code == last {
			continue
		}
		last = code
		if k, ok := c.reasonIdx[code]; ok {
			t.counts.n[c.reasonBase+k].Add(1)
		}
	}
}

var decisionsDesc = prometheus.NewDesc("verwerker_decisions_total",
	"Processing decisions by data category, purpose and outcome (allow or deny), summed over every customer; "+
		"per-customer counts are in the API (decision-stats), never in metric labels.",
	[]string{"category", "purpose", "outcome"}, nil)

// Describe implements prometheus.Collector.
func (c *counters) Describe(ch chan<- *prometheus.Desc) { ch <- decisionsDesc }

// Collect implements prometheus.Collector. Its series are bounded by the
// taxonomy (categories x purposes x 2), however many customers decide.
func (c *counters) Collect(ch chan<- prometheus.Metric) {
	sums := make([]uint64, len(c.cats)*len(c.purposes)*2)
	for _, t := range c.tenants.all() {
		for i := range sums {
			sums[i] += t.counts.n[i].Load()
		}
	}
	for ci, cat := range c.cats {
		for pi, p := range c.purposes {
			for _, allowed := range []bool{false, true} {
				n := sums[c.index(ci, pi, allowed)]
				if n == 0 {
					continue
				}
				outcome := "deny"
				if allowed {
					outcome = "allow"
				}
				ch <- prometheus.MustNewConstMetric(decisionsDesc, prometheus.CounterValue, float64(n), cat, p, outcome)
			}
		}
	}
}

// Metrics returns the Prometheus collector of verwerker_decisions_total.
func (s *Service) Metrics() prometheus.Collector { return s.counts }

// Flush adds each tenant's decisions since the last flush to
// decision_counts (Stats) and writes one aggregate audit event per tenant
// with allows since the last flush: how many, per category and purpose
// ("decision.allow.aggregate", reason "allowed=N
// chat.message/service.delivery=M ..."). Denials are audited one by one as
// they happen. What a failed write or append missed is written by the next
// flush.
func (s *Service) Flush(ctx context.Context) error {
	c := s.counts
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	tenants := c.tenants.all()
	firstErr := s.storeCounts(ctx, tenants)
	if s.audit == nil {
		return firstErr
	}
	for _, e := range tenants {
		t, tc := e.id, &e.counts
		total := uint64(0)
		reason := ""
		now := make([]uint64, len(tc.n))
		for ci, cat := range c.cats {
			for pi, p := range c.purposes {
				i := c.index(ci, pi, true)
				now[i] = tc.n[i].Load()
				if d := now[i] - tc.flushed[i]; d > 0 {
					total += d
					if part := fmt.Sprintf(" %s/%s=%d", cat, p, d); len(reason)+len(part) < 250 {
						reason += part
					} else if reason[len(reason)-4:] != " ..." {
						reason += " ..."
					}
				}
			}
		}
		if total == 0 {
			continue
		}
		_, err := s.audit.Append(ctx, audit.Event{Chain: t, Actor: "system", Action: "decision.allow.aggregate", Resource: t,
			Outcome: audit.Success, Reason: fmt.Sprintf("allowed=%d%s", total, reason)})
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		for i := range now {
			if now[i] > tc.flushed[i] {
				tc.flushed[i] = now[i]
			}
		}
	}
	return firstErr
}

// Run flushes the counts every interval until ctx ends,
// and once more then.
func (s *Service) Run(ctx context.Context, interval time.Duration, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := s.Flush(context.WithoutCancel(ctx)); err != nil {
				logger.Warn("decision: flushing decision counts failed", "error", err.Error())
			}
			return
		case <-t.C:
			if err := s.Flush(ctx); err != nil {
				logger.Warn("decision: flushing decision counts failed; the next flush retries", "error", err.Error())
			}
		}
	}
}

package decision

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sort"
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
// decision_counts (Stats) and the periodic aggregate audit events.
//
// The hot path does not touch the tenant's counts: with thousands of
// customers they are cold in the CPU caches, and one increment would cost
// more than the decision. It appends the (tenant, cell) pair to one of a few
// striped buffers instead, which stay warm; a full buffer is added to the
// counts by the decision that filled it, after releasing the stripe, and
// every reader (Collect, Flush, Stats) first drains all stripes, so no count
// is lost. (A full buffer being added while a reader drains shows up at the
// next reading.)
type counters struct {
	cats, purposes []string
	special        []bool // by category index
	catIdx, purIdx map[string]int
	tenants        *tenantIndex
	stripes        []stripe

	flushMu sync.Mutex // serialises Flush
}

// stripeSize is how many decisions a stripe holds before they are counted.
const stripeSize = 512

// stripe buffers decisions still to be counted.
type stripe struct {
	mu  sync.Mutex
	buf []counted
	_   [32]byte // keep neighbouring stripes' locks off one cache line
}

// counted is one decision to count: the tenant's counts and the index of its
// category, purpose and outcome.
type counted struct {
	c    *tenantCounts
	cell int
}

// tenantCounts are one tenant's counts: [category][purpose][allowed].
type tenantCounts struct {
	n       []atomic.Uint64
	flushed []uint64 // the allow counts already in the audit log; under flushMu
	stored  []uint64 // the counts already added to decision_counts; under flushMu
}

func newCounters(tax policy.Taxonomy) *counters {
	c := &counters{catIdx: map[string]int{}, purIdx: map[string]int{}, purposes: tax.Purposes, tenants: newTenantIndex()}
	n := 1
	for n < 4*runtime.GOMAXPROCS(0) {
		n <<= 1
	}
	c.stripes = make([]stripe, n)
	for i := range c.stripes {
		c.stripes[i].buf = make([]counted, 0, stripeSize)
	}
	for i, x := range tax.Categories {
		c.cats = append(c.cats, x.ID)
		c.special = append(c.special, x.Special)
		c.catIdx[x.ID] = i
	}
	for i, p := range tax.Purposes {
		c.purIdx[p] = i
	}
	return c
}

func (c *counters) index(ci, pi int, allowed bool) int {
	i := (ci*len(c.purposes) + pi) * 2
	if allowed {
		i++
	}
	return i
}

// newCounts returns zero counts for a tenant.
func (c *counters) newCounts() *tenantCounts {
	n := len(c.cats) * len(c.purposes) * 2
	return &tenantCounts{n: make([]atomic.Uint64, n), flushed: make([]uint64, n), stored: make([]uint64, n)}
}

// add counts one decision. A stripe is picked at random (no shared
// counter), so concurrent decisions rarely wait for each other.
func (c *counters) add(tc *tenantCounts, category, purpose string, allowed bool) {
	ci, ok1 := c.catIdx[category]
	pi, ok2 := c.purIdx[purpose]
	if !ok1 || !ok2 {
		return
	}
	s := &c.stripes[rand.Uint32()&uint32(len(c.stripes)-1)]
	s.mu.Lock()
	s.buf = append(s.buf, counted{tc, c.index(ci, pi, allowed)})
	if len(s.buf) < stripeSize {
		s.mu.Unlock()
		return
	}
	full := s.buf
	s.buf = make([]counted, 0, stripeSize)
	s.mu.Unlock()
	apply(full)
}

// apply adds buffered decisions to their tenants' counts.
func apply(buf []counted) {
	for _, x := range buf {
		x.c.n[x.cell].Add(1)
	}
}

// drain counts every buffered decision: readers call it first.
func (c *counters) drain() {
	for i := range c.stripes {
		s := &c.stripes[i]
		s.mu.Lock()
		apply(s.buf)
		clear(s.buf)
		s.buf = s.buf[:0]
		s.mu.Unlock()
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
	c.drain()
	sums := make([]uint64, len(c.cats)*len(c.purposes)*2)
	c.tenants.each(func(e *tenantEntry) {
		for i := range sums {
			sums[i] += e.counts.n[i].Load()
		}
	})
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
	c.drain()
	var tenants []*tenantEntry
	c.tenants.each(func(e *tenantEntry) { tenants = append(tenants, e) })
	sort.Slice(tenants, func(i, j int) bool { return tenants[i].id() < tenants[j].id() })
	firstErr := s.storeCounts(ctx, tenants)
	if s.audit == nil {
		return firstErr
	}
	for _, e := range tenants {
		t, tc := e.id(), e.counts
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

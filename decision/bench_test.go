package decision_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/policy"
)

// Templates returns n agreement scopes of the kind customers choose from:
// different categories, purposes and regions, some with transfers and
// subprocessors.
func templates(n int) []*policy.DPAState {
	tax := dpa.PolicyTaxonomy()
	r := rand.New(rand.NewPCG(7, 7))
	out := make([]*policy.DPAState, n)
	for i := range out {
		st := &policy.DPAState{Version: 1 + i%3, ID: fmt.Sprintf("dpa_t%d", i), Categories: map[string]policy.CategoryRule{},
			Purposes: []string{"service.delivery"}, Regions: []string{"eea"}, Transfers: map[string]string{}}
		for _, c := range tax.Categories[:6] {
			if c.ID == "chat.message" || r.IntN(2) == 0 {
				st.Categories[c.ID] = policy.CategoryRule{Retention: []string{dpa.Retention30DaysAfterLastInteraction, dpa.RetentionContractEndPlus30Days, dpa.RetentionStatutory7Years}[r.IntN(3)]}
			}
		}
		for _, p := range tax.Purposes[1:] {
			if r.IntN(2) == 0 {
				st.Purposes = append(st.Purposes, p)
			}
		}
		if r.IntN(3) == 0 {
			st.Regions = append(st.Regions, "us")
			st.Transfers["us"] = dpa.BasisSCCs
		}
		out[i] = st
	}
	return out
}

// benchTenants makes n tenants on the templates and a decision service
// that has compiled them all.
func benchTenants(b *testing.B, n int) (*decision.Service, []string, []*policy.DPAState) {
	ctx := context.Background()
	tpl := templates(50)
	ids := make([]string, n)
	byID := map[string]*policy.DPAState{}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range ids {
		ids[i] = verwerker.NewID(verwerker.PrefixTenant, start.Add(time.Duration(i)*time.Millisecond))
		byID[ids[i]] = tpl[i%len(tpl)]
	}
	svc, err := decision.NewService(ctx, func(_ context.Context, id string) (policy.TenantState, error) {
		return policy.TenantState{TenantID: id, Status: policy.TenantActive, Timezone: "Europe/Amsterdam", DPA: byID[id],
			Subprocessors: []string{"hosting-eu"}}, nil
	}, nil, nil, verwerker.SystemClock{}, decision.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, id := range ids {
		if _, err := svc.Decide(ctx, id, 0, []decision.Request{{Category: "chat.message", Purpose: "service.delivery", Region: "nl"}}); err != nil {
			b.Fatal(err)
		}
	}
	scopes := make([]*policy.DPAState, n)
	for i, id := range ids {
		scopes[i] = byID[id]
	}
	return svc, ids, scopes
}

// benchQuestion is one question of a benchmark.
type benchQuestion struct {
	tenant string
	req    []decision.Request
}

// benchQuestions draws 8,192 questions at random over the tenants, each
// inside its tenant's scope (category and purpose; the region at random).
func benchQuestions(ids []string, scopes []*policy.DPAState, seed uint64) []benchQuestion {
	r := rand.New(rand.NewPCG(1, seed))
	qs := make([]benchQuestion, 8192)
	for i := range qs {
		t := r.IntN(len(ids))
		sc := scopes[t]
		cats := make([]string, 0, len(sc.Categories))
		for c := range sc.Categories {
			cats = append(cats, c)
		}
		slices.Sort(cats)
		// Each question carries its own copy of the tenant id, as one
		// decoded from a request body does.
		qs[i] = benchQuestion{strings.Clone(ids[t]), []decision.Request{{Category: cats[r.IntN(len(cats))], Purpose: sc.Purposes[r.IntN(len(sc.Purposes))],
			Region: []string{"nl", "de", "eea", "fr"}[r.IntN(4)]}}}
	}
	return qs
}

// decideTimed asks q and returns how long it took and whether it was allowed.
func decideTimed(b *testing.B, svc *decision.Service, q *benchQuestion) (time.Duration, bool) {
	t0 := time.Now()
	ds, err := svc.Decide(context.Background(), q.tenant, 0, q.req)
	d := time.Since(t0)
	if err != nil {
		b.Fatal(err)
	}
	return d, ds[0].Allow
}

func median(lat []time.Duration) time.Duration {
	slices.Sort(lat)
	return lat[len(lat)/2]
}

// BenchmarkDecide measures one decision in process, as the API makes it
// after authentication (validation, the tenant's compiled table, decision
// id, obligations with the deletion deadline, counters), at 10 and at
// 10,000 customers on 50 agreement templates, customers drawn at random. It
// reports the median and the 99th percentile of single calls (p50-ns,
// p99-ns). "interleaved" asks both services in alternating blocks of 256
// questions, so that the machine's noise falls on both alike, and reports
// both medians and their ratio (p50-ratio). The in-process decision is a
// small part of an HTTP decision's cost; the ratio is reported, not a goal.
func BenchmarkDecide(b *testing.B) {
	type setup struct {
		svc *decision.Service
		qs  []benchQuestion
	}
	sets := map[int]setup{}
	for _, n := range []int{10, 10_000} {
		svc, ids, scopes := benchTenants(b, n)
		sets[n] = setup{svc, benchQuestions(ids, scopes, uint64(n))}
	}
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("customers=%d", n), func(b *testing.B) {
			st := sets[n]
			lat := make([]time.Duration, 0, 1<<20)
			allowed := 0
			for i := 0; b.Loop(); i++ {
				d, ok := decideTimed(b, st.svc, &st.qs[i&8191])
				if ok {
					allowed++
				}
				if len(lat) < cap(lat) {
					lat = append(lat, d)
				}
			}
			if allowed == 0 {
				b.Fatal("nothing was allowed")
			}
			b.ReportMetric(float64(median(lat).Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
	b.Run("interleaved", func(b *testing.B) {
		small, large := sets[10], sets[10_000]
		ls, ll := make([]time.Duration, 0, 1<<19), make([]time.Duration, 0, 1<<19)
		for i := 0; b.Loop(); i++ {
			st, lat := small, &ls
			if i&256 != 0 {
				st, lat = large, &ll
			}
			d, _ := decideTimed(b, st.svc, &st.qs[i&8191])
			if len(*lat) < cap(*lat) {
				*lat = append(*lat, d)
			}
		}
		if len(ls) == 0 || len(ll) == 0 {
			return
		}
		p10, p10k := median(ls), median(ll)
		b.ReportMetric(float64(p10.Nanoseconds()), "p50-10-ns")
		b.ReportMetric(float64(p10k.Nanoseconds()), "p50-10000-ns")
		b.ReportMetric(float64(p10k)/float64(p10), "p50-ratio")
	})
}

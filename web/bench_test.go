package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/tenant"
)

// benchEnv is the demo plus 1,000 customers (one in ten terminating) with
// a year of decisions each: three data category and purpose cells a day.
func benchEnv(b *testing.B) (*env, []*http.Cookie) {
	e := newEnv(b)
	ctx := context.Background()
	today := deadline.DateOf(e.clock.Now().In(tenant.Location(tenant.DefaultTimezone)))
	var counts []decision.Count
	flush := func() {
		require.NoError(b, e.app.Decisions.ImportCounts(ctx, counts))
		counts = counts[:0]
	}
	for i := range 1000 {
		t, err := e.app.Tenants.Create(ctx, tenant.New{Name: fmt.Sprintf("Klant %04d B.V.", i), Country: "NL", ContactEmail: fmt.Sprintf("privacy@klant%04d.example", i)})
		require.NoError(b, err)
		if i%10 == 0 {
			_, err = e.app.Tenants.Terminate(ctx, t.ID, tenant.Termination{ContractEnd: today.AddDays(5 + i/10), Reason: tenant.ReasonCustomerNotice})
			require.NoError(b, err)
		}
		for d := range 365 {
			day := today.AddDays(-d)
			counts = append(counts,
				decision.Count{TenantID: t.ID, Day: day, Category: "chat.message", Purpose: "service.delivery", Allowed: uint64(20 + (i+d)%40), Denied: uint64(d % 3),
					Reasons: map[string]uint64{"region_not_in_scope": uint64(d % 3)}},
				decision.Count{TenantID: t.ID, Day: day, Category: "chat.metadata", Purpose: "security", Allowed: uint64(5 + d%7)},
				decision.Count{TenantID: t.ID, Day: day, Category: "chat.message", Purpose: "marketing", Denied: uint64((i + d) % 2),
					Reasons: map[string]uint64{"purpose_not_in_scope": uint64((i + d) % 2)}})
		}
		if len(counts) > 50_000 {
			flush()
		}
	}
	flush()
	c := e.client(b)
	e.signIn(b, c, e.dpo())
	u, _ := http.NewRequest(http.MethodGet, e.srv.URL, nil)
	return e, c.Jar.Cookies(u.URL)
}

// BenchmarkOverview is the overview's server time for the DPO with 1,000
// customers and a year of activity (goal: p50 <= 50 ms), reported as the
// custom metric p50-ms.
func BenchmarkOverview(b *testing.B) {
	e, cookies := benchEnv(b)
	var times []time.Duration
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/dashboard/overview", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		w := httptest.NewRecorder()
		start := time.Now()
		e.app.Handler.ServeHTTP(w, req)
		times = append(times, time.Since(start))
		if w.Code != http.StatusOK {
			b.Fatalf("overview: %d", w.Code)
		}
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(times[len(times)*95/100].Microseconds())/1000, "p95-ms")
}

var external = regexp.MustCompile(`(?i)(src|href|action)=["']?(https?:)?//`)

// BenchmarkPageWeight is the weight of each main page with its assets
// (goal <= 150 KB each), and the number of references to other sites
// (goal 0), as custom metrics KB-<page> and external-<page>.
func BenchmarkPageWeight(b *testing.B) {
	e := newEnv(b)
	c := e.client(b)
	e.signIn(b, c, e.dpo())
	a := e.data.Tenants[0].ID
	assets := 0
	for _, p := range []string{"/dashboard/static/style.css", "/dashboard/static/favicon.svg"} {
		status, body := e.get(b, c, p)
		require.Equal(b, http.StatusOK, status)
		assets += len(body)
	}
	pages := []struct{ name, path string }{
		{"overview", "/dashboard/overview"}, {"customers", "/dashboard/customers"}, {"customer", "/dashboard/customers/" + a},
		{"agreement", "/dashboard/customers/" + a + "/agreements/1"}, {"subprocessors", "/dashboard/subprocessors"},
		{"notices", "/dashboard/notices"}, {"audit", "/dashboard/audit"}, {"signin", "/dashboard/signin"},
		{"breaches", "/dashboard/breaches"}, {"requests", "/dashboard/requests"}, {"retention", "/dashboard/customers/" + a + "/retention"},
	}
	for b.Loop() {
		for _, p := range pages {
			status, body := e.get(b, c, p.path)
			require.Equal(b, http.StatusOK, status, p.path)
			b.ReportMetric(float64(len(body)+assets)/1024, "KB-"+p.name)
			b.ReportMetric(float64(len(external.FindAllString(body, -1))), "external-"+p.name)
			if strings.Contains(body, "<script") {
				b.Fatalf("%s has a script", p.name)
			}
		}
	}
}

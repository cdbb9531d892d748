package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/tenant"
)

// scrape reads the server's metrics the way the operator's scraper does, on
// the metrics handler (served on its own listener by `verwerker serve`).
func (b *testBundle) scrape(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	b.server.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Header().Get("Content-Type"), "text/plain")
	body, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(body)
}

// series returns the sample lines of a metrics text: one per series.
func series(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)

	res := b.do(t, http.MethodPost, "/v1/tenants", b.admin(t), validTenant("Metrics B.V."))
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	res = b.do(t, http.MethodPost, "/v1/tenants", b.token(t, policy.RoleDPO, "platform"), validTenant("Metrics Two B.V."))
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
	res = b.do(t, http.MethodGet, "/no/such/route", "", nil)
	require.Equal(t, http.StatusNotFound, res.status, res.raw)

	// The API's listener has no metrics: they are on the operator's own
	// listener (VERWERKER_METRICS_ADDR), and /metrics here is not found,
	// with or without credentials.
	for _, token := range []string{"", b.admin(t)} {
		m := b.do(t, http.MethodGet, "/metrics", token, nil)
		require.Equal(t, http.StatusNotFound, m.status, m.raw)
		require.Equal(t, "not_found", m.problem(t).Code, m.raw)
		require.NotContains(t, m.raw, "verwerker_")
	}

	m := b.scrape(t)
	require.Contains(t, m, `verwerker_http_requests_total{code="201",method="POST",operation="createTenant"} 1`)
	require.Contains(t, m, `verwerker_http_requests_total{code="403",method="POST",operation="createTenant"} 1`)
	require.Contains(t, m, `verwerker_http_request_duration_seconds_count{method="POST",operation="createTenant"} 2`)
	// Labels are operation ids, never paths with ids or query strings in
	// them.
	require.NotContains(t, m, "/no/such/route")
	require.NotContains(t, m, "tnt_")
}

// TestMetricsDoNotGrowWithCustomers: however many customers decide, the
// metrics have the same series, and none names a customer (its id or its
// name); the per-customer counts are in the API instead.
func TestMetricsDoNotGrowWithCustomers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var ids, names []string
	decide := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			name := fmt.Sprintf("Klant %02d B.V.", i)
			tn, err := b.tenants.Create(ctx, tenant.New{Name: name, Country: "NL", ContactEmail: fmt.Sprintf("privacy@klant%02d.example", i)})
			require.NoError(t, err)
			ids, names = append(ids, tn.ID), append(names, name)
			activeDPA(t, b, tn.ID)
			chat := b.issue(t, policy.RoleChatService, tn.ID)
			for _, q := range []map[string]any{
				{"category": "chat.message", "purpose": "service.delivery", "region": "nl"},   // allowed
				{"category": "chat.message", "purpose": "marketing", "region": "nl"},          // denied: out of scope
				{"category": "special.health", "purpose": "service.delivery", "region": "nl"}, // denied: special category
			} {
				q["tenant_id"] = tn.ID
				res := b.do(t, http.MethodPost, "/v1/decisions", chat, q)
				require.Equal(t, http.StatusOK, res.status, res.raw)
			}
		}
	}

	decide(0, 2)
	few := series(b.scrape(t))
	decide(2, 30)
	text := b.scrape(t)
	many := series(text)

	names2 := func(lines []string) []string {
		var out []string
		for _, l := range lines {
			out = append(out, l[:strings.LastIndex(l, " ")])
		}
		return out
	}
	require.Equal(t, names2(few), names2(many), "the same series for 2 and for 30 customers")
	require.Contains(t, text, `verwerker_decisions_total{category="chat.message",outcome="allow",purpose="service.delivery"} 30`)
	require.Contains(t, text, `verwerker_decisions_total{category="special.health",outcome="deny",purpose="service.delivery"} 30`)
	require.NotContains(t, text, "tnt_")
	require.NotContains(t, text, `tenant="`)
	for i := range ids {
		require.NotContains(t, text, ids[i])
		require.NotContains(t, text, names[i])
	}

	// Each customer's own counts are in the API.
	res := b.do(t, http.MethodGet, "/v1/tenants/"+ids[7]+"/decision-stats", b.token(t, policy.RoleDPO, "platform"), nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.EqualValues(t, 1, res.json["allowed"])
	require.EqualValues(t, 2, res.json["denied"])
}

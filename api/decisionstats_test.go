package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/policy"
)

// TestDecisionStats: the customer reads its own decision counts per data
// category, purpose and day; nobody reads another customer's.
func TestDecisionStats(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A, B := b.tenantA.ID, b.tenantB.ID
	activeDPA(t, b, A)
	chat := b.token(t, policy.RoleChatService, A)
	requireDecision(t, ask(t, b, chat, nil), true, policy.ReasonInScope)
	requireDecision(t, ask(t, b, chat, nil), true, policy.ReasonInScope)
	res := ask(t, b, chat, map[string]any{"category": "special.health"})
	require.Equal(t, false, res.json["allow"], res.raw)
	viewer := b.token(t, policy.RoleControllerViewer, A)

	stats := func(token, query string) response {
		t.Helper()
		return b.do(t, http.MethodGet, "/v1/tenants/"+A+"/decision-stats"+query, token, nil)
	}
	// Default range: the last 30 days of the customer's calendar, today
	// included; this replica's decisions count before any flush.
	res = stats(viewer, "")
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, A, res.json["tenant_id"])
	require.Equal(t, "2026-02-01", res.json["from"])
	require.Equal(t, "2026-03-02", res.json["to"])
	require.EqualValues(t, 2, res.json["allowed"])
	require.EqualValues(t, 1, res.json["denied"])
	require.Equal(t, []any{
		map[string]any{"category": "chat.message", "special": false, "purpose": "service.delivery", "allowed": float64(2), "denied": float64(0)},
		map[string]any{"category": "special.health", "special": true, "purpose": "service.delivery", "allowed": float64(0), "denied": float64(1)},
	}, res.json["items"])
	require.Equal(t, []any{map[string]any{"day": "2026-03-02", "allowed": float64(2), "denied": float64(1)}}, res.json["days"])

	// Flushed, the counts are the same (stored, not counted twice), and
	// the next day's decisions fall on the next day.
	require.NoError(t, b.decisions.Flush(context.Background()))
	b.clock.Advance(24 * time.Hour)
	requireDecision(t, ask(t, b, chat, nil), true, policy.ReasonInScope)
	res = stats(b.token(t, policy.RoleAuditor, A), "?from=2026-03-02&to=2026-03-03")
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.EqualValues(t, 3, res.json["allowed"])
	require.Len(t, res.json["days"], 2)
	res = stats(b.token(t, policy.RoleDPO, verwerker.PlatformDomain), "?from=2026-03-03&to=2026-03-03")
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.EqualValues(t, 1, res.json["allowed"])
	require.EqualValues(t, 0, res.json["denied"])

	// Tenant B has its own counts: none.
	res = b.do(t, http.MethodGet, "/v1/tenants/"+B+"/decision-stats", b.token(t, policy.RoleControllerAdmin, B), nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.EqualValues(t, 0, res.json["allowed"])
	require.Empty(t, res.json["items"])

	// Nobody else reads A's counts; the chat service does not either.
	require.Equal(t, http.StatusNotFound, stats(b.token(t, policy.RoleControllerAdmin, B), "").status)
	require.Equal(t, http.StatusForbidden, stats(chat, "").status)
	require.Equal(t, http.StatusForbidden, stats(b.token(t, policy.RoleSupport, verwerker.PlatformDomain), "").status)

	// Bad ranges are a 422 naming the parameter, without its value.
	for _, tc := range []struct{ query, location string }{
		{"?from=yesterday", "query.from"},
		{"?to=2026-02-30", "query.to"},
		{"?from=2026-03-02&to=2026-03-01", "query.to"},
		{"?from=2025-01-01&to=2026-03-01", "query.from"},
	} {
		res = stats(viewer, tc.query)
		require.Equal(t, http.StatusUnprocessableEntity, res.status, tc.query+": "+res.raw)
		require.Equal(t, []string{tc.location}, res.locations(t), tc.query)
		require.NotContains(t, res.raw, "yesterday")
		require.NotContains(t, res.raw, "2026-02-30")
	}
}

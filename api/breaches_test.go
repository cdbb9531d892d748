package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/policy"
)

// TestBreachEndToEnd: a detection hook reports an incident (and can do
// nothing else); the DPO triages it as a breach, counts its impact from
// records written through the API, and notifies; the affected customer's
// controller sees its notice and acknowledges it, sees no other customer's,
// and exports its register; the other customer sees nothing; the link
// acknowledgement is public but needs the secret.
func TestBreachEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A, B := b.tenantA.ID, b.tenantB.ID
	activeDPA(t, b, A)
	chat := b.token(t, policy.RoleChatService, A)
	item := map[string]any{"subject_ref": "visitor-1", "kind": "chat.message", "category": "chat.message", "purpose": "service.delivery",
		"region": "nl", "content": map[string]any{"text": "Hallo!"}}
	other := map[string]any{"subject_ref": "visitor-2", "kind": "chat.message", "category": "chat.message", "purpose": "service.delivery",
		"region": "nl", "content": map[string]any{"text": "Dag!"}}
	res := b.do(t, http.MethodPost, "/v1/tenants/"+A+"/records", chat, map[string]any{"items": []any{item, item, other}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	b.clock.Advance(time.Hour)

	hook, dpo := b.token(t, policy.RoleDetectionHook, verwerker.PlatformDomain), b.token(t, policy.RoleDPO, verwerker.PlatformDomain)
	report := map[string]any{"title": "Chat store readable", "discovered_at": b.clock.Now().Add(-time.Minute).Format(time.RFC3339),
		"started_at": testStart.Add(-time.Hour).Format(time.RFC3339), "systems": []string{"chat"}, "kinds": []string{"confidentiality"}}
	res = b.do(t, http.MethodPost, "/v1/breaches", hook, report)
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	id := res.json["id"].(string)
	require.Equal(t, "detection", res.json["reported_via"])
	require.Equal(t, "reported", res.json["status"])
	require.Equal(t, http.StatusForbidden, b.do(t, http.MethodGet, "/v1/breaches", hook, nil).status)
	require.Equal(t, http.StatusForbidden, b.do(t, http.MethodPost, "/v1/breaches/"+id+"/triage", hook, map[string]any{"actual": true, "personal_data": true}).status)
	require.Equal(t, http.StatusForbidden, b.do(t, http.MethodPost, "/v1/breaches", b.token(t, policy.RoleControllerAdmin, A), report).status)

	// Bad input: the field is named, the value not echoed.
	res = b.do(t, http.MethodPost, "/v1/breaches", dpo, map[string]any{"title": "x", "discovered_at": "2099-01-01T00:00:00Z", "kinds": []string{"leaked-4711"}})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
	require.ElementsMatch(t, []string{"body.discovered_at", "body.kinds[0]"}, res.locations(t))
	require.NotContains(t, res.raw, "leaked-4711")

	res = b.do(t, http.MethodPost, "/v1/breaches/"+id+"/triage", dpo, map[string]any{"actual": true, "personal_data": true})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, "breach", res.json["status"])
	res = b.do(t, http.MethodPost, "/v1/breaches/"+id+"/impact", dpo, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	imp := res.json["impact"].(map[string]any)
	customers := imp["customers"].([]any)
	require.Len(t, customers, 1)
	c := customers[0].(map[string]any)
	require.Equal(t, A, c["tenant_id"])
	require.EqualValues(t, 2, c["subjects"])
	require.EqualValues(t, 3, c["records"])
	enc := c["encryption"].(map[string]any)
	require.Equal(t, true, enc["encrypted"])
	require.Equal(t, "local", enc["keyring"])
	require.Equal(t, []any{float64(1)}, enc["key_versions"])

	res = b.do(t, http.MethodPost, "/v1/breaches/"+id+"/notices", dpo, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Len(t, res.json["items"].([]any), 1)

	// The controller sees its notice; the other customer sees none and
	// cannot reach A's.
	admin := b.token(t, policy.RoleControllerAdmin, A)
	res = b.do(t, http.MethodGet, "/v1/tenants/"+A+"/breach-notices", b.token(t, policy.RoleControllerViewer, A), nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Len(t, res.json["items"].([]any), 1)
	res = b.do(t, http.MethodGet, "/v1/tenants/"+B+"/breach-notices", b.token(t, policy.RoleControllerAdmin, B), nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Empty(t, res.json["items"])
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodGet, "/v1/tenants/"+A+"/breach-notices", b.token(t, policy.RoleControllerAdmin, B), nil).status)
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodPost, "/v1/tenants/"+A+"/breach-notices/"+id+"/0/acknowledgement", b.token(t, policy.RoleControllerAdmin, B), nil).status)
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodPost, "/v1/tenants/"+B+"/breach-notices/"+id+"/0/acknowledgement", b.token(t, policy.RoleControllerAdmin, B), nil).status)
	require.Equal(t, http.StatusForbidden, b.do(t, http.MethodPost, "/v1/tenants/"+A+"/breach-notices/"+id+"/0/acknowledgement", b.token(t, policy.RoleControllerViewer, A), nil).status)
	res = b.do(t, http.MethodPost, "/v1/tenants/"+A+"/breach-notices/"+id+"/0/acknowledgement", admin, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, "api", res.json["acknowledgement"].(map[string]any)["via"])

	res = b.do(t, http.MethodGet, "/v1/tenants/"+A+"/breach-register?format=html", admin, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.True(t, strings.HasPrefix(res.header.Get("Content-Type"), "text/html"))
	require.Contains(t, res.raw, "Chat store readable")
	res = b.do(t, http.MethodGet, "/v1/tenants/"+A+"/breach-register", admin, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Len(t, res.json["entries"].([]any), 1)

	// The link acknowledgement needs the secret.
	require.Equal(t, http.StatusNotFound, b.do(t, http.MethodPost, "/v1/breach-acknowledgements/bak_guess", "", nil).status)

	// The DPO's views.
	res = b.do(t, http.MethodGet, "/v1/breach-clocks", dpo, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Len(t, res.json["items"].([]any), 1)
	res = b.do(t, http.MethodGet, "/v1/breach-register", dpo, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	res = b.do(t, http.MethodGet, "/v1/breaches/"+id+"/history", dpo, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Len(t, res.json["items"].([]any), 4) // report, triage, impact, notify

	// Without an outbox channel the notice is undelivered: an alarm.
	res = b.do(t, http.MethodGet, "/v1/alarms", dpo, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	kinds := []string{}
	for _, a := range res.json["items"].([]any) {
		kinds = append(kinds, a.(map[string]any)["kind"].(string))
	}
	require.Contains(t, kinds, "breach_notice_undelivered")
}

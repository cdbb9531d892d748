package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/policy"
)

// TestRetentionEndToEnd: the customer reads its rules and forecast, places
// a hold the sweep respects, the DPO sweeps and the customer reads the
// certificate; overdue deletions and holds past review are alarms; another
// customer sees nothing; bad input names the field.
func TestRetentionEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A := b.tenantA.ID
	activeDPA(t, b, A)
	chat := b.token(t, policy.RoleChatService, A)
	admin := b.token(t, policy.RoleControllerAdmin, A)
	viewer := b.token(t, policy.RoleControllerViewer, A)
	dpo := b.token(t, policy.RoleDPO, verwerker.PlatformDomain)
	path := "/v1/tenants/" + A

	res := b.do(t, http.MethodGet, path+"/retention/rules", viewer, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	var grounds []string
	for _, r := range res.json["items"].([]any) {
		grounds = append(grounds, r.(map[string]any)["ground"].(string))
	}
	require.Contains(t, grounds, "AWR art. 52(4): 7 years (invoices); GDPR Art. 17(3)(b)")

	msg := func(ref string) map[string]any {
		return map[string]any{"subject_ref": ref, "kind": "chat.message", "category": "chat.message", "purpose": "service.delivery",
			"region": "nl", "content": map[string]any{"text": "Hallo!"}}
	}
	res = b.do(t, http.MethodPost, path+"/records", chat, map[string]any{"items": []any{msg("visitor-1"), msg("visitor-2")}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	held := res.json["items"].([]any)[0].(map[string]any)["subject_id"].(string)

	res = b.do(t, http.MethodGet, path+"/retention/forecast", viewer, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, []any{map[string]any{"category": "chat.message", "due": []any{0.0, 0.0, 2.0}}}, res.json["categories"], "due at the end of day 30 or later (1182/71)")

	// The platform-wide forecast is the DPO's, as of its last count.
	res = b.do(t, http.MethodGet, "/v1/retention/forecast", viewer, nil)
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
	require.NoError(t, b.app.Retention.RefreshForecast(context.Background()))
	res = b.do(t, http.MethodGet, "/v1/retention/forecast?limit=5", dpo, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.NotEmpty(t, res.json["computed_at"])
	require.Equal(t, []any{map[string]any{"category": "chat.message", "due": []any{0.0, 0.0, 2.0}}}, res.json["categories"])
	require.Equal(t, []any{map[string]any{"tenant_id": A, "due": []any{0.0, 0.0, 2.0}}}, res.json["customers"])
	res = b.do(t, http.MethodGet, "/v1/retention/forecast?limit=0", dpo, nil)
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)

	review := deadline.DateOf(b.clock.Now()).AddDays(40).String()
	res = b.do(t, http.MethodPost, path+"/legal-holds", admin, map[string]any{"scope": "subject", "subject_id": "visitor-1", "reason": "dispute",
		"owner": "legal", "review_on": review})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
	require.Equal(t, []string{"body.subject_id"}, res.locations(t))
	requireNoLeak(t, res.raw)
	res = b.do(t, http.MethodPost, path+"/legal-holds", admin, map[string]any{"scope": "subject", "subject_id": held, "reason": "dispute",
		"owner": "legal", "review_on": "tomorrow"})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
	res = b.do(t, http.MethodPost, path+"/legal-holds", viewer, map[string]any{"scope": "tenant", "reason": "x", "owner": "x", "review_on": review})
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
	res = b.do(t, http.MethodPost, path+"/legal-holds", admin, map[string]any{"scope": "subject", "subject_id": held, "reason": "dispute",
		"owner": "legal", "review_on": review})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	holdID := res.json["id"].(string)

	// Another customer sees neither the holds nor the sweeps.
	other := b.token(t, policy.RoleControllerAdmin, b.tenantB.ID)
	res = b.do(t, http.MethodGet, path+"/legal-holds", other, nil)
	require.Equal(t, http.StatusNotFound, res.status, res.raw)
	res = b.do(t, http.MethodPost, "/v1/tenants/"+b.tenantB.ID+"/legal-holds/"+holdID+"/lift", other, map[string]any{"reason": "mine"})
	require.Equal(t, http.StatusNotFound, res.status, res.raw)

	b.clock.Advance(33 * 24 * time.Hour)
	alarms := b.alarms(t)
	require.Len(t, alarms["retention_deletion_overdue"], 1)
	require.EqualValues(t, 1, alarms["retention_deletion_overdue"][0]["records"], "the held record is not overdue")

	res = b.do(t, http.MethodGet, path+"/retention/preview", viewer, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.EqualValues(t, 1, res.json["total"])

	res = b.do(t, http.MethodPost, path+"/retention/sweeps", admin, nil)
	require.Equal(t, http.StatusForbidden, res.status, "only the processor runs sweeps by hand")
	res = b.do(t, http.MethodPost, path+"/retention/sweeps", dpo, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, "completed", res.json["status"])
	require.EqualValues(t, 1, res.json["records"])
	require.Equal(t, holdID, res.json["held"].([]any)[0].(map[string]any)["hold_id"])
	sweepID := res.json["id"].(string)
	require.Empty(t, b.alarms(t)["retention_deletion_overdue"])

	res = b.do(t, http.MethodGet, path+"/retention/sweeps/"+sweepID, admin, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.NotEmpty(t, res.json["audit_hash"])
	res = b.do(t, http.MethodGet, path+"/retention/sweeps", admin, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Len(t, res.json["items"].([]any), 1)

	// Past its review date the hold is an alarm, until it is lifted.
	b.clock.Advance(10 * 24 * time.Hour)
	require.Len(t, b.alarms(t)["legal_hold_past_review"], 1)
	res = b.do(t, http.MethodGet, path+"/legal-holds", viewer, nil)
	require.Equal(t, true, res.json["items"].([]any)[0].(map[string]any)["past_review"])
	res = b.do(t, http.MethodPost, path+"/legal-holds/"+holdID+"/lift", dpo, map[string]any{"reason": "dispute settled"})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	res = b.do(t, http.MethodPost, path+"/legal-holds/"+holdID+"/lift", dpo, map[string]any{"reason": "again"})
	require.Equal(t, http.StatusConflict, res.status, res.raw)
	require.Empty(t, b.alarms(t)["legal_hold_past_review"])
	require.Len(t, b.alarms(t)["retention_deletion_overdue"], 1, "released, the record is overdue again")

	res = b.do(t, http.MethodPost, path+"/retention/sweeps", dpo, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.EqualValues(t, 1, res.json["records"])
	second := res.json["id"].(string)
	res = b.do(t, http.MethodGet, path+"/retention/sweeps?limit=1", admin, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, second, res.json["items"].([]any)[0].(map[string]any)["id"])
	res = b.do(t, http.MethodGet, path+"/retention/sweeps?limit=1&cursor="+res.json["next_cursor"].(string), admin, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, sweepID, res.json["items"].([]any)[0].(map[string]any)["id"])
	require.Nil(t, res.json["next_cursor"])
}

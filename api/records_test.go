package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/policy"
)

// TestRecordsEndToEnd: the chat service stores records (each decided as
// the decision API decides; a denial is a 403 with the reasons and stores
// nothing), the controller exports them as a stream and erases the subject
// with a certificate; a customer can be erased only once terminated.
func TestRecordsEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A := b.tenantA.ID
	activeDPA(t, b, A)
	chat := b.token(t, policy.RoleChatService, A)
	admin := b.token(t, policy.RoleControllerAdmin, A)
	path := "/v1/tenants/" + A

	item := map[string]any{"subject_ref": "visitor-1", "kind": "chat.message", "category": "chat.message", "purpose": "service.delivery",
		"region": "nl", "content": map[string]any{"text": "Hallo!"}}
	res := b.do(t, http.MethodPost, path+"/records", chat, map[string]any{"items": []any{item, item}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	items := res.json["items"].([]any)
	require.Len(t, items, 2)
	first := items[0].(map[string]any)
	require.Equal(t, "30d_after_last_interaction", first["retention"])
	require.NotEmpty(t, first["decision_id"])

	denied := map[string]any{}
	for k, v := range item {
		denied[k] = v
	}
	denied["purpose"] = "marketing"
	res = b.do(t, http.MethodPost, path+"/records", chat, map[string]any{"items": []any{denied}})
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
	require.Contains(t, res.problem(t).Detail, "purpose_not_in_scope")
	requireNoLeak(t, res.raw)

	res = b.do(t, http.MethodPost, path+"/records", chat, map[string]any{"items": []any{map[string]any{"subject_ref": "v", "kind": "chat.message",
		"category": "chat.message", "purpose": "service.delivery", "region": "nl", "content": []any{1}}}})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
	require.Contains(t, res.locations(t), "body.content")

	// Another tenant's chat service cannot write here.
	res = b.do(t, http.MethodPost, path+"/records", b.token(t, policy.RoleChatService, b.tenantB.ID), map[string]any{"items": []any{item}})
	require.Equal(t, http.StatusNotFound, res.status, res.raw)

	res = b.do(t, http.MethodPost, path+"/subjects/export", admin, map[string]any{"subject_ref": "visitor-1"})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, "application/json", res.header.Get("Content-Type"))
	require.EqualValues(t, 2, res.json["count"])
	recs := res.json["records"].([]any)
	require.Equal(t, map[string]any{"text": "Hallo!"}, recs[0].(map[string]any)["content"])

	res = b.do(t, http.MethodPost, path+"/subjects/export", admin, map[string]any{"subject_ref": "nobody"})
	require.Equal(t, http.StatusNotFound, res.status, res.raw)

	res = b.do(t, http.MethodPost, path+"/subjects/erasure", admin, map[string]any{"subject_ref": "visitor-1"})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, "subject", res.json["scope"])
	require.EqualValues(t, 2, res.json["records"])
	require.Len(t, res.json["audit_hash"], 64)

	res = b.do(t, http.MethodPost, path+"/subjects/export", admin, map[string]any{"subject_ref": "visitor-1"})
	require.Equal(t, http.StatusNotFound, res.status, res.raw)

	res = b.do(t, http.MethodGet, path+"/deletion-certificates", b.token(t, policy.RoleAuditor, A), nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Len(t, res.json["items"], 1)

	res = b.do(t, http.MethodPost, path+"/erasure", b.admin(t), nil)
	require.Equal(t, http.StatusConflict, res.status, res.raw)
}

// TestDeletionCertificateByID: a certificate is fetched by its id with the
// permission of the listing; another tenant's certificate is a 404,
// whichever path it is asked under.
func TestDeletionCertificateByID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A, B := b.tenantA.ID, b.tenantB.ID
	activeDPA(t, b, A)
	path := "/v1/tenants/" + A
	item := map[string]any{"subject_ref": "visitor-1", "kind": "chat.message", "category": "chat.message", "purpose": "service.delivery",
		"region": "nl", "content": map[string]any{"text": "Hallo!"}}
	res := b.do(t, http.MethodPost, path+"/records", b.token(t, policy.RoleChatService, A), map[string]any{"items": []any{item}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	erased := b.do(t, http.MethodPost, path+"/subjects/erasure", b.token(t, policy.RoleControllerAdmin, A), map[string]any{"subject_ref": "visitor-1"})
	require.Equal(t, http.StatusOK, erased.status, erased.raw)
	id := erased.json["id"].(string)

	for _, token := range []string{b.token(t, policy.RoleAuditor, A), b.token(t, policy.RoleControllerAdmin, A), b.admin(t)} {
		res = b.do(t, http.MethodGet, path+"/deletion-certificates/"+id, token, nil)
		require.Equal(t, http.StatusOK, res.status, res.raw)
		require.Equal(t, erased.json, res.json, "the certificate as the erasure answered it")
	}
	res = b.do(t, http.MethodGet, path+"/deletion-certificates/"+id, b.token(t, policy.RoleChatService, A), nil)
	require.Equal(t, http.StatusForbidden, res.status, res.raw)

	// Another tenant sees nothing of it, under either tenant's path.
	res = b.do(t, http.MethodGet, path+"/deletion-certificates/"+id, b.token(t, policy.RoleAuditor, B), nil)
	require.Equal(t, http.StatusNotFound, res.status, res.raw)
	res = b.do(t, http.MethodGet, "/v1/tenants/"+B+"/deletion-certificates/"+id, b.token(t, policy.RoleAuditor, B), nil)
	require.Equal(t, http.StatusNotFound, res.status, res.raw)
	res = b.do(t, http.MethodGet, "/v1/tenants/"+B+"/deletion-certificates/"+id, b.admin(t), nil)
	require.Equal(t, http.StatusNotFound, res.status, res.raw)
	require.NotContains(t, res.raw, id)

	res = b.do(t, http.MethodGet, path+"/deletion-certificates/del_01KJNOSUCHCERTIFICATE00000", b.token(t, policy.RoleAuditor, A), nil)
	require.Equal(t, http.StatusNotFound, res.status, res.raw)
	res = b.do(t, http.MethodGet, path+"/deletion-certificates/"+strings.Repeat("x", 65), b.token(t, policy.RoleAuditor, A), nil)
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
	require.Equal(t, []string{"path.certificate_id"}, res.locations(t))
	require.NotContains(t, res.raw, strings.Repeat("x", 65))
}

package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/api"
	"github.com/verwerker/verwerker/app"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/policy"
)

// replica builds another server on the bundle's database as a second
// replica would run it, with the app constructor (b.newApp): its own
// authorizer (loaded now, and never told about changes: its watcher does
// not run), its own services and audit writer, the same database and
// clock.
func (b *testBundle) replica(t *testing.T, cfg app.Config) *api.Server {
	t.Helper()
	return b.newApp(t, cfg).Server
}

// secondReplica starts a second replica over HTTP.
func (b *testBundle) secondReplica(t *testing.T) (*httptest.Server, *policy.Authorizer) {
	t.Helper()
	a := b.newApp(t, app.Config{})
	srv := httptest.NewServer(a.Server)
	t.Cleanup(srv.Close)
	return srv, a.Authz
}

func (b *testBundle) policyVersion(t *testing.T) int64 {
	t.Helper()
	var v int64
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT version FROM authz_version`).Scan(&v))
	return v
}

func TestKeyRevokedOnOtherReplica(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r2, _ := b.secondReplica(t)
	tA := "/v1/tenants/" + b.tenantA.ID
	admin := b.token(t, policy.RoleControllerAdmin, b.tenantA.ID)

	res := send(t, b.http, http.MethodPost, tA+"/api-keys", call{cookie: b.session(t, policy.RoleControllerAdmin, b.tenantA.ID),
		body: map[string]any{"label": "dashboard", "role": "controller_viewer"}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	token, keyID := res.json["token"].(string), res.json["id"].(string)

	res = send(t, r2, http.MethodGet, tA, call{token: token})
	require.Equal(t, http.StatusOK, res.status, res.raw)

	// Another tenant's administrator cannot revoke it, by either path.
	adminB := b.token(t, policy.RoleControllerAdmin, b.tenantB.ID)
	res = b.do(t, http.MethodDelete, tA+"/api-keys/"+keyID, adminB, nil)
	require.Equal(t, http.StatusNotFound, res.status, res.raw)
	res = b.do(t, http.MethodDelete, "/v1/tenants/"+b.tenantB.ID+"/api-keys/"+keyID, adminB, nil)
	require.Equal(t, http.StatusNotFound, res.status, res.raw)
	res = send(t, r2, http.MethodGet, tA, call{token: token})
	require.Equal(t, http.StatusOK, res.status, res.raw)

	res = b.do(t, http.MethodDelete, tA+"/api-keys/"+keyID, admin, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, keyID, res.json["id"])
	require.Equal(t, b.clock.Now().UTC().Format(time.RFC3339Nano), res.json["revoked_at"])

	res = send(t, r2, http.MethodGet, tA, call{token: token})
	require.Equal(t, http.StatusUnauthorized, res.status, "the very next request on replica 2: %s", res.raw)
	require.Equal(t, verwerker.EUNAUTHORIZED, res.problem(t).Code)
	require.Equal(t, `Bearer realm="verwerker"`, res.header.Get("WWW-Authenticate"))
	res = b.do(t, http.MethodGet, tA, token, nil)
	require.Equal(t, http.StatusUnauthorized, res.status, res.raw)

	// Revoking again is harmless and keeps the first time.
	revokedAt := b.clock.Now().UTC().Format(time.RFC3339Nano)
	b.clock.Advance(time.Minute)
	res = send(t, r2, http.MethodDelete, tA+"/api-keys/"+keyID, call{token: admin})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, revokedAt, res.json["revoked_at"])

	// The setup keys (issued before replica 2 started) are revoked the
	// same way.
	viewer := b.token(t, policy.RoleControllerViewer, b.tenantA.ID)
	res = send(t, r2, http.MethodGet, tA, call{token: viewer})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	res = send(t, r2, http.MethodDelete, tA+"/api-keys/"+b.keyIDs[credential{policy.RoleControllerViewer, b.tenantA.ID}], call{token: admin})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	res = b.do(t, http.MethodGet, tA, viewer, nil)
	require.Equal(t, http.StatusUnauthorized, res.status, "revoked through replica 2, refused on replica 1: %s", res.raw)
}

func TestRoleChangeOnOtherReplica(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tA := "/v1/tenants/" + b.tenantA.ID
	p := b.enrolled(t, b.http, b.tenantA.ID, policy.RoleControllerAdmin, "lead@a.example")
	res := send(t, b.http, http.MethodPost, "/v1/me/api-keys", call{cookie: p.cookie,
		body: map[string]any{"label": "scripts", "expires_at": b.clock.Now().Add(time.Hour).Format(time.RFC3339Nano)}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	key := res.json["token"].(string)

	// Replica 2 starts after the person got the role, so only the version
	// check can tell it about later changes.
	r2, authz2 := b.secondReplica(t)
	for _, c := range []call{{cookie: p.cookie}, {token: key}} {
		res = send(t, r2, http.MethodGet, tA+"/members", c)
		require.Equal(t, http.StatusOK, res.status, res.raw)
	}
	before := authz2.Version()
	require.Equal(t, b.policyVersion(t), before)

	admin := b.token(t, policy.RoleControllerAdmin, b.tenantA.ID)
	res = b.do(t, http.MethodPut, tA+"/members/"+p.id, admin, map[string]any{"role": "auditor"})
	require.Equal(t, http.StatusNoContent, res.status, res.raw)
	require.Greater(t, b.policyVersion(t), before)
	require.Equal(t, before, authz2.Version(), "replica 2 has not heard of the change")

	for _, c := range []call{{cookie: p.cookie}, {token: key}} {
		res = send(t, r2, http.MethodGet, tA+"/members", c)
		require.Equal(t, http.StatusForbidden, res.status, "an auditor does not manage members: %s", res.raw)
		res = send(t, r2, http.MethodGet, tA+"/audit/events", c)
		require.NotEqual(t, http.StatusForbidden, res.status, res.raw)
		require.NotEqual(t, http.StatusNotFound, res.status, res.raw)
	}
	require.Equal(t, b.policyVersion(t), authz2.Version(), "the request's newer version made replica 2 reload")

	before = authz2.Version()
	res = b.do(t, http.MethodDelete, tA+"/members/"+p.id, admin, nil)
	require.Equal(t, http.StatusNoContent, res.status, res.raw)
	require.Equal(t, before, authz2.Version())
	for _, c := range []call{{cookie: p.cookie}, {token: key}} {
		res = send(t, r2, http.MethodGet, tA, c)
		require.Equal(t, http.StatusNotFound, res.status, "denied on the next request on replica 2: %s", res.raw)
	}

	// And back: a new grant holds on replica 2 at once as well.
	res = b.do(t, http.MethodPut, tA+"/members/"+p.id, admin, map[string]any{"role": "controller_viewer"})
	require.Equal(t, http.StatusNoContent, res.status, res.raw)
	res = send(t, r2, http.MethodGet, tA, call{token: key})
	require.Equal(t, http.StatusOK, res.status, res.raw)
}

func TestMachineKeyIssuance(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tA := "/v1/tenants/" + b.tenantA.ID
	admin := b.token(t, policy.RoleControllerAdmin, b.tenantA.ID)
	lead := b.sessionOf(t, policy.RoleControllerAdmin, b.tenantA.ID)
	issue := func(body map[string]any) response {
		t.Helper()
		return send(t, b.http, http.MethodPost, tA+"/api-keys", call{cookie: b.session(t, policy.RoleControllerAdmin, b.tenantA.ID), body: body})
	}
	b.clock.Advance(time.Millisecond) // ids order by millisecond: newer than setup's keys

	res := issue(map[string]any{"label": "chat service production", "role": "chat_service"})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	token, keyID := res.json["token"].(string), res.json["id"].(string)
	require.True(t, strings.HasPrefix(token, identity.TokenPrefix), token)
	require.True(t, verwerker.ValidID(verwerker.PrefixAPIKey, keyID), keyID)
	require.True(t, strings.HasPrefix(token, identity.TokenPrefix+res.json["prefix"].(string)+"_"))
	require.Equal(t, "chat_service", res.json["role"])
	require.Equal(t, b.tenantA.ID, res.json["domain"])
	require.Equal(t, "chat service production", res.json["label"])
	require.NotContains(t, res.json, "user_id")
	require.NotContains(t, res.json, "expires_at")
	require.Equal(t, lead.user.ID, res.json["created_by"], "the person whose session issued it")

	res = b.do(t, http.MethodGet, tA+"/api-keys", admin, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Contains(t, itemIDs(t, res), keyID)
	require.Equal(t, keyID, itemIDs(t, res)[0], "newest first")
	require.Equal(t, lead.user.ID, res.json["items"].([]any)[0].(map[string]any)["created_by"])
	require.Equal(t, "system", res.json["items"].([]any)[1].(map[string]any)["created_by"], "setup's keys come from a tool")
	require.NotContains(t, res.raw, token, "the token is shown once")
	require.NotContains(t, res.raw, strings.SplitN(token, "_", 3)[2])
	require.NotContains(t, res.raw, `"token"`)
	for _, it := range res.json["items"].([]any) {
		require.Equal(t, b.tenantA.ID, it.(map[string]any)["domain"], "only A's keys")
	}
	res = b.do(t, http.MethodGet, tA+"/api-keys/"+keyID, admin, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, keyID, res.json["id"])
	require.Equal(t, lead.user.ID, res.json["created_by"])
	require.NotContains(t, res.raw, `"token"`)
	res = b.do(t, http.MethodGet, "/v1/tenants/"+b.tenantB.ID+"/api-keys/"+keyID, b.token(t, policy.RoleControllerAdmin, b.tenantB.ID), nil)
	require.Equal(t, http.StatusNotFound, res.status, "not B's key: %s", res.raw)
	res = b.do(t, http.MethodGet, "/v1/platform/api-keys/"+keyID, b.admin(t), nil)
	require.Equal(t, http.StatusNotFound, res.status, "not a platform key: %s", res.raw)

	// The new key works with its role.
	res = b.do(t, http.MethodGet, "/v1/me", token, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, keyID, res.json["id"])
	require.Equal(t, []any{map[string]any{"role": "chat_service", "domain": b.tenantA.ID}}, res.json["grants"])

	// A role must be a tenant role.
	for name, body := range map[string]map[string]any{
		"PlatformRole": {"label": "x", "role": "platform_admin"},
		"DPO":          {"label": "x", "role": "dpo"},
		"UnknownRole":  {"label": "x", "role": "root"},
	} {
		res := issue(body)
		require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s: %s", name, res.raw)
		require.Equal(t, []string{"body.role"}, res.locations(t), name)
	}
	res = issue(map[string]any{"label": "x", "role": "auditor", "expires_at": b.clock.Now().Add(-time.Second).Format(time.RFC3339Nano)})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
	require.Equal(t, []string{"body.expires_at"}, res.locations(t))

	// Who may list A's keys.
	res = b.do(t, http.MethodGet, tA+"/api-keys", token, nil)
	require.Equal(t, http.StatusForbidden, res.status, "chat_service of A: %s", res.raw)
	res = b.do(t, http.MethodGet, tA+"/api-keys", b.token(t, policy.RoleChatService, b.tenantA.ID), nil)
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
	res = b.do(t, http.MethodGet, tA+"/api-keys", b.token(t, policy.RoleControllerAdmin, b.tenantB.ID), nil)
	require.Equal(t, http.StatusNotFound, res.status, "controller_admin of B: %s", res.raw)
	res = b.do(t, http.MethodPost, tA+"/api-keys", b.token(t, policy.RoleControllerAdmin, b.tenantB.ID), map[string]any{"label": "x", "role": "auditor"})
	require.Equal(t, http.StatusNotFound, res.status, res.raw)
	res = send(t, b.http, http.MethodPost, tA+"/api-keys", call{cookie: b.session(t, policy.RoleControllerAdmin, b.tenantB.ID),
		body: map[string]any{"label": "x", "role": "auditor"}})
	require.Equal(t, http.StatusNotFound, res.status, "B's privacy lead: %s", res.raw)
	res = b.do(t, http.MethodPost, tA+"/api-keys", b.token(t, policy.RoleControllerViewer, b.tenantA.ID), map[string]any{"label": "x", "role": "controller_admin"})
	require.Equal(t, http.StatusForbidden, res.status, "a viewer cannot mint an admin key: %s", res.raw)

	// A key with an expiry stops working then.
	exp := b.clock.Now().Add(time.Hour)
	res = issue(map[string]any{"label": "temporary", "role": "auditor", "expires_at": exp.Format(time.RFC3339Nano)})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	temp := res.json["token"].(string)
	res = b.do(t, http.MethodGet, tA, temp, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	b.clock.Set(exp)
	res = b.do(t, http.MethodGet, tA, temp, nil)
	require.Equal(t, http.StatusUnauthorized, res.status, res.raw)
}

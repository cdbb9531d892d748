package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/policy"
)

// TestOnlyVerifiedSessionsMintCredentials: a person's personal API key
// (usable without a second factor) and machine keys cannot issue keys or
// create accounts, so no credential outlives its creator's second factor;
// a session with a verified second factor can, and is recorded as the
// key's creator.
func TestOnlyVerifiedSessionsMintCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tA := "/v1/tenants/" + b.tenantA.ID
	p := b.enrolled(t, b.http, b.tenantA.ID, policy.RoleControllerAdmin, "lead@a.example")
	exp := b.clock.Now().Add(24 * time.Hour).Format(time.RFC3339Nano)
	res := send(t, b.http, http.MethodPost, "/v1/me/api-keys", call{cookie: p.cookie, body: map[string]any{"label": "scripts", "expires_at": exp}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	personal := res.json["token"].(string)
	require.Equal(t, p.id, res.json["created_by"])
	var keysBefore, usersBefore int
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM api_keys), (SELECT count(*) FROM users)`).Scan(&keysBefore, &usersBefore))

	for name, c := range map[string]call{
		"PersonalKey":      {token: personal},
		"MachineAdminKey":  {token: b.token(t, policy.RoleControllerAdmin, b.tenantA.ID)},
		"PlatformAdminKey": {token: b.admin(t)},
	} {
		for _, tc := range []struct {
			path string
			body map[string]any
			// platform: the operation needs a platform role, which only
			// the platform admin's key has.
			platform bool
		}{
			// The defect: a controller_admin key without expiry, minted by
			// a personal key.
			{tA + "/api-keys", map[string]any{"label": "backdoor", "role": "controller_admin"}, false},
			{tA + "/users", map[string]any{"email": "eve@a.example", "display_name": "Eve", "role": "controller_admin"}, false},
			{"/v1/me/api-keys", map[string]any{"label": "more", "expires_at": exp}, false},
			{"/v1/platform/api-keys", map[string]any{"label": "backdoor", "role": "platform_admin"}, true},
			{"/v1/users", map[string]any{"email": "eve@verwerker.example", "display_name": "Eve", "role": "platform_admin"}, true},
		} {
			res := send(t, b.http, http.MethodPost, tc.path, c.with(tc.body))
			require.Equal(t, http.StatusForbidden, res.status, "%s %s: %s", name, tc.path, res.raw)
			prob := res.problem(t)
			require.Equal(t, verwerker.EFORBIDDEN, prob.Code)
			if !tc.platform || name == "PlatformAdminKey" {
				require.Contains(t, prob.Detail, "session with a verified second factor (TOTP)", "%s %s", name, tc.path)
			}
			require.Empty(t, res.header.Get("WWW-Authenticate"))
		}
	}
	var keysAfter, usersAfter int
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM api_keys), (SELECT count(*) FROM users)`).Scan(&keysAfter, &usersAfter))
	require.Equal(t, keysBefore, keysAfter, "no key was made")
	require.Equal(t, usersBefore, usersAfter, "no account was made")
	var denials int
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE chain = 'platform' AND action = 'authz.deny'
		AND actor = $1 AND reason = 'missing session_mfa for createTenantAPIKey'`, p.id).Scan(&denials))
	require.Equal(t, 1, denials, "the personal key's attempt is audited against the person")

	// The person's verified session may. An administrative key expires
	// within 90 days, at 90 days when no expiry is asked for.
	now := b.clock.Now()
	res = send(t, b.http, http.MethodPost, tA+"/api-keys", call{cookie: p.cookie,
		body: map[string]any{"label": "admin", "role": "controller_admin", "expires_at": now.Add(91 * 24 * time.Hour).Format(time.RFC3339Nano)}})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
	require.Equal(t, []string{"body.expires_at"}, res.locations(t))
	require.NotContains(t, res.raw, now.Add(91*24*time.Hour).Format(time.DateOnly))
	res = send(t, b.http, http.MethodPost, tA+"/api-keys", call{cookie: p.cookie, body: map[string]any{"label": "admin", "role": "controller_admin"}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	require.Equal(t, p.id, res.json["created_by"])
	require.Equal(t, now.Add(identity.MaxAdminKeyLife).UTC().Format(time.RFC3339Nano), res.json["expires_at"])
	adminKey, adminID := res.json["token"].(string), res.json["id"].(string)
	res = b.do(t, http.MethodGet, tA+"/api-keys/"+adminID, adminKey, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, p.id, res.json["created_by"])
	res = send(t, b.http, http.MethodPost, tA+"/api-keys", call{cookie: p.cookie, body: map[string]any{"label": "chat", "role": "chat_service"}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	require.NotContains(t, res.json, "expires_at", "other roles may live without expiry")
	res = send(t, b.http, http.MethodPost, tA+"/users", call{cookie: p.cookie,
		body: map[string]any{"email": "viewer@a.example", "display_name": "Viewer", "role": "controller_viewer"}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)

	// A session still enrolling its second factor is refused too.
	pending := b.newPerson(t, b.http, b.tenantA.ID, policy.RoleControllerAdmin, "pending@a.example")
	res = send(t, b.http, http.MethodPost, tA+"/api-keys", call{cookie: pending.cookie, body: map[string]any{"label": "x", "role": "auditor"}})
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
}

// with returns c carrying body.
func (c call) with(body any) call {
	c.body = body
	return c
}

// TestDisableRevokesCreatedKeysOverHTTP: disabling a person lists the keys
// they issued; with revoke_created_keys they stop working on the very next
// request on every replica, including one that answers them from memory.
func TestDisableRevokesCreatedKeysOverHTTP(t *testing.T) {
	t.Parallel()
	b := setup(t)
	activeDPA(t, b, b.tenantA.ID)
	r1, r2 := b.watchedReplica(t), b.watchedReplica(t)
	tA := "/v1/tenants/" + b.tenantA.ID
	p := b.enrolled(t, r1.http, b.tenantA.ID, policy.RoleControllerAdmin, "lead@a.example")

	issued := map[string]string{} // id -> token
	for _, role := range []string{policy.RoleControllerAdmin, policy.RoleChatService} {
		res := send(t, r1.http, http.MethodPost, tA+"/api-keys", call{cookie: p.cookie, body: map[string]any{"label": "by the lead", "role": role}})
		require.Equal(t, http.StatusCreated, res.status, res.raw)
		issued[res.json["id"].(string)] = res.json["token"].(string)
	}
	others := b.token(t, policy.RoleControllerViewer, b.tenantA.ID)
	for _, tok := range append(mapValues(issued), others) {
		res := send(t, r2.http, http.MethodGet, "/v1/me", call{token: tok}) // r2 keeps them in memory
		require.Equal(t, http.StatusOK, res.status, res.raw)
	}

	// Disabling alone keeps them working, and says so.
	res := send(t, r1.http, http.MethodPost, "/v1/users/"+p.id+"/disable", call{token: b.admin(t)})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, p.id, res.json["id"])
	require.NotEmpty(t, res.json["disabled_at"])
	outcomes := func(res response) map[string]string {
		t.Helper()
		m := map[string]string{}
		for _, it := range res.json["keys"].([]any) {
			k := it.(map[string]any)
			require.Equal(t, p.id, k["created_by"])
			require.NotContains(t, k, "token")
			m[k["id"].(string)] = k["outcome"].(string)
		}
		return m
	}
	want := map[string]string{}
	for id := range issued {
		want[id] = "kept"
	}
	require.Equal(t, want, outcomes(res))
	for _, tok := range issued {
		res := send(t, r2.http, http.MethodGet, "/v1/me", call{token: tok})
		require.Equal(t, http.StatusOK, res.status, res.raw)
	}

	// Asked to, it revokes them: refused on the next request on r2.
	res = send(t, r1.http, http.MethodPost, "/v1/users/"+p.id+"/disable", call{token: b.admin(t), body: map[string]any{"revoke_created_keys": true}})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	for id := range issued {
		want[id] = "revoked"
	}
	require.Equal(t, want, outcomes(res))
	for _, tok := range issued {
		res := send(t, r2.http, http.MethodGet, "/v1/me", call{token: tok})
		require.Equal(t, http.StatusUnauthorized, res.status, res.raw)
	}
	res = send(t, r2.http, http.MethodGet, "/v1/me", call{token: others})
	require.Equal(t, http.StatusOK, res.status, "keys of others are untouched: %s", res.raw)
	res = b.do(t, http.MethodGet, tA+"/api-keys", b.token(t, policy.RoleControllerAdmin, b.tenantA.ID), nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	for _, it := range res.json["items"].([]any) {
		k := it.(map[string]any)
		if _, ok := issued[k["id"].(string)]; ok {
			require.NotEmpty(t, k["revoked_at"], "listed as revoked")
		}
	}
	var n int
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events
		WHERE chain = $1 AND action = 'apikey.revoke' AND reason = 'creator disabled'`, b.tenantA.ID).Scan(&n))
	require.Equal(t, len(issued), n)

	res = send(t, r1.http, http.MethodPost, "/v1/users/"+p.id+"/disable", call{token: b.admin(t), body: map[string]any{"revoke_created_keys": "yes"}})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
	require.Equal(t, []string{"body.revoke_created_keys"}, res.locations(t))
}

func mapValues(m map[string]string) []string {
	var vs []string
	for _, v := range m {
		vs = append(vs, v)
	}
	return vs
}

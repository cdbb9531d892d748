package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
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

const testPassword = "correct horse battery staple"

// call is one request for send: a bearer token or a session cookie (or
// neither), a body as for testBundle.do, and extra headers as name/value
// pairs.
type call struct {
	token  string
	cookie string
	body   any
	header []string
}

// send sends a request to srv, which may be any replica.
func send(t *testing.T, srv *httptest.Server, method, path string, c call) response {
	t.Helper()
	require.Zero(t, len(c.header)%2, "headers must be name/value pairs")
	var rd io.Reader
	switch v := c.body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	case []byte:
		rd = bytes.NewReader(v)
	default:
		buf, err := json.Marshal(v)
		require.NoError(t, err)
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, srv.URL+path, rd)
	require.NoError(t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: identity.SessionCookie, Value: c.cookie})
	}
	for i := 0; i < len(c.header); i += 2 {
		req.Header.Set(c.header[i], c.header[i+1])
	}
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	out := response{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if ct := res.Header.Get("Content-Type"); strings.Contains(ct, "json") && len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out.json), "body: %s", raw)
	}
	return out
}

// sessionCookie returns the session cookie a response sets.
func sessionCookie(t *testing.T, res response) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: res.header}).Cookies() {
		if c.Name == identity.SessionCookie {
			return c
		}
	}
	require.Fail(t, "no session cookie", "headers: %v", res.header)
	return nil
}

// person is an account made over HTTP.
type person struct {
	id, email string
	// cookie is the value of the person's latest session cookie.
	cookie string
	// secret is the base32 TOTP secret once enrolled.
	secret string
}

// newPerson has the platform admin create an account with role in tenant
// over srv, sets its password with the set-up token and logs in. The
// session is MFA-pending.
func (b *testBundle) newPerson(t *testing.T, srv *httptest.Server, tenantID, role, email string) person {
	t.Helper()
	res := send(t, srv, http.MethodPost, "/v1/tenants/"+tenantID+"/users", call{cookie: b.adminSession(t),
		body: map[string]any{"email": email, "display_name": "Test Person", "role": role}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	p := person{id: res.json["id"].(string), email: email}
	setup, _ := res.json["setup_token"].(string)
	require.True(t, strings.HasPrefix(setup, identity.SetupTokenPrefix), res.raw)

	res = send(t, srv, http.MethodPost, "/v1/auth/setup", call{body: map[string]any{"token": setup, "password": testPassword}})
	require.Equal(t, http.StatusNoContent, res.status, res.raw)
	res = send(t, srv, http.MethodPost, "/v1/auth/login", call{body: map[string]any{"email": email, "password": testPassword}})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	p.cookie = sessionCookie(t, res).Value
	return p
}

// enrolled is newPerson with two-factor authentication enrolled in its
// session. The clock is moved on by one TOTP step afterwards, so that the
// next code is fresh.
func (b *testBundle) enrolled(t *testing.T, srv *httptest.Server, tenantID, role, email string) person {
	t.Helper()
	p := b.newPerson(t, srv, tenantID, role, email)
	res := send(t, srv, http.MethodPost, "/v1/me/totp", call{cookie: p.cookie})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	p.secret = res.json["secret"].(string)
	code, err := identity.TOTPCode(p.secret, b.clock.Now())
	require.NoError(t, err)
	res = send(t, srv, http.MethodPost, "/v1/me/totp/confirm", call{cookie: p.cookie, body: map[string]any{"code": code}})
	require.Equal(t, http.StatusNoContent, res.status, res.raw)
	b.clock.Advance(30 * time.Second)
	return p
}

func TestBrowserSessionFlow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := b.http
	tA, tB := "/v1/tenants/"+b.tenantA.ID, "/v1/tenants/"+b.tenantB.ID

	// The platform admin creates the customer's privacy lead.
	res := send(t, srv, http.MethodPost, tA+"/users", call{cookie: b.adminSession(t),
		body: map[string]any{"email": "lead@a.example", "display_name": "Privacy Lead", "role": "controller_admin"}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	userID := res.json["id"].(string)
	require.True(t, verwerker.ValidID(verwerker.PrefixUser, userID), userID)
	require.Equal(t, b.tenantA.ID, res.json["home_domain"])
	require.Equal(t, false, res.json["password_set"])
	require.Equal(t, false, res.json["totp_enabled"])
	setupToken := res.json["setup_token"].(string)

	// Login is impossible before the password is set.
	res = send(t, srv, http.MethodPost, "/v1/auth/login", call{body: map[string]any{"email": "lead@a.example", "password": testPassword}})
	require.Equal(t, http.StatusUnauthorized, res.status, res.raw)

	res = send(t, srv, http.MethodPost, "/v1/auth/setup", call{body: map[string]any{"token": setupToken, "password": "too short"}})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
	require.Equal(t, []string{"body.password"}, res.locations(t))
	require.NotContains(t, res.raw, "too short")
	res = send(t, srv, http.MethodPost, "/v1/auth/setup", call{body: map[string]any{"token": setupToken, "password": testPassword}})
	require.Equal(t, http.StatusNoContent, res.status, res.raw)
	res = send(t, srv, http.MethodPost, "/v1/auth/setup", call{body: map[string]any{"token": setupToken, "password": testPassword}})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "the set-up token works once: %s", res.raw)
	require.Equal(t, []string{"body.token"}, res.locations(t))

	res = send(t, srv, http.MethodPost, "/v1/auth/login", call{body: map[string]any{"email": "lead@a.example", "password": testPassword}})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, userID, res.json["user_id"])
	require.Equal(t, true, res.json["mfa_pending"])
	require.Equal(t, b.clock.Now().Add(12*time.Hour).Format(time.RFC3339Nano), res.json["expires_at"])
	sessionID := res.json["session_id"].(string)
	raw := res.header.Get("Set-Cookie")
	require.Contains(t, raw, "HttpOnly")
	require.Contains(t, raw, "SameSite=Strict")
	require.Contains(t, raw, "Path=/")
	require.NotContains(t, raw, "Secure", "no Secure flag on plain HTTP")
	c := sessionCookie(t, res)
	require.True(t, c.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, c.SameSite)
	require.Equal(t, "/", c.Path)
	require.False(t, c.Secure)
	require.Equal(t, int((12 * time.Hour).Seconds()), c.MaxAge, "the cookie lives as long as the session: %s", raw)
	require.True(t, strings.HasPrefix(c.Value, identity.SessionTokenPrefix))
	require.NotContains(t, res.raw, c.Value, "the token is only in the cookie")
	cookie := c.Value

	// MFA pending: only the enrolment operations work.
	res = send(t, srv, http.MethodGet, "/v1/me", call{cookie: cookie})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, userID, res.json["id"])
	require.Equal(t, "user", res.json["kind"])
	require.Equal(t, sessionID, res.json["credential"])
	require.Equal(t, "lead@a.example", res.json["email"])
	require.Equal(t, true, res.json["mfa_pending"])
	require.Equal(t, false, res.json["totp_enabled"])
	require.Equal(t, []any{map[string]any{"role": "controller_admin", "domain": b.tenantA.ID}}, res.json["grants"])

	exp := b.clock.Now().Add(24 * time.Hour).Format(time.RFC3339Nano)
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, tA, nil},
		{http.MethodGet, tA + "/members", nil},
		{http.MethodGet, tA + "/api-keys", nil},
		{http.MethodGet, "/v1/me/sessions", nil},
		{http.MethodGet, "/v1/me/api-keys", nil},
		{http.MethodPost, "/v1/me/api-keys", map[string]any{"label": "scripts", "expires_at": exp}},
		{http.MethodDelete, "/v1/me/sessions/" + sessionID, nil},
	} {
		res := send(t, srv, tc.method, tc.path, call{cookie: cookie, body: tc.body})
		require.Equal(t, http.StatusForbidden, res.status, "%s %s: %s", tc.method, tc.path, res.raw)
		require.Equal(t, verwerker.EFORBIDDEN, res.problem(t).Code)
	}

	res = send(t, srv, http.MethodPost, "/v1/me/totp", call{cookie: cookie})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	secret := res.json["secret"].(string)
	require.Contains(t, res.json["otpauth_uri"], "secret="+secret)
	code, err := identity.TOTPCode(secret, b.clock.Now())
	require.NoError(t, err)
	wrong := "000000"
	if code == wrong {
		wrong = "999999"
	}
	res = send(t, srv, http.MethodPost, "/v1/me/totp/confirm", call{cookie: cookie, body: map[string]any{"code": wrong}})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
	require.Equal(t, []string{"body.code"}, res.locations(t))
	res = send(t, srv, http.MethodGet, tA, call{cookie: cookie})
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
	res = send(t, srv, http.MethodPost, "/v1/me/totp/confirm", call{cookie: cookie, body: map[string]any{"code": code}})
	require.Equal(t, http.StatusNoContent, res.status, res.raw)

	// Two factors: the same session now reaches tenant A, and only A.
	res = send(t, srv, http.MethodGet, tA, call{cookie: cookie})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, b.tenantA.ID, res.json["id"])
	res = send(t, srv, http.MethodGet, tA+"/members", call{cookie: cookie})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	res = send(t, srv, http.MethodGet, tB, call{cookie: cookie})
	require.Equal(t, http.StatusNotFound, res.status, res.raw)
	res = send(t, srv, http.MethodGet, "/v1/tenants", call{cookie: cookie})
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
	res = send(t, srv, http.MethodGet, "/v1/me", call{cookie: cookie})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, false, res.json["mfa_pending"])
	require.Equal(t, true, res.json["totp_enabled"])
	res = send(t, srv, http.MethodGet, "/v1/me/sessions", call{cookie: cookie})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Len(t, res.json["items"], 1)
	item := res.json["items"].([]any)[0].(map[string]any)
	require.Equal(t, sessionID, item["id"])
	require.Equal(t, true, item["current"])
	require.Equal(t, true, item["mfa"])

	// The next login needs the code, and a used code does not work again.
	b.clock.Advance(30 * time.Second)
	res = send(t, srv, http.MethodPost, "/v1/auth/login", call{body: map[string]any{"email": "lead@a.example", "password": testPassword}})
	require.Equal(t, http.StatusUnauthorized, res.status, res.raw)
	require.Equal(t, []string{"body.otp"}, res.locations(t))
	code, err = identity.TOTPCode(secret, b.clock.Now())
	require.NoError(t, err)
	res = send(t, srv, http.MethodPost, "/v1/auth/login", call{body: map[string]any{"email": "lead@a.example", "password": testPassword, "otp": code}})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, false, res.json["mfa_pending"])
	second := sessionCookie(t, res).Value
	res = send(t, srv, http.MethodPost, "/v1/auth/login", call{body: map[string]any{"email": "lead@a.example", "password": testPassword, "otp": code}})
	require.Equal(t, http.StatusUnauthorized, res.status, "replayed code: %s", res.raw)
	res = send(t, srv, http.MethodGet, tA, call{cookie: second})
	require.Equal(t, http.StatusOK, res.status, res.raw)

	// Logout ends this session and clears the cookie; the other session
	// goes on.
	res = send(t, srv, http.MethodPost, "/v1/auth/logout", call{cookie: cookie})
	require.Equal(t, http.StatusNoContent, res.status, res.raw)
	cleared := sessionCookie(t, res)
	require.Empty(t, cleared.Value)
	require.Negative(t, cleared.MaxAge, "Max-Age=0 deletes the cookie: %s", res.header.Get("Set-Cookie"))
	for _, path := range []string{"/v1/me", tA} {
		res = send(t, srv, http.MethodGet, path, call{cookie: cookie})
		require.Equal(t, http.StatusUnauthorized, res.status, res.raw)
		require.Equal(t, verwerker.EUNAUTHORIZED, res.problem(t).Code)
	}
	res = send(t, srv, http.MethodPost, "/v1/auth/logout", call{cookie: cookie})
	require.Equal(t, http.StatusUnauthorized, res.status, res.raw)
	res = send(t, srv, http.MethodGet, tA, call{cookie: second})
	require.Equal(t, http.StatusOK, res.status, res.raw)

	// Logout is for sessions; a key is revoked instead.
	res = send(t, srv, http.MethodPost, "/v1/auth/logout", call{token: b.admin(t)})
	require.Equal(t, http.StatusConflict, res.status, res.raw)

	// Idle timeout over HTTP.
	b.clock.Advance(30 * time.Minute)
	res = send(t, srv, http.MethodGet, "/v1/me", call{cookie: second})
	require.Equal(t, http.StatusUnauthorized, res.status, res.raw)
}

func TestSessionCookieSecure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.newPerson(t, b.http, b.tenantA.ID, policy.RoleControllerViewer, "viewer@a.example")
	login := map[string]any{"email": "viewer@a.example", "password": testPassword}

	for name, srv := range map[string]*httptest.Server{
		"SecureCookies": httptest.NewServer(b.replica(t, app.Config{SecureCookies: true})),
		"TLS":           httptest.NewTLSServer(b.replica(t, app.Config{})),
	} {
		t.Cleanup(srv.Close)
		res := send(t, srv, http.MethodPost, "/v1/auth/login", call{body: login})
		require.Equal(t, http.StatusOK, res.status, "%s: %s", name, res.raw)
		c := sessionCookie(t, res)
		require.True(t, c.Secure, "%s: %s", name, res.header.Get("Set-Cookie"))
		require.True(t, c.HttpOnly, name)
		require.Equal(t, http.SameSiteStrictMode, c.SameSite, name)

		res = send(t, srv, http.MethodPost, "/v1/auth/logout", call{cookie: c.Value})
		require.Equal(t, http.StatusNoContent, res.status, "%s: %s", name, res.raw)
		require.True(t, sessionCookie(t, res).Secure, "%s: the clearing cookie is Secure too", name)
	}
}

func TestCrossOriginProtection(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.enrolled(t, b.http, b.tenantA.ID, policy.RoleControllerAdmin, "lead@a.example")
	exp := b.clock.Now().Add(24 * time.Hour).Format(time.RFC3339Nano)
	newKey := map[string]any{"label": "scripts", "expires_at": exp}

	for name, header := range map[string][]string{
		"SecFetchSite":     {"Sec-Fetch-Site", "cross-site"},
		"SecFetchSameSite": {"Sec-Fetch-Site", "same-site"},
		"Origin":           {"Origin", "https://evil.example"},
	} {
		for _, tc := range []struct {
			method, path string
			body         any
		}{
			{http.MethodPost, "/v1/me/api-keys", newKey},
			{http.MethodPost, "/v1/auth/logout", nil},
			{http.MethodDelete, "/v1/tenants/" + b.tenantA.ID + "/members/" + p.id, nil},
			{http.MethodPost, "/v1/auth/login", map[string]any{"email": p.email, "password": testPassword}},
		} {
			res := send(t, b.http, tc.method, tc.path, call{cookie: p.cookie, body: tc.body, header: header})
			require.Equal(t, http.StatusForbidden, res.status, "%s %s %s: %s", name, tc.method, tc.path, res.raw)
			prob := res.problem(t)
			require.Equal(t, verwerker.EFORBIDDEN, prob.Code)
			require.NotEmpty(t, prob.Instance)
			require.Empty(t, res.header.Values("Set-Cookie"))
		}
		// Reading is not state-changing and is allowed.
		res := send(t, b.http, http.MethodGet, "/v1/me", call{cookie: p.cookie, header: header})
		require.Equal(t, http.StatusOK, res.status, "%s: %s", name, res.raw)
	}

	// Nothing changed: no key, the session and the membership are there.
	res := send(t, b.http, http.MethodGet, "/v1/me/api-keys", call{cookie: p.cookie})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Empty(t, res.json["items"])
	res = send(t, b.http, http.MethodGet, "/v1/tenants/"+b.tenantA.ID+"/members", call{cookie: p.cookie})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Len(t, res.json["items"], 1)
	res = send(t, b.http, http.MethodGet, "/v1/me/sessions", call{cookie: p.cookie})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Len(t, res.json["items"], 1)

	// From verwerker's own origin, the same requests work.
	for name, header := range map[string][]string{
		"SecFetchSite": {"Sec-Fetch-Site", "same-origin"},
		"Origin":       {"Origin", b.http.URL},
	} {
		res := send(t, b.http, http.MethodPost, "/v1/me/api-keys", call{cookie: p.cookie, body: newKey, header: header})
		require.Equal(t, http.StatusCreated, res.status, "%s: %s", name, res.raw)
	}
	res = send(t, b.http, http.MethodGet, "/v1/me/api-keys", call{cookie: p.cookie})
	require.Len(t, res.json["items"], 2)
	res = send(t, b.http, http.MethodPost, "/v1/auth/logout", call{cookie: p.cookie, header: []string{"Sec-Fetch-Site", "same-origin"}})
	require.Equal(t, http.StatusNoContent, res.status, res.raw)
	res = send(t, b.http, http.MethodGet, "/v1/me", call{cookie: p.cookie})
	require.Equal(t, http.StatusUnauthorized, res.status, res.raw)
}

func TestLoginThrottledOverHTTP(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.newPerson(t, b.http, b.tenantA.ID, policy.RoleAuditor, "auditor@a.example")

	wrong := send(t, b.http, http.MethodPost, "/v1/auth/login", call{body: map[string]any{"email": p.email, "password": "wrong password 0"}})
	require.Equal(t, http.StatusUnauthorized, wrong.status, wrong.raw)
	unknown := send(t, b.http, http.MethodPost, "/v1/auth/login", call{body: map[string]any{"email": "nobody@a.example", "password": testPassword}})
	require.Equal(t, http.StatusUnauthorized, unknown.status, unknown.raw)
	require.Equal(t, wrong.problem(t).Detail, unknown.problem(t).Detail, "an unknown account looks like a wrong password")
	require.Empty(t, unknown.header.Values("Set-Cookie"))
	require.NotContains(t, unknown.raw, "nobody")

	for i := 1; i < 5; i++ {
		res := send(t, b.http, http.MethodPost, "/v1/auth/login", call{body: map[string]any{"email": p.email, "password": "wrong password " + string(rune('0'+i))}})
		require.Equal(t, http.StatusUnauthorized, res.status, res.raw)
	}
	res := send(t, b.http, http.MethodPost, "/v1/auth/login", call{body: map[string]any{"email": p.email, "password": testPassword}})
	require.Equal(t, http.StatusTooManyRequests, res.status, res.raw)
	require.Equal(t, verwerker.ETHROTTLED, res.problem(t).Code)
	require.Equal(t, "900", res.header.Get("Retry-After"))
	require.Empty(t, res.header.Values("Set-Cookie"))

	b.clock.Advance(10 * time.Minute)
	res = send(t, b.http, http.MethodPost, "/v1/auth/login", call{body: map[string]any{"email": p.email, "password": testPassword}})
	require.Equal(t, http.StatusTooManyRequests, res.status, res.raw)
	require.Equal(t, "300", res.header.Get("Retry-After"))

	b.clock.Advance(5 * time.Minute)
	res = send(t, b.http, http.MethodPost, "/v1/auth/login", call{body: map[string]any{"email": p.email, "password": testPassword}})
	require.Equal(t, http.StatusOK, res.status, res.raw)
}

// TestLoginThrottleBehindTrustedProxy: behind a reverse proxy every
// connection comes from the proxy. Failures are counted per client address
// from X-Forwarded-For (the right-most address that is not a trusted
// proxy), so fifty failures with invented e-mail addresses from one client
// lock that client, not every user; a client cannot escape by writing its
// own X-Forwarded-For entries; and from an untrusted peer the header is
// ignored.
func TestLoginThrottleBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	proxies, err := api.ParseTrustedProxies("127.0.0.1/32, ::1")
	require.NoError(t, err)
	proxied := httptest.NewServer(b.replica(t, app.Config{TrustedProxies: proxies}))
	t.Cleanup(proxied.Close)
	p := b.newPerson(t, b.http, b.tenantA.ID, policy.RoleAuditor, "auditor@a.example")
	login := func(srv *httptest.Server, email, password, forwarded string) response {
		t.Helper()
		var header []string
		if forwarded != "" {
			header = []string{"X-Forwarded-For", forwarded}
		}
		return send(t, srv, http.MethodPost, "/v1/auth/login", call{body: map[string]any{"email": email, "password": password}, header: header})
	}

	for i := range 50 {
		// The attacker varies what it writes itself; the proxy appends
		// the address it sees.
		res := login(proxied, fmt.Sprintf("invented%d@a.example", i), "wrong password!", fmt.Sprintf("203.0.113.%d, 198.51.100.1", i))
		require.Equal(t, http.StatusUnauthorized, res.status, res.raw)
	}
	res := login(proxied, p.email, testPassword, "198.51.100.2")
	require.Equal(t, http.StatusOK, res.status, "another client behind the same proxy signs in: %s", res.raw)
	for _, forwarded := range []string{"198.51.100.1", "192.0.2.77, 198.51.100.1", "198.51.100.1, 127.0.0.1"} {
		res = login(proxied, p.email, testPassword, forwarded)
		require.Equal(t, http.StatusTooManyRequests, res.status, "%s: %s", forwarded, res.raw)
	}

	// Five wrong passwords for the person from one client lock that
	// client for the person; the person signs in from elsewhere.
	for i := range 5 {
		res := login(proxied, p.email, fmt.Sprintf("wrong password %d", i), "198.51.100.3")
		require.Equal(t, http.StatusUnauthorized, res.status, res.raw)
	}
	res = login(proxied, p.email, testPassword, "198.51.100.3")
	require.Equal(t, http.StatusTooManyRequests, res.status, res.raw)
	res = login(proxied, p.email, testPassword, "198.51.100.2")
	require.Equal(t, http.StatusOK, res.status, res.raw)

	// Without trusted proxies the header means nothing: every failure
	// counts against the connection's address.
	for i := range 50 {
		res := login(b.http, fmt.Sprintf("invented%d@a.example", i), "wrong password!", fmt.Sprintf("203.0.113.%d", i))
		require.Equal(t, http.StatusUnauthorized, res.status, res.raw)
	}
	res = login(b.http, p.email, testPassword, "198.51.100.2")
	require.Equal(t, http.StatusTooManyRequests, res.status, res.raw)
}

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	got, err := api.ParseTrustedProxies(" 10.0.0.0/8 ,192.0.2.7, 2001:db8::/32,, ::ffff:198.51.100.0/120 ")
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("198.51.100.0/24")}, got)
	got, err = api.ParseTrustedProxies("")
	require.NoError(t, err)
	require.Empty(t, got)
	for _, bad := range []string{"proxy.example", "10.0.0.0/33", "10.0.0.1-10.0.0.9"} {
		_, err := api.ParseTrustedProxies(bad)
		require.Error(t, err, bad)
	}
}

func TestPersonalAPIKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := b.http
	tA, tB := "/v1/tenants/"+b.tenantA.ID, "/v1/tenants/"+b.tenantB.ID
	p := b.enrolled(t, srv, b.tenantA.ID, policy.RoleControllerAdmin, "lead@a.example")
	now := b.clock.Now()

	for name, body := range map[string]map[string]any{
		"NoExpiry": {"label": "scripts"},
		"TooLate":  {"label": "scripts", "expires_at": now.Add(367 * 24 * time.Hour).Format(time.RFC3339Nano)},
		"Past":     {"label": "scripts", "expires_at": now.Add(-time.Minute).Format(time.RFC3339Nano)},
		"NoLabel":  {"label": "", "expires_at": now.Add(time.Hour).Format(time.RFC3339Nano)},
	} {
		res := send(t, srv, http.MethodPost, "/v1/me/api-keys", call{cookie: p.cookie, body: body})
		require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s: %s", name, res.raw)
		require.Equal(t, verwerker.EINVALID, res.problem(t).Code, name)
	}
	res := send(t, srv, http.MethodPost, "/v1/me/api-keys", call{cookie: p.cookie,
		body: map[string]any{"label": "scripts", "expires_at": now.Add(367 * 24 * time.Hour).Format(time.RFC3339Nano)}})
	require.Equal(t, []string{"body.expires_at"}, res.locations(t))

	res = send(t, srv, http.MethodPost, "/v1/me/api-keys", call{cookie: p.cookie,
		body: map[string]any{"label": "scripts", "expires_at": now.Add(366 * 24 * time.Hour).Format(time.RFC3339Nano)}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	key := res.json["token"].(string)
	keyID := res.json["id"].(string)
	require.True(t, strings.HasPrefix(key, identity.TokenPrefix), key)
	require.Equal(t, p.id, res.json["user_id"])
	require.NotContains(t, res.json, "role")
	require.NotContains(t, res.json, "domain")

	res = send(t, srv, http.MethodGet, "/v1/me/api-keys", call{cookie: p.cookie})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, []string{keyID}, itemIDs(t, res))
	require.NotContains(t, res.raw, key)
	require.NotContains(t, res.raw, `"token"`)

	// The key acts with the person's roles.
	res = send(t, srv, http.MethodGet, "/v1/me", call{token: key})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, p.id, res.json["id"])
	require.Equal(t, "api_key", res.json["kind"])
	require.Equal(t, keyID, res.json["credential"])
	res = send(t, srv, http.MethodGet, tA, call{token: key})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	res = send(t, srv, http.MethodGet, tA+"/members", call{token: key})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	res = send(t, srv, http.MethodGet, tB, call{token: key})
	require.Equal(t, http.StatusNotFound, res.status, res.raw)

	// Another controller_admin of A makes the person a viewer, then takes
	// the role away: the key follows at once.
	other := b.token(t, policy.RoleControllerAdmin, b.tenantA.ID)
	res = b.do(t, http.MethodPut, tA+"/members/"+p.id, other, map[string]any{"role": "controller_viewer"})
	require.Equal(t, http.StatusNoContent, res.status, res.raw)
	res = send(t, srv, http.MethodGet, tA, call{token: key})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	res = send(t, srv, http.MethodGet, tA+"/members", call{token: key})
	require.Equal(t, http.StatusForbidden, res.status, res.raw)

	// B's administrators cannot touch A's people.
	otherB := b.token(t, policy.RoleControllerAdmin, b.tenantB.ID)
	res = b.do(t, http.MethodDelete, tA+"/members/"+p.id, otherB, nil)
	require.Equal(t, http.StatusNotFound, res.status, res.raw)
	res = b.do(t, http.MethodPut, tB+"/members/"+p.id, otherB, map[string]any{"role": "controller_admin"})
	require.Equal(t, http.StatusNotFound, res.status, res.raw)
	res = send(t, srv, http.MethodGet, tB, call{token: key})
	require.Equal(t, http.StatusNotFound, res.status, res.raw)

	res = b.do(t, http.MethodDelete, tA+"/members/"+p.id, other, nil)
	require.Equal(t, http.StatusNoContent, res.status, res.raw)
	res = send(t, srv, http.MethodGet, tA, call{token: key})
	require.Equal(t, http.StatusNotFound, res.status, res.raw)
	res = send(t, srv, http.MethodGet, tA, call{cookie: p.cookie})
	require.Equal(t, http.StatusNotFound, res.status, "the session too: %s", res.raw)
	res = send(t, srv, http.MethodGet, "/v1/me", call{token: key})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Empty(t, res.json["grants"])

	// The person revokes the key.
	res = send(t, srv, http.MethodDelete, "/v1/me/api-keys/"+keyID, call{cookie: p.cookie})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.NotEmpty(t, res.json["revoked_at"])
	res = send(t, srv, http.MethodGet, "/v1/me", call{token: key})
	require.Equal(t, http.StatusUnauthorized, res.status, res.raw)
}

func TestDisabledPersonOverHTTP(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.enrolled(t, b.http, b.tenantA.ID, policy.RoleControllerAdmin, "lead@a.example")
	res := send(t, b.http, http.MethodPost, "/v1/me/api-keys", call{cookie: p.cookie,
		body: map[string]any{"label": "scripts", "expires_at": b.clock.Now().Add(time.Hour).Format(time.RFC3339Nano)}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	key := res.json["token"].(string)

	// Only the platform may disable accounts.
	res = b.do(t, http.MethodPost, "/v1/users/"+p.id+"/disable", b.token(t, policy.RoleControllerAdmin, b.tenantA.ID), nil)
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
	res = b.do(t, http.MethodPost, "/v1/users/"+p.id+"/disable", b.admin(t), nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.NotEmpty(t, res.json["disabled_at"])

	res = send(t, b.http, http.MethodGet, "/v1/me", call{cookie: p.cookie})
	require.Equal(t, http.StatusUnauthorized, res.status, res.raw)
	res = send(t, b.http, http.MethodGet, "/v1/me", call{token: key})
	require.Equal(t, http.StatusUnauthorized, res.status, res.raw)
}

// TestMFAPendingSessionReachesOnlyEnrolment walks every operation with the
// MFA-pending session of a platform admin, the strongest role: only the
// operations open to any authenticated principal (reading oneself,
// enrolling, logging out) let it through.
func TestMFAPendingSessionReachesOnlyEnrolment(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := send(t, b.http, http.MethodPost, "/v1/users", call{cookie: b.adminSession(t),
		body: map[string]any{"email": "admin@verwerker.example", "display_name": "Admin", "role": "platform_admin"}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	setupToken := res.json["setup_token"].(string)
	res = send(t, b.http, http.MethodPost, "/v1/auth/setup", call{body: map[string]any{"token": setupToken, "password": testPassword}})
	require.Equal(t, http.StatusNoContent, res.status, res.raw)
	res = send(t, b.http, http.MethodPost, "/v1/auth/login", call{body: map[string]any{"email": "admin@verwerker.example", "password": testPassword}})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, true, res.json["mfa_pending"])
	cookie := sessionCookie(t, res).Value

	param := regexp.MustCompile(`\{[a-z_]+\}`)
	allowed := 0
	for _, o := range operations(b.server.OpenAPI()) {
		perm, _ := o.op.Extensions["x-verwerker-permission"].(string)
		if perm == api.Public || o.op.OperationID == "logout" {
			continue
		}
		path := strings.ReplaceAll(o.path, "{tenant_id}", b.tenantA.ID)
		path = param.ReplaceAllString(path, "x")
		var body any
		if o.method != http.MethodGet {
			body = map[string]any{}
		}
		res := send(t, b.http, o.method, path, call{cookie: cookie, body: body})
		if perm == api.Authenticated {
			allowed++
			require.NotEqual(t, http.StatusForbidden, res.status, "%s: %s", o.op.OperationID, res.raw)
			require.NotEqual(t, http.StatusUnauthorized, res.status, "%s: %s", o.op.OperationID, res.raw)
			continue
		}
		require.Equal(t, http.StatusForbidden, res.status, "%s %s: %s", o.method, path, res.raw)
		require.Equal(t, verwerker.EFORBIDDEN, res.problem(t).Code)
	}
	require.Equal(t, 3, allowed, "getMe, enrolTOTP, confirmTOTP")

	// The denials are audited on the platform chain, against the person.
	var denials int
	me := send(t, b.http, http.MethodGet, "/v1/me", call{cookie: cookie})
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events
		WHERE chain = 'platform' AND action = 'authz.deny' AND actor = $1 AND resource = 'mfa'`, me.json["id"]).Scan(&denials))
	require.Positive(t, denials)

	// Logging out works while pending.
	res = send(t, b.http, http.MethodPost, "/v1/auth/logout", call{cookie: cookie})
	require.Equal(t, http.StatusNoContent, res.status, res.raw)
	res = send(t, b.http, http.MethodGet, "/v1/me", call{cookie: cookie})
	require.Equal(t, http.StatusUnauthorized, res.status, res.raw)
}

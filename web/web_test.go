package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/subprocessor"
	"github.com/verwerker/verwerker/web"
)

// Every page declares a permission that exists, and a tenant page takes
// its tenant from the path.
func TestPagesDeclarePermissions(t *testing.T) {
	s := web.New(web.Config{}, web.Deps{})
	known := map[string]bool{web.Public: true, web.Authenticated: true}
	for _, perms := range policy.Grants {
		for _, p := range perms {
			known[p] = true
		}
	}
	require.NotEmpty(t, s.Pages())
	for _, p := range s.Pages() {
		require.True(t, known[p.Permission], "%s %s declares unknown permission %q", p.Method, p.Path, p.Permission)
		if p.Scope == web.Tenant {
			require.Contains(t, p.Path, "{tenant_id}", "%s %s", p.Method, p.Path)
		}
		if p.Permission == web.Public {
			require.Contains(t, []string{"signin", "setup", "lang", "breach-acknowledgements/{token}"}, p.Path,
				"only sign-in, set-up, the language switch and a breach notice's acknowledgement link are public")
		}
	}
}

// Without a session every page but the public ones sends the browser to
// sign in (GET) or refuses (POST); no page shows anything.
func TestPagesNeedASession(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	a := e.data.Tenants[0].ID
	for _, path := range []string{"/dashboard/", "/dashboard/overview", "/dashboard/customers", "/dashboard/customers/" + a,
		"/dashboard/customers/" + a + "/agreements/1", "/dashboard/customers/" + a + "/certificates", "/dashboard/subprocessors",
		"/dashboard/notices", "/dashboard/audit", "/dashboard/totp"} {
		status, body := e.get(t, c, path)
		require.Equal(t, http.StatusSeeOther, status, path)
		require.NotContains(t, body, e.data.Tenants[0].Name, path)
	}
	status, _, _ := e.post(t, c, "/dashboard/signin", "/dashboard/audit/verify", url.Values{})
	require.Equal(t, http.StatusUnauthorized, status)
}

// The permissions per page: the DPO reaches every platform page and every
// customer; a customer's privacy lead only its own customer's pages, with
// another customer's a 404 and platform pages a 403.
func TestPermissionsPerPage(t *testing.T) {
	e := newEnv(t)
	a, b := e.data.Tenants[0].ID, e.data.Tenants[1].ID
	dpo := e.client(t)
	e.signIn(t, dpo, e.dpo())
	for _, path := range []string{"/dashboard/overview", "/dashboard/customers", "/dashboard/customers/" + a, "/dashboard/customers/" + b,
		"/dashboard/customers/" + a + "/agreements/1", "/dashboard/customers/" + a + "/certificates", "/dashboard/subprocessors",
		"/dashboard/notices", "/dashboard/audit"} {
		status, body := e.get(t, dpo, path)
		require.Equal(t, http.StatusOK, status, path)
		require.Contains(t, body, `<main id="main"`, path)
	}
	lead := e.client(t)
	e.signIn(t, lead, e.lead())
	status, _ := e.get(t, lead, "/dashboard/")
	require.Equal(t, http.StatusSeeOther, status)
	for path, want := range map[string]int{
		"/dashboard/customers/" + a:                     http.StatusOK,
		"/dashboard/customers/" + a + "/agreements/1":   http.StatusOK,
		"/dashboard/customers/" + a + "/certificates":   http.StatusOK,
		"/dashboard/customers/" + b:                     http.StatusNotFound,
		"/dashboard/customers/" + b + "/certificates":   http.StatusNotFound,
		"/dashboard/customers/" + b + "/agreements/1":   http.StatusNotFound,
		"/dashboard/customers/tnt_00000000000000000000": http.StatusNotFound,
		"/dashboard/overview":                           http.StatusForbidden,
		"/dashboard/customers":                          http.StatusForbidden,
		"/dashboard/subprocessors":                      http.StatusForbidden,
		"/dashboard/notices":                            http.StatusForbidden,
		"/dashboard/audit":                              http.StatusForbidden,
	} {
		status, body := e.get(t, lead, path)
		require.Equal(t, want, status, path)
		if want != http.StatusOK {
			require.NotContains(t, body, e.data.Tenants[1].Name, path)
		}
	}
	// The denials are audited on the platform chain, like the API's.
	events, err := e.app.Audit.Events(t.Context(), "platform", 0, 1000)
	require.NoError(t, err)
	denied := 0
	for _, ev := range events {
		if ev.Action == "authz.deny" && strings.Contains(ev.Reason, "for page") {
			denied++
		}
	}
	require.GreaterOrEqual(t, denied, 8)
}

// Every page is served with a strict CSP (no inline script or style) and
// the other security headers; the assets are the dashboard's own.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	for _, path := range []string{"/dashboard/signin", "/dashboard/static/style.css", "/dashboard/nothing-here"} {
		res, err := c.Get(e.srv.URL + path)
		require.NoError(t, err)
		res.Body.Close()
		csp := res.Header.Get("Content-Security-Policy")
		require.Contains(t, csp, "default-src 'none'", path)
		require.Contains(t, csp, "script-src 'self'", path)
		require.Contains(t, csp, "frame-ancestors 'none'", path)
		require.NotContains(t, csp, "unsafe-inline", path)
		require.NotContains(t, csp, "unsafe-eval", path)
		require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"), path)
	}
	_, body := e.get(t, c, "/dashboard/signin")
	require.NotContains(t, body, "<script>")
	require.NotContains(t, body, "style=")
	require.NotContains(t, body, "http://", "no external resources")
	require.NotContains(t, body, "https://", "no external resources")
}

// A form without its CSRF token, or sent from another site, is refused
// and changes nothing; the same form from the page resolves the objection.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	e.signIn(t, c, e.dpo())
	a := e.data.Tenants[0].ID
	path := "/dashboard/subprocessors/objections/" + a + "/" + e.dash.Change.ID
	form := url.Values{"resolution": {subprocessor.ResolutionObjectionWithdrawn}}

	// No token, same origin.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := c.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	// A wrong token.
	form.Set("csrf", strings.Repeat("A", 43))
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err = c.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	// The right token, but from another site.
	_, body := e.get(t, c, "/dashboard/subprocessors")
	form.Set("csrf", csrfInput.FindStringSubmatch(body)[1])
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	res, err = c.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusForbidden, res.StatusCode)

	n, err := e.app.Subprocessors.Notice(t.Context(), a, e.dash.Change.ID)
	require.NoError(t, err)
	require.Equal(t, subprocessor.NoticeObjected, n.Status, "a refused form changes nothing")

	status, _, res2 := e.post(t, c, "/dashboard/subprocessors", path, url.Values{"resolution": {subprocessor.ResolutionObjectionWithdrawn}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Contains(t, res2.Header.Get("Location"), "done=resolved")
	n, err = e.app.Subprocessors.Notice(t.Context(), a, e.dash.Change.ID)
	require.NoError(t, err)
	require.Equal(t, subprocessor.NoticePending, n.Status)
}

// A wrong password or code shows one message and no session; the values
// typed are not shown again.
func TestSignInRefused(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	p := e.dpo()
	status, body, _ := e.post(t, c, "/dashboard/signin", "/dashboard/signin", url.Values{"email": {p.Email}, "password": {p.Password}, "otp": {"000000"}})
	require.Equal(t, http.StatusUnauthorized, status)
	require.Contains(t, body, "signin-error")
	require.NotContains(t, body, p.Email)
	status, _ = e.get(t, c, "/dashboard/overview")
	require.Equal(t, http.StatusSeeOther, status)
}

// Signing out ends the session at once.
func TestSignOut(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	e.signIn(t, c, e.dpo())
	status, _ := e.get(t, c, "/dashboard/overview")
	require.Equal(t, http.StatusOK, status)
	status, _, _ = e.post(t, c, "/dashboard/overview", "/dashboard/signout", url.Values{})
	require.Equal(t, http.StatusSeeOther, status)
	status, _ = e.get(t, c, "/dashboard/overview")
	require.Equal(t, http.StatusSeeOther, status)
}

// A new account: the set-up token and a password, the first sign-in
// without a second factor goes to enrolment only, the QR code and secret
// are shown, and the confirmed code completes the session.
func TestSetUpAccountAndEnrolTOTP(t *testing.T) {
	e := newEnv(t)
	u, token, err := e.app.People.Create(t.Context(), identity.NewUser{Email: "new.dpo@verwerker.example", DisplayName: "New DPO",
		Role: policy.RoleDPO, Domain: verwerker.PlatformDomain})
	require.NoError(t, err)
	c := e.client(t)
	status, body, _ := e.post(t, c, "/dashboard/setup", "/dashboard/setup", url.Values{"token": {"wrong"}, "password": {"a long enough password"}})
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.NotContains(t, body, "a long enough password")
	status, _, res := e.post(t, c, "/dashboard/setup", "/dashboard/setup", url.Values{"token": {token}, "password": {"a long enough password"}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/dashboard/signin?setup=done", res.Header.Get("Location"))

	status, _, res = e.post(t, c, "/dashboard/signin", "/dashboard/signin", url.Values{"email": {u.Email}, "password": {"a long enough password"}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/dashboard/totp", res.Header.Get("Location"))
	// Until enrolled, every page leads to enrolment.
	status, _ = e.get(t, c, "/dashboard/overview")
	require.Equal(t, http.StatusSeeOther, status)

	status, _, _ = e.post(t, c, "/dashboard/totp", "/dashboard/totp", url.Values{"code": {"000000"}})
	require.Equal(t, http.StatusUnprocessableEntity, status)
	// Each visit offers a new secret; the last one offered counts.
	status, body = e.get(t, c, "/dashboard/totp")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `src="data:image/png;base64,`)
	secret := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(body)
	require.NotNil(t, secret)
	code, err := identity.TOTPCode(secret[1], e.clock.Now())
	require.NoError(t, err)
	m := csrfInput.FindStringSubmatch(body)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/dashboard/totp", strings.NewReader(url.Values{"code": {code}, "csrf": {m[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err = c.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	status, _ = e.get(t, c, "/dashboard/overview")
	require.Equal(t, http.StatusOK, status)
}

// A person sees their own sessions and ends one of them at once (a lost
// device); the ended session is signed out on its next request; another
// person's session cannot be ended from here.
func TestOwnSessions(t *testing.T) {
	e := newEnv(t)
	laptop, phone, other := e.client(t), e.client(t), e.client(t)
	e.signIn(t, laptop, e.dpo())
	e.signIn(t, phone, e.dpo())
	e.signIn(t, other, e.lead())

	status, body := e.get(t, laptop, "/dashboard/sessions")
	require.Equal(t, http.StatusOK, status)
	ids := regexp.MustCompile(`sessions/(ses_[0-9A-Z]+)/end`).FindAllStringSubmatch(body, -1)
	require.Len(t, ids, 2, "the DPO's two sessions, not the privacy lead's")
	require.Equal(t, 1, strings.Count(body, "(this one)"))
	var phoneID string
	for _, row := range strings.Split(body, "<tr>") {
		if m := regexp.MustCompile(`sessions/(ses_[0-9A-Z]+)/end`).FindStringSubmatch(row); m != nil && !strings.Contains(row, "(this one)") {
			phoneID = m[1]
		}
	}
	require.NotEmpty(t, phoneID)

	// The privacy lead cannot end the DPO's session.
	status, _, _ = e.post(t, other, "/dashboard/sessions", "/dashboard/sessions/"+phoneID+"/end", url.Values{})
	require.Equal(t, http.StatusNotFound, status)
	status, _ = e.get(t, phone, "/dashboard/overview")
	require.Equal(t, http.StatusOK, status)

	status, _, res := e.post(t, laptop, "/dashboard/sessions", "/dashboard/sessions/"+phoneID+"/end", url.Values{})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/dashboard/sessions?flash=sessions.ended", res.Header.Get("Location"))
	status, _ = e.get(t, phone, "/dashboard/overview")
	require.Equal(t, http.StatusSeeOther, status, "the ended session is signed out")
	status, body = e.get(t, laptop, "/dashboard/sessions")
	require.Equal(t, http.StatusOK, status)
	require.NotContains(t, body, phoneID)
}

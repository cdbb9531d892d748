package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/api"
	"github.com/verwerker/verwerker/app"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/demo"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/identity"
	vkeys "github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
	"github.com/verwerker/verwerker/subject"
	"github.com/verwerker/verwerker/subprocessor"
	"github.com/verwerker/verwerker/tenant"
)

// testStart is where every test's clock starts: a Monday morning in
// Amsterdam.
var testStart = time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)

// credential names an API key by role and domain.
type credential struct{ role, domain string }

// testBundle is everything a test of the HTTP API needs: a fresh database,
// a clock that only moves when told, the application wired on that clock
// as `verwerker serve` wires it (app.New), its server over HTTP, two tenants
// and an API key for every role.
type testBundle struct {
	db    *store.DB
	clock *verwerker.ManualClock
	// ring seals records with the local keyring, or the keyring given to
	// setupWith (a real Vault); every app of the bundle shares it.
	ring vkeys.Keyring
	// app is the application the bundle serves; the fields below are its
	// services.
	app     *app.App
	tenants *tenant.Service
	dpa     *dpa.Service
	subs    *subprocessor.Registry
	outbox  *notify.Outbox
	mailbox *notify.Mailbox // the development mailbox, when a test has one
	keys    *identity.Keys
	people  *identity.People
	authz   *policy.Authorizer
	server  *api.Server
	http    *httptest.Server

	tenantA, tenantB tenant.Tenant

	tokens    map[credential]string
	keyIDs    map[credential]string
	audit     *audit.Log
	subjects  *subject.Service
	decisions *decision.Service
	keyMgr    *vkeys.Manager

	// logger, when set, receives the logs of the apps newApp makes after
	// it is set; they are discarded otherwise.
	logger *slog.Logger

	// sessions are the signed-in people of session, by role and domain.
	mu       sync.Mutex
	sessions map[credential]*signedIn
}

// signedIn is a person with a TOTP-verified session, made by session.
type signedIn struct {
	user   identity.User
	secret string
	cookie string
	login  time.Time // when cookie's session started
	used   time.Time // when cookie was last handed out
}

// setup builds a testBundle. Platform keys (platform_admin, dpo, support)
// are issued in verwerker.PlatformDomain; tenant keys (controller_admin,
// controller_viewer, auditor, chat_service) in both tenant A and tenant B.
func setup(t testing.TB) *testBundle {
	t.Helper()
	return setupWith(t, nil)
}

// setupWith is setup sealing with ring (the local keyring when nil; a
// ring given is closed by its maker, after the apps).
func setupWith(t testing.TB, ring vkeys.Keyring) *testBundle {
	t.Helper()
	ctx := context.Background()
	db := storetest.New(t)
	clock := verwerker.NewManualClock(testStart)
	var err error
	if ring == nil {
		local, err := vkeys.OpenLocalKeyring(filepath.Join(t.TempDir(), "keyring.key"), slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		t.Cleanup(local.Close) // after the apps, which do not close it
		ring = local
	}
	b := &testBundle{db: db, clock: clock, ring: ring, tokens: map[credential]string{}, keyIDs: map[credential]string{}}
	b.serve(t, b.newApp(t, app.Config{}))
	// Seeded without audit events, so tests count only their own events.
	require.NoError(t, demo.SeedSubprocessors(ctx, subprocessor.NewRegistry(db, clock, nil, nil, nil)))

	b.tenantA, err = b.tenants.Create(ctx, tenant.New{Name: "Tenant A B.V.", Country: "NL", ContactEmail: "privacy@a.example"})
	require.NoError(t, err)
	b.clock.Advance(time.Millisecond)
	b.tenantB, err = b.tenants.Create(ctx, tenant.New{Name: "Tenant B GmbH", Country: "DE", ContactEmail: "datenschutz@b.example", Timezone: "Europe/Berlin"})
	require.NoError(t, err)
	b.clock.Advance(time.Millisecond)

	for _, role := range policy.PlatformRoles {
		b.issue(t, role, verwerker.PlatformDomain)
	}
	for _, domain := range []string{b.tenantA.ID, b.tenantB.ID} {
		for _, role := range policy.TenantRoles {
			b.issue(t, role, domain)
		}
	}
	return b
}

// newApp wires another application on the bundle's database, clock and
// keyring, as another replica would run (its own caches and authorizer;
// its watcher is not run), with cfg's settings; webhooks may go to this
// machine. It is closed when the test ends.
func (b *testBundle) newApp(t testing.TB, cfg app.Config) *app.App {
	t.Helper()
	cfg.Version = "test"
	cfg.WebhookAllowPrivate = true
	logger := b.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a, err := app.New(context.Background(), cfg, app.Deps{DB: b.db, Clock: b.clock, Logger: logger,
		Keyring: b.ring, SubjectKey: make([]byte, subject.KeySize)})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	// The services enqueue jobs as they do in production; the jobs run only
	// where a test starts a client (b.withRequests).
	_, err = a.Jobs(app.JobsConfig{})
	require.NoError(t, err)
	// Cheap password hashing: the cost parameters are not under test here.
	a.People.Argon2 = identity.Argon2Params{Memory: 64, Time: 1, Threads: 1}
	return a
}

// serve makes a the bundle's application and serves it over HTTP.
func (b *testBundle) serve(t testing.TB, a *app.App) {
	t.Helper()
	b.app = a
	b.tenants, b.dpa, b.subs, b.outbox, b.mailbox = a.Tenants, a.DPA, a.Subprocessors, a.Outbox, a.Mailbox
	b.keys, b.people, b.authz, b.audit = a.Keys, a.People, a.Authz, a.Audit
	b.subjects, b.decisions, b.keyMgr = a.Subjects, a.Decisions, a.KeyManager
	b.server = a.Server
	b.http = httptest.NewServer(a.Server)
	t.Cleanup(b.http.Close)
}

// issue issues a key without expiry and remembers its token and id.
func (b *testBundle) issue(t testing.TB, role, domain string) string {
	t.Helper()
	// Issued without audit events, so tests count only their own events.
	key, token, err := identity.NewKeys(b.db, b.clock, nil).Issue(context.Background(), identity.NewKey{Label: "test " + role, Role: role, Domain: domain})
	require.NoError(t, err)
	c := credential{role, domain}
	b.tokens[c], b.keyIDs[c] = token, key.ID
	return token
}

// session returns the session cookie of a person holding role in domain,
// signed in with password and TOTP: the credential that issues keys and
// creates accounts. The person is made (without audit events) at the first
// call and signed in again when the session would have ended.
func (b *testBundle) session(t *testing.T, role, domain string) string {
	return b.sessionOf(t, role, domain).cookie
}

// sessionOf is session, with the person.
func (b *testBundle) sessionOf(t *testing.T, role, domain string) *signedIn {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	ctx := context.Background()
	people := identity.NewPeople(b.db, b.clock, nil)
	people.Argon2 = b.people.Argon2
	c := credential{role, domain}
	p := b.sessions[c]
	now := b.clock.Now()
	if p == nil {
		u, setup, err := people.Create(ctx, identity.NewUser{Email: role + "." + strings.ToLower(domain) + "@sessions.example",
			DisplayName: "Signed-in " + role, Role: role, Domain: domain})
		require.NoError(t, err)
		require.NoError(t, people.SetUp(ctx, setup, testPassword))
		e, err := people.EnrollTOTP(ctx, u.ID)
		require.NoError(t, err)
		// Confirmed with the previous step's code, so the current one is
		// still unused for the sign-in.
		code, err := identity.TOTPCode(e.Secret, now.Add(-30*time.Second))
		require.NoError(t, err)
		require.NoError(t, people.ConfirmTOTP(ctx, u.ID, "", code))
		p = &signedIn{user: u, secret: e.Secret}
		if b.sessions == nil {
			b.sessions = map[credential]*signedIn{}
		}
		b.sessions[c] = p
	}
	if p.cookie == "" || now.Sub(p.used) > 20*time.Minute || now.Sub(p.login) > 11*time.Hour {
		code, err := identity.TOTPCode(p.secret, now)
		require.NoError(t, err)
		_, cookie, err := people.Login(ctx, identity.Login{Email: p.user.Email, Password: testPassword, OTP: code, ClientAddr: "192.0.2.250"})
		require.NoError(t, err)
		p.cookie, p.login = cookie, now
	}
	p.used = now
	return p
}

// adminSession is a platform admin's TOTP-verified session cookie.
func (b *testBundle) adminSession(t *testing.T) string {
	return b.session(t, policy.RolePlatformAdmin, verwerker.PlatformDomain)
}

// token returns the token of the key with role in domain.
func (b *testBundle) token(t *testing.T, role, domain string) string {
	t.Helper()
	tok, ok := b.tokens[credential{role, domain}]
	require.True(t, ok, "no key for %s in %s", role, domain)
	return tok
}

// admin is the platform_admin's token.
func (b *testBundle) admin(t *testing.T) string {
	return b.token(t, policy.RolePlatformAdmin, verwerker.PlatformDomain)
}

// response is what do returns.
type response struct {
	status int
	header http.Header
	raw    string
	// json is the decoded body when it is JSON, else nil.
	json map[string]any
}

// problem decodes the body as a problem document.
func (r response) problem(t *testing.T) api.Problem {
	t.Helper()
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"), "body: %s", r.raw)
	var p api.Problem
	require.NoError(t, json.Unmarshal([]byte(r.raw), &p))
	return p
}

// locations lists the locations of a problem's field errors.
func (r response) locations(t *testing.T) []string {
	t.Helper()
	var locs []string
	for _, e := range r.problem(t).Errors {
		locs = append(locs, e.Location)
	}
	return locs
}

// do sends a request to the test server. token may be empty; body is nil
// (no body), a string or []byte (sent as is) or anything else (sent as
// JSON). headers are name/value pairs.
func (b *testBundle) do(t *testing.T, method, path, token string, body any, headers ...string) response {
	t.Helper()
	return send(t, b.http, method, path, call{token: token, body: body, header: headers})
}

// requireNoLeak fails if a response body carries internal error text.
func requireNoLeak(t *testing.T, raw string) {
	t.Helper()
	for _, s := range []string{"SQLSTATE", "pgx", "pgconn", "goroutine", "panic", "runtime error", ".go:"} {
		require.NotContains(t, raw, s)
	}
}

func TestSetup(t *testing.T) {
	t.Parallel()

	b := setup(t)
	require.Len(t, b.tokens, len(policy.PlatformRoles)+2*len(policy.TenantRoles))
	for c, tok := range b.tokens {
		require.True(t, strings.HasPrefix(tok, identity.TokenPrefix), "%v", c)
		p, err := b.keys.Check(context.Background(), tok)
		require.NoError(t, err)
		require.Equal(t, c.role, p.Role)
		require.Equal(t, c.domain, p.Domain)
		require.Equal(t, b.keyIDs[c], p.ID)
	}
}

package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/app"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/demo"
	"github.com/verwerker/verwerker/identity"
	vkeys "github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/store/storetest"
	"github.com/verwerker/verwerker/subject"
)

// env is the application wired as `verwerker dev` wires it (app.New), with
// the demo data, served over HTTP on a loopback port.
type env struct {
	app   *app.App
	clock *verwerker.ManualClock
	srv   *httptest.Server
	data  demo.Data
	dash  demo.Dashboard
}

// dpo and lead are the demo people: the processor's DPO and the first
// customer's privacy lead (controller_admin).
func (e *env) dpo() demo.Person  { return e.data.People[0] }
func (e *env) lead() demo.Person { return e.data.People[1] }

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, app.Config{Version: "test"})
}

// newEnvWith is newEnv with the application configured by cfg.
func newEnvWith(t testing.TB, cfg app.Config) *env {
	t.Helper()
	ctx := context.Background()
	db := storetest.New(t)
	// The real time, moved by hand: browsers judge cookies by their own
	// clock.
	clock := verwerker.NewManualClock(time.Now().UTC().Truncate(time.Second))
	// Listening first: the links in e-mail start with the server's URL.
	srv := httptest.NewUnstartedServer(nil)
	t.Cleanup(srv.Close)
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + srv.Listener.Addr().String()
	}
	ring, err := vkeys.OpenLocalKeyring(filepath.Join(t.TempDir(), "keyring.key"), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(ring.Close)
	a, err := app.New(ctx, cfg, app.Deps{DB: db, Clock: clock, Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Keyring: ring, SubjectKey: make([]byte, subject.KeySize)})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	a.People.Argon2 = identity.Argon2Params{Memory: 64, Time: 1, Threads: 1}
	e := &env{app: a, clock: clock}
	e.data, err = demo.Seed(ctx, clock, a.Tenants, a.Keys, a.People)
	require.NoError(t, err)
	require.NoError(t, demo.SeedSubprocessors(ctx, a.Subprocessors))
	_, err = demo.SeedDPA(ctx, a.DPA, e.data.Tenants[0].ID)
	require.NoError(t, err)
	e.dash, err = demo.SeedDashboard(ctx, demo.DashboardDeps{DB: db, Clock: clock, Audit: a.Audit, Calendar: a.Calendar, Tenants: a.Tenants,
		DPA: a.DPA, Decisions: a.Decisions, Subprocessors: a.Subprocessors}, e.data)
	require.NoError(t, err)
	srv.Config.Handler = a.Handler
	srv.Start()
	e.srv = srv
	return e
}

// code is p's current TOTP code; the clock moves on a step so that every
// sign-in has a code not used before.
func (e *env) code(t testing.TB, p demo.Person) string {
	t.Helper()
	e.clock.Advance(30 * time.Second)
	c, err := identity.TOTPCode(p.TOTPSecret, e.clock.Now())
	require.NoError(t, err)
	return c
}

// client is a browser-like HTTP client with its own cookies that does not
// follow redirects.
func (e *env) client(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches path and returns the status and body.
func (e *env) get(t testing.TB, c *http.Client, path string) (int, string) {
	t.Helper()
	res, err := c.Get(e.srv.URL + path)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// post submits a form from page (whose CSRF token it takes) to path.
func (e *env) post(t testing.TB, c *http.Client, page, path string, form url.Values) (int, string, *http.Response) {
	t.Helper()
	_, body := e.get(t, c, page)
	m := csrfInput.FindStringSubmatch(body)
	require.NotNil(t, m, "no CSRF token on %s", page)
	form.Set("csrf", m[1])
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b), res
}

// signIn signs p in on c with password and TOTP.
func (e *env) signIn(t testing.TB, c *http.Client, p demo.Person) {
	t.Helper()
	status, _, res := e.post(t, c, "/dashboard/signin", "/dashboard/signin",
		url.Values{"email": {p.Email}, "password": {p.Password}, "otp": {e.code(t, p)}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/dashboard/", res.Header.Get("Location"))
}

// testWriter sends the application's warnings and errors to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// verifier gives the application a River client that works only the
// queue of audit verifications (the other jobs stay unworked, as in the
// other dashboard tests); start runs it.
func (e *env) verifier(t testing.TB) (start func()) {
	t.Helper()
	workers := river.NewWorkers()
	e.app.Audit.Register(workers)
	client, err := river.NewClient(riverpgxv5.New(e.app.DB.Pool), &river.Config{
		Queues:  map[string]river.QueueConfig{audit.QueueVerify: {MaxWorkers: 1}},
		Workers: workers, FetchCooldown: 20 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	e.app.Audit.UseClient(client)
	return func() {
		require.NoError(t, client.Start(context.Background()))
		t.Cleanup(func() { _ = client.Stop(context.Background()) })
	}
}

package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/subprocessor"
)

// browser is a real headless Chromium (VERWERKER_TEST_CHROMIUM, installed
// by deploy/chromium.sh) driven over the DevTools protocol, with axe-core
// (VERWERKER_TEST_AXE, deploy/axe.sh) to inject. It records every request
// the pages make that does not go to the dashboard's server.
type browser struct {
	ctx      context.Context
	e        *env
	axe      string
	shots    string
	mu       sync.Mutex
	external []string
}

// newBrowser starts Chromium as the tests run it: headless, no sandbox
// (root in containers), nothing in the background, a fresh profile. A
// missing Chromium or axe-core fails the test (browserPaths).
func newBrowser(t *testing.T, e *env) *browser {
	t.Helper()
	bin, axePath := browserPaths(t)
	axe, err := os.ReadFile(axePath)
	require.NoError(t, err, "axe-core")
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(alloc)
	t.Cleanup(cancel2)
	shots := filepath.Join("testdata", "screenshots")
	require.NoError(t, os.MkdirAll(shots, 0o755))
	b := &browser{ctx: ctx, e: e, axe: string(axe), shots: shots}
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if r, ok := ev.(*network.EventRequestWillBeSent); ok {
			u := r.Request.URL
			if !strings.HasPrefix(u, e.srv.URL) && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "about:") {
				b.mu.Lock()
				b.external = append(b.external, u)
				b.mu.Unlock()
			}
		}
	}))
	return b
}

// browserPaths returns Chromium's and axe-core's paths. Without them the
// test fails, as the database tests do without PostgreSQL: `make test`
// installs both (deploy/chromium.sh, deploy/axe.sh).
func browserPaths(t *testing.T) (bin, axe string) {
	t.Helper()
	bin, axe = os.Getenv("VERWERKER_TEST_CHROMIUM"), os.Getenv("VERWERKER_TEST_AXE")
	if bin == "" || axe == "" {
		t.Fatal("VERWERKER_TEST_CHROMIUM and VERWERKER_TEST_AXE are not set: run `make test`, or eval \"$(deploy/chromium.sh env)\" and \"$(deploy/axe.sh env)\"")
	}
	return bin, axe
}

// do runs the steps with a time limit.
func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

// text returns the text of the first element matching css.
func (b *browser) text(t *testing.T, css string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	require.NoError(t, err, css)
	return s
}

// open navigates to path and returns the HTTP status of the document.
func (b *browser) open(t *testing.T, path string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.e.srv.URL+path))
	require.NoError(t, err, path)
	return int(res.Status)
}

// signIn signs p in through the form with the current TOTP code.
func (b *browser) signIn(t *testing.T, email, password, code string) {
	t.Helper()
	b.open(t, "/dashboard/signin")
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	res, err := chromedp.RunResponse(ctx,
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.SendKeys(chromedp.CSS("#otp"), code),
		chromedp.Click(chromedp.CSS("#signin-submit")))
	require.NoError(t, err)
	require.Equal(t, int64(http.StatusOK), res.Status)
}

// check takes a screenshot of the page (a test artefact) and runs axe-core
// on it: no serious or critical violation is allowed.
func (b *browser) check(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	file := filepath.Join(b.shots, name+".png")
	require.NoError(t, os.WriteFile(file, png, 0o644))
	abs, _ := filepath.Abs(file)
	t.Logf("screenshot of %s: %s", name, abs)
	_, err = chromedp.Run(ctx, chromedp.Evaluate[any](b.axe+";true", chromedp.EvalIgnoreExceptions))
	require.NoError(t, err)
	bad, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`axe.run(document, {resultTypes: ['violations']}).then(r =>
		r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
			.map(v => v.impact + ' ' + v.id + ': ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', ')))`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Empty(t, bad, "axe-core on %s", name)
}

// TestBrowser walks the dashboard in Chromium as the DPO and as a
// customer's privacy lead: sign-in with TOTP, the overview, every main
// page (screenshots, axe-core, no external requests), resolving an
// objection, switching language, another customer's page, platform pages,
// and a cross-site form post.
func TestBrowser(t *testing.T) {
	e := newEnv(t)
	e.verifier(t)()
	b := newBrowser(t, e)
	a, other := e.data.Tenants[0], e.data.Tenants[1]
	change := e.dash.Change.ID

	t.Run("sign-in page", func(t *testing.T) {
		require.Equal(t, http.StatusOK, b.open(t, "/dashboard/signin"))
		b.check(t, "signin")
	})

	t.Run("sign in with TOTP", func(t *testing.T) {
		p := e.dpo()
		b.signIn(t, p.Email, p.Password, e.code(t, p))
		loc, err := chromedp.Run(b.ctx, chromedp.Location())
		require.NoError(t, err)
		require.Equal(t, e.srv.URL+"/dashboard/overview", loc)
		require.Contains(t, b.text(t, ".who"), p.Email)
	})

	t.Run("overview shows the change in its window and the undelivered notice in red", func(t *testing.T) {
		require.Equal(t, http.StatusOK, b.open(t, "/dashboard/overview"))
		require.Contains(t, b.text(t, "#windows"), change)
		alarm := b.text(t, "#actions li.alarm")
		require.Contains(t, alarm, change)
		require.Contains(t, alarm, other.Name, "the second customer was not told")
		bg, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('#actions li.alarm')).backgroundColor`))
		require.NoError(t, err)
		require.Equal(t, "rgb(253, 236, 234)", bg, "highlighted in red")
		// What needs action comes first: before the tables.
		order, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`!!(document.querySelector('#actions').compareDocumentPosition(document.querySelector('#windows')) & Node.DOCUMENT_POSITION_FOLLOWING)`))
		require.NoError(t, err)
		require.True(t, order)
		require.Contains(t, b.text(t, "#decisions figcaption"), "Decisions")
		b.check(t, "overview")
	})

	t.Run("main pages", func(t *testing.T) {
		for name, path := range map[string]string{
			"customers":     "/dashboard/customers",
			"customer":      "/dashboard/customers/" + a.ID,
			"agreement":     "/dashboard/customers/" + a.ID + "/agreements/1",
			"certificates":  "/dashboard/customers/" + a.ID + "/certificates",
			"subprocessors": "/dashboard/subprocessors",
			"notices":       "/dashboard/notices",
			"audit":         "/dashboard/audit",
		} {
			require.Equal(t, http.StatusOK, b.open(t, path), path)
			b.check(t, name)
		}
		// "Verify now" runs in the background: the page shows its
		// progress, reloads itself without script and then shows the result.
		b.open(t, "/dashboard/audit")
		b.do(t, chromedp.Click(chromedp.CSS("#verify")), chromedp.WaitVisible(chromedp.CSS("#verify-progress, #verify-result")))
		b.check(t, "audit-verifying")
		// The page reloads itself through its Refresh header, with no
		// script and no help from the test, until the result shows.
		ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
		_, err := chromedp.Run(ctx, chromedp.WaitVisible(chromedp.CSS("#verify-result")))
		cancel()
		require.NoError(t, err, "the page did not reload itself to the verification's result")
		require.Contains(t, b.text(t, "#verify-result"), "Every chain verifies")
		b.check(t, "audit-verified")
		// The verification is recorded and shown as the last one.
		require.Equal(t, http.StatusOK, b.open(t, "/dashboard/overview"))
		require.Contains(t, b.text(t, "#last-verification"), "passed")
		require.Contains(t, b.text(t, "#denial-reasons figcaption"), "Denials per day by reason")
	})

	t.Run("a cross-site form post is refused", func(t *testing.T) {
		// A page on another site (localhost is another site than
		// 127.0.0.1) that posts the resolve form to the dashboard.
		target := e.srv.URL + "/dashboard/subprocessors/objections/" + a.ID + "/" + change
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<!doctype html><title>win a prize</title><form id="f" method="post" action="%s">
<input name="resolution" value="objection_withdrawn"><input name="csrf" value="guess"></form>
<script>document.getElementById('f').submit()</script>`, target)
		}))
		defer evil.Close()
		evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		defer cancel()
		_, err := chromedp.Run(ctx, chromedp.NavigateResponse(evilURL))
		require.NoError(t, err)
		b.do(t, chromedp.WaitVisible(chromedp.CSS("#error-message")))
		loc, err := chromedp.Run(b.ctx, chromedp.Location())
		require.NoError(t, err)
		require.Equal(t, target, loc)
		n, err := e.app.Subprocessors.Notice(t.Context(), a.ID, change)
		require.NoError(t, err)
		require.Equal(t, subprocessor.NoticeObjected, n.Status, "the objection is still open")
		b.mu.Lock()
		b.external = nil // the attacker's page itself
		b.mu.Unlock()
	})

	t.Run("resolve an objection through the page", func(t *testing.T) {
		b.open(t, "/dashboard/subprocessors")
		row := fmt.Sprintf(`tr.objection[data-tenant=%q][data-change=%q]`, a.ID, change)
		b.do(t,
			chromedp.SetValue(chromedp.CSS(row+" select"), subprocessor.ResolutionChangeNotApplied),
			chromedp.SendKeys(chromedp.CSS(row+" input[name=note]"), "Agreed by phone to keep hosting only."),
			chromedp.Click(chromedp.CSS(row+" button")),
			chromedp.WaitVisible(chromedp.CSS(".flash")))
		require.Contains(t, b.text(t, ".flash"), "resolved")
		b.do(t, chromedp.WaitVisible(chromedp.CSS("#no-objections")))
		n, err := e.app.Subprocessors.Notice(t.Context(), a.ID, change)
		require.NoError(t, err)
		require.Equal(t, subprocessor.NoticeNotApplied, n.Status)
		require.Equal(t, subprocessor.ResolutionChangeNotApplied, n.Resolution)
	})

	t.Run("switch language", func(t *testing.T) {
		b.open(t, "/dashboard/overview")
		require.Equal(t, "Overview", b.text(t, "main h1"))
		b.do(t, chromedp.Click(chromedp.CSS("#lang-switch")), chromedp.WaitVisible(chromedp.CSS(`html[lang=nl]`)))
		require.Equal(t, "Overzicht", b.text(t, "main h1"))
		require.Contains(t, b.text(t, "main"), "nog ", "time left in Dutch")
		// Remembered: a new visit is still Dutch.
		b.open(t, "/dashboard/notices")
		require.Equal(t, "Kennisgevingen", b.text(t, "main h1"))
		b.check(t, "notices-nl")
		b.do(t, chromedp.Click(chromedp.CSS("#lang-switch")), chromedp.WaitVisible(chromedp.CSS(`html[lang=en]`)))
		require.Equal(t, "Notices", b.text(t, "main h1"))
	})

	t.Run("the privacy lead sees only its own customer", func(t *testing.T) {
		b.open(t, "/dashboard/overview")
		b.do(t, chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#signin-submit")))
		p := e.lead()
		b.signIn(t, p.Email, p.Password, e.code(t, p))
		loc, err := chromedp.Run(b.ctx, chromedp.Location())
		require.NoError(t, err)
		require.Equal(t, e.srv.URL+"/dashboard/customers/"+a.ID, loc)
		require.Equal(t, a.Name, b.text(t, "#customer-name"))
		b.check(t, "customer-lead")
		require.Equal(t, http.StatusNotFound, b.open(t, "/dashboard/customers/"+other.ID))
		require.NotContains(t, b.text(t, "main"), other.Name)
		require.Equal(t, http.StatusNotFound, b.open(t, "/dashboard/customers/"+other.ID+"/certificates"))
		for _, path := range []string{"/dashboard/overview", "/dashboard/subprocessors", "/dashboard/notices", "/dashboard/audit", "/dashboard/customers"} {
			require.Equal(t, http.StatusForbidden, b.open(t, path), path)
		}
	})

	b.mu.Lock()
	defer b.mu.Unlock()
	require.Empty(t, b.external, "the pages made requests to other sites")
}

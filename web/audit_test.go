package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/audit"
)

var verifyResult = regexp.MustCompile(`id="verify-result"[^>]*>([^<]*)`)

// TestVerifyNow: "verify now" starts a background verification of every
// chain; the audit page shows it waiting or running with its progress and
// reloads itself without script (the Refresh header), then shows the result,
// which the overview shows as the last verification. A chain that no
// longer verifies is an alarm on the overview and in GET /v1/alarms, and
// the failed verification is audited.
func TestVerifyNow(t *testing.T) {
	e := newEnv(t)
	start := e.verifier(t)
	dpo := e.client(t)
	e.signIn(t, dpo, e.dpo())

	status, _, res := e.post(t, dpo, "/dashboard/audit", "/dashboard/audit/verify", url.Values{})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/dashboard/audit#verification", res.Header.Get("Location"))
	// No worker yet: it waits, and the page says so and reloads itself.
	res, err := dpo.Get(e.srv.URL + "/dashboard/audit")
	require.NoError(t, err)
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	body := string(b)
	require.Contains(t, body, `id="verify-progress"`)
	require.Equal(t, "2; url=/dashboard/audit", res.Header.Get("Refresh"), "reloads itself without script, at its URL without the fragment")
	require.Contains(t, body, "waiting to start")
	require.NotContains(t, body, `id="verify-result"`)
	// The viewer can stop the reloading (WCAG 2.2.1).
	require.Contains(t, body, `href="/dashboard/audit?refresh=off#verification"`)
	res, err = dpo.Get(e.srv.URL + "/dashboard/audit?refresh=off")
	require.NoError(t, err)
	res.Body.Close()
	require.Empty(t, res.Header.Get("Refresh"))
	// Asking again while it waits starts no second one.
	status, _, _ = e.post(t, dpo, "/dashboard/audit", "/dashboard/audit/verify", url.Values{})
	require.Equal(t, http.StatusSeeOther, status)

	start()
	body = e.awaitResult(t, dpo)
	require.NotContains(t, body, `id="refresh-off"`, "a finished verification does not reload")
	require.Contains(t, verifyResult.FindStringSubmatch(body)[1], "Every chain verifies")
	_, body = e.get(t, dpo, "/dashboard/overview")
	require.Regexp(t, `id="last-verification">Last verification: [^<]+<span class="ok">passed</span>`, body)
	last, err := e.app.Audit.LastVerification(t.Context(), audit.PlatformChain, false)
	require.NoError(t, err)
	require.Equal(t, audit.VerificationPassed, last.State)
	require.Greater(t, len(last.Chains), 1, "every chain, not only the platform's")

	// Someone edits an event of the first customer's chain.
	a := e.data.Tenants[0]
	conn, err := e.app.DB.Pool.Acquire(t.Context())
	require.NoError(t, err)
	_, err = conn.Exec(t.Context(), `SET session_replication_role = replica`)
	require.NoError(t, err)
	_, err = conn.Exec(t.Context(), `UPDATE audit_events SET reason = 'nothing to see' WHERE chain = $1 AND seq = 1`, a.ID)
	require.NoError(t, err)
	_, _ = conn.Exec(context.Background(), `RESET session_replication_role`)
	conn.Release()

	e.clock.Advance(time.Minute)
	status, _, _ = e.post(t, dpo, "/dashboard/audit", "/dashboard/audit/verify", url.Values{})
	require.Equal(t, http.StatusSeeOther, status)
	body = e.awaitResult(t, dpo)
	require.Contains(t, verifyResult.FindStringSubmatch(body)[1], "1 of")
	require.Regexp(t, `<tr class="alarm"><td><code>`+a.ID+`</code></td><td>\d+ / \d+</td><td>failed</td><td>#1: hash does not match`, body)
	_, body = e.get(t, dpo, "/dashboard/overview")
	require.Contains(t, body, "Audit chain "+a.Name+" does NOT verify at event 1")
	require.Regexp(t, `<span class="bad">failed</span>`, body)

	// The API's alarms name the chain and the cause.
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/alarms", nil)
	require.NoError(t, err)
	r, err := dpo.Do(req)
	require.NoError(t, err)
	defer r.Body.Close()
	require.Equal(t, http.StatusOK, r.StatusCode)
	var alarms struct {
		Items []struct {
			Kind, Chain, Message string
			FirstBad             int64 `json:"first_bad"`
		}
	}
	require.NoError(t, json.NewDecoder(r.Body).Decode(&alarms))
	found := false
	for _, al := range alarms.Items {
		if al.Kind == "audit_chain_broken" {
			found = true
			require.Equal(t, a.ID, al.Chain)
			require.Equal(t, int64(1), al.FirstBad)
			require.Contains(t, al.Message, "hash does not match the event's contents")
		}
	}
	require.True(t, found, "alarm audit_chain_broken")
	ev, err := e.app.Audit.LastEvent(t.Context(), audit.PlatformChain, audit.ActionVerify)
	require.NoError(t, err)
	require.Equal(t, audit.Failure, ev.Outcome, "the failed verification is audited")
	require.Regexp(t, `^usr_`, ev.Actor, "the person who asked")
}

// awaitResult reloads the audit page, as its Refresh header does, until it
// shows a verification's result, and returns it.
func (e *env) awaitResult(t *testing.T, c *http.Client) string {
	t.Helper()
	var body string
	require.Eventually(t, func() bool {
		_, body = e.get(t, c, "/dashboard/audit")
		return verifyResult.MatchString(body)
	}, 60*time.Second, 100*time.Millisecond)
	return body
}

// TestDenialsByReasonChart: the overview draws the platform's denials per
// day by reason, and a customer's page the customer's own, each an SVG
// with its text alternative naming the reasons.
func TestDenialsByReasonChart(t *testing.T) {
	e := newEnv(t)
	dpo := e.client(t)
	e.signIn(t, dpo, e.dpo())
	_, body := e.get(t, dpo, "/dashboard/overview")
	require.Regexp(t, `(?s)<figure class="chart" id="denial-reasons">\s*<figcaption>Denials per day by reason</figcaption>\s*<svg`, body)
	for _, reason := range []string{"purpose not in agreement", "region not in agreement", "no transfer basis"} {
		require.Contains(t, body, "<th scope=\"col\">"+reason+"</th>", reason)
	}
	lead := e.client(t)
	e.signIn(t, lead, e.lead())
	_, body = e.get(t, lead, "/dashboard/customers/"+e.data.Tenants[0].ID)
	require.Regexp(t, `(?s)<figure class="chart" id="customer-denial-reasons">\s*<figcaption>Denials per day by reason</figcaption>\s*<svg`, body)
	require.Contains(t, body, "<th scope=\"col\">purpose not in agreement</th>")
}

package web_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/app"
	"github.com/verwerker/verwerker/breach"
	"github.com/verwerker/verwerker/demo"
	"github.com/verwerker/verwerker/dsr"
	"github.com/verwerker/verwerker/notify/notifytest"
	"github.com/verwerker/verwerker/retention"
)

// newDutyEnv is the application with a real outbox (mailpit SMTP) and a
// running River client, and the demo's requests, retention and breaches as
// `verwerker dev` seeds them: what the request, retention and breach pages
// show. It returns the mailpit API URL too.
func newDutyEnv(t *testing.T) (*env, string) {
	t.Helper()
	smtpURL, mailpit := os.Getenv("VERWERKER_TEST_SMTP_URL"), os.Getenv("VERWERKER_TEST_MAILPIT_URL")
	if smtpURL == "" || mailpit == "" {
		t.Fatal("set VERWERKER_TEST_SMTP_URL and VERWERKER_TEST_MAILPIT_URL to a running mailpit (run `make test`, which starts one)")
	}
	e := newEnvWith(t, app.Config{Version: "test", SMTPURL: smtpURL, MailFrom: "verwerker@verwerker.example"})
	client, err := e.app.Jobs(app.JobsConfig{MaxWorkers: 4, RetryPolicy: notifytest.QuickRetry{},
		FetchCooldown: 10 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond, NoPeriodicJobs: true})
	require.NoError(t, err)
	require.NoError(t, client.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(ctx)
	})
	ctx := t.Context()
	a, b := e.data.Tenants[0].ID, e.data.Tenants[1].ID
	require.NoError(t, demo.SeedRequests(ctx, e.clock, e.app.Requests, a))
	require.NoError(t, demo.SeedRetention(ctx, e.clock, e.app.Records, e.app.Retention, a))
	require.NoError(t, demo.SeedBreaches(ctx, e.clock, e.app.Breaches, []string{a, b}))
	return e, mailpit
}

// waitFor polls cond (real time: background jobs) for up to 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 400 {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// The request, retention and breach pages per viewer: the DPO reaches all
// of them; the privacy lead its own customer's (another customer's are
// 404, the platform's breach pages 403), and the demo data shows.
func TestDutyPagesPermissions(t *testing.T) {
	e, _ := newDutyEnv(t)
	a, b := e.data.Tenants[0].ID, e.data.Tenants[1].ID
	dpo := e.client(t)
	e.signIn(t, dpo, e.dpo())
	incidents, err := e.app.Breaches.List(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, incidents)
	sweeps, err := e.app.Retention.Sweeps(t.Context(), a, "", 1)
	require.NoError(t, err)
	require.Len(t, sweeps, 1)
	reqs, err := e.app.Requests.List(t.Context(), a, false, 10)
	require.NoError(t, err)
	require.Len(t, reqs, 3)
	for path, want := range map[string]string{
		"/dashboard/breaches":                                             incidents[0].Title,
		"/dashboard/breaches/" + incidents[0].ID:                          "history",
		"/dashboard/requests":                                             reqs[0].ID,
		"/dashboard/customers/" + a + "/requests":                         reqs[1].ID,
		"/dashboard/customers/" + a + "/requests/" + reqs[0].ID:           "timeline",
		"/dashboard/customers/" + a + "/retention":                        "Complaint file 2026-014",
		"/dashboard/customers/" + a + "/retention/sweeps/" + sweeps[0].ID: sweeps[0].ID,
		"/dashboard/customers/" + b + "/retention":                        "retention",
		"/dashboard/overview":                                             "breach-clocks",
		"/dashboard/retention":                                            "platform-forecast",
	} {
		status, body := e.get(t, dpo, path)
		require.Equal(t, http.StatusOK, status, path)
		require.Contains(t, body, want, path)
	}
	// The overview: the running breach clock and the overdue request are
	// in what needs action today, in red.
	_, body := e.get(t, dpo, "/dashboard/overview")
	actions := regexp.MustCompile(`(?s)<ul class="actions" id="actions">(.*?)</ul>`).FindStringSubmatch(body)
	require.NotNil(t, actions)
	require.Contains(t, actions[1], "/dashboard/customers/"+a+"/requests/"+reqs[0].ID, "the overdue request")
	// The register downloads as a file.
	res, err := dpo.Get(e.srv.URL + "/dashboard/breaches/register")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, res.Header.Get("Content-Disposition"), "attachment")

	lead := e.client(t)
	e.signIn(t, lead, e.lead())
	for path, want := range map[string]int{
		"/dashboard/customers/" + a + "/requests":                         http.StatusOK,
		"/dashboard/customers/" + a + "/requests/" + reqs[0].ID:           http.StatusOK,
		"/dashboard/customers/" + a + "/retention":                        http.StatusOK,
		"/dashboard/customers/" + a + "/retention/sweeps/" + sweeps[0].ID: http.StatusOK,
		"/dashboard/customers/" + a + "/breaches":                         http.StatusOK,
		"/dashboard/customers/" + a + "/breaches/register":                http.StatusOK,
		"/dashboard/customers/" + b + "/requests":                         http.StatusNotFound,
		"/dashboard/customers/" + b + "/requests/" + reqs[0].ID:           http.StatusNotFound,
		"/dashboard/customers/" + b + "/retention":                        http.StatusNotFound,
		"/dashboard/customers/" + b + "/retention/sweeps/" + sweeps[0].ID: http.StatusNotFound,
		"/dashboard/customers/" + b + "/breaches":                         http.StatusNotFound,
		"/dashboard/customers/" + b + "/breaches/register":                http.StatusNotFound,
		"/dashboard/breaches":                                             http.StatusForbidden,
		"/dashboard/breaches/" + incidents[0].ID:                          http.StatusForbidden,
		"/dashboard/breaches/register":                                    http.StatusForbidden,
		"/dashboard/requests":                                             http.StatusForbidden,
		"/dashboard/retention":                                            http.StatusForbidden,
	} {
		status, body := e.get(t, lead, path)
		require.Equal(t, want, status, path)
		if want != http.StatusOK {
			require.NotContains(t, body, e.data.Tenants[1].Name, path)
		}
	}
	// The lead's forms on another customer change nothing.
	status, _, _ := e.post(t, lead, "/dashboard/customers/"+a+"/retention", "/dashboard/customers/"+b+"/retention/holds",
		url.Values{"scope": {"tenant"}, "reason": {"x"}, "owner": {"x"}, "review_on": {time.Now().AddDate(0, 1, 0).Format("2006-01-02")}})
	require.Equal(t, http.StatusNotFound, status)
	holds, err := e.app.Retention.Holds(t.Context(), b, true)
	require.NoError(t, err)
	require.Empty(t, holds)
	status, _, _ = e.post(t, lead, "/dashboard/customers/"+a+"/requests", "/dashboard/breaches",
		url.Values{"title": {"x"}, "discovered_at": {"2026-12-01T10:00"}})
	require.Equal(t, http.StatusForbidden, status)
}

// The DPO reports, triages and notifies through the forms; the privacy
// lead acknowledges its notice through its page; bad input is a 422 that
// changes nothing and does not echo what was sent.
func TestBreachForms(t *testing.T) {
	e, _ := newDutyEnv(t)
	a, b := e.data.Tenants[0].ID, e.data.Tenants[1].ID
	dpo := e.client(t)
	e.signIn(t, dpo, e.dpo())
	before, err := e.app.Breaches.List(t.Context())
	require.NoError(t, err)

	status, body, _ := e.post(t, dpo, "/dashboard/breaches", "/dashboard/breaches",
		url.Values{"title": {""}, "discovered_at": {"not a time jan@example.com"}})
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.NotContains(t, body, "jan@example.com")
	after, err := e.app.Breaches.List(t.Context())
	require.NoError(t, err)
	require.Len(t, after, len(before), "no half-written incident")

	discovered := e.clock.Now().Add(-2 * time.Hour).In(amsterdam(t))
	status, _, res := e.post(t, dpo, "/dashboard/breaches", "/dashboard/breaches", url.Values{
		"title": {"Backup bucket readable"}, "discovered_at": {discovered.Format("2006-01-02T15:04")}, "kinds": {"confidentiality"},
		"tenants": {a}, "discovered_how": {"Cloud audit"}})
	require.Equal(t, http.StatusSeeOther, status)
	loc := res.Header.Get("Location")
	id := strings.TrimSuffix(strings.TrimPrefix(loc, "/dashboard/breaches/"), "?done=reported")
	i, err := e.app.Breaches.Get(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, breach.StatusReported, i.Status)
	require.WithinDuration(t, discovered.Truncate(time.Minute), i.DiscoveredAt, 0, "the discovery time is read in the viewer's zone")

	page := "/dashboard/breaches/" + id
	status, _, _ = e.post(t, dpo, page, page+"/triage", url.Values{"actual": {"yes"}, "personal_data": {"yes"}})
	require.Equal(t, http.StatusSeeOther, status)
	status, body = e.get(t, dpo, page)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `id="reasons"`)
	require.Contains(t, body, `id="clock"`)
	// The running clock is in what needs action today.
	_, body = e.get(t, dpo, "/dashboard/overview")
	actions := regexp.MustCompile(`(?s)<ul class="actions" id="actions">(.*?)</ul>`).FindStringSubmatch(body)
	require.NotNil(t, actions)
	require.Contains(t, actions[1], page)
	status, _, _ = e.post(t, dpo, page, page+"/notices", url.Values{})
	require.Equal(t, http.StatusSeeOther, status)
	notices, err := e.app.Breaches.Notices(t.Context(), id)
	require.NoError(t, err)
	require.Len(t, notices, 1)
	require.Equal(t, a, notices[0].TenantID)
	waitFor(t, "the notice's delivery", func() bool {
		n, err := e.app.Breaches.Notices(t.Context(), id)
		require.NoError(t, err)
		return n[0].Delivery.State == breach.DeliveryDelivered
	})

	lead := e.client(t)
	e.signIn(t, lead, e.lead())
	mine := "/dashboard/customers/" + a + "/breaches"
	status, body = e.get(t, lead, mine)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "Backup bucket readable")
	// Another customer's acknowledgement is a 404 and changes nothing.
	status, _, _ = e.post(t, lead, mine, "/dashboard/customers/"+b+"/breaches/"+id+"/0/acknowledge", url.Values{})
	require.Equal(t, http.StatusNotFound, status)
	status, _, _ = e.post(t, lead, mine, mine+"/"+id+"/0/acknowledge", url.Values{})
	require.Equal(t, http.StatusSeeOther, status)
	notices, err = e.app.Breaches.Notices(t.Context(), id)
	require.NoError(t, err)
	require.NotNil(t, notices[0].Acknowledgement)
	require.NotEmpty(t, notices[0].Acknowledgement.By)
}

// The controller instructs, extends and pauses through the request page;
// holds are placed, reviewed and lifted through the retention page.
func TestRequestAndHoldForms(t *testing.T) {
	e, _ := newDutyEnv(t)
	a := e.data.Tenants[0].ID
	lead := e.client(t)
	e.signIn(t, lead, e.lead())
	reqs, err := e.app.Requests.List(t.Context(), a, true, 10)
	require.NoError(t, err)
	var open dsr.Request
	for _, r := range reqs {
		if r.Type == dsr.TypeObjection {
			open = r
		}
	}
	require.NotEmpty(t, open.ID)
	page := "/dashboard/customers/" + a + "/requests/" + open.ID
	status, _, _ := e.post(t, lead, page, page+"/extension", url.Values{"months": {"1"}, "reason": {"Many systems to search"}})
	require.Equal(t, http.StatusSeeOther, status)
	status, _, _ = e.post(t, lead, page, page+"/pause", url.Values{})
	require.Equal(t, http.StatusSeeOther, status)
	got, steps, err := e.app.Requests.Get(t.Context(), a, open.ID)
	require.NoError(t, err)
	require.Equal(t, 1, got.ExtensionMonths)
	require.NotNil(t, got.PausedAt)
	status, body := e.get(t, lead, page)
	require.Equal(t, http.StatusOK, status)
	for _, st := range steps {
		require.Contains(t, body, st.Action, "every step is on the timeline")
	}
	status, _, _ = e.post(t, lead, page, page+"/resume", url.Values{})
	require.Equal(t, http.StatusSeeOther, status)
	// Rejecting without a reason is refused and changes nothing.
	status, _, _ = e.post(t, lead, page, page+"/instructions", url.Values{"action": {"reject"}})
	require.Equal(t, http.StatusUnprocessableEntity, status)
	status, _, _ = e.post(t, lead, page, page+"/instructions", url.Values{"action": {"reject"}, "reason": {"Not a customer of ours"}})
	require.Equal(t, http.StatusSeeOther, status)
	got, _, err = e.app.Requests.Get(t.Context(), a, open.ID)
	require.NoError(t, err)
	require.Equal(t, dsr.StateRejected, got.State)

	ret := "/dashboard/customers/" + a + "/retention"
	review := e.clock.Now().AddDate(0, 2, 0).Format("2006-01-02")
	status, _, _ = e.post(t, lead, ret, ret+"/holds", url.Values{"scope": {"category"}, "category": {"chat.message"},
		"reason": {"Audit by the authority"}, "owner": {"privacy team"}, "review_on": {review}})
	require.Equal(t, http.StatusSeeOther, status)
	holds, err := e.app.Retention.Holds(t.Context(), a, false)
	require.NoError(t, err)
	var h retention.Hold
	for _, x := range holds {
		if x.Scope == retention.ScopeCategory {
			h = x
		}
	}
	require.Equal(t, "chat.message", h.Category)
	next := e.clock.Now().AddDate(0, 3, 0).Format("2006-01-02")
	status, _, _ = e.post(t, lead, ret, ret+"/holds/"+h.ID+"/review", url.Values{"review_on": {next}})
	require.Equal(t, http.StatusSeeOther, status)
	status, _, _ = e.post(t, lead, ret, ret+"/holds/"+h.ID+"/lift", url.Values{"reason": {"Audit closed"}})
	require.Equal(t, http.StatusSeeOther, status)
	holds, err = e.app.Retention.Holds(t.Context(), a, true)
	require.NoError(t, err)
	for _, x := range holds {
		if x.ID == h.ID {
			require.Equal(t, next, x.ReviewOn.String())
			require.NotNil(t, x.LiftedAt)
		}
	}
	// Every change is audited in the customer's chain.
	seen := map[string]bool{}
	for after := int64(0); ; {
		events, err := e.app.Audit.Events(t.Context(), a, after, 1000)
		require.NoError(t, err)
		if len(events) == 0 {
			break
		}
		for _, ev := range events {
			seen[ev.Action] = true
		}
		after = events[len(events)-1].Seq
	}
	for _, act := range []string{"retention.hold_place", "retention.hold_review", "retention.hold_lift"} {
		require.True(t, seen[act], act)
	}
}

// amsterdam is the processor's people's time zone, in which the forms'
// times are read.
func amsterdam(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	require.NoError(t, err)
	return loc
}

package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/app"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/notify/notifytest"
	"github.com/verwerker/verwerker/tenant"
)

// registerLLM registers a subprocessor that processes chat messages and
// that no customer uses yet.
func (b *testBundle) registerLLM(t *testing.T) {
	t.Helper()
	r := b.do(t, http.MethodPost, "/v1/subprocessors", b.token(t, "dpo", verwerker.PlatformDomain), map[string]any{
		"id": "llm-eu", "name": "Mistral AI SAS", "service": "Language model that drafts chat answers",
		"locations": []string{"fr"}, "transfer_mechanism": "none", "categories": []string{"chat.message"}, "contract_date": "2026-02-01"})
	require.Equal(t, http.StatusCreated, r.status, r.raw)
}

// proposeLLM announces llm-eu to every customer with chat messages in
// scope and returns the change id and the response.
func (b *testBundle) proposeLLM(t *testing.T, effectiveOn string) (string, response) {
	t.Helper()
	r := b.do(t, http.MethodPost, "/v1/subprocessor-changes", b.token(t, "dpo", verwerker.PlatformDomain), map[string]any{
		"kind": "add", "subprocessor": "llm-eu", "effective_on": effectiveOn, "description": "Better answers in French and Dutch."})
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	return r.json["change"].(map[string]any)["id"].(string), r
}

// notice returns the customer's notice of change from the DPO's view of the
// change.
func (b *testBundle) notice(t *testing.T, changeID, tenantID string) map[string]any {
	t.Helper()
	r := b.do(t, http.MethodGet, "/v1/subprocessor-changes/"+changeID, b.token(t, "dpo", verwerker.PlatformDomain), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	for _, n := range r.json["notices"].([]any) {
		if n := n.(map[string]any); n["tenant_id"] == tenantID {
			return n
		}
	}
	t.Fatalf("no notice of %s for %s", changeID, tenantID)
	return nil
}

func delivery(n map[string]any) map[string]any { return n["delivery"].(map[string]any) }

// channels maps each channel of a notice to its state and cause.
func channels(n map[string]any) map[string][2]string {
	out := map[string][2]string{}
	for _, c := range delivery(n)["channels"].([]any) {
		c := c.(map[string]any)
		cause, _ := c["cause"].(string)
		out[c["channel"].(string)] = [2]string{c["state"].(string), cause}
	}
	return out
}

func instant(t *testing.T, v any) time.Time {
	t.Helper()
	s, ok := v.(string)
	require.True(t, ok, "no instant: %v", v)
	at, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return at.UTC()
}

// alarms returns the DPO's alarms by kind.
func (b *testBundle) alarms(t *testing.T) map[string][]map[string]any {
	t.Helper()
	r := b.do(t, http.MethodGet, "/v1/alarms", b.token(t, "dpo", verwerker.PlatformDomain), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	out := map[string][]map[string]any{}
	for _, a := range r.json["items"].([]any) {
		a := a.(map[string]any)
		out[a["kind"].(string)] = append(out[a["kind"].(string)], a)
	}
	return out
}

// undeliveredGauge reads verwerker_notices_undelivered from the registry's
// collector, and checks it has no labels.
func (b *testBundle) undeliveredGauge(t *testing.T) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(b.subs.Metrics()))
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == "verwerker_notices_undelivered" {
			require.Len(t, f.GetMetric(), 1)
			require.Empty(t, f.GetMetric()[0].GetLabel(), "no tenant labels")
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no verwerker_notices_undelivered")
	return 0
}

// auditActions returns the events of the tenant's chain about resource.
func (b *testBundle) auditEvents(t *testing.T, chain, resource string) map[string][]audit.Event {
	t.Helper()
	events, err := b.audit.Events(context.Background(), chain, 0, 1000)
	require.NoError(t, err)
	out := map[string][]audit.Event{}
	for _, e := range events {
		if e.Resource == resource {
			out[e.Action] = append(out[e.Action], e)
		}
	}
	return out
}

// TestSubprocessorNoticeToNobodyIsUndelivered: without a webhook endpoint
// and without an e-mail relay, a change reaches nobody. The notice is not
// "notified": it is undelivered with the cause per channel, an alarm for
// the DPO (API, metric, audit), its objection window does not start and the
// change never takes effect, until the DPO records a delivery by registered
// letter; the window then counts from that day.
func TestSubprocessorNoticeToNobodyIsUndelivered(t *testing.T) {
	t.Parallel()
	b := setup(t) // no SMTP relay, no webhook endpoint
	ctx := context.Background()
	A := b.tenantA.ID
	b.activeDPA(t, A, 30, "dpo@a.example")
	b.registerLLM(t)
	dpo := b.token(t, "dpo", verwerker.PlatformDomain)

	proposedAt := b.clock.Now().UTC()
	changeID, r := b.proposeLLM(t, "2026-03-05")
	notices := r.json["notices"].([]any)
	require.Len(t, notices, 1)
	n := notices[0].(map[string]any)
	require.Equal(t, "undelivered", delivery(n)["state"], r.raw)
	require.Equal(t, map[string][2]string{"webhook": {"not_configured", "no_endpoint"}, "email": {"not_configured", "smtp_not_configured"}}, channels(n))
	require.Equal(t, proposedAt, instant(t, delivery(n)["undelivered_since"]))
	for _, f := range []string{"notified_at", "window_ends_at", "effective_at"} {
		require.Nil(t, n[f], "%s: nobody was told, no window runs", f)
	}

	// The alarm: audited once in the customer's chain, listed for the DPO,
	// counted by the gauge.
	events := b.auditEvents(t, A, changeID)
	require.Len(t, events["subprocessor.notice.undelivered"], 1)
	e := events["subprocessor.notice.undelivered"][0]
	require.Equal(t, audit.Failure, e.Outcome)
	require.Equal(t, "webhook=no_endpoint email=smtp_not_configured", e.Reason)
	alarms := b.alarms(t)
	require.Len(t, alarms["email_not_configured"], 1)
	require.Len(t, alarms["subprocessor_notice_undelivered"], 1)
	a := alarms["subprocessor_notice_undelivered"][0]
	require.Equal(t, A, a["tenant_id"])
	require.Equal(t, changeID, a["change_id"])
	require.Equal(t, "critical", a["severity"])
	require.Contains(t, a["message"], "/notices/"+A+"/delivery")
	require.NotContains(t, a["message"], "dpo@a.example")
	require.Equal(t, 1.0, b.undeliveredGauge(t))
	r = b.do(t, http.MethodGet, "/v1/alarms", b.token(t, "controller_admin", A), nil)
	require.Equal(t, http.StatusForbidden, r.status, "alarms span every customer: the platform's")

	// The customer's own view says so too.
	r = b.do(t, http.MethodGet, "/v1/tenants/"+A+"/subprocessors", b.token(t, "controller_viewer", A), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "undelivered", delivery(r.json["changes"].([]any)[0].(map[string]any)["notice"].(map[string]any))["state"])

	// Long past effective_on and any window that could have run, nothing
	// takes effect.
	b.clock.Set(testStart.Add(40 * 24 * time.Hour))
	applied, err := b.subs.ApplyDue(ctx)
	require.NoError(t, err)
	require.Zero(t, applied)
	require.Equal(t, []string{"hosting-eu"}, b.effective(t, A))

	// The DPO told the customer by registered letter, received on
	// Wednesday 8 April. Bad records are refused.
	record := "/v1/subprocessor-changes/" + changeID + "/notices/" + A + "/delivery"
	r = b.do(t, http.MethodPost, record, b.token(t, "controller_admin", A), map[string]any{"channel": "letter", "delivered_on": "2026-04-08"})
	require.Equal(t, http.StatusForbidden, r.status, "only the processor records deliveries")
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"channel": "pigeon", "delivered_on": "2026-04-08"}, "body.channel"},
		{map[string]any{"channel": "letter", "delivered_on": "08-04-2026"}, "body.delivered_on"},
		{map[string]any{"channel": "letter", "delivered_on": "2026-05-01"}, "body.delivered_on"}, // the future
		{map[string]any{"channel": "letter", "delivered_on": "2026-03-01"}, "body.delivered_on"}, // before the change
		{map[string]any{"channel": "letter", "delivered_on": "2026-04-08", "reference": "a\u0000b"}, "body.reference"},
	} {
		r = b.do(t, http.MethodPost, record, dpo, tc.body)
		require.Equal(t, http.StatusUnprocessableEntity, r.status, r.raw)
		require.Contains(t, r.locations(t), tc.field, r.raw)
		require.NotContains(t, r.raw, "pigeon")
		requireNoLeak(t, r.raw)
	}
	r = b.do(t, http.MethodPost, "/v1/subprocessor-changes/"+changeID+"/notices/"+b.tenantB.ID+"/delivery", dpo,
		map[string]any{"channel": "letter", "delivered_on": "2026-04-08"})
	require.Equal(t, http.StatusNotFound, r.status, "the change does not concern B")

	r = b.do(t, http.MethodPost, record, dpo, map[string]any{"channel": "registered_letter", "delivered_on": "2026-04-08", "reference": "RR 1234 5678 NL"})
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "delivered", delivery(r.json)["state"])
	require.Equal(t, "out_of_band", delivery(r.json)["via"])
	require.Nil(t, delivery(r.json)["undelivered_since"])
	oob := delivery(r.json)["out_of_band"].(map[string]any)
	require.Equal(t, "registered_letter", oob["channel"])
	require.Equal(t, "2026-04-08", oob["delivered_on"])
	require.Equal(t, "RR 1234 5678 NL", oob["reference"])
	require.Equal(t, b.keyIDs[credential{"dpo", verwerker.PlatformDomain}], oob["recorded_by"])
	// Told on 8 April (Amsterdam): 30 days end on Friday 8 May; the window
	// ends at midnight, and the change takes effect then.
	ams, _ := time.LoadLocation("Europe/Amsterdam")
	require.Equal(t, time.Date(2026, time.April, 8, 0, 0, 0, 0, ams).UTC(), instant(t, r.json["notified_at"]))
	window := instant(t, r.json["window_ends_at"])
	require.Equal(t, time.Date(2026, time.May, 9, 0, 0, 0, 0, ams).UTC(), window)
	require.Equal(t, window, instant(t, r.json["effective_at"]))
	r = b.do(t, http.MethodPost, record, dpo, map[string]any{"channel": "registered_letter", "delivered_on": "2026-04-08"})
	require.Equal(t, http.StatusConflict, r.status, "delivered once")

	events = b.auditEvents(t, A, changeID)
	require.Len(t, events["subprocessor.notice.out_of_band"], 1)
	require.Contains(t, events["subprocessor.notice.out_of_band"][0].Reason, "channel=registered_letter delivered_on=2026-04-08")
	require.NotContains(t, events["subprocessor.notice.out_of_band"][0].Reason, "RR 1234")
	alarms = b.alarms(t)
	require.Empty(t, alarms["subprocessor_notice_undelivered"], "the alarm ends")
	require.Len(t, alarms["email_not_configured"], 1, "the relay is still missing")
	require.Equal(t, 0.0, b.undeliveredGauge(t))

	// The change takes effect when the window counted from the letter
	// ends, and not a second before.
	b.clock.Set(window.Add(-time.Second))
	applied, err = b.subs.ApplyDue(ctx)
	require.NoError(t, err)
	require.Zero(t, applied)
	b.clock.Set(window)
	applied, err = b.subs.ApplyDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, applied)
	require.Equal(t, []string{"hosting-eu", "llm-eu"}, b.effective(t, A))
}

// switchable is a webhook endpoint that answers 500 until it is switched
// on, then hands the request to its receiver.
type switchable struct {
	on atomic.Bool
	h  *hookReceiver
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.on.Load() {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	s.h.ServeHTTP(w, r)
}

// TestSubprocessorNoticeWindowStartsAtDelivery: the customer's endpoint
// fails every attempt, so the notice is undelivered (webhook failing) until
// the endpoint is fixed and the DPO sends the dead letter again a week
// later; the objection window counts from that delivery, not from the
// announcement.
func TestSubprocessorNoticeWindowStartsAtDelivery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	notifytest.Start(t, b.db, b.outbox) // webhooks only: no e-mail relay
	A := b.tenantA.ID
	b.activeDPA(t, A, 30, "dpo@a.example")
	b.registerLLM(t)
	dpo := b.token(t, "dpo", verwerker.PlatformDomain)
	ep := &switchable{h: newHookReceiver(t)}
	srv := httptest.NewServer(ep)
	t.Cleanup(srv.Close)
	r := b.do(t, http.MethodPut, "/v1/tenants/"+A+"/webhook", b.token(t, "controller_admin", A), map[string]any{"url": srv.URL + "/hooks"})
	require.Equal(t, http.StatusOK, r.status, r.raw)
	ep.h.secret = r.json["secret"].(string)

	changeID, r := b.proposeLLM(t, "2026-03-05")
	n := r.json["notices"].([]any)[0].(map[string]any)
	require.Equal(t, "sending", delivery(n)["state"])
	require.Equal(t, [2]string{"sending", ""}, channels(n)["webhook"])

	// Every attempt fails: undelivered from the first failure, with the
	// cause; the attempts run out (a dead letter).
	waitFor(t, "the webhook's attempts to run out", func() bool {
		return channels(b.notice(t, changeID, A))["webhook"][0] == "failed"
	})
	n = b.notice(t, changeID, A)
	require.Equal(t, "undelivered", delivery(n)["state"])
	require.Equal(t, map[string][2]string{"webhook": {"failed", "http_500"}, "email": {"not_configured", "smtp_not_configured"}}, channels(n))
	require.Nil(t, n["window_ends_at"])
	alarms := b.alarms(t)
	require.Len(t, alarms["subprocessor_notice_undelivered"], 1)
	require.Contains(t, alarms["subprocessor_notice_undelivered"][0]["message"], "webhook failed (http_500)")
	require.Len(t, b.auditEvents(t, A, changeID)["subprocessor.notice.undelivered"], 1, "one alarm, not one per attempt")
	require.Equal(t, 1.0, b.undeliveredGauge(t))

	// A week later the customer fixed its endpoint and the DPO sends the
	// notice again: delivered on Monday 9 March, 11:00 in Amsterdam.
	delivered := time.Date(2026, time.March, 9, 10, 0, 0, 0, time.UTC)
	b.clock.Set(delivered)
	ep.on.Store(true)
	var messageID string
	for _, c := range delivery(n)["channels"].([]any) {
		if c := c.(map[string]any); c["channel"] == "webhook" {
			messageID = c["message_id"].(string)
		}
	}
	r = b.do(t, http.MethodPost, "/v1/outbox/messages/"+messageID+"/retry", dpo, nil)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	waitFor(t, "the notice delivered", func() bool { return delivery(b.notice(t, changeID, A))["state"] == "delivered" })
	n = b.notice(t, changeID, A)
	require.Equal(t, "webhook", delivery(n)["via"])
	require.Equal(t, delivered, instant(t, n["notified_at"]))
	// 30 days from Monday 9 March end on Wednesday 8 April, at midnight in
	// Amsterdam; counted from the announcement they would have ended on 2
	// April.
	ams, _ := time.LoadLocation("Europe/Amsterdam")
	window := instant(t, n["window_ends_at"])
	require.Equal(t, time.Date(2026, time.April, 9, 0, 0, 0, 0, ams).UTC(), window)
	require.Equal(t, window, instant(t, n["effective_at"]))
	require.Len(t, ep.h.deliveries(), 1)
	require.Equal(t, "on_delivery", ep.h.deliveries()[0].Data["window_starts"])
	require.Empty(t, b.alarms(t)["subprocessor_notice_undelivered"])
	require.Equal(t, 0.0, b.undeliveredGauge(t))
	events := b.auditEvents(t, A, changeID)
	require.Len(t, events["subprocessor.notice.delivered"], 1)
	require.Contains(t, events["subprocessor.notice.delivered"][0].Reason, "via=webhook")

	// The customer may object until the window counted from delivery ends.
	b.clock.Set(window.Add(-time.Second))
	applied, err := b.subs.ApplyDue(context.Background())
	require.NoError(t, err)
	require.Zero(t, applied)
	r = b.do(t, http.MethodPost, "/v1/tenants/"+A+"/subprocessor-changes/"+changeID+"/objection", b.token(t, "controller_admin", A),
		map[string]any{"reason": "Told late; we need time."})
	require.Equal(t, http.StatusOK, r.status, r.raw)
}

// TestSubprocessorWindowInCustomersCalendar: the objection window and the
// effective date are counted in each customer's calendar, as the API says.
// Delivered at 23:30 UTC on Monday 2 March 2026, the notice reached the
// Amsterdam customer on Tuesday 3 March, the New York customer on Monday 2
// March and the Tokyo customer on Tuesday 3 March; each window ends at
// midnight in the customer's own time zone.
func TestSubprocessorWindowInCustomersCalendar(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.withNotices(t) // e-mail over mailpit: delivered at once
	ctx := context.Background()
	at := time.Date(2026, time.March, 2, 23, 30, 0, 0, time.UTC)
	b.clock.Set(at)
	ny, err := b.tenants.Create(ctx, tenant.New{Name: "Tenant NY Inc.", Country: "US", ContactEmail: "privacy@ny.example", Timezone: "America/New_York"})
	require.NoError(t, err)
	tokyo, err := b.tenants.Create(ctx, tenant.New{Name: "Tenant Tokyo KK", Country: "JP", ContactEmail: "privacy@tokyo.example", Timezone: "Asia/Tokyo"})
	require.NoError(t, err)
	A := b.tenantA.ID
	for id, domain := range map[string]string{A: "a.example", ny.ID: "ny.example", tokyo.ID: "tokyo.example"} {
		b.activeDPA(t, id, 30, "dpo-"+strings.ToLower(id)+"@"+domain)
	}
	b.registerLLM(t)
	changeID, _ := b.proposeLLM(t, "2026-04-10")

	zone := func(name string) *time.Location {
		loc, err := time.LoadLocation(name)
		require.NoError(t, err)
		return loc
	}
	want := map[string]struct{ window, effective time.Time }{
		// 3 March + 30 days: Thursday 2 April.
		A: {time.Date(2026, time.April, 3, 0, 0, 0, 0, zone("Europe/Amsterdam")), time.Date(2026, time.April, 10, 0, 0, 0, 0, zone("Europe/Amsterdam"))},
		// 2 March + 30 days: Wednesday 1 April.
		ny.ID: {time.Date(2026, time.April, 2, 0, 0, 0, 0, zone("America/New_York")), time.Date(2026, time.April, 10, 0, 0, 0, 0, zone("America/New_York"))},
		// 3 March + 30 days: Thursday 2 April.
		tokyo.ID: {time.Date(2026, time.April, 3, 0, 0, 0, 0, zone("Asia/Tokyo")), time.Date(2026, time.April, 10, 0, 0, 0, 0, zone("Asia/Tokyo"))},
	}
	for id, w := range want {
		var n map[string]any
		waitFor(t, "the notice to "+id, func() bool { n = b.notice(t, changeID, id); return n["window_ends_at"] != nil })
		require.Equal(t, at, instant(t, n["notified_at"]), id)
		require.Equal(t, w.window.UTC(), instant(t, n["window_ends_at"]), "window of %s", id)
		require.Equal(t, w.effective.UTC(), instant(t, n["effective_at"]), "effective_on in the calendar of %s", id)
	}

	// The New York customer may no longer object at midnight in New York,
	// while Amsterdam's window is still open.
	b.clock.Set(want[ny.ID].window)
	r := b.do(t, http.MethodPost, "/v1/tenants/"+ny.ID+"/subprocessor-changes/"+changeID+"/objection", b.issue(t, "controller_admin", ny.ID),
		map[string]any{"reason": "Late."})
	require.Equal(t, http.StatusConflict, r.status, r.raw)
	r = b.do(t, http.MethodPost, "/v1/tenants/"+A+"/subprocessor-changes/"+changeID+"/objection", b.token(t, "controller_admin", A),
		map[string]any{"reason": "In time."})
	require.Equal(t, http.StatusOK, r.status, r.raw)
}

// TestDevMailbox: in development, without a relay, e-mail is kept in a
// local mailbox the developer reads through the API; the notice counts as
// delivered by e-mail. A server without a mailbox has no such operation.
func TestDevMailbox(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin := b.admin(t)
	r := b.do(t, http.MethodGet, "/v1/dev/mailbox", admin, nil)
	require.Equal(t, http.StatusNotFound, r.status, "only in dev")

	a := b.newApp(t, app.Config{DevMailbox: filepath.Join(t.TempDir(), "mailbox")})
	notifytest.Start(t, b.db, a.Outbox)
	b.serve(t, a)

	A := b.tenantA.ID
	b.activeDPA(t, A, 30, "dpo@a.example")
	b.registerLLM(t)
	changeID, _ := b.proposeLLM(t, "2026-03-05")
	waitFor(t, "the notice delivered", func() bool { return delivery(b.notice(t, changeID, A))["state"] == "delivered" })
	require.Equal(t, "email", delivery(b.notice(t, changeID, A))["via"])

	r = b.do(t, http.MethodGet, "/v1/dev/mailbox", admin, nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, b.mailbox.Dir(), r.json["dir"])
	items := r.json["items"].([]any)
	require.Len(t, items, 1)
	m := items[0].(map[string]any)
	require.Contains(t, m["subject"], changeID)
	require.ElementsMatch(t, []any{"dpo@a.example", "breach@a.example"}, m["to"])
	require.Contains(t, m["body"], "bezwaar")
	require.Contains(t, m["body"], "Mistral AI SAS")
	r = b.do(t, http.MethodGet, "/v1/dev/mailbox", b.token(t, "controller_admin", A), nil)
	require.Equal(t, http.StatusForbidden, r.status, r.raw)
	require.Empty(t, b.alarms(t)["email_not_configured"], "mail is kept, not lost")
}

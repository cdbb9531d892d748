package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/app"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/dpa/dpatest"
	"github.com/verwerker/verwerker/notify/notifytest"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/subprocessor"
)

// withNotices gives the bundle a real outbox: e-mail over the test SMTP
// server (mailpit) and webhooks delivered by River workers, and serves the
// API on it. It returns the mailpit API URL.
func (b *testBundle) withNotices(t *testing.T) string {
	t.Helper()
	smtpURL, mailpit := os.Getenv("VERWERKER_TEST_SMTP_URL"), os.Getenv("VERWERKER_TEST_MAILPIT_URL")
	if smtpURL == "" || mailpit == "" {
		t.Fatal("set VERWERKER_TEST_SMTP_URL and VERWERKER_TEST_MAILPIT_URL to a running mailpit (run `make test`, which starts one)")
	}
	a := b.newApp(t, app.Config{SMTPURL: smtpURL, MailFrom: "verwerker@verwerker.example"})
	notifytest.Start(t, b.db, a.Outbox)
	b.serve(t, a)
	return mailpit
}

// activeDPA gives the tenant an active agreement for chat data in the EEA
// with the given objection window, authorising hosting-eu.
func (b *testBundle) activeDPA(t *testing.T, tenantID string, windowDays int, dpoEmail string) dpa.Version {
	t.Helper()
	return dpatest.Activate(t, b.dpa, tenantID, dpa.Scope{
		Categories:          []dpa.CategoryScope{{ID: "chat.message", Retention: dpa.Retention30DaysAfterLastInteraction}},
		Purposes:            []string{"service.delivery"},
		Subprocessors:       []string{"hosting-eu"},
		ObjectionWindowDays: windowDays,
		BreachContact:       dpa.Contact{Email: "breach@" + strings.Split(dpoEmail, "@")[1]},
		DPOContact:          dpa.Contact{Email: dpoEmail},
	})
}

// hookReceiver is a customer's webhook endpoint. It verifies every request
// per Standard Webhooks with its own code (HMAC-SHA256 over
// id.timestamp.body with the secret it was given) and records what it
// verified.
type hookReceiver struct {
	t      *testing.T
	mu     sync.Mutex
	secret string
	got    []hookDelivery
	srv    *httptest.Server
}

type hookDelivery struct {
	ID, Type string
	Data     map[string]any
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{t: t}
	h.srv = httptest.NewServer(h)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h.secret, "whsec_"))
	if err != nil || len(key) == 0 {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	ok := false
	for _, sig := range strings.Fields(r.Header.Get("webhook-signature")) {
		ok = ok || hmac.Equal([]byte(sig), []byte(want))
	}
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var env struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.got = append(h.got, hookDelivery{ID: r.Header.Get("webhook-id"), Type: env.Type, Data: env.Data})
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookReceiver) deliveries() []hookDelivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookDelivery(nil), h.got...)
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "timed out waiting for %s", what)
		time.Sleep(25 * time.Millisecond)
	}
}

// mails returns the subjects of the e-mails mailpit received for to whose
// subject contains changeID.
func mails(t *testing.T, mailpit, to, changeID string) []string {
	t.Helper()
	resp, err := http.Get(mailpit + "/api/v1/search?query=" + url.QueryEscape("to:"+to+" subject:"+changeID))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var list struct {
		Messages []struct {
			Subject string
			To      []struct{ Address string }
		} `json:"messages"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	var out []string
	for _, m := range list.Messages {
		for _, a := range m.To {
			if a.Address == to && strings.Contains(m.Subject, changeID) {
				out = append(out, m.Subject)
			}
		}
	}
	return out
}

func (b *testBundle) effective(t *testing.T, tenantID string) []string {
	t.Helper()
	var ids []string
	err := b.db.InTenantTx(context.Background(), tenantID, func(tx pgx.Tx) error {
		var err error
		ids, err = subprocessor.Effective(context.Background(), tx, tenantID)
		return err
	})
	require.NoError(t, err)
	return ids
}

func (b *testBundle) blocks(t *testing.T, tenantID string) []subprocessor.Block {
	t.Helper()
	var out []subprocessor.Block
	err := b.db.InTenantTx(context.Background(), tenantID, func(tx pgx.Tx) error {
		var err error
		out, err = subprocessor.Blocks(context.Background(), tx, tenantID)
		return err
	})
	require.NoError(t, err)
	return out
}

func (b *testBundle) decisionState(t *testing.T, tenantID string) int64 {
	t.Helper()
	v, err := store.DecisionStateVersion(context.Background(), b.db.Pool, tenantID)
	require.NoError(t, err)
	return v
}

// TestSubprocessorChangeEndToEnd: two customers with different objection
// windows are told of a new subprocessor by signed webhook and by e-mail;
// one objects. The change takes effect for the other when its window has
// ended and not a moment before, while the objector's processing through
// the subprocessor is blocked until the DPO resolves the objection. Every
// notice is sent once.
func TestSubprocessorChangeEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mailpit := b.withNotices(t)
	ctx := context.Background()
	A, B := b.tenantA.ID, b.tenantB.ID
	dpoA, dpoB := "dpo-"+strings.ToLower(A)+"@a.example", "dpo-"+strings.ToLower(B)+"@b.example"
	b.activeDPA(t, A, 30, dpoA)
	b.activeDPA(t, B, 45, dpoB)
	require.Equal(t, []string{"hosting-eu"}, b.effective(t, A), "activation sets the effective list")

	// Each customer registers its webhook endpoint and keeps the secret.
	hooks := map[string]*hookReceiver{}
	for _, tenantID := range []string{A, B} {
		h := newHookReceiver(t)
		r := b.do(t, http.MethodPut, "/v1/tenants/"+tenantID+"/webhook", b.token(t, "controller_admin", tenantID), map[string]any{"url": h.srv.URL + "/verwerker"})
		require.Equal(t, http.StatusOK, r.status, r.raw)
		h.secret = r.json["secret"].(string)
		require.True(t, strings.HasPrefix(h.secret, "whsec_"))
		r = b.do(t, http.MethodGet, "/v1/tenants/"+tenantID+"/webhook", b.token(t, "controller_admin", tenantID), nil)
		require.Equal(t, http.StatusOK, r.status, r.raw)
		require.NotContains(t, r.raw, "whsec_", "the secret is shown once")
		hooks[tenantID] = h
	}

	dpo := b.token(t, "dpo", verwerker.PlatformDomain)
	r := b.do(t, http.MethodPost, "/v1/subprocessors", dpo, map[string]any{
		"id": "llm-eu", "name": "Mistral AI SAS", "service": "Language model that drafts chat answers",
		"locations": []string{"fr"}, "transfer_mechanism": "none", "categories": []string{"chat.message"}, "contract_date": "2026-02-01"})
	require.Equal(t, http.StatusCreated, r.status, r.raw)

	// The DPO announces the change, effective in ten days at the earliest.
	r = b.do(t, http.MethodPost, "/v1/subprocessor-changes", dpo, map[string]any{
		"kind": "add", "subprocessor": "llm-eu", "effective_on": "2026-03-12", "description": "Better answers in French and Dutch."})
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	change := r.json["change"].(map[string]any)
	changeID := change["id"].(string)
	notices := r.json["notices"].([]any)
	require.Len(t, notices, 2, "both customers process chat messages")
	for _, n := range notices {
		n := n.(map[string]any)
		require.Equal(t, "sending", n["delivery"].(map[string]any)["state"], "told only when delivered")
		require.Nil(t, n["window_ends_at"], "no window before the notice is delivered")
	}

	// Both customers get a signed webhook and an e-mail, once.
	for tenantID, to := range map[string]string{A: dpoA, B: dpoB} {
		h := hooks[tenantID]
		waitFor(t, "webhook to "+tenantID, func() bool { return len(h.deliveries()) > 0 })
		waitFor(t, "e-mail to "+tenantID, func() bool { return len(mails(t, mailpit, to, changeID)) > 0 })
		got := h.deliveries()[0]
		require.Equal(t, subprocessor.EventChangeAnnounced, got.Type)
		require.Equal(t, changeID, got.Data["change_id"])
		require.Equal(t, "llm-eu", got.Data["subprocessor"].(map[string]any)["id"])
	}

	// Delivered, the windows start: the DPO sees each customer's.
	window := map[string]time.Time{}
	effective := map[string]time.Time{}
	waitFor(t, "both notices delivered", func() bool {
		r = b.do(t, http.MethodGet, "/v1/subprocessor-changes/"+changeID, dpo, nil)
		require.Equal(t, http.StatusOK, r.status, r.raw)
		for _, n := range r.json["notices"].([]any) {
			if n.(map[string]any)["delivery"].(map[string]any)["state"] != "delivered" {
				return false
			}
		}
		return true
	})
	for _, n := range r.json["notices"].([]any) {
		n := n.(map[string]any)
		tenantID := n["tenant_id"].(string)
		window[tenantID], _ = time.Parse(time.RFC3339, n["window_ends_at"].(string))
		effective[tenantID], _ = time.Parse(time.RFC3339, n["effective_at"].(string))
		require.False(t, effective[tenantID].Before(window[tenantID]), "never effective before the window ends")
	}
	// Delivered Monday 2 March 2026 (Amsterdam, Berlin): 30 days end on
	// Wednesday 1 April, 45 days on Thursday 16 April; the windows end at
	// midnight.
	ams, _ := time.LoadLocation("Europe/Amsterdam")
	require.Equal(t, time.Date(2026, time.April, 2, 0, 0, 0, 0, ams).UTC(), window[A].UTC())
	require.Equal(t, time.Date(2026, time.April, 17, 0, 0, 0, 0, ams).UTC(), window[B].UTC())
	require.Equal(t, window[A], effective[A], "the effective date is earlier than the window")

	// B objects, with a reason; A's viewer may not object; B cannot object twice.
	reason := "Our works council has not approved AI processing of chats."
	objection := "/v1/tenants/" + B + "/subprocessor-changes/" + changeID + "/objection"
	r = b.do(t, http.MethodPost, objection, b.token(t, "controller_viewer", B), map[string]any{"reason": reason})
	require.Equal(t, http.StatusForbidden, r.status, r.raw)
	r = b.do(t, http.MethodPost, objection, b.token(t, "controller_admin", B), map[string]any{"reason": ""})
	require.Equal(t, http.StatusUnprocessableEntity, r.status, r.raw)
	require.Contains(t, r.raw, "body.reason")
	stateB := b.decisionState(t, B)
	r = b.do(t, http.MethodPost, objection, b.token(t, "controller_admin", B), map[string]any{"reason": reason})
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "objected", r.json["status"])
	r = b.do(t, http.MethodPost, objection, b.token(t, "controller_admin", B), map[string]any{"reason": reason})
	require.Equal(t, http.StatusConflict, r.status, r.raw)
	require.Greater(t, b.decisionState(t, B), stateB, "an objection changes what decisions read")
	r = b.do(t, http.MethodPost, "/v1/tenants/"+A+"/subprocessor-changes/"+changeID+"/objection", b.token(t, "controller_admin", B), map[string]any{"reason": reason})
	require.Equal(t, http.StatusNotFound, r.status, "another tenant's change is hidden")

	// The objection blocks B's chat messages through llm-eu, and only B's.
	blocks := b.blocks(t, B)
	require.Len(t, blocks, 1)
	require.Equal(t, "llm-eu", blocks[0].Subprocessor)
	require.True(t, blocks[0].Covers("chat.message", "fr"))
	require.True(t, blocks[0].Covers("chat.message", "eea"))
	require.False(t, blocks[0].Covers("contact.email", "fr"))
	require.Empty(t, b.blocks(t, A))
	r = b.do(t, http.MethodGet, "/v1/tenants/"+B+"/subprocessor-blocks", b.token(t, "controller_viewer", B), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Len(t, r.json["items"], 1)

	// The decision engine enforces it at once: B's chat messages may not go
	// through llm-eu's route; A's may.
	ask := func(tenantID string) map[string]any {
		r := b.do(t, http.MethodPost, "/v1/decisions", b.token(t, "chat_service", tenantID), map[string]any{
			"tenant_id": tenantID, "category": "chat.message", "purpose": "service.delivery", "region": "fr"})
		require.Equal(t, http.StatusOK, r.status, r.raw)
		return r.json
	}
	got := ask(B)
	require.Equal(t, false, got["allow"], got)
	require.Contains(t, fmt.Sprint(got["reasons"]), "subprocessor_objection")
	require.Contains(t, fmt.Sprint(got["reasons"]), changeID)
	require.Equal(t, true, ask(A)["allow"])

	// The DPO sees the objection and its reason.
	r = b.do(t, http.MethodGet, "/v1/subprocessor-objections", dpo, nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Len(t, r.json["items"], 1)
	require.Equal(t, reason, r.json["items"].([]any)[0].(map[string]any)["objection_reason"])

	// One second before A's window ends nothing has changed for anyone.
	b.clock.Set(window[A].Add(-time.Second))
	n, err := b.subs.ApplyDue(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, []string{"hosting-eu"}, b.effective(t, A))
	// A's window is still open: A could still object.
	r = b.do(t, http.MethodGet, "/v1/tenants/"+A+"/subprocessors", b.token(t, "controller_viewer", A), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "pending", r.json["changes"].([]any)[0].(map[string]any)["notice"].(map[string]any)["status"])

	// When it has ended, A can no longer object, and the change takes
	// effect for A, not for B.
	b.clock.Set(window[A])
	r = b.do(t, http.MethodPost, "/v1/tenants/"+A+"/subprocessor-changes/"+changeID+"/objection", b.token(t, "controller_admin", A), map[string]any{"reason": "late"})
	require.Equal(t, http.StatusConflict, r.status, r.raw)
	require.Contains(t, r.raw, "window ended")
	stateA := b.decisionState(t, A)
	n, err = b.subs.ApplyDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []string{"hosting-eu", "llm-eu"}, b.effective(t, A))
	require.Equal(t, []string{"hosting-eu"}, b.effective(t, B))
	require.Greater(t, b.decisionState(t, A), stateA)
	r = b.do(t, http.MethodPost, "/v1/tenants/"+A+"/subprocessor-changes/"+changeID+"/objection", b.token(t, "controller_admin", A), map[string]any{"reason": "too late"})
	require.Equal(t, http.StatusConflict, r.status, "the change is effective for A")

	// Long after B's window, the objection still holds.
	b.clock.Set(window[B].Add(30 * 24 * time.Hour))
	n, err = b.subs.ApplyDue(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, []string{"hosting-eu"}, b.effective(t, B))
	require.Len(t, b.blocks(t, B), 1)

	// The DPO resolves it: the change does not apply to B; the block lifts.
	resolve := "/v1/subprocessor-changes/" + changeID + "/objections/" + B + "/resolve"
	r = b.do(t, http.MethodPost, resolve, b.token(t, "controller_admin", B), map[string]any{"resolution": "change_not_applied"})
	require.Equal(t, http.StatusForbidden, r.status, "only the processor resolves")
	r = b.do(t, http.MethodPost, resolve, dpo, map[string]any{"resolution": "maybe"})
	require.Equal(t, http.StatusUnprocessableEntity, r.status, r.raw)
	r = b.do(t, http.MethodPost, resolve, dpo, map[string]any{"resolution": "change_not_applied", "note": "B keeps answers without the model."})
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "not_applied", r.json["status"])
	require.Empty(t, b.blocks(t, B))
	require.Equal(t, []string{"hosting-eu"}, b.effective(t, B))
	require.Equal(t, true, ask(B)["allow"], "the block is lifted for decisions too")
	n, err = b.subs.ApplyDue(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	// Nothing was sent twice, and the audit trail names the objection
	// without its text.
	time.Sleep(300 * time.Millisecond)
	for tenantID, to := range map[string]string{A: dpoA, B: dpoB} {
		require.Len(t, hooks[tenantID].deliveries(), 1, tenantID)
		require.Len(t, mails(t, mailpit, to, changeID), 1, tenantID)
	}
	events, err := b.audit.Events(ctx, B, 0, 1000)
	require.NoError(t, err)
	actions := map[string]bool{}
	for _, e := range events {
		actions[e.Action] = true
		require.NotContains(t, e.Reason, "works council")
	}
	require.True(t, actions["subprocessor.change.notify"] && actions["subprocessor.change.object"] && actions["subprocessor.change.resolve"], actions)

	// The public page, JSON and feed of A show the change as effective.
	pageA, pageB := b.publicPage(t, A), b.publicPage(t, B)
	r = b.do(t, http.MethodGet, pageA+"?lang=en", "", nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Contains(t, r.header.Get("Content-Type"), "text/html")
	require.Contains(t, r.raw, "Mistral AI SAS")
	require.Contains(t, r.raw, "Hetzner Online GmbH")
	require.NotContains(t, r.raw, "works council")
	r = b.do(t, http.MethodGet, pageB+".json", "", nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.NotContains(t, r.raw, "works council", "objections are not public")
	require.NotContains(t, r.raw, "objected")
	require.Len(t, r.json["current"], 1)
	r = b.do(t, http.MethodGet, pageA+".atom", "", nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Contains(t, r.header.Get("Content-Type"), "application/atom+xml")
	var feed struct {
		XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
		Entries []struct {
			ID      string `xml:"id"`
			Title   string `xml:"title"`
			Summary string `xml:"summary"`
		} `xml:"entry"`
	}
	require.NoError(t, xml.Unmarshal([]byte(r.raw), &feed))
	require.Len(t, feed.Entries, 1)
	require.Contains(t, feed.Entries[0].ID, changeID)
	require.Contains(t, feed.Entries[0].Summary, "effective")
}

// TestSubprocessorChangeTakesEffectAfterWithdrawnObjection: when the
// objection is withdrawn after the effective time, the change applies at
// once; a change withdrawn by the company lifts every block.
func TestSubprocessorObjectionWithdrawnAndChangeWithdrawn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A, B := b.tenantA.ID, b.tenantB.ID
	b.activeDPA(t, A, 14, "dpo@a.example")
	b.activeDPA(t, B, 14, "dpo@b.example")
	dpo := b.token(t, "dpo", verwerker.PlatformDomain)

	r := b.do(t, http.MethodPost, "/v1/subprocessor-changes", dpo, map[string]any{
		"kind": "replace", "subprocessor": "mail-eu", "replaces": "hosting-eu", "effective_on": "2026-03-03", "description": "Move."})
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	first := r.json["change"].(map[string]any)["id"].(string)
	// No channel here: the DPO tells both customers by letter.
	for _, tenantID := range []string{A, B} {
		r = b.do(t, http.MethodPost, "/v1/subprocessor-changes/"+first+"/notices/"+tenantID+"/delivery", dpo,
			map[string]any{"channel": "registered_letter", "delivered_on": "2026-03-02"})
		require.Equal(t, http.StatusOK, r.status, r.raw)
	}
	for _, tenantID := range []string{A, B} {
		r = b.do(t, http.MethodPost, "/v1/tenants/"+tenantID+"/subprocessor-changes/"+first+"/objection", b.token(t, "controller_admin", tenantID), map[string]any{"reason": "No."})
		require.Equal(t, http.StatusOK, r.status, r.raw)
	}
	b.clock.Advance(20 * 24 * time.Hour)
	r = b.do(t, http.MethodPost, "/v1/subprocessor-changes/"+first+"/objections/"+A+"/resolve", dpo, map[string]any{"resolution": "objection_withdrawn"})
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "effective", r.json["status"], "past its effective time, the change applies at once")
	require.Equal(t, []string{"mail-eu"}, b.effective(t, A), "replaced")

	r = b.do(t, http.MethodPost, "/v1/subprocessor-changes/"+first+"/withdraw", dpo, map[string]any{})
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Empty(t, b.blocks(t, B), "withdrawing the change lifts B's block")
	require.Equal(t, []string{"hosting-eu"}, b.effective(t, B))
	for _, n := range r.json["notices"].([]any) {
		n := n.(map[string]any)
		want := map[string]string{A: "effective", B: "withdrawn"}[n["tenant_id"].(string)]
		require.Equal(t, want, n["status"])
	}
	r = b.do(t, http.MethodPost, "/v1/subprocessor-changes/"+first+"/withdraw", dpo, map[string]any{})
	require.Equal(t, http.StatusConflict, r.status, r.raw)
}

func TestSubprocessorBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dpo := b.token(t, "dpo", verwerker.PlatformDomain)
	for _, tc := range []struct {
		name   string
		body   map[string]any
		fields []string
	}{
		{"unknown region and category", map[string]any{"id": "x-1", "name": "X", "service": "Y", "locations": []string{"mars"},
			"transfer_mechanism": "none", "categories": []string{"chat.gossip"}, "contract_date": "2026-01-01"},
			[]string{"body.locations[0]", "body.categories[0]"}},
		{"outside the EEA without a transfer mechanism", map[string]any{"id": "x-2", "name": "X", "service": "Y", "locations": []string{"us"},
			"transfer_mechanism": "none", "categories": []string{"chat.message"}, "contract_date": "2026-01-01"},
			[]string{"body.transfer_mechanism"}},
		{"adequacy where there is none", map[string]any{"id": "x-3", "name": "X", "service": "Y", "locations": []string{"in"},
			"transfer_mechanism": "adequacy", "categories": []string{"chat.message"}, "contract_date": "2026-01-01"},
			[]string{"body.transfer_mechanism"}},
		{"bad id and date", map[string]any{"id": "Not An Id", "name": "X", "service": "Y", "locations": []string{"nl"},
			"transfer_mechanism": "none", "categories": []string{"chat.message"}, "contract_date": "01-01-2026"},
			[]string{"body.id", "body.contract_date"}},
	} {
		r := b.do(t, http.MethodPost, "/v1/subprocessors", dpo, tc.body)
		require.Equal(t, http.StatusUnprocessableEntity, r.status, tc.name+": "+r.raw)
		for _, f := range tc.fields {
			require.Contains(t, r.raw, `"`+f+`"`, tc.name)
		}
		require.NotContains(t, r.raw, "mars")
		requireNoLeak(t, r.raw)
	}
	r := b.do(t, http.MethodPost, "/v1/subprocessors", dpo, map[string]any{"id": "hosting-eu", "name": "X", "service": "Y", "locations": []string{"nl"},
		"transfer_mechanism": "none", "categories": []string{"chat.message"}, "contract_date": "2026-01-01"})
	require.Equal(t, http.StatusConflict, r.status, r.raw)

	for _, tc := range []struct {
		body   map[string]any
		fields []string
	}{
		{map[string]any{"kind": "swap", "effective_on": "2026-04-01", "description": "x"}, []string{"body.kind"}},
		{map[string]any{"kind": "add", "effective_on": "soon", "description": "x"}, []string{"body.subprocessor", "body.effective_on"}},
		{map[string]any{"kind": "replace", "subprocessor": "mail-eu", "effective_on": "2026-04-01", "description": ""}, []string{"body.replaces", "body.description"}},
		{map[string]any{"kind": "add", "subprocessor": "nobody", "effective_on": "2026-04-01", "description": "x"}, []string{"body.subprocessor"}},
	} {
		r := b.do(t, http.MethodPost, "/v1/subprocessor-changes", dpo, tc.body)
		require.Equal(t, http.StatusUnprocessableEntity, r.status, r.raw)
		for _, f := range tc.fields {
			require.Contains(t, r.raw, `"`+f+`"`)
		}
	}

	// An agreement may only authorise registered subprocessors.
	scope := dpaScopeJSON()
	scope["subprocessors"] = []string{"hosting-eu", "ghost-co"}
	r = b.do(t, http.MethodPost, "/v1/tenants/"+b.tenantA.ID+"/dpa/versions", b.admin(t), map[string]any{"scope": scope})
	require.Equal(t, http.StatusUnprocessableEntity, r.status, r.raw)
	require.Contains(t, r.raw, `"body.scope.subprocessors[1]"`)
	require.NotContains(t, r.raw, "ghost-co")

	// Webhook endpoints must be https on a public host unless private
	// networks are allowed (the test server allows them; the rule is
	// tested in package notify); malformed URLs are refused either way.
	r = b.do(t, http.MethodPut, "/v1/tenants/"+b.tenantA.ID+"/webhook", b.token(t, "controller_admin", b.tenantA.ID), map[string]any{"url": "ftp://x"})
	require.Equal(t, http.StatusUnprocessableEntity, r.status, r.raw)
	require.Contains(t, r.raw, `"body.url"`)

	// Control characters (a NUL would break the database) are a 422.
	r = b.do(t, http.MethodPost, "/v1/tenants/"+b.tenantA.ID+"/subprocessor-changes/spc_01KJPWD6M2SCEZHYAQBMJ68TSM/objection",
		b.token(t, "controller_admin", b.tenantA.ID), map[string]any{"reason": "no\u0000way"})
	require.Equal(t, http.StatusUnprocessableEntity, r.status, r.raw)
	require.Contains(t, r.raw, `"body.reason"`)
	r = b.do(t, http.MethodPost, "/v1/subprocessor-changes", dpo, map[string]any{
		"kind": "add", "subprocessor": "mail-eu", "effective_on": "2026-04-01", "description": "bad\u0000text"})
	require.Equal(t, http.StatusUnprocessableEntity, r.status, r.raw)
	require.Contains(t, r.raw, `"body.description"`)

	// Unknown pages are not found.
	r = b.do(t, http.MethodGet, "/public/pages/aaaaaaaaaaaaaaaaaaaaaaaaaa/subprocessors", "", nil)
	require.Equal(t, http.StatusNotFound, r.status, r.raw)
}

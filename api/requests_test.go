package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/app"
	"github.com/verwerker/verwerker/dsr"
	vkeys "github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/keys/vaulttest"
	"github.com/verwerker/verwerker/notify/notifytest"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/tenant"
)

// withRequests gives the bundle a real outbox (mailpit SMTP, webhooks) and
// a River client that runs the outbox's and the requests' workers with
// quick retries. It returns the mailpit API URL.
func (b *testBundle) withRequests(t *testing.T) string {
	t.Helper()
	smtpURL, mailpit := os.Getenv("VERWERKER_TEST_SMTP_URL"), os.Getenv("VERWERKER_TEST_MAILPIT_URL")
	if smtpURL == "" || mailpit == "" {
		t.Fatal("set VERWERKER_TEST_SMTP_URL and VERWERKER_TEST_MAILPIT_URL to a running mailpit (run `make test`, which starts one)")
	}
	a := b.newApp(t, app.Config{SMTPURL: smtpURL, MailFrom: "verwerker@verwerker.example"})
	client, err := a.Jobs(app.JobsConfig{MaxWorkers: 4, RetryPolicy: notifytest.QuickRetry{},
		FetchCooldown: 10 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond, NoPeriodicJobs: true})
	require.NoError(t, err)
	require.NoError(t, client.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(ctx)
	})
	b.serve(t, a)
	return mailpit
}

// TestRequestDeadlines computes the statutory deadline of requests the
// controller received, through the API, by Regulation 1182/71: the day of
// receipt does not count; a month ends on the same date or the last day of
// a shorter month; a last day on a Saturday, Sunday, Dutch public holiday
// (movable feasts included) or a day designated by decree moves to the next
// working day; the day is taken in the customer's time zone.
func TestRequestDeadlines(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.withRequests(t)
	ny, err := b.tenants.Create(context.Background(), tenant.New{Name: "Tenant NY Inc.", Country: "US", ContactEmail: "privacy@ny.example", Timezone: "America/New_York"})
	require.NoError(t, err)
	b.clock.Set(time.Date(2028, time.December, 1, 0, 0, 0, 0, time.UTC))
	b.issue(t, policy.RoleControllerAdmin, ny.ID)
	b.issue(t, policy.RoleControllerAdmin, b.tenantA.ID)
	A := b.tenantA.ID

	cases := []struct {
		name, tenant, received, lastDay string
	}{
		{"plain month", A, "2026-03-10T10:00:00Z", "2026-04-10"},
		{"month end to a shorter month, then Saturday", A, "2026-01-31T10:00:00Z", "2026-03-02"},
		{"leap year: 29 February", A, "2028-01-31T10:00:00Z", "2028-02-29"},
		{"leap year 2024", A, "2024-01-31T10:00:00Z", "2024-02-29"},
		{"31 March to 30 April", A, "2026-03-31T08:00:00Z", "2026-04-30"},
		{"received on a Sunday", A, "2026-03-29T12:00:00Z", "2026-04-29"},
		{"ends on a Sunday", A, "2026-04-12T12:00:00Z", "2026-05-12"},
		{"ends on a Saturday", A, "2026-04-18T12:00:00Z", "2026-05-18"},
		{"late evening in Amsterdam is the next day", A, "2026-03-31T22:30:00Z", "2026-05-01"},
		{"the same instant in New York is still 31 March", ny.ID, "2026-03-31T22:30:00Z", "2026-04-30"},
		{"New Year", A, "2026-12-01T10:00:00Z", "2027-01-04"},
		{"Good Friday and Easter Monday", A, "2026-03-03T10:00:00Z", "2026-04-07"},
		{"Easter Monday", A, "2026-03-06T10:00:00Z", "2026-04-07"},
		{"King's Day", A, "2026-03-27T10:00:00Z", "2026-04-28"},
		{"King's Day on a Sunday moves to Saturday 26 April", A, "2025-03-26T10:00:00Z", "2025-04-28"},
		{"Liberation Day", A, "2026-04-05T10:00:00Z", "2026-05-06"},
		{"Ascension, then the decree day after it, then the weekend", A, "2026-04-14T10:00:00Z", "2026-05-18"},
		{"Whit Monday", A, "2026-04-25T10:00:00Z", "2026-05-26"},
		{"Christmas and Boxing Day and the weekend", A, "2026-11-25T10:00:00Z", "2026-12-28"},
		{"decree day 2 January 2026", A, "2025-12-02T10:00:00Z", "2026-01-05"},
		{"decree day 27 December 2024", A, "2024-11-27T10:00:00Z", "2024-12-30"},
		{"New York has no Dutch holidays' time zone but the same calendar", ny.ID, "2026-03-27T10:00:00Z", "2026-04-28"},
	}
	for _, c := range cases {
		res := b.do(t, http.MethodPost, "/v1/tenants/"+c.tenant+"/requests", b.token(t, policy.RoleControllerAdmin, c.tenant),
			map[string]any{"type": "access", "received_at": c.received})
		require.Equal(t, http.StatusCreated, res.status, "%s: %s", c.name, res.raw)
		require.Equal(t, c.lastDay, res.json["due_last_day"], c.name)
	}

	// Extension: by two months in total, with a reason; the day rules apply
	// to the extended period.
	admin := b.token(t, policy.RoleControllerAdmin, A)
	res := b.do(t, http.MethodPost, "/v1/tenants/"+A+"/requests", admin, map[string]any{"type": "erasure", "received_at": "2026-01-31T10:00:00Z"})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	id := res.json["id"].(string)
	path := "/v1/tenants/" + A + "/requests/" + id
	res = b.do(t, http.MethodPost, path+"/extension", admin, map[string]any{"months": 1, "reason": "many systems to search"})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, "2026-03-31", res.json["due_last_day"])
	res = b.do(t, http.MethodPost, path+"/extension", admin, map[string]any{"months": 2, "reason": "complex request"})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, "2026-04-30", res.json["due_last_day"])
	require.EqualValues(t, 2, res.json["extension_months"])
	res = b.do(t, http.MethodPost, path+"/extension", admin, map[string]any{"months": 3, "reason": "too long"})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
	res = b.do(t, http.MethodPost, path+"/extension", admin, map[string]any{"months": 2})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)

	// Pause and resume: the period runs as if received later by the paused
	// time (here three days and a bit), then the day rules apply again.
	b.clock.Set(time.Date(2026, time.March, 10, 12, 0, 0, 0, time.UTC))
	admin = b.issue(t, policy.RoleControllerAdmin, A)
	b.issue(t, policy.RoleControllerAdmin, b.tenantB.ID)
	b.issue(t, policy.RoleControllerViewer, A)
	res = b.do(t, http.MethodPost, "/v1/tenants/"+A+"/requests", admin, map[string]any{"type": "access", "received_at": "2026-03-10T10:00:00Z"})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	require.Equal(t, "2026-04-10", res.json["due_last_day"])
	path = "/v1/tenants/" + A + "/requests/" + res.json["id"].(string)
	res = b.do(t, http.MethodPost, path+"/pause", admin, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, "waiting_on_subject", res.json["state"])
	b.clock.Advance(3*24*time.Hour + 5*time.Hour)
	res = b.do(t, http.MethodPost, path+"/resume", admin, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.EqualValues(t, (3*24+5)*3600, res.json["paused_seconds"])
	require.Equal(t, "2026-04-13", res.json["due_last_day"], "10 March + 3 days 5 hours = 13 March 15:00; a month later is Monday 13 April")
	res = b.do(t, http.MethodPost, path+"/resume", admin, nil)
	require.Equal(t, http.StatusConflict, res.status, res.raw)

	// Bad input, and the tenant wall.
	for _, body := range []map[string]any{{"type": "forget-me"}, {"type": "access", "received_at": "2031-01-01T00:00:00Z"}, {"type": "access", "language": "de"}} {
		res = b.do(t, http.MethodPost, "/v1/tenants/"+A+"/requests", admin, body)
		require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
		requireNoLeak(t, res.raw)
	}
	res = b.do(t, http.MethodGet, path, b.token(t, policy.RoleControllerAdmin, b.tenantB.ID), nil)
	require.Equal(t, http.StatusNotFound, res.status, res.raw)
	res = b.do(t, http.MethodGet, "/v1/tenants/"+b.tenantB.ID+"/requests/"+strings.TrimPrefix(path, "/v1/tenants/"+A+"/requests/"), b.token(t, policy.RoleControllerAdmin, b.tenantB.ID), nil)
	require.Equal(t, http.StatusNotFound, res.status, res.raw)
	res = b.do(t, http.MethodPost, path+"/instructions", b.token(t, policy.RoleControllerViewer, A), map[string]any{"action": "reject", "reason": "x"})
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
}

// mailCode returns the verification code of the newest e-mail to to.
func mailCode(t *testing.T, mailpit, to string) string {
	t.Helper()
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(mailText(t, mailpit, "to:"+to))
	require.NotEmpty(t, code, "no code in the newest e-mail to the requester")
	return code
}

// TestRequestEndToEnd: on real Postgres, Vault (Transit) and SMTP
// (mailpit), a subject files an access request through the public page
// (form posts, as a browser without JavaScript sends them), verifies it
// with the code from the e-mail; the request is forwarded by e-mail and
// signed webhook; the requester's address is sealed with the tenant's
// Vault key and never in the clear in the database; the controller
// approves the export and its progress counts the records; the ZIP holds
// exactly that subject's records; the link expires. Then an erasure with a
// hold on invoices keeps the invoices and reports it.
func TestRequestEndToEnd(t *testing.T) {
	t.Parallel()
	if os.Getenv("VERWERKER_TEST_VAULT_ADDR") == "" {
		t.Fatal("set VERWERKER_TEST_VAULT_ADDR and VERWERKER_TEST_VAULT_TOKEN to a Vault dev server (run `make test`, which starts one)")
	}
	b := setupWith(t, vaulttest.Shared(t).Transit(t, vkeys.TransitOptions{}))
	mailpit := b.withRequests(t)
	A := b.tenantA.ID
	activeDPA(t, b, A)
	admin := b.token(t, policy.RoleControllerAdmin, A)
	hook := b.requestHook(t, A, admin)

	chat := b.token(t, policy.RoleChatService, A)
	write := func(ref, kind, category, purpose, text string) {
		res := b.do(t, http.MethodPost, "/v1/tenants/"+A+"/records", chat, map[string]any{"items": []any{map[string]any{"subject_ref": ref, "kind": kind,
			"category": category, "purpose": purpose, "region": "nl", "content": map[string]any{"text": text}}}})
		require.Equal(t, http.StatusCreated, res.status, res.raw)
	}
	for i := range 3 {
		write("visitor-e2e", "chat.message", "chat.message", "service.delivery", "mine "+string(rune('a'+i)))
	}
	write("visitor-e2e", "admin.invoice", "billing.invoice", "billing", "invoice 1")
	write("visitor-other", "chat.message", "chat.message", "service.delivery", "not mine")

	// The public page, in Dutch, with its form token.
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar}
	page := func(method, path string, form url.Values) (int, string) {
		var resp *http.Response
		var err error
		if method == http.MethodGet {
			resp, err = browser.Get(b.http.URL + path)
		} else {
			resp, err = browser.PostForm(b.http.URL+path, form)
		}
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	status, body := page(http.MethodGet, "/requests?lang=nl&customer="+A, nil)
	require.Equal(t, http.StatusOK, status, body)
	token := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(body)[1]
	email := "subject-" + strings.ToLower(A[len(A)-8:]) + "@example.org"
	status, body = page(http.MethodPost, "/requests", url.Values{"token": {token}, "lang": {"nl"}, "customer": {A}, "type": {"access"},
		"email": {email}, "subject_ref": {"visitor-e2e"}})
	require.Equal(t, http.StatusOK, status, body)
	vid := regexp.MustCompile(`name="verification_id" value="([^"]+)"`).FindStringSubmatch(body)[1]
	code := mailCode(t, mailpit, email)

	// Until verified, only the sealed submission exists: no address in the
	// clear.
	var raw []byte
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT contact FROM dsr_verifications WHERE id = $1`, vid).Scan(&raw))
	require.NotContains(t, string(raw), email)

	// A wrong code is refused without saying more.
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	status, body = page(http.MethodPost, "/requests/verify", url.Values{"token": {token}, "lang": {"nl"}, "verification_id": {vid}, "code": {wrong}})
	require.Equal(t, http.StatusUnprocessableEntity, status, body)
	status, body = page(http.MethodPost, "/requests/verify", url.Values{"token": {token}, "lang": {"nl"}, "verification_id": {vid}, "code": {code}})
	require.Equal(t, http.StatusOK, status, body)
	require.NotContains(t, body, "matched")
	id := regexp.MustCompile(`<strong>(dsr_[0-9A-Z]+)</strong>`).FindStringSubmatch(body)[1]
	path := "/v1/tenants/" + A + "/requests/" + id

	// Sealed with the tenant's key in Vault: the row has no address in the
	// clear, and the requester is still told (it is opened to send).
	tk, err := b.keyMgr.TenantKey(context.Background(), A)
	require.NoError(t, err)
	require.Equal(t, "vault-transit", tk.Keyring)
	var clearEmail string
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT email, contact FROM dsr_requests WHERE tenant_id = $1 AND id = $2`, A, id).Scan(&clearEmail, &raw))
	require.Empty(t, clearEmail)
	require.NotContains(t, string(raw), email)
	require.Contains(t, mailText(t, mailpit, "to:"+email+" "+id), id, "the requester is told the request was forwarded")
	// Forwarded by e-mail to the controller's privacy contact.
	require.Contains(t, mailText(t, mailpit, "to:privacy@a.example "+id), "Deadline:     2026-04-02")

	// Forwarded: the signed webhook carries the type, the subject's
	// pseudonymous id, the holdings (counts) and the deadline.
	waitFor(t, "the forwarding webhook", func() bool { return len(hook.deliveries()) > 0 })
	d := hook.deliveries()[0]
	require.Equal(t, dsr.EventForwarded, d.Type)
	require.Equal(t, id, d.Data["request_id"])
	require.Equal(t, true, d.Data["matched"])
	require.Equal(t, map[string]any{"chat.message": float64(3), "billing.invoice": float64(1)}, d.Data["holdings"])
	require.Equal(t, "2026-04-02", d.Data["due_last_day"])
	require.NotContains(t, string(mustJSON(t, d.Data)), email)
	var res response
	waitFor(t, "forwarded_at", func() bool {
		res = b.do(t, http.MethodGet, path, admin, nil)
		return res.json["state"] == "awaiting_instruction"
	})

	// The controller approves the export; the ZIP holds that subject only.
	res = b.do(t, http.MethodPost, path+"/instructions", admin, map[string]any{"action": "export"})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	waitFor(t, "the export", func() bool {
		res = b.do(t, http.MethodGet, path, admin, nil)
		return res.json["state"] == "completed"
	})
	require.EqualValues(t, 4, res.json["export_done"])
	require.EqualValues(t, 4, res.json["export_total"])
	res = b.do(t, http.MethodGet, path+"/export", admin, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, "application/zip", res.header.Get("Content-Type"))
	zr, err := zip.NewReader(bytes.NewReader([]byte(res.raw)), int64(len(res.raw)))
	require.NoError(t, err)
	files := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		body, _ := io.ReadAll(rc)
		rc.Close()
		files[f.Name] = string(body)
	}
	require.Contains(t, files, "records.json")
	require.Contains(t, files, "records-chat.message.csv")
	require.Contains(t, files, "records-admin.invoice.csv")
	require.Contains(t, files["summary.txt"], "Overzicht van uw gegevens")
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(files["records.json"]), &doc))
	require.EqualValues(t, 4, doc["count"])
	for _, f := range files {
		require.NotContains(t, f, "not mine")
	}
	require.Contains(t, files["records-chat.message.csv"], "mine a")
	// Another tenant cannot download it; after 7 days the link is gone.
	res = b.do(t, http.MethodGet, "/v1/tenants/"+A+"/requests/"+id+"/export", b.token(t, policy.RoleControllerAdmin, b.tenantB.ID), nil)
	require.Equal(t, http.StatusNotFound, res.status, res.raw)
	b.clock.Advance(7*24*time.Hour + time.Second)
	res = b.do(t, http.MethodGet, path+"/export", admin, nil)
	require.Equal(t, http.StatusNotFound, res.status, res.raw)

	// Erasure with a hold on invoices.
	b.app.Requests.SetHolds(fixedHolds{"billing.invoice": "AWR art. 52(4): 7 years"})
	res = b.do(t, http.MethodPost, "/v1/tenants/"+A+"/requests", admin, map[string]any{"type": "erasure", "subject_ref": "visitor-e2e"})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	epath := "/v1/tenants/" + A + "/requests/" + res.json["id"].(string)
	res = b.do(t, http.MethodPost, epath+"/instructions", admin, map[string]any{"action": "erase"})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	waitFor(t, "the erasure", func() bool {
		res = b.do(t, http.MethodGet, epath, admin, nil)
		return res.json["state"] == "completed"
	})
	require.Equal(t, map[string]any{"billing.invoice": map[string]any{"records": float64(1), "reason": "AWR art. 52(4): 7 years"}}, res.json["kept"])
	require.NotEmpty(t, res.json["certificate_id"])
	exp := b.do(t, http.MethodPost, "/v1/tenants/"+A+"/subjects/export", admin, map[string]any{"subject_ref": "visitor-e2e"})
	require.Equal(t, http.StatusOK, exp.status, exp.raw)
	require.EqualValues(t, 1, exp.json["count"], "only the invoice is left")
	require.Contains(t, exp.raw, "invoice 1")

	// The register lists both, without personal data.
	res = b.do(t, http.MethodGet, "/v1/requests/register", b.token(t, policy.RoleDPO, verwerker.PlatformDomain), nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Contains(t, res.raw, id)
	require.NotContains(t, res.raw, email)
}

// requestHook registers a webhook receiver as the tenant's endpoint, with
// the controller's token, and gives it the signing secret.
func (b *testBundle) requestHook(t *testing.T, tenantID, token string) *hookReceiver {
	t.Helper()
	hook := newHookReceiver(t)
	res := b.do(t, http.MethodPut, "/v1/tenants/"+tenantID+"/webhook", token, map[string]any{"url": hook.srv.URL})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	hook.mu.Lock()
	hook.secret = res.json["secret"].(string)
	hook.mu.Unlock()
	return hook
}

// mailText returns the text of the newest e-mail mailpit finds for query.
func mailText(t *testing.T, mailpit, query string) string {
	t.Helper()
	return notifytest.MailText(t, mailpit, query)
}

type fixedHolds map[string]string

func (h fixedHolds) HeldCategories(context.Context, string, string) (map[string]string, error) {
	return h, nil
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// failingHook answers 500 until healed, then verifies like hookReceiver.
type failingHook struct {
	*hookReceiver
	healed atomic.Bool
}

func (f *failingHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !f.healed.Load() {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	f.hookReceiver.ServeHTTP(w, r)
}

// TestRequestFailedWebhookAlarmAndReminders: a customer's webhook endpoint
// that fails turns the forwarding into a visible alarm with its cause; once
// the endpoint works, one call retries it and the alarm goes. Reminders
// fire 7 and 2 days before the deadline (injected clock), once each, and
// the overdue request becomes an alarm.
func TestRequestFailedWebhookAlarmAndReminders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.withRequests(t)
	A := b.tenantA.ID
	admin := b.token(t, policy.RoleControllerAdmin, A)
	dpo := b.token(t, policy.RoleDPO, verwerker.PlatformDomain)
	hook := &failingHook{hookReceiver: &hookReceiver{t: t}}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	res := b.do(t, http.MethodPut, "/v1/tenants/"+A+"/webhook", admin, map[string]any{"url": srv.URL})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	hook.mu.Lock()
	hook.secret = res.json["secret"].(string)
	hook.mu.Unlock()

	res = b.do(t, http.MethodPost, "/v1/tenants/"+A+"/requests", admin, map[string]any{"type": "access", "received_at": testStart.Format(time.RFC3339)})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	id := res.json["id"].(string)
	path := "/v1/tenants/" + A + "/requests/" + id
	require.Equal(t, "2026-04-02", res.json["due_last_day"])

	var alarm map[string]any
	waitFor(t, "the alarm", func() bool {
		res = b.do(t, http.MethodGet, "/v1/alarms", dpo, nil)
		for _, a := range res.json["items"].([]any) {
			if m := a.(map[string]any); m["kind"] == "request_failed" && m["request_id"] == id {
				alarm = m
				return true
			}
		}
		return false
	})
	require.Contains(t, alarm["message"], "http_500")
	res = b.do(t, http.MethodGet, path, admin, nil)
	require.Contains(t, res.json["failure"], "webhook=http_500")

	hook.healed.Store(true)
	res = b.do(t, http.MethodPost, path+"/retry", dpo, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	waitFor(t, "the retried webhook", func() bool { return len(hook.deliveries()) == 1 })
	waitFor(t, "the alarm to go", func() bool {
		res = b.do(t, http.MethodGet, path, admin, nil)
		return res.json["failure"] == nil
	})
	res = b.do(t, http.MethodPost, path+"/retry", dpo, nil)
	require.Equal(t, http.StatusConflict, res.status, res.raw)

	// Reminders: due at midnight after 2 April in Amsterdam (22:00 UTC).
	ctx := context.Background()
	due := time.Date(2026, time.April, 2, 22, 0, 0, 0, time.UTC)
	reminders := func() int {
		_, steps, err := b.app.Requests.Get(ctx, A, id)
		require.NoError(t, err)
		n := 0
		for _, st := range steps {
			if st.Action == "remind" {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		at   time.Time
		want int
	}{
		{due.Add(-7*24*time.Hour - time.Second), 0},
		{due.Add(-7 * 24 * time.Hour), 1},
		{due.Add(-3 * 24 * time.Hour), 1},
		{due.Add(-2*24*time.Hour - time.Second), 1},
		{due.Add(-2 * 24 * time.Hour), 2},
		{due.Add(-time.Second), 2},
	} {
		b.clock.Set(c.at)
		res, err := b.app.Requests.Sweep(ctx)
		require.NoError(t, err)
		require.Equal(t, c.want, reminders(), "at %s", c.at)
		require.Zero(t, res.Overdue)
	}
	b.clock.Set(due)
	swept, err := b.app.Requests.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, swept.Overdue)
	res = b.do(t, http.MethodGet, "/v1/alarms", dpo, nil)
	require.Contains(t, res.raw, `"kind":"request_overdue"`)
}

// TestPublicIntakeBadInput: unknown customers, malformed and oversized
// submissions are clear 4xx without echoing what was sent; floods from one
// address or to one e-mail address are 429 with Retry-After; three wrong
// codes end a submission; an expired one is deleted by the sweep with all
// it held, and nothing but the verification row exists before the code.
func TestPublicIntakeBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mailpit := b.withRequests(t)
	A := b.tenantA.ID
	count := func(table string) int {
		var n int
		require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n))
		return n
	}
	submit := func(body any, addr string) response {
		return b.do(t, http.MethodPost, "/v1/public/requests", "", body, "X-Forwarded-For", addr)
	}
	for _, c := range []struct {
		name  string
		body  any
		field string
	}{
		{"unknown customer", map[string]any{"tenant_id": "tnt_01KJPWD6M2SCEZHYAQBMJ68TSM", "type": "access", "email": "x@example.org"}, "body.tenant_id"},
		{"not a customer id", map[string]any{"tenant_id": "bakkerij.example", "type": "access", "email": "x@example.org"}, "body.tenant_id"},
		{"bad right", map[string]any{"tenant_id": A, "type": "everything", "email": "x@example.org"}, "body.type"},
		{"bad e-mail", map[string]any{"tenant_id": A, "type": "access", "email": "private-person-at-example"}, "body.email"},
		{"oversized details", map[string]any{"tenant_id": A, "type": "access", "email": "x@example.org", "details": strings.Repeat("x", 5000)}, "body.details"},
	} {
		res := submit(c.body, "198.51.100.1")
		require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s: %s", c.name, res.raw)
		require.Contains(t, res.locations(t), c.field, c.name)
		require.NotContains(t, res.raw, "private-person-at-example")
		requireNoLeak(t, res.raw)
	}
	res := b.do(t, http.MethodPost, "/v1/public/requests", "", `{"tenant_id": "`+A+`", "type": `, "Content-Type", "application/json")
	require.Equal(t, http.StatusBadRequest, res.status, res.raw)
	res = b.do(t, http.MethodPost, "/v1/public/requests", "", strings.Repeat(" ", 20<<10)+"{}", "Content-Type", "application/json")
	require.Equal(t, http.StatusRequestEntityTooLarge, res.status, res.raw)
	require.Zero(t, count("dsr_verifications"))
	require.Zero(t, count("dsr_requests"))

	// Floods: 3 per e-mail address, 5 per client address an hour.
	email := "flood-" + strings.ToLower(A[len(A)-8:]) + "@example.org"
	var vids []string
	for i := range 3 {
		res := submit(map[string]any{"tenant_id": A, "type": "access", "email": email}, "198.51.100.2")
		require.Equal(t, http.StatusAccepted, res.status, "%d: %s", i, res.raw)
		vids = append(vids, res.json["verification_id"].(string))
	}
	res = submit(map[string]any{"tenant_id": A, "type": "access", "email": email}, "198.51.100.3")
	require.Equal(t, http.StatusTooManyRequests, res.status, res.raw)
	require.NotEmpty(t, res.header.Get("Retry-After"))
	// The unknown customer's submission counted for the address too.
	for i := range 1 {
		res := submit(map[string]any{"tenant_id": A, "type": "erasure", "email": fmt.Sprintf("other%d-%s", i, email)}, "198.51.100.2")
		require.Equal(t, http.StatusAccepted, res.status, res.raw)
	}
	res = submit(map[string]any{"tenant_id": A, "type": "erasure", "email": "yet-another-" + email}, "198.51.100.2")
	require.Equal(t, http.StatusTooManyRequests, res.status, res.raw)
	require.Equal(t, 4, count("dsr_verifications"))
	require.Zero(t, count("dsr_requests"), "nothing but verification before the code")

	// Three wrong codes end the submission.
	require.NotEmpty(t, mailCode(t, mailpit, "other0-"+email))
	codes := map[string]bool{}
	for range 3 {
		wrong := fmt.Sprintf("%06d", len(codes))
		codes[wrong] = true
		res = b.do(t, http.MethodPost, "/v1/public/requests/"+vids[0]+"/verify", "", map[string]any{"code": wrong})
		require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
	}
	require.Equal(t, 3, count("dsr_verifications"))

	// Expiry: after 15 minutes the code is refused and the sweep deletes
	// every expired submission with what it held.
	b.clock.Advance(15 * time.Minute)
	res = b.do(t, http.MethodPost, "/v1/public/requests/"+vids[1]+"/verify", "", map[string]any{"code": "123456"})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
	swept, err := b.app.Requests.Sweep(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 2, swept.Expired, "the expired code deleted its own submission")
	require.Zero(t, count("dsr_verifications"))
	require.Zero(t, count("dsr_requests"))
}

// TestIntakePage files a request through the public page with real form
// posts (no JavaScript): the form in Dutch with a strict CSP, the per-form
// token, the code from the e-mail, and the forwarded request.
func TestIntakePage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mailpit := b.withRequests(t)
	A := b.tenantA.ID
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	client := &http.Client{Jar: jar}
	get := func(path string) (int, http.Header, string) {
		resp, err := client.Get(b.http.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}
	post := func(path string, form url.Values) (int, string) {
		resp, err := client.PostForm(b.http.URL+path, form)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	status, header, body := get("/requests?lang=nl&customer=" + A)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, header.Get("Content-Security-Policy"), "default-src 'none'")
	require.Contains(t, body, `lang="nl"`)
	require.Contains(t, body, "Een verzoek over uw persoonsgegevens")
	require.Contains(t, body, `value="`+A+`"`)
	require.NotContains(t, body, "<script")
	token := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(body)[1]

	email := "page-" + strings.ToLower(A[len(A)-8:]) + "@example.org"
	form := url.Values{"token": {token}, "lang": {"nl"}, "customer": {A}, "type": {"erasure"}, "email": {email}}
	status, body = post("/requests", url.Values{"lang": {"nl"}, "customer": {A}, "type": {"erasure"}, "email": {email}, "token": {"forged"}})
	require.Equal(t, http.StatusForbidden, status, body)
	require.Contains(t, body, "Het formulier is verlopen")
	// The refused form came with a fresh token.
	token = regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(body)[1]
	form.Set("token", token)
	bad := url.Values{"token": {token}, "lang": {"nl"}, "customer": {A}, "type": {"erasure"}, "email": {"not-an-address"}}
	status, body = post("/requests", bad)
	require.Equal(t, http.StatusUnprocessableEntity, status, body)
	require.Contains(t, body, "Vul een geldig e-mailadres in.")
	require.Contains(t, body, `aria-invalid="true"`)

	status, body = post("/requests", form)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "code van zes cijfers")
	vid := regexp.MustCompile(`name="verification_id" value="([^"]+)"`).FindStringSubmatch(body)[1]
	code := mailCode(t, mailpit, email)
	status, body = post("/requests/verify", url.Values{"token": {token}, "lang": {"nl"}, "verification_id": {vid}, "code": {code}})
	require.Equal(t, http.StatusOK, status, body)
	id := regexp.MustCompile(`<strong>(dsr_[0-9A-Z]+)</strong>`).FindStringSubmatch(body)[1]

	res := b.do(t, http.MethodGet, "/v1/tenants/"+A+"/requests/"+id, b.token(t, policy.RoleControllerAdmin, A), nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, "erasure", res.json["type"])
	require.Equal(t, false, res.json["matched"])
	require.Equal(t, "subject", res.json["source"])
}

// TestIntakeRateLimitAcrossReplicas: two replicas on one database enforce
// one limit. Submissions for one e-mail address alternate between them:
// the fourth is refused (429 with Retry-After) by whichever replica gets
// it; the counts hold no address in the clear; the next window admits the
// address again.
func TestIntakeRateLimitAcrossReplicas(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.withRequests(t)
	A := b.tenantA.ID
	second := b.newApp(t, app.Config{SMTPURL: os.Getenv("VERWERKER_TEST_SMTP_URL"), MailFrom: "verwerker@verwerker.example"})
	other := httptest.NewServer(second.Server)
	t.Cleanup(other.Close)
	replicas := []*httptest.Server{b.http, other}
	email := "replicas-" + strings.ToLower(A[len(A)-8:]) + "@example.org"
	submit := func(replica int, addr, email string) response {
		return send(t, replicas[replica], http.MethodPost, "/v1/public/requests", call{body: map[string]any{"tenant_id": A, "type": "access", "email": email},
			header: []string{"X-Forwarded-For", addr}})
	}
	for i := range 3 {
		res := submit(i%2, "203.0.113.1", email)
		require.Equal(t, http.StatusAccepted, res.status, "%d: %s", i, res.raw)
	}
	for replica := range 2 {
		res := submit(replica, "203.0.113.2", email)
		require.Equal(t, http.StatusTooManyRequests, res.status, "replica %d: %s", replica, res.raw)
		wait, err := strconv.Atoi(res.header.Get("Retry-After"))
		require.NoError(t, err)
		require.Positive(t, wait)
		require.LessOrEqual(t, wait, 3600)
	}
	// The counts are keyed by HMACs, never by the addresses.
	var keys [][]byte
	rows, err := b.db.Pool.Query(context.Background(), `SELECT key FROM dsr_rate_windows`)
	require.NoError(t, err)
	for rows.Next() {
		var k []byte
		require.NoError(t, rows.Scan(&k))
		keys = append(keys, k)
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, keys)
	for _, k := range keys {
		require.NotContains(t, string(k), email)
		require.NotContains(t, string(k), "203.0.113")
	}
	// Per client address, across replicas: 5 an hour (3 counted already
	// for 203.0.113.1).
	for i := range 2 {
		res := submit(i%2, "203.0.113.1", fmt.Sprintf("other%d-%s", i, email))
		require.Equal(t, http.StatusAccepted, res.status, "%d: %s", i, res.raw)
	}
	res := submit(1, "203.0.113.1", "yet-another-"+email)
	require.Equal(t, http.StatusTooManyRequests, res.status, res.raw)

	// The next window admits them again; the sweep forgets the old one.
	b.clock.Advance(time.Hour)
	res = submit(1, "203.0.113.1", email)
	require.Equal(t, http.StatusAccepted, res.status, res.raw)
	_, err = b.app.Requests.Sweep(context.Background())
	require.NoError(t, err)
	var n int
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM dsr_rate_windows`).Scan(&n))
	require.Equal(t, 2, n, "only the current window's address and e-mail counts")
}

// TestRectificationAndObjectionParticulars: a rectification asks what is
// wrong and the correct value, an objection its grounds (4xx naming the
// field when missing, without echoing what was sent); both are sealed at
// rest and reach the controller with the forward.
func TestRectificationAndObjectionParticulars(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mailpit := b.withRequests(t)
	A := b.tenantA.ID
	admin := b.token(t, policy.RoleControllerAdmin, A)
	hook := b.requestHook(t, A, admin)
	suffix := strings.ToLower(A[len(A)-8:])

	for _, c := range []struct {
		body   map[string]any
		fields []string
	}{
		{map[string]any{"type": "rectification"}, []string{"body.incorrect", "body.correct"}},
		{map[string]any{"type": "rectification", "incorrect": "My street name Kerkstraat", "correct": "  "}, []string{"body.correct"}},
		{map[string]any{"type": "objection"}, []string{"body.grounds"}},
	} {
		c.body["tenant_id"], c.body["email"] = A, "bad-"+suffix+"@example.org"
		res := b.do(t, http.MethodPost, "/v1/public/requests", "", c.body, "X-Forwarded-For", "192.0.2.10")
		require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
		for _, f := range c.fields {
			require.Contains(t, res.locations(t), f)
		}
		require.NotContains(t, res.raw, "Kerkstraat")
	}

	// The public page names the missing field in the page's language.
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(b.http.URL + "/requests?lang=nl&customer=" + A)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(string(page))[1]
	resp, err = browser.PostForm(b.http.URL+"/requests", url.Values{"token": {token}, "lang": {"nl"}, "customer": {A}, "type": {"rectification"},
		"email": {"page-" + suffix + "@example.org"}, "incorrect": {"Kerkstraat 1"}})
	require.NoError(t, err)
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, string(page))
	require.Contains(t, string(page), `<p id="correct-error" class="error">Vermeld bij correctie de juiste waarde`)
	require.Contains(t, string(page), `aria-describedby="correct-error"`)
	require.NotContains(t, string(page), `id="incorrect-error"`)

	file := func(body map[string]any, email string) string {
		body["tenant_id"], body["email"] = A, email
		res := b.do(t, http.MethodPost, "/v1/public/requests", "", body, "X-Forwarded-For", "192.0.2.11")
		require.Equal(t, http.StatusAccepted, res.status, res.raw)
		vid := res.json["verification_id"].(string)
		res = b.do(t, http.MethodPost, "/v1/public/requests/"+vid+"/verify", "", map[string]any{"code": mailCode(t, mailpit, email)})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		return res.json["request_id"].(string)
	}
	rect := file(map[string]any{"type": "rectification", "incorrect": "Surname spelled Jansen", "correct": "Janssen", "grounds": "dropped"}, "rect-"+suffix+"@example.org")
	obj := file(map[string]any{"type": "objection", "grounds": "I am a journalist; profiling exposes my sources"}, "obj-"+suffix+"@example.org")

	forwarded := func(id string) map[string]any {
		var data map[string]any
		waitFor(t, "the forward of "+id, func() bool {
			for _, d := range hook.deliveries() {
				if d.Type == dsr.EventForwarded && d.Data["request_id"] == id {
					data = d.Data
					return true
				}
			}
			return false
		})
		return data
	}
	require.Equal(t, map[string]any{"incorrect": "Surname spelled Jansen", "correct": "Janssen"}, forwarded(rect)["particulars"],
		"a rectification keeps no grounds")
	require.Equal(t, map[string]any{"grounds": "I am a journalist; profiling exposes my sources"}, forwarded(obj)["particulars"])
	require.Contains(t, mailText(t, mailpit, "to:privacy@a.example "+obj), "profiling exposes my sources")
	// At rest the particulars are sealed.
	rows, err := b.db.Pool.Query(context.Background(), `SELECT contact, details FROM dsr_requests WHERE tenant_id = $1`, A)
	require.NoError(t, err)
	for rows.Next() {
		var sealed []byte
		var details string
		require.NoError(t, rows.Scan(&sealed, &details))
		require.Empty(t, details)
		require.NotContains(t, string(sealed), "Janssen")
		require.NotContains(t, string(sealed), "journalist")
	}
	require.NoError(t, rows.Err())
}

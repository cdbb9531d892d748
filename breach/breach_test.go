package breach_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/breach"
	"github.com/verwerker/verwerker/demo"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/dpa/dpatest"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/notify/notifytest"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
	"github.com/verwerker/verwerker/subprocessor"
	"github.com/verwerker/verwerker/tenant"
)

// start is a Monday morning in Amsterdam.
var start = time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)

// bundle is a real database, a clock that moves when told, an outbox on
// real SMTP (mailpit) when asked, and the breach service.
type bundle struct {
	db      *store.DB
	clock   *verwerker.ManualClock
	audit   *audit.Log
	tenants *tenant.Service
	dpa     *dpa.Service
	outbox  *notify.Outbox
	svc     *breach.Service
	mailpit string
	opts    breach.Options
	ctx     context.Context
}

type opts struct {
	smtp    bool
	options breach.Options
}

func setup(t *testing.T, o opts) *bundle {
	t.Helper()
	ctx := verwerker.WithPrincipal(context.Background(), verwerker.Principal{ID: "usr_dpo"})
	b := &bundle{db: storetest.New(t), clock: verwerker.NewManualClock(start), ctx: ctx, opts: o.options}
	b.audit = audit.NewLog(b.db, b.clock)
	t.Cleanup(b.audit.Close)
	b.tenants = tenant.NewService(b.db, b.clock, b.audit)
	b.dpa = dpa.NewService(b.db, b.clock, b.audit, subprocessor.Lists{})
	ring, err := keys.OpenLocalKeyring(filepath.Join(t.TempDir(), "keyring.key"), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	km := keys.NewManager(b.db, ring, keys.ManagerOptions{})
	t.Cleanup(km.Close)
	cfg := notify.Config{Keys: km, AllowPrivateNetworks: true}
	if o.smtp {
		cfg.SMTPURL, b.mailpit = os.Getenv("VERWERKER_TEST_SMTP_URL"), os.Getenv("VERWERKER_TEST_MAILPIT_URL")
		require.NotEmpty(t, cfg.SMTPURL, "set VERWERKER_TEST_SMTP_URL and VERWERKER_TEST_MAILPIT_URL to a running mailpit (make test starts one)")
		require.NotEmpty(t, b.mailpit)
		cfg.MailFrom = "verwerker@verwerker.example"
	}
	b.outbox, err = notify.New(b.db, b.clock, b.audit, cfg)
	require.NoError(t, err)
	b.svc = b.service(t)
	notifytest.Start(t, b.db, b.outbox)
	return b
}

// service builds a breach service on the bundle's database and outbox, as
// a (re)started replica would.
func (b *bundle) service(t *testing.T) *breach.Service {
	s, err := breach.New(context.Background(), b.db, b.clock, b.audit, b.outbox, b.opts)
	require.NoError(t, err)
	return s
}

// customer creates a tenant with an active agreement whose breach contact
// is breach@<domain>.
func (b *bundle) customer(t *testing.T, name, domain, tz string) tenant.Tenant {
	t.Helper()
	tn, err := b.tenants.Create(b.ctx, tenant.New{Name: name, Country: "NL", ContactEmail: "privacy@" + domain, Timezone: tz})
	require.NoError(t, err)
	dpatest.Activate(t, b.dpa, tn.ID, dpa.Scope{
		Categories:    []dpa.CategoryScope{{ID: "chat.message", Retention: dpa.Retention30DaysAfterLastInteraction}, {ID: "contact.email", Retention: dpa.RetentionContractEndPlus30Days}},
		Purposes:      []string{"service.delivery"},
		BreachContact: dpa.Contact{Name: "Breach desk", Email: "breach@" + domain},
		DPOContact:    dpa.Contact{Name: "DPO", Email: "dpo@" + domain},
	})
	b.clock.Advance(time.Millisecond)
	return tn
}

// seed writes n records of a category and kind for subjects (created if
// missing) at the given time, straight into the records store's tables.
func (b *bundle) seed(t *testing.T, tenantID string, subjects []string, kind, category string, at time.Time, perSubject int) {
	t.Helper()
	err := b.db.InTx(context.Background(), func(tx pgx.Tx) error {
		for _, s := range subjects {
			sid := tenantID + "_" + s
			if _, err := tx.Exec(context.Background(), `INSERT INTO subjects (tenant_id, id, ref, created_at, updated_at)
				VALUES ($1, $2, sha256(convert_to($4, 'UTF8')), $3, $3) ON CONFLICT DO NOTHING`, tenantID, sid, at, sid); err != nil {
				return err
			}
			if _, err := tx.Exec(context.Background(), `INSERT INTO subject_keys (tenant_id, subject_id, wrapped, key_version, created_at)
				VALUES ($1, $2, 'wrapped', 1, $3) ON CONFLICT DO NOTHING`, tenantID, sid, at); err != nil {
				return err
			}
			for i := 0; i < perSubject; i++ {
				if _, err := tx.Exec(context.Background(), `INSERT INTO records (tenant_id, id, subject_id, kind, category, purpose, region,
					dpa_version, decision_id, retention_rule, created_at, sealed)
					VALUES ($1, $2, $3, $4, $5, 'service.delivery', 'nl', 1, 'dec_x', '30d_after_last_interaction', $6, '\x00')`,
					tenantID, verwerker.NewID("rec", at), sid, kind, category, at); err != nil {
					return err
				}
			}
		}
		return nil
	})
	require.NoError(t, err)
}

func ptr[T any](v T) *T { return &v }

// report reports an incident discovered at discovered, started a day
// before, in the chat system's messages.
func (b *bundle) report(t *testing.T, discovered time.Time, tenants ...string) breach.Incident {
	t.Helper()
	i, err := b.svc.Report(b.ctx, breach.Report{Title: "Misconfigured bucket", Description: "Chat exports were readable without authentication.",
		Kinds: []string{"confidentiality"}, StartedAt: ptr(discovered.Add(-24 * time.Hour)), EndedAt: ptr(discovered.Add(-time.Hour)),
		DiscoveredAt: discovered, DiscoveredHow: "Alert of the storage scanner", Systems: []string{"chat"}, Categories: []string{"chat.message"},
		Tenants: tenants, Consequences: "Messages may have been read by third parties.", Measures: "Bucket closed; access logs under review.",
		Contact: "security@verwerker.example"}, breach.ViaStaff)
	require.NoError(t, err)
	return i
}

func (b *bundle) breachOf(t *testing.T, id string) {
	t.Helper()
	i, err := b.svc.Triage(b.ctx, id, breach.Assessment{Actual: true, PersonalData: true, Kinds: []string{"confidentiality"}})
	require.NoError(t, err)
	require.Equal(t, breach.StatusBreach, i.Status)
}

// mail is an e-mail as mailpit has it.
type mail struct {
	ID, Subject string
	To          []string
	Text        string
}

// mails returns the e-mails mailpit received for to whose subject
// contains needle, with their text.
func (b *bundle) mails(t *testing.T, to, needle string) []mail {
	t.Helper()
	resp, err := http.Get(b.mailpit + "/api/v1/search?query=" + url.QueryEscape("to:"+to))
	require.NoError(t, err)
	defer resp.Body.Close()
	var list struct {
		Messages []struct {
			ID      string
			Subject string
			To      []struct{ Address string }
		} `json:"messages"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	var out []mail
	for _, m := range list.Messages {
		if !strings.Contains(m.Subject, needle) {
			continue
		}
		ml := mail{ID: m.ID, Subject: m.Subject}
		for _, a := range m.To {
			ml.To = append(ml.To, a.Address)
		}
		r, err := http.Get(b.mailpit + "/api/v1/message/" + m.ID)
		require.NoError(t, err)
		var full struct{ Text string }
		require.NoError(t, json.NewDecoder(r.Body).Decode(&full))
		r.Body.Close()
		ml.Text = full.Text
		out = append(out, ml)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "timed out waiting for %s", what)
		time.Sleep(25 * time.Millisecond)
	}
}

// hook is a customer's webhook endpoint that answers with status.
type hook struct {
	mu     sync.Mutex
	status int
	got    []map[string]any
	srv    *httptest.Server
}

func newHook(t *testing.T, status int) *hook {
	h := &hook{status: status}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var env map[string]any
		_ = json.Unmarshal(body, &env)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.got = append(h.got, env)
		w.WriteHeader(h.status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) deliveries() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.got...)
}

// TestRegoUnitTests runs the triage policy's Rego unit tests.
func TestRegoUnitTests(t *testing.T) {
	t.Parallel()
	modules := map[string]*ast.Module{}
	files, err := fs.Glob(breach.RegoFiles(), "*.rego")
	require.NoError(t, err)
	for _, name := range files {
		src, err := fs.ReadFile(breach.RegoFiles(), name)
		require.NoError(t, err)
		m, err := ast.ParseModuleWithOpts(name, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		require.NoError(t, err)
		modules[name] = m
	}
	ch, err := tester.NewRunner().SetModules(modules).RunTests(context.Background(), nil)
	require.NoError(t, err)
	n := 0
	for r := range ch {
		n++
		require.NoError(t, r.Error, r.Name)
		require.False(t, r.Fail, "%s failed", r.Name)
	}
	require.GreaterOrEqual(t, n, 6, "the Rego unit tests did not run")
}

// TestTriage: a theoretical vulnerability is recorded and not notified, an
// actual breach is a breach, each with reasons; a revision and a dismissal
// need reasons; every change is in the history and the audit log.
func TestTriage(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	vuln, err := b.svc.Report(b.ctx, breach.Report{Title: "Outdated TLS library", DiscoveredAt: start.Add(-time.Hour), Systems: []string{"chat"}}, breach.ViaDetection)
	require.NoError(t, err)
	require.Equal(t, breach.StatusReported, vuln.Status)
	require.Equal(t, start.Add(47*time.Hour), vuln.DeadlineAt)

	vuln, err = b.svc.Triage(b.ctx, vuln.ID, breach.Assessment{Actual: false, PersonalData: true, Kinds: []string{"confidentiality"}})
	require.NoError(t, err)
	require.Equal(t, breach.StatusVulnerability, vuln.Status)
	require.False(t, vuln.Triage.Notify)
	require.Equal(t, "theoretical", vuln.Triage.Reasons[0].Code)
	require.Contains(t, vuln.Triage.Reasons[0].Article, "12.16")
	_, err = b.svc.Notify(b.ctx, vuln.ID)
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err), "a vulnerability is not notified")

	// Revising needs a reason.
	_, err = b.svc.Triage(b.ctx, vuln.ID, breach.Assessment{Actual: true, PersonalData: true})
	require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err))
	got, err := b.svc.Triage(b.ctx, vuln.ID, breach.Assessment{Actual: true, PersonalData: true, Reason: "Access logs show downloads"})
	require.NoError(t, err)
	require.Equal(t, breach.StatusBreach, got.Status)
	codes := []string{}
	for _, r := range got.Triage.Reasons {
		codes = append(codes, r.Code)
	}
	require.ElementsMatch(t, []string{"actual_breach", "notify_controllers"}, codes)
	require.Equal(t, "usr_dpo", got.Triage.By)

	// An actual incident without personal data is not a breach.
	other := b.report(t, start.Add(-2*time.Hour))
	other, err = b.svc.Triage(b.ctx, other.ID, breach.Assessment{Actual: true, PersonalData: false})
	require.NoError(t, err)
	require.Equal(t, breach.StatusVulnerability, other.Status)
	require.Equal(t, "no_personal_data", other.Triage.Reasons[0].Code)

	// Dismissal needs a reason and is kept.
	_, err = b.svc.Dismiss(b.ctx, other.ID, " ")
	require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err))
	other, err = b.svc.Dismiss(b.ctx, other.ID, "False alarm: test system")
	require.NoError(t, err)
	require.Equal(t, breach.StatusDismissed, other.Status)
	hist, err := b.svc.History(b.ctx, other.ID)
	require.NoError(t, err)
	require.Len(t, hist, 3)
	require.Equal(t, []string{"report", "triage", "dismiss"}, []string{hist[0].Action, hist[1].Action, hist[2].Action})
	require.Equal(t, "False alarm: test system", hist[2].Reason)

	hist, err = b.svc.History(b.ctx, vuln.ID)
	require.NoError(t, err)
	require.Equal(t, "triage.revise", hist[2].Action)
	require.Equal(t, "Access logs show downloads", hist[2].Reason)

	events, err := b.audit.Events(context.Background(), audit.PlatformChain, 0, 100)
	require.NoError(t, err)
	actions := map[string]int{}
	for _, e := range events {
		if e.Resource == vuln.ID || e.Resource == other.ID {
			actions[e.Action]++
			require.NotContains(t, e.Reason, "False alarm", "free text stays out of the audit log")
		}
	}
	require.Equal(t, map[string]int{"breach.report": 2, "breach.triage": 2, "breach.triage.revise": 1, "breach.dismiss": 1}, actions)

	// Bad input names the field and does not echo it.
	_, err = b.svc.Report(b.ctx, breach.Report{Title: "", DiscoveredAt: start.Add(time.Hour), Kinds: []string{"secret-value"}}, breach.ViaStaff)
	var ve *verwerker.Error
	require.ErrorAs(t, err, &ve)
	fields := []string{}
	for _, f := range ve.Fields {
		fields = append(fields, f.Field)
		require.NotContains(t, f.Message, "secret-value")
	}
	require.ElementsMatch(t, []string{"title", "kinds[0]", "discovered_at"}, fields)
}

// TestImpactExactCounts: the impact counts exactly the records and
// subjects of the window, the systems and the categories, per customer and
// category; customers outside the scope are not affected.
func TestImpactExactCounts(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	a := b.customer(t, "Alpha B.V.", "alpha.example", "")
	c := b.customer(t, "Charlie B.V.", "charlie.example", "")
	d := b.customer(t, "Delta B.V.", "delta.example", "")
	discovered := start.Add(-time.Hour)
	in := discovered.Add(-10 * time.Hour)
	// Alpha: 3 subjects with 4 messages each in the window, 2 of them with
	// 1 more message before it, and an account record (admin) in it.
	b.seed(t, a.ID, []string{"s1", "s2", "s3"}, "chat.message", "chat.message", in, 4)
	b.seed(t, a.ID, []string{"s1", "s2"}, "chat.message", "chat.message", discovered.Add(-48*time.Hour), 1)
	b.seed(t, a.ID, []string{"s1"}, "admin.account", "contact.email", in, 1)
	// Charlie: 1 subject with 2 messages in the window, and e-mail
	// addresses in chat conversations.
	b.seed(t, c.ID, []string{"x"}, "chat.message", "chat.message", in, 2)
	b.seed(t, c.ID, []string{"x", "y"}, "chat.conversation", "contact.email", in, 3)
	// Delta: only records after the end.
	b.seed(t, d.ID, []string{"z"}, "chat.message", "chat.message", discovered, 5)

	i, err := b.svc.Report(b.ctx, breach.Report{Title: "Chat store leak", DiscoveredAt: discovered, StartedAt: ptr(discovered.Add(-24 * time.Hour)),
		EndedAt: ptr(discovered.Add(-time.Hour)), Systems: []string{"chat"}}, breach.ViaStaff)
	require.NoError(t, err)
	i, err = b.svc.Scope(b.ctx, i.ID)
	require.NoError(t, err)
	imp := i.Impact
	require.False(t, imp.Estimated)
	require.Len(t, imp.Customers, 2)
	require.Equal(t, a.ID, imp.Customers[0].TenantID)
	require.Equal(t, int64(3), imp.Customers[0].Subjects)
	require.Equal(t, int64(12), imp.Customers[0].Records)
	require.Equal(t, []breach.CategoryCount{{Category: "chat.message", Subjects: 3, Records: 12}}, imp.Customers[0].Categories)
	require.Equal(t, c.ID, imp.Customers[1].TenantID)
	require.Equal(t, int64(2), imp.Customers[1].Subjects)
	require.Equal(t, int64(8), imp.Customers[1].Records)
	require.Equal(t, []breach.CategoryCount{{Category: "chat.message", Subjects: 1, Records: 2}, {Category: "contact.email", Subjects: 2, Records: 6}},
		imp.Customers[1].Categories)
	require.Equal(t, int64(5), imp.Subjects)
	require.Equal(t, int64(20), imp.Records)
	require.True(t, imp.Customers[0].Encryption.Encrypted)
	require.Equal(t, []int{1}, imp.Customers[0].Encryption.KeyVersions)

	// Narrowed to a category, and with an unknown start (an estimate).
	j, err := b.svc.Report(b.ctx, breach.Report{Title: "Mail addresses exposed", DiscoveredAt: discovered, Categories: []string{"contact.email"}}, breach.ViaStaff)
	require.NoError(t, err)
	j, err = b.svc.Scope(b.ctx, j.ID)
	require.NoError(t, err)
	require.True(t, j.Impact.Estimated)
	require.Equal(t, []string{"start_unknown", "ongoing"}, j.Impact.Basis)
	require.Len(t, j.Impact.Customers, 2)
	require.Equal(t, int64(1), j.Impact.Customers[0].Records) // Alpha's account
	require.Equal(t, int64(6), j.Impact.Customers[1].Records)
}

// TestNoticesReachAffectedControllersOnly: each affected controller gets
// its own notice, by signed webhook and e-mail, before the deadline, with
// every Art. 33(3) field; the unaffected one gets nothing; a phased update
// reaches the same controllers; acknowledgements by API and by link are
// recorded; the register shows each customer only its own.
func TestNoticesReachAffectedControllersOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{smtp: true})
	a := b.customer(t, "Alpha B.V.", "alpha-"+strings.ToLower(verwerker.NewID("x", start))+".example", "")
	c := b.customer(t, "Charlie B.V.", "charlie-"+strings.ToLower(verwerker.NewID("x", start))+".example", "Europe/Berlin")
	d := b.customer(t, "Delta B.V.", "delta-"+strings.ToLower(verwerker.NewID("x", start))+".example", "")
	h := newHook(t, http.StatusNoContent)
	_, _, err := b.outbox.SetEndpoint(context.Background(), a.ID, h.srv.URL)
	require.NoError(t, err)
	discovered := start.Add(-2 * time.Hour)
	b.seed(t, a.ID, []string{"s1", "s2"}, "chat.message", "chat.message", discovered.Add(-5*time.Hour), 3)
	b.seed(t, c.ID, []string{"s1"}, "chat.message", "chat.message", discovered.Add(-5*time.Hour), 2)
	b.seed(t, d.ID, []string{"s1"}, "admin.account", "contact.email", discovered.Add(-5*time.Hour), 2)

	i := b.report(t, discovered)
	_, err = b.svc.Notify(b.ctx, i.ID)
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err), "not before triage")
	b.breachOf(t, i.ID)
	notices, err := b.svc.Notify(b.ctx, i.ID)
	require.NoError(t, err)
	require.Len(t, notices, 2)
	require.Equal(t, []string{a.ID, c.ID}, []string{notices[0].TenantID, notices[1].TenantID})
	again, err := b.svc.Notify(b.ctx, i.ID)
	require.NoError(t, err)
	require.Empty(t, again, "a customer gets its first notice once")

	waitFor(t, "delivery", func() bool {
		list, err := b.svc.Notices(b.ctx, i.ID)
		require.NoError(t, err)
		return len(list) == 2 && list[0].Delivery.State == breach.DeliveryDelivered && list[1].Delivery.State == breach.DeliveryDelivered
	})
	list, err := b.svc.Notices(b.ctx, i.ID)
	require.NoError(t, err)
	for _, n := range list {
		require.True(t, n.Delivery.DeliveredAt.Before(i.DeadlineAt))
		require.Equal(t, n.Delivery.DeliveredAt.Add(72*time.Hour), *n.AuthorityDeadline)
	}
	// Alpha's webhook carries the content. A notice is delivered once one
	// channel delivered it: the webhook may land after the e-mail.
	waitFor(t, "webhook", func() bool { return len(h.deliveries()) >= 1 })
	require.Len(t, h.deliveries(), 1)
	data := h.deliveries()[0]["data"].(map[string]any)
	require.Equal(t, i.ID, data["incident_id"])
	require.EqualValues(t, 6, data["records"])
	require.EqualValues(t, 2, data["subjects"])

	// Alpha's and Charlie's contacts have their e-mail; Delta's none.
	for _, tc := range []struct {
		tn             tenant.Tenant
		subjects, recs int
		deadlineLocal  string
	}{{a, 2, 6, "2026-03-04 08:00 CET"}, {c, 1, 2, "2026-03-04 08:00 CET"}} {
		domain := strings.TrimPrefix(tc.tn.ContactEmail, "privacy@")
		var ms []mail
		waitFor(t, "the e-mail", func() bool { ms = b.mails(t, "breach@"+domain, i.ID); return len(ms) > 0 })
		require.Len(t, ms, 1, "one e-mail per customer")
		require.ElementsMatch(t, []string{"breach@" + domain, "dpo@" + domain}, ms[0].To)
		text := ms[0].Text
		for _, want := range []string{
			"Misconfigured bucket", "confidentiality", // (a) nature
			fmt.Sprintf("%d betrokkenen / data subjects, %d records", tc.subjects, tc.recs), "chat.message", // (a) categories, numbers
			"security@verwerker.example",                    // (b) contact point
			"Messages may have been read by third parties.", // (c) consequences
			"Bucket closed; access logs under review.",      // (d) measures
			"AVG art. 33 lid 2", "GDPR Art. 33(2)",          // Dutch and English
			tc.deadlineLocal,     // the processor's deadline in the customer's time
			"72 uur", "72 hours", // the controller's own clock
			"4d   How the breach was discovered: Alert of the storage scanner [recorded]",
			"6c   Number of records: " + fmt.Sprint(tc.recs) + " records, exact [derived]",
			"9b   Severity of the consequences: to follow / volgt (the controller assesses the risk) [missing]",
			"POST /v1/breach-acknowledgements/bak_",
		} {
			require.Contains(t, text, want)
		}
		for _, other := range []tenant.Tenant{a, c, d} {
			if other.ID != tc.tn.ID {
				require.NotContains(t, text, other.ID)
			}
		}
	}
	require.Empty(t, b.mails(t, "breach@"+strings.TrimPrefix(d.ContactEmail, "privacy@"), i.ID))

	// A phased update reaches the same controllers, even one whose counts
	// are now zero, and nobody else.
	b.clock.Advance(3 * time.Hour)
	updates, err := b.svc.Update(b.ctx, i.ID, "The access logs show 2 downloads.")
	require.NoError(t, err)
	require.Len(t, updates, 2)
	for _, u := range updates {
		require.Equal(t, 1, u.Phase)
		require.Equal(t, "The access logs show 2 downloads.", u.Content.Update)
	}
	waitFor(t, "the update's e-mails", func() bool {
		return len(b.mails(t, "breach@"+strings.TrimPrefix(c.ContactEmail, "privacy@"), "Update 1")) == 1 &&
			len(b.mails(t, "breach@"+strings.TrimPrefix(a.ContactEmail, "privacy@"), "Update 1")) == 1
	})
	require.Empty(t, b.mails(t, "breach@"+strings.TrimPrefix(d.ContactEmail, "privacy@"), "Update"))

	// Acknowledgements: Alpha by the API, Charlie by the link in its e-mail.
	n, err := b.svc.Acknowledge(verwerker.WithPrincipal(context.Background(), verwerker.Principal{ID: "usr_alpha"}), a.ID, i.ID, 0)
	require.NoError(t, err)
	require.Equal(t, "api", n.Acknowledgement.Via)
	_, err = b.svc.Acknowledge(b.ctx, d.ID, i.ID, 0)
	require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))
	text := b.mails(t, "breach@"+strings.TrimPrefix(c.ContactEmail, "privacy@"), "Melding datalek")[0].Text
	k := strings.Index(text, "/v1/breach-acknowledgements/")
	token := strings.Fields(text[k+len("/v1/breach-acknowledgements/"):])[0]
	n, err = b.svc.AcknowledgeLink(context.Background(), token)
	require.NoError(t, err)
	require.Equal(t, c.ID, n.TenantID)
	require.Equal(t, "link", n.Acknowledgement.Via)
	_, err = b.svc.AcknowledgeLink(context.Background(), token+"x")
	require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))

	// The customer's register shows only its own notices and counts.
	reg, err := b.svc.CustomerRegister(b.ctx, c.ID)
	require.NoError(t, err)
	require.Len(t, reg.Entries, 1)
	require.Len(t, reg.Entries[0].Notices, 2)
	raw, err := json.Marshal(reg)
	require.NoError(t, err)
	require.NotContains(t, string(raw), a.ID)
	html, err := reg.HTML()
	require.NoError(t, err)
	require.Contains(t, string(html), "Misconfigured bucket")
	require.Contains(t, string(html), "link")
	require.NotContains(t, string(html), a.ID)
	full, err := b.svc.FullRegister(b.ctx)
	require.NoError(t, err)
	require.Len(t, full.Entries[0].Notices, 4)

	times, err := b.svc.NotificationTimes(b.ctx)
	require.NoError(t, err)
	require.Len(t, times, 2)
	for _, nt := range times {
		require.True(t, nt.OnTime)
		require.Equal(t, list[0].Delivery.DeliveredAt.Sub(discovered), nt.Elapsed)
	}
	mine, err := b.svc.CustomerNotices(b.ctx, c.ID)
	require.NoError(t, err)
	require.Len(t, mine, 2)
}

// escalations returns the hours of the escalations Tick fires now.
func (b *bundle) tick(t *testing.T, s *breach.Service) []int {
	t.Helper()
	fired, err := s.Tick(b.ctx)
	require.NoError(t, err)
	out := []int{}
	for _, e := range fired {
		out = append(out, e.Hours)
	}
	return out
}

// TestEscalationAndRestart: a breach whose notice no channel can deliver
// (a webhook answering 500, no e-mail relay) is undelivered and escalates
// at exactly 24, 36 and 44 hours after discovery and is overdue at 48,
// each once, also after a restart in the middle (a new service on the same
// database); a breach whose notices were delivered does not escalate.
func TestEscalationAndRestart(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	a := b.customer(t, "Alpha B.V.", "alpha.example", "")
	ok := b.customer(t, "Okay B.V.", "okay.example", "")
	failing := newHook(t, http.StatusInternalServerError)
	_, _, err := b.outbox.SetEndpoint(context.Background(), a.ID, failing.srv.URL)
	require.NoError(t, err)
	good := newHook(t, http.StatusNoContent)
	_, _, err = b.outbox.SetEndpoint(context.Background(), ok.ID, good.srv.URL)
	require.NoError(t, err)
	discovered := start
	b.seed(t, a.ID, []string{"s1"}, "chat.message", "chat.message", discovered.Add(-3*time.Hour), 1)
	b.seed(t, ok.ID, []string{"s1"}, "chat.message", "chat.message", discovered.Add(-3*time.Hour), 1)

	bad := b.report(t, discovered, a.ID)
	fine := b.report(t, discovered, ok.ID)
	b.breachOf(t, bad.ID)
	b.breachOf(t, fine.ID)
	_, err = b.svc.Notify(b.ctx, bad.ID)
	require.NoError(t, err)
	_, err = b.svc.Notify(b.ctx, fine.ID)
	require.NoError(t, err)

	waitFor(t, "the failing webhook to make the notice undelivered", func() bool {
		list, err := b.svc.Notices(b.ctx, bad.ID)
		require.NoError(t, err)
		return list[0].Delivery.State == breach.DeliveryUndelivered
	})
	waitFor(t, "the good notice to be delivered", func() bool {
		list, err := b.svc.Notices(b.ctx, fine.ID)
		require.NoError(t, err)
		return list[0].Delivery.State == breach.DeliveryDelivered
	})
	list, err := b.svc.Notices(b.ctx, bad.ID)
	require.NoError(t, err)
	chans := map[string]string{}
	for _, ch := range list[0].Delivery.Channels {
		chans[ch.Channel] = ch.State + "/" + ch.Cause
	}
	require.Equal(t, "failing/http_500", chans["webhook"])
	require.Equal(t, "not_configured/smtp_not_configured", chans["email"])
	alarms, err := b.svc.Alarms(b.ctx)
	require.NoError(t, err)
	require.Len(t, alarms, 1)
	require.Equal(t, "breach_notice_undelivered", alarms[0].Kind)
	require.Equal(t, a.ID, alarms[0].TenantID)

	b.clock.Set(discovered.Add(24*time.Hour - time.Second))
	require.Empty(t, b.tick(t, b.svc))
	b.clock.Set(discovered.Add(24 * time.Hour))
	require.Equal(t, []int{24}, b.tick(t, b.svc))
	require.Empty(t, b.tick(t, b.svc), "once")
	b.clock.Set(discovered.Add(30 * time.Hour))
	require.Empty(t, b.tick(t, b.svc))

	// A restart: a new service on the same database keeps the clock.
	restarted := b.service(t)
	require.Empty(t, b.tick(t, restarted), "24 fired before the restart")
	b.clock.Set(discovered.Add(36 * time.Hour))
	require.Equal(t, []int{36}, b.tick(t, restarted))
	b.clock.Set(discovered.Add(44 * time.Hour))
	require.Equal(t, []int{44}, b.tick(t, restarted))
	b.clock.Set(discovered.Add(48*time.Hour - time.Second))
	require.Empty(t, b.tick(t, restarted))
	clocks, err := restarted.Clocks(b.ctx)
	require.NoError(t, err)
	require.Len(t, clocks, 2)
	byID := map[string]breach.Clock{clocks[0].IncidentID: clocks[0], clocks[1].IncidentID: clocks[1]}
	require.Equal(t, time.Second, byID[bad.ID].Left)
	require.Equal(t, "near", byID[bad.ID].Level)
	require.False(t, byID[bad.ID].Done)
	require.True(t, byID[fine.ID].Done)
	b.clock.Set(discovered.Add(48 * time.Hour))
	fired, err := restarted.Tick(b.ctx)
	require.NoError(t, err)
	require.Len(t, fired, 1)
	require.True(t, fired[0].Overdue())
	require.Equal(t, bad.ID, fired[0].IncidentID)
	require.Equal(t, []string{a.ID}, fired[0].Pending)

	alarms, err = restarted.Alarms(b.ctx)
	require.NoError(t, err)
	kinds := map[string]int{}
	for _, al := range alarms {
		kinds[al.Kind]++
		require.Equal(t, bad.ID, al.IncidentID)
	}
	require.Equal(t, map[string]int{"breach_overdue": 1, "breach_notice_undelivered": 1}, kinds)
	_, err = restarted.Close(b.ctx, bad.ID, "done")
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err), "not closed while a customer was not told")

	events, err := b.audit.Events(context.Background(), audit.PlatformChain, 0, 1000)
	require.NoError(t, err)
	n := map[string]int{}
	for _, e := range events {
		if e.Action == "breach.escalate" || e.Action == "breach.overdue" {
			require.Equal(t, bad.ID, e.Resource)
			n[e.Action]++
		}
	}
	require.Equal(t, map[string]int{"breach.escalate": 3, "breach.overdue": 1}, n)
}

// TestEscalationMailsTheDPO: each escalation of a breach clock is also
// e-mailed to the platform's DPO through the outbox (real SMTP), once per
// moment, with the customers still pending and a link to the incident
// under the public URL; once every notice is delivered the clock stops and
// no further escalation, alarm or e-mail follows; a breach notified in time
// never escalates.
func TestEscalationMailsTheDPO(t *testing.T) {
	t.Parallel()
	dpo := fmt.Sprintf("dpo-%d@verwerker.example", time.Now().UnixNano())
	b := setup(t, opts{smtp: true, options: breach.Options{DPOEmails: []string{dpo}, PublicURL: "https://verwerker.example/"}})
	a := b.customer(t, "Alpha B.V.", "alpha.example", "")
	ok := b.customer(t, "Okay B.V.", "okay.example", "")
	discovered := start
	b.seed(t, a.ID, []string{"s1"}, "chat.message", "chat.message", discovered.Add(-3*time.Hour), 1)
	b.seed(t, ok.ID, []string{"s1"}, "chat.message", "chat.message", discovered.Add(-3*time.Hour), 1)
	late := b.report(t, discovered, a.ID)
	fine := b.report(t, discovered, ok.ID)
	b.breachOf(t, late.ID)
	b.breachOf(t, fine.ID)
	_, err := b.svc.Scope(b.ctx, late.ID)
	require.NoError(t, err)
	_, err = b.svc.Notify(b.ctx, fine.ID)
	require.NoError(t, err)
	waitFor(t, "the timely notice to be delivered", func() bool {
		list, err := b.svc.Notices(b.ctx, fine.ID)
		require.NoError(t, err)
		return list[0].Delivery.State == breach.DeliveryDelivered
	})

	for _, h := range []int{24, 36} {
		b.clock.Set(discovered.Add(time.Duration(h)*time.Hour - time.Second))
		require.Empty(t, b.tick(t, b.svc))
		b.clock.Set(discovered.Add(time.Duration(h) * time.Hour))
		require.Equal(t, []int{h}, b.tick(t, b.svc))
		require.Empty(t, b.tick(t, b.svc), "once")
		subject := fmt.Sprintf("%d h after discovery", h)
		waitFor(t, "the DPO's e-mail at "+subject, func() bool { return len(b.mails(t, dpo, subject)) == 1 })
		m := b.mails(t, dpo, subject)[0]
		require.Equal(t, []string{dpo}, m.To)
		require.Contains(t, m.Subject, late.ID)
		require.Contains(t, m.Text, fmt.Sprintf("%d h 00 min left", 48-h))
		require.Contains(t, m.Text, "  - "+a.ID)
		require.NotContains(t, m.Text, ok.ID)
		require.Contains(t, m.Text, "https://verwerker.example/dashboard/breaches/"+late.ID)
	}

	// The notice goes out and is delivered by e-mail: the clock stops.
	b.clock.Set(discovered.Add(40 * time.Hour))
	_, err = b.svc.Notify(b.ctx, late.ID)
	require.NoError(t, err)
	waitFor(t, "the late notice to be delivered", func() bool {
		list, err := b.svc.Notices(b.ctx, late.ID)
		require.NoError(t, err)
		return list[0].Delivery.State == breach.DeliveryDelivered
	})
	for _, h := range []int{44, 48, 60} {
		b.clock.Set(discovered.Add(time.Duration(h) * time.Hour))
		require.Empty(t, b.tick(t, b.svc), "no escalation after delivery (%d h)", h)
	}
	alarms, err := b.svc.Alarms(b.ctx)
	require.NoError(t, err)
	require.Empty(t, alarms)
	all := b.mails(t, dpo, "")
	require.Len(t, all, 2, "the DPO got the 24 and 36 hour escalations only")
	for _, m := range all {
		require.NotContains(t, m.Subject, fine.ID)
	}
}

// TestDeadlinesAcrossDST: the 48 hours are exact elapsed hours, also when
// the clocks change in March and October in between; the notice states the
// deadline in the customer's local time accordingly.
func TestDeadlinesAcrossDST(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	ams, err := time.LoadLocation("Europe/Amsterdam")
	require.NoError(t, err)
	for _, tc := range []struct {
		discovered time.Time
		local      string
	}{
		// Saturday 28 March 12:00 CET; clocks go forward on Sunday 29.
		{time.Date(2026, time.March, 28, 12, 0, 0, 0, ams), "2026-03-30 13:00 CEST"},
		// Saturday 24 October 12:00 CEST; clocks go back on Sunday 25.
		{time.Date(2026, time.October, 24, 12, 0, 0, 0, ams), "2026-10-26 11:00 CET"},
	} {
		b.clock.Set(tc.discovered.Add(time.Hour))
		i, err := b.svc.Report(b.ctx, breach.Report{Title: "DST", DiscoveredAt: tc.discovered}, breach.ViaStaff)
		require.NoError(t, err)
		require.Equal(t, tc.discovered.UTC().Add(48*time.Hour), i.DeadlineAt)
		require.Equal(t, tc.local, i.DeadlineAt.In(ams).Format("2006-01-02 15:04 MST"))
		// Wall-clock arithmetic would be an hour off.
		require.NotEqual(t, tc.discovered.AddDate(0, 0, 2).UTC(), i.DeadlineAt)
		b.breachOf(t, i.ID)
		b.clock.Set(tc.discovered.Add(44*time.Hour - time.Nanosecond))
		fired := b.tick(t, b.svc)
		require.Equal(t, []int{24, 36}, fired, "a late tick fires what is due, nothing early")
		b.clock.Set(tc.discovered.Add(44 * time.Hour))
		require.Equal(t, []int{44}, b.tick(t, b.svc))
		_, err = b.svc.Dismiss(b.ctx, i.ID, "test done")
		require.NoError(t, err)
	}
}

// TestDemoBreaches: the demo register has a notified breach (one notice
// acknowledged, one not; the customers named in the report are affected
// though the records store holds nothing of theirs, numbers to follow) and
// a dismissed vulnerability.
func TestDemoBreaches(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	a := b.customer(t, "Alpha B.V.", "alpha.example", "")
	c := b.customer(t, "Charlie B.V.", "charlie.example", "")
	require.NoError(t, demo.SeedBreaches(context.Background(), b.clock, b.svc, []string{a.ID, c.ID}))
	reg, err := b.svc.FullRegister(b.ctx)
	require.NoError(t, err)
	require.Len(t, reg.Entries, 2)
	statuses := map[breach.Status]breach.Entry{}
	for _, e := range reg.Entries {
		statuses[e.Incident.Status] = e
	}
	br, v := statuses[breach.StatusBreach], statuses[breach.StatusDismissed]
	require.Len(t, br.Notices, 2)
	require.NotNil(t, br.Notices[0].Acknowledgement)
	require.Nil(t, br.Notices[1].Acknowledgement)
	require.Contains(t, br.Incident.Impact.Basis, "named_without_records")
	require.Contains(t, br.Notices[1].Content.ToFollow, "numbers")
	require.Empty(t, v.Notices)
	require.Equal(t, []string{"report", "triage", "dismiss"}, []string{v.History[0].Action, v.History[1].Action, v.History[2].Action})
}

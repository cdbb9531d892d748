package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/tenant"
)

// contractCustomer creates a customer in time zone tz with an active
// agreement and keys for its chat service, controller_admin and auditor.
type contractCustomer struct {
	id, chat, admin, auditor, viewer string
}

func newContractCustomer(t *testing.T, b *testBundle, name, tz string) contractCustomer {
	t.Helper()
	tn, err := b.tenants.Create(context.Background(), tenant.New{Name: name, Country: "NL", ContactEmail: "privacy@c.example", Timezone: tz})
	require.NoError(t, err)
	activeDPA(t, b, tn.ID)
	return contractCustomer{id: tn.ID,
		chat:    b.issue(t, policy.RoleChatService, tn.ID),
		admin:   b.issue(t, policy.RoleControllerAdmin, tn.ID),
		auditor: b.issue(t, policy.RoleAuditor, tn.ID),
		viewer:  b.issue(t, policy.RoleControllerViewer, tn.ID),
	}
}

// decide asks one question about the customer, as its chat service.
func (c contractCustomer) decide(t *testing.T, b *testBundle, category string) response {
	t.Helper()
	res := b.do(t, http.MethodPost, "/v1/decisions", c.chat,
		map[string]any{"tenant_id": c.id, "category": category, "purpose": "service.delivery", "region": "nl"})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	return res
}

// write stores one chat message of visitor as the customer's chat service.
func (c contractCustomer) write(t *testing.T, b *testBundle, visitor string) response {
	t.Helper()
	return b.do(t, http.MethodPost, "/v1/tenants/"+c.id+"/records", c.chat, map[string]any{"items": []any{map[string]any{
		"subject_ref": visitor, "kind": "chat.message", "category": "chat.message", "purpose": "service.delivery", "region": "nl",
		"content": map[string]any{"text": "Hallo"}}}})
}

func (c contractCustomer) status(t *testing.T, b *testBundle) map[string]any {
	t.Helper()
	res := b.do(t, http.MethodGet, "/v1/tenants/"+c.id, b.admin(t), nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	return res.json
}

// listed returns the ids of the tenants listed with status.
func listed(t *testing.T, b *testBundle, status string) []string {
	t.Helper()
	res := b.do(t, http.MethodGet, "/v1/tenants?status="+status, b.admin(t), nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	return itemIDs(t, res)
}

// auditActions lists the actions in the customer's audit chain.
func (c contractCustomer) auditActions(t *testing.T, b *testBundle) map[string]map[string]any {
	t.Helper()
	res := b.do(t, http.MethodGet, "/v1/tenants/"+c.id+"/audit/events?limit=1000", c.auditor, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	out := map[string]map[string]any{}
	for _, e := range res.json["items"].([]any) {
		ev := e.(map[string]any)
		out[ev["action"].(string)] = ev
	}
	return out
}

// TestContractEnd: a notice of termination with a future end date is not
// the end of the contract (MISSION promise 4, seed 000 art. 8.3). On the
// injected clock, the day before, the day of and the day after the
// contract's end in the customer's time zone: decisions and writes are
// allowed through the last day and denied (contract_terminated) from the
// first instant after it — with no call in between that could announce it;
// the status is terminating, then ended, in GET and in the listing; the
// customer's data cannot be erased before the end (a 409 naming the last
// day), and can after it.
func TestContractEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	c := newContractCustomer(t, b, "Contract End Inc.", "America/New_York")

	// Notice given on 2 March, the contract ends four months later.
	res := b.do(t, http.MethodPost, "/v1/tenants/"+c.id+"/termination", b.admin(t),
		map[string]any{"contract_end": "2026-07-15", "reason": "customer_notice"})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, "terminating", res.json["status"])
	require.Equal(t, "2026-07-16T00:00:00-04:00", res.json["contract_ends_at"], "local midnight after the last day, in the customer's time zone")
	require.Equal(t, "2026-08-14", res.json["purge_due"])

	// Right after the notice nothing changes for the chat service.
	d := c.decide(t, b, "chat.message")
	require.Equal(t, true, d.json["allow"], d.raw)
	require.Equal(t, http.StatusCreated, c.write(t, b, "visitor-1").status)

	// A customer's data under contract_end+30d is now due with the
	// customer's purge deadline.
	d = c.decide(t, b, "contact.email")
	require.Equal(t, true, d.json["allow"], d.raw)
	require.Equal(t, "2026-08-14", d.json["obligations"].(map[string]any)["deletion_deadline"])

	for _, step := range []struct {
		name   string
		at     time.Time
		status string
		allow  bool
	}{
		{"DayBefore", time.Date(2026, time.July, 14, 12, 0, 0, 0, ny), "terminating", true},
		{"LastDayBegins", time.Date(2026, time.July, 15, 0, 0, 0, 0, ny), "terminating", true},
		// 03:59:59 on 16 July in UTC and 05:59:59 in Amsterdam: still the
		// last day where the customer is.
		{"LastDayLastSecond", time.Date(2026, time.July, 15, 23, 59, 59, 0, ny), "terminating", true},
		{"DayAfterBegins", time.Date(2026, time.July, 16, 0, 0, 0, 0, ny), "ended", false},
		{"DayAfter", time.Date(2026, time.July, 16, 9, 0, 0, 0, ny), "ended", false},
	} {
		b.clock.Set(step.at)
		// Administrative keys expire within 90 days (identity.MaxAdminKeyLife):
		// four months on, the platform's and the customer's admins use new ones.
		b.issue(t, policy.RolePlatformAdmin, verwerker.PlatformDomain)
		c.admin = b.issue(t, policy.RoleControllerAdmin, c.id)
		// Asked first, before any other call at this time: the end of the
		// contract must take effect by the clock alone.
		d := c.decide(t, b, "chat.message")
		require.Equal(t, step.allow, d.json["allow"], "%s: %s", step.name, d.raw)
		batch := b.do(t, http.MethodPost, "/v1/decisions/batch", c.chat, map[string]any{"tenant_id": c.id,
			"items": []any{map[string]any{"category": "chat.message", "purpose": "service.delivery", "region": "nl"}}})
		require.Equal(t, http.StatusOK, batch.status, batch.raw)
		require.Equal(t, step.allow, batch.json["items"].([]any)[0].(map[string]any)["allow"], "%s: batch", step.name)
		w := c.write(t, b, "visitor-2")
		if step.allow {
			require.Equal(t, http.StatusCreated, w.status, "%s: %s", step.name, w.raw)
		} else {
			require.Equal(t, []string{policy.ReasonContractTerminated}, reasonCodes(t, d.json), step.name)
			require.Equal(t, http.StatusForbidden, w.status, "%s: %s", step.name, w.raw)
			require.Contains(t, w.problem(t).Detail, policy.ReasonContractTerminated)
		}

		got := c.status(t, b)
		require.Equal(t, step.status, got["status"], step.name)
		require.Contains(t, listed(t, b, step.status), c.id, step.name)
		for _, other := range []string{"active", "terminating", "ended"} {
			if other != step.status {
				require.NotContains(t, listed(t, b, other), c.id, "%s: listed as %s", step.name, other)
			}
		}

		if step.allow {
			// Before the end the customer's data cannot be erased: a 409
			// naming the last day and the instruction it would take.
			res := b.do(t, http.MethodPost, "/v1/tenants/"+c.id+"/erasure", b.admin(t), nil)
			require.Equal(t, http.StatusConflict, res.status, "%s: %s", step.name, res.raw)
			p := res.problem(t)
			require.Equal(t, verwerker.ECONFLICT, p.Code)
			require.Contains(t, p.Detail, "2026-07-15")
			require.Contains(t, p.Detail, "America/New_York")
			require.Contains(t, res.locations(t), "body.confirm")
			res = b.do(t, http.MethodPost, "/v1/tenants/"+c.id+"/erasure", c.admin, map[string]any{})
			require.Equal(t, http.StatusConflict, res.status, "%s: the controller_admin without the confirmation: %s", step.name, res.raw)
		}
	}

	// After the end: the erasure goes ahead, and the customer shows it.
	res = b.do(t, http.MethodPost, "/v1/tenants/"+c.id+"/erasure", b.admin(t), nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, "tenant", res.json["scope"])
	require.EqualValues(t, 4, res.json["records"], "visitor-1 once, visitor-2 three times before the end")
	got := c.status(t, b)
	require.Equal(t, "ended", got["status"])
	require.Equal(t, b.clock.Now().UTC().Format(time.RFC3339Nano), got["erased_at"])
	d = c.decide(t, b, "chat.message")
	require.Equal(t, []string{policy.ReasonContractTerminated, policy.ReasonCustomerDataErased}, reasonCodes(t, d.json))
	actions := c.auditActions(t, b)
	require.Contains(t, actions, "tenant.erase")
	require.NotContains(t, actions, "tenant.erase_instruction", "no early instruction was needed")
}

// TestEraseBeforeContractEnd: before the contract's end a customer's data
// is erased only on the explicit instruction of its own controller_admin,
// naming the consequence (confirm: erase_before_contract_end), and the
// instruction is audited; the erasure then stops every decision at once,
// although the contract runs on.
func TestEraseBeforeContractEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := newContractCustomer(t, b, "Early Erasure B.V.", "Europe/Amsterdam")
	confirm := map[string]any{"confirm": "erase_before_contract_end"}
	erase := func(token string, body any) response {
		return b.do(t, http.MethodPost, "/v1/tenants/"+c.id+"/erasure", token, body)
	}
	require.Equal(t, http.StatusCreated, c.write(t, b, "visitor-1").status)

	// A running contract without a termination is never erased.
	res := erase(c.admin, confirm)
	require.Equal(t, http.StatusConflict, res.status, res.raw)
	require.Contains(t, res.problem(t).Detail, "terminate the contract first")

	res = b.do(t, http.MethodPost, "/v1/tenants/"+c.id+"/termination", b.admin(t),
		map[string]any{"contract_end": "2026-12-31", "reason": "customer_notice"})
	require.Equal(t, http.StatusOK, res.status, res.raw)

	// The confirmation must say exactly what it consents to; nothing else
	// is an instruction (and the value is not repeated).
	res = erase(c.admin, map[string]any{"confirm": "yes-4711"})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
	require.Contains(t, res.locations(t), "body.confirm")
	require.NotContains(t, res.raw, "4711")
	// The confirmation is the customer's: the processor's platform admin
	// cannot give it, and a controller_viewer may not erase at all.
	res = erase(b.admin(t), confirm)
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
	require.Contains(t, res.locations(t), "body.confirm")
	res = erase(c.viewer, confirm)
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
	// Without the confirmation: a 409, nothing destroyed.
	res = erase(c.admin, nil)
	require.Equal(t, http.StatusConflict, res.status, res.raw)
	require.Equal(t, http.StatusCreated, c.write(t, b, "visitor-1").status, "nothing was destroyed")
	require.NotContains(t, c.auditActions(t, b), "tenant.erase_instruction")

	b.clock.Advance(time.Hour)
	res = erase(c.admin, confirm)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, "tenant", res.json["scope"])
	require.EqualValues(t, 2, res.json["records"])
	cert := res.json

	actions := c.auditActions(t, b)
	instruction := actions["tenant.erase_instruction"]
	require.NotNil(t, instruction, "the instruction is audited")
	require.Equal(t, b.keyIDs[credential{policy.RoleControllerAdmin, c.id}], instruction["actor"], "by the customer's controller_admin")
	require.Equal(t, "confirm=erase_before_contract_end contract_end=2026-12-31", instruction["reason"])
	erasure := actions["tenant.erase"]
	require.NotNil(t, erasure)
	require.Contains(t, erasure["reason"], "before_contract_end=true")
	require.Less(t, instruction["seq"].(float64), erasure["seq"].(float64), "the instruction is on record before the erasure")

	// The contract still runs, but the customer's data is gone and nothing
	// more is processed for it.
	got := c.status(t, b)
	require.Equal(t, "terminating", got["status"])
	require.Equal(t, b.clock.Now().UTC().Format(time.RFC3339Nano), got["erased_at"])
	d := c.decide(t, b, "chat.message")
	require.Equal(t, false, d.json["allow"])
	require.Equal(t, []string{policy.ReasonCustomerDataErased}, reasonCodes(t, d.json))
	w := c.write(t, b, "visitor-3")
	require.Equal(t, http.StatusConflict, w.status, w.raw)
	require.Equal(t, "the tenant's keys were shredded", w.problem(t).Detail)

	// Asking again returns the first certificate.
	res = erase(c.admin, confirm)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, cert["id"], res.json["id"])
}

// TestTerminatingCustomerGetsSubprocessorNotices: a terminating customer is
// still processed, so a subprocessor change concerns it and it gets its
// notice and objection window (GDPR Art. 28(2), (4)); a customer whose
// contract ended does not.
func TestTerminatingCustomerGetsSubprocessorNotices(t *testing.T) {
	t.Parallel()
	b := setup(t)
	terminating := newContractCustomer(t, b, "Still Running B.V.", "Europe/Amsterdam")
	ended := newContractCustomer(t, b, "Gone B.V.", "Europe/Amsterdam")
	for c, end := range map[string]string{terminating.id: "2026-12-31", ended.id: "2026-03-02"} {
		res := b.do(t, http.MethodPost, "/v1/tenants/"+c+"/termination", b.admin(t), map[string]any{"contract_end": end, "reason": "customer_notice"})
		require.Equal(t, http.StatusOK, res.status, res.raw)
	}
	b.clock.Advance(24 * time.Hour)
	require.Equal(t, "ended", ended.status(t, b)["status"])

	dpo := b.token(t, policy.RoleDPO, verwerker.PlatformDomain)
	r := b.do(t, http.MethodPost, "/v1/subprocessors", dpo, map[string]any{
		"id": "llm-eu", "name": "Mistral AI SAS", "service": "Language model that drafts chat answers",
		"locations": []string{"fr"}, "transfer_mechanism": "none", "categories": []string{"chat.message"}, "contract_date": "2026-02-01"})
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	r = b.do(t, http.MethodPost, "/v1/subprocessor-changes", dpo, map[string]any{
		"kind": "add", "subprocessor": "llm-eu", "effective_on": "2026-04-01", "description": "Better answers."})
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	var notified []string
	for _, n := range r.json["notices"].([]any) {
		notified = append(notified, n.(map[string]any)["tenant_id"].(string))
	}
	require.Contains(t, notified, terminating.id)
	require.NotContains(t, notified, ended.id)
}

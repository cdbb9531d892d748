package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/client"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/dpa/dpatest"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/tenant"
)

// activeDPA gives the tenant an active agreement: chat messages (30 days
// after the last interaction), e-mail addresses (contract end + 30 days),
// invoices (7 years); delivery, improvement and billing; the EEA and the
// US under SCCs.
func activeDPA(t *testing.T, b *testBundle, tenantID string) dpa.Version {
	t.Helper()
	sc := dpaScope()
	sc.Categories = []dpa.CategoryScope{
		{ID: "chat.message", Retention: dpa.Retention30DaysAfterLastInteraction},
		{ID: "contact.email", Retention: dpa.RetentionContractEndPlus30Days},
		{ID: "billing.invoice", Retention: dpa.RetentionStatutory7Years},
	}
	sc.Purposes = []string{"service.delivery", "service.improvement", "billing"}
	return dpatest.Activate(t, b.dpa, tenantID, sc)
}

// ask asks one question as the chat service of tenant A.
func ask(t *testing.T, b *testBundle, token string, fields map[string]any) response {
	t.Helper()
	body := map[string]any{"tenant_id": b.tenantA.ID, "category": "chat.message", "purpose": "service.delivery", "region": "nl"}
	for k, v := range fields {
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
	}
	return b.do(t, http.MethodPost, "/v1/decisions", token, body)
}

// reasonCodes returns the codes of a decision's reasons.
func reasonCodes(t *testing.T, d map[string]any) []string {
	t.Helper()
	var out []string
	for _, r := range d["reasons"].([]any) {
		m := r.(map[string]any)
		require.NotEmpty(t, m["ref"])
		require.NotEmpty(t, m["message"])
		out = append(out, m["code"].(string))
	}
	return out
}

func requireDecision(t *testing.T, res response, allow bool, codes ...string) map[string]any {
	t.Helper()
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, allow, res.json["allow"], res.raw)
	require.Equal(t, codes, reasonCodes(t, res.json), res.raw)
	require.True(t, verwerker.ValidID(verwerker.PrefixDecision, res.json["decision_id"].(string)))
	return res.json
}

// countEvents counts the tenant's audit events with the action.
func countEvents(t *testing.T, b *testBundle, chain, action string) int {
	t.Helper()
	var n int
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE chain = $1 AND action = $2`, chain, action).Scan(&n))
	return n
}

func TestDecisionsOverHTTP(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A := b.tenantA.ID
	chat := b.token(t, policy.RoleChatService, A)
	v := activeDPA(t, b, A)

	t.Run("InScopeWithObligations", func(t *testing.T) {
		d := requireDecision(t, ask(t, b, chat, nil), true, policy.ReasonInScope)
		require.EqualValues(t, 1, d["dpa_version"])
		require.Equal(t, v.ID, d["dpa_version_id"])
		require.Equal(t, "GDPR Art. 28(3)(a), 29; DPA v1 scope", d["reasons"].([]any)[0].(map[string]any)["ref"])
		o := d["obligations"].(map[string]any)
		require.Equal(t, dpa.Retention30DaysAfterLastInteraction, o["retention"])
		// Monday 2 March 2026 + 30 days: Wednesday 1 April (1182/71).
		require.Equal(t, "2026-04-01", o["deletion_deadline"])
		require.Equal(t, "tenant_keys/"+A, o["key_ref"])
		require.Equal(t, []any{"retention", "encrypt"}, o["actions"])

		d = requireDecision(t, ask(t, b, chat, map[string]any{"category": "contact.email"}), true, policy.ReasonInScope)
		require.Nil(t, d["obligations"].(map[string]any)["deletion_deadline"])
		require.Equal(t, dpa.RetentionContractEndPlus30Days, d["obligations"].(map[string]any)["retention"])
		d = requireDecision(t, ask(t, b, chat, map[string]any{"category": "billing.invoice", "purpose": "billing", "region": "us"}), true, policy.ReasonInScope)
		require.Equal(t, "2033-03-02", d["obligations"].(map[string]any)["deletion_deadline"])
	})

	t.Run("DeniedAndAudited", func(t *testing.T) {
		before := countEvents(t, b, A, "decision.deny")
		d := requireDecision(t, ask(t, b, chat, map[string]any{"category": "chat.metadata", "purpose": "marketing"}), false,
			policy.ReasonCategoryNotInScope, policy.ReasonPurposeNotInScope)
		require.Nil(t, d["obligations"])
		require.Equal(t, before+1, countEvents(t, b, A, "decision.deny"))
		var reason, resource string
		require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT reason, resource FROM audit_events WHERE chain = $1 AND action = 'decision.deny' ORDER BY seq DESC LIMIT 1`, A).Scan(&reason, &resource))
		require.Equal(t, d["decision_id"], resource)
		require.Equal(t, "codes=category_not_in_scope,purpose_not_in_scope dpa=1 category=chat.metadata purpose=marketing region=nl", reason)

		requireDecision(t, ask(t, b, chat, map[string]any{"region": "in"}), false, policy.ReasonTransferBasisMissing)
		requireDecision(t, ask(t, b, chat, map[string]any{"category": "special.health"}), false, policy.ReasonSpecialCategoryNotAllowed)
		requireDecision(t, ask(t, b, chat, map[string]any{"special_category": "special.religion"}), false, policy.ReasonSpecialCategoryNotAllowed)
		requireDecision(t, ask(t, b, chat, map[string]any{"subprocessor": "unknown-cdn"}), false, policy.ReasonSubprocessorNotAuthorised)
	})

	t.Run("SameInputSameAnswer", func(t *testing.T) {
		q := map[string]any{"category": "contact.phone", "region": "in", "purpose": "marketing"}
		first, second := ask(t, b, chat, q), ask(t, b, chat, q)
		require.Equal(t, first.json["reasons"], second.json["reasons"])
		require.NotEqual(t, first.json["decision_id"], second.json["decision_id"])
	})

	t.Run("Minors", func(t *testing.T) {
		d := requireDecision(t, ask(t, b, chat, map[string]any{"purpose": "service.improvement", "suspected_minor": true, "subject_ref": "visitor-minor"}),
			false, policy.ReasonMinorServiceImprovement)
		require.Equal(t, "seed 000 art. 9.5", d["reasons"].([]any)[0].(map[string]any)["ref"])
		sub := d["subject_id"].(string)
		require.True(t, verwerker.ValidID(verwerker.PrefixSubject, sub))
		d = requireDecision(t, ask(t, b, chat, map[string]any{"suspected_minor": true, "subject_ref": "visitor-minor"}), true, policy.ReasonInScope)
		require.Equal(t, []any{"retention", "encrypt", "delete_asap", "notify_controller"}, d["obligations"].(map[string]any)["actions"])
		require.Equal(t, sub, d["subject_id"])
		// Flagged once, audited with the subject's id only.
		require.Equal(t, 1, countEvents(t, b, A, "subject.minor_flag"))
		var flagged *time.Time
		require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT minor_flagged_at FROM subjects WHERE id = $1`, sub).Scan(&flagged))
		require.NotNil(t, flagged)
		var raw int
		require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE reason LIKE '%visitor-minor%' OR resource LIKE '%visitor-minor%'`).Scan(&raw))
		require.Zero(t, raw, "the raw subject reference reached the audit log")
	})

	t.Run("SubjectRestrictionAndObjection", func(t *testing.T) {
		admin := b.token(t, policy.RoleControllerAdmin, A)
		path := "/v1/tenants/" + A + "/subjects/restrictions"
		res := b.do(t, http.MethodPut, path, admin, map[string]any{"subject_ref": "visitor-18", "restricted": true})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		sub := res.json["subject_id"].(string)
		require.Equal(t, 1, countEvents(t, b, A, "subject.instruct"))
		requireDecision(t, ask(t, b, chat, map[string]any{"subject_ref": "visitor-18"}), false, policy.ReasonSubjectRestricted)
		requireDecision(t, ask(t, b, chat, map[string]any{"subject_ref": "visitor-other"}), true, policy.ReasonInScope)

		res = b.do(t, http.MethodPut, path, admin, map[string]any{"subject_ref": "visitor-18", "restricted": false, "objected_purposes": []string{"service.improvement"}})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		require.Equal(t, sub, res.json["subject_id"])
		requireDecision(t, ask(t, b, chat, map[string]any{"subject_ref": "visitor-18"}), true, policy.ReasonInScope)
		requireDecision(t, ask(t, b, chat, map[string]any{"subject_ref": "visitor-18", "purpose": "service.improvement"}), false, policy.ReasonSubjectObjected)

		// Only the controller instructs; unknown purposes are named.
		require.Equal(t, http.StatusForbidden, b.do(t, http.MethodPut, path, chat, map[string]any{"subject_ref": "x", "restricted": true}).status)
		res = b.do(t, http.MethodPut, path, admin, map[string]any{"subject_ref": "x", "restricted": false, "objected_purposes": []string{"training"}})
		require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
		require.Equal(t, []string{"body.objected_purposes[0]"}, res.locations(t))
	})

	t.Run("Batch", func(t *testing.T) {
		items := []map[string]any{
			{"category": "chat.message", "purpose": "service.delivery", "region": "de", "subject_ref": "visitor-18"},
			{"category": "chat.message", "purpose": "service.improvement", "region": "de", "subject_ref": "visitor-18"},
			{"category": "contact.phone", "purpose": "service.delivery", "region": "de"},
		}
		res := b.do(t, http.MethodPost, "/v1/decisions/batch", chat, map[string]any{"tenant_id": A, "items": items})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		got := res.json["items"].([]any)
		require.Len(t, got, 3)
		require.Equal(t, []string{policy.ReasonInScope}, reasonCodes(t, got[0].(map[string]any)))
		require.Equal(t, []string{policy.ReasonSubjectObjected}, reasonCodes(t, got[1].(map[string]any)))
		require.Equal(t, []string{policy.ReasonCategoryNotInScope}, reasonCodes(t, got[2].(map[string]any)))
	})

	t.Run("SubprocessorObjectionBlocksRoutes", func(t *testing.T) {
		ctx := context.Background()
		require.NoError(t, b.db.InTx(ctx, func(tx pgx.Tx) error {
			now := b.clock.Now()
			if _, err := tx.Exec(ctx, `INSERT INTO subprocessors (id, name, service, locations, transfer_mechanism, categories, contract_date, created_at, updated_at)
				VALUES ('cdn-eu', 'CDN B.V.', 'content delivery', '{eea}', 'none', '{chat.message}', '2026-01-01', $1, $1)`, now); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO subprocessor_changes (id, kind, subprocessor, effective_on, created_at, created_by)
				VALUES ('chg_test', 'add', 'cdn-eu', '2026-04-15', $1, 'usr_dpo')`, now); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO subprocessor_notices (tenant_id, change_id, window_days, notified_at, window_ends_at, effective_at, status, objected_at, objected_by, objection_reason)
				VALUES ($1, 'chg_test', 30, $2, $3, $3, 'objected', $2, 'usr_admin', 'not_needed')`, A, now, now.Add(30*24*time.Hour)); err != nil {
				return err
			}
			_, err := store.TouchDecisionState(ctx, tx, A)
			return err
		}))
		// The key's check reads the new version: no stale answer, even
		// without the notification.
		d := requireDecision(t, ask(t, b, chat, nil), false, policy.ReasonSubprocessorObjection)
		require.Equal(t, "GDPR Art. 28(2), 28(4); objection to change chg_test", d["reasons"].([]any)[0].(map[string]any)["ref"])
		requireDecision(t, ask(t, b, chat, map[string]any{"region": "us"}), true, policy.ReasonInScope)
		requireDecision(t, ask(t, b, chat, map[string]any{"category": "contact.email"}), true, policy.ReasonInScope)
	})

	t.Run("AllowsAggregated", func(t *testing.T) {
		before := countEvents(t, b, A, "decision.allow.aggregate")
		require.NoError(t, b.decisions.Flush(context.Background()))
		require.Equal(t, before+1, countEvents(t, b, A, "decision.allow.aggregate"))
		var reason string
		require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT reason FROM audit_events WHERE chain = $1 AND action = 'decision.allow.aggregate'`, A).Scan(&reason))
		require.True(t, strings.HasPrefix(reason, "allowed="), reason)
		require.Contains(t, reason, "chat.message/service.delivery=")
		require.NoError(t, b.decisions.Flush(context.Background()))
		require.Equal(t, before+1, countEvents(t, b, A, "decision.allow.aggregate"), "nothing new to flush")
	})
}

func TestDecisionStateChanges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A, B := b.tenantA.ID, b.tenantB.ID
	chat := b.token(t, policy.RoleChatService, A)

	// No agreement yet: deny by default.
	requireDecision(t, ask(t, b, chat, nil), false, policy.ReasonNoActiveDPA)
	activeDPA(t, b, A)
	requireDecision(t, ask(t, b, chat, nil), true, policy.ReasonInScope)

	// Tenant B's chat service has its own answer: no agreement.
	chatB := b.token(t, policy.RoleChatService, B)
	res := b.do(t, http.MethodPost, "/v1/decisions", chatB, map[string]any{"tenant_id": B, "category": "chat.message", "purpose": "service.delivery", "region": "nl"})
	requireDecision(t, res, false, policy.ReasonNoActiveDPA)

	// A notice of termination is not the end: through the contract's last
	// day (today) processing is allowed; from the first instant after it
	// everything is denied.
	_, err := b.tenants.Terminate(context.Background(), A, tenant.Termination{ContractEnd: deadline.DateOf(b.clock.Now()), Reason: tenant.ReasonCustomerNotice})
	require.NoError(t, err)
	requireDecision(t, ask(t, b, chat, nil), true, policy.ReasonInScope)
	b.clock.Advance(24 * time.Hour)
	d := requireDecision(t, ask(t, b, chat, nil), false, policy.ReasonContractTerminated)
	require.EqualValues(t, 0, d["dpa_version"])
}

func TestDecisionBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A := b.tenantA.ID
	chat := b.token(t, policy.RoleChatService, A)
	activeDPA(t, b, A)

	for _, tc := range []struct {
		fields map[string]any
		loc    string
	}{
		{map[string]any{"category": "chat.everything"}, "body.category"},
		{map[string]any{"purpose": "training"}, "body.purpose"},
		{map[string]any{"region": "mars"}, "body.region"},
		{map[string]any{"tenant_id": nil}, "body.tenant_id"},
		{map[string]any{"tenant_id": "acme"}, "body.tenant_id"},
		{map[string]any{"special_category": "chat.message"}, "body.special_category"},
		{map[string]any{"subject_ref": strings.Repeat("x", 129)}, "body.subject_ref"},
		{map[string]any{"subprocessor": "Not An Id"}, "body.subprocessor"},
	} {
		res := ask(t, b, chat, tc.fields)
		require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
		require.Equal(t, []string{tc.loc}, res.locations(t), res.raw)
		requireNoLeak(t, res.raw)
		require.NotContains(t, res.raw, "chat.everything")
	}

	// Batches: items are named by index, more than the maximum is a 413.
	items := []map[string]any{{"category": "chat.message", "purpose": "service.delivery", "region": "nl"}, {"category": "chat.message", "purpose": "service.delivery", "region": "atlantis"}}
	res := b.do(t, http.MethodPost, "/v1/decisions/batch", chat, map[string]any{"tenant_id": A, "items": items})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
	require.Equal(t, []string{"body.items[1].region"}, res.locations(t))
	many := make([]map[string]any, 1001)
	for i := range many {
		many[i] = items[0]
	}
	res = b.do(t, http.MethodPost, "/v1/decisions/batch", chat, map[string]any{"tenant_id": A, "items": many})
	require.Equal(t, http.StatusRequestEntityTooLarge, res.status, res.raw)
	require.Equal(t, []string{"body.items"}, res.locations(t))
	res = b.do(t, http.MethodPost, "/v1/decisions/batch", chat, map[string]any{"tenant_id": A, "items": many[:1000]})
	require.Equal(t, http.StatusOK, res.status)

	// Another tenant's key cannot ask about this tenant; the attempt is audited.
	before := countEvents(t, b, audit.PlatformChain, "authz.deny")
	res = b.do(t, http.MethodPost, "/v1/decisions", b.token(t, policy.RoleChatService, b.tenantB.ID),
		map[string]any{"tenant_id": A, "category": "chat.message", "purpose": "service.delivery", "region": "nl"})
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
	require.Equal(t, before+1, countEvents(t, b, audit.PlatformChain, "authz.deny"))
	// Nor can the customer's other roles or the platform's.
	for _, tok := range []string{b.token(t, policy.RoleControllerAdmin, A), b.admin(t)} {
		res = ask(t, b, tok, nil)
		require.Equal(t, http.StatusForbidden, res.status, res.raw)
	}
}

// TestClient: the Go client of the chat service against a real server:
// decide, then store only what is allowed.
func TestClient(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A := b.tenantA.ID
	activeDPA(t, b, A)
	ctx := context.Background()
	c := client.New(b.http.URL, A, b.token(t, policy.RoleChatService, A), nil)

	d, err := c.Decide(ctx, client.Question{Category: "chat.message", Purpose: "service.delivery", Region: "nl", SubjectRef: "v-1", SuspectedMinor: true})
	require.NoError(t, err)
	require.True(t, d.Allow)
	// A suspected minor's data: due 24 hours after the decision (seed 000
	// art. 9.5), not the category's 30 days.
	require.Equal(t, "2026-03-03", d.Obligations.DeletionDeadline)
	require.True(t, b.clock.Now().Add(24*time.Hour).Equal(*d.Obligations.DeletionDue))
	require.True(t, d.Must("delete_asap"))
	require.NotEmpty(t, d.SubjectID)

	ds, err := c.DecideBatch(ctx, []client.Question{
		{Category: "chat.message", Purpose: "service.delivery", Region: "us"},
		{Category: "chat.message", Purpose: "marketing", Region: "nl"},
	})
	require.NoError(t, err)
	require.True(t, ds[0].Allow)
	require.False(t, ds[1].Allow)
	require.Equal(t, policy.ReasonPurposeNotInScope, ds[1].Reasons[0].Code)

	_, err = c.Decide(ctx, client.Question{Category: "nope", Purpose: "service.delivery", Region: "nl"})
	var e *client.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, http.StatusUnprocessableEntity, e.Status)
	require.Equal(t, "body.category", e.Errors[0].Location)

	other := client.New(b.http.URL, b.tenantB.ID, b.token(t, policy.RoleChatService, A), nil)
	_, err = other.Decide(ctx, client.Question{Category: "chat.message", Purpose: "service.delivery", Region: "nl"})
	require.ErrorAs(t, err, &e)
	require.Equal(t, http.StatusForbidden, e.Status)
}

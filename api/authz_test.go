package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/api"
	"github.com/verwerker/verwerker/breach"
	"github.com/verwerker/verwerker/dsr"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/retention"
	"github.com/verwerker/verwerker/subprocessor"
)

// documentedOperation is one operation of the OpenAPI document.
type documentedOperation struct {
	method, path string
	op           *huma.Operation
}

// operations walks the OpenAPI document in a stable order.
func operations(doc *huma.OpenAPI) []documentedOperation {
	var ops []documentedOperation
	for path, item := range doc.Paths {
		for _, mo := range []struct {
			method string
			op     *huma.Operation
		}{
			{http.MethodGet, item.Get}, {http.MethodPut, item.Put}, {http.MethodPost, item.Post},
			{http.MethodDelete, item.Delete}, {http.MethodOptions, item.Options}, {http.MethodHead, item.Head},
			{http.MethodPatch, item.Patch}, {http.MethodTrace, item.Trace},
		} {
			if mo.op != nil {
				ops = append(ops, documentedOperation{mo.method, path, mo.op})
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].op.OperationID < ops[j].op.OperationID })
	return ops
}

// TestEveryOperationIsAuthorized walks every operation of the OpenAPI
// document and calls it with no key and with the key of every role in the
// platform, tenant A and tenant B. Tenant-scoped operations are called on
// tenant A. Request bodies are empty objects, so that a caller who is let
// through gets a validation error and nothing changes.
func TestEveryOperationIsAuthorized(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A := b.tenantA.ID
	ctx := context.Background()
	// Objects the operations act on, sacrificed to whoever may act on them.
	tenantKey, _, err := b.keys.Issue(ctx, identity.NewKey{Label: "sacrificial", Role: policy.RoleAuditor, Domain: A})
	require.NoError(t, err)
	platformKey, _, err := b.keys.Issue(ctx, identity.NewKey{Label: "sacrificial", Role: policy.RoleSupport, Domain: verwerker.PlatformDomain})
	require.NoError(t, err)
	user, _, err := b.people.Create(ctx, identity.NewUser{Email: "sacrificial@a.example", DisplayName: "Sacrificial", Role: policy.RoleControllerViewer, Domain: A})
	require.NoError(t, err)
	dpaVersion, err := b.dpa.Create(ctx, A, dpaScope())
	require.NoError(t, err)
	// Offered, so that the customer's roles see it (drafts are the processor's).
	_, err = b.dpa.Offer(ctx, A, dpaVersion.Number)
	require.NoError(t, err)
	change, _, err := b.subs.Propose(ctx, subprocessor.Proposal{Kind: subprocessor.ChangeAdd, Subprocessor: "mail-eu", EffectiveOn: "2026-06-01", Description: "Sacrificial"})
	require.NoError(t, err)
	// Before A has a webhook endpoint: nothing to enqueue for its notice.
	incident, err := b.app.Breaches.Report(ctx, breach.Report{Title: "Sacrificial", DiscoveredAt: b.clock.Now(), Tenants: []string{A},
		Kinds: []string{"confidentiality"}}, breach.ViaStaff)
	require.NoError(t, err)
	_, err = b.app.Breaches.Triage(ctx, incident.ID, breach.Assessment{Actual: true, PersonalData: true})
	require.NoError(t, err)
	_, err = b.app.Breaches.Notify(ctx, incident.ID)
	require.NoError(t, err)
	_, _, err = b.outbox.SetEndpoint(ctx, A, "https://hooks.a.example/verwerker")
	require.NoError(t, err)
	messageID := verwerker.NewID(notify.PrefixMessage, b.clock.Now())
	_, err = b.db.Pool.Exec(ctx, `INSERT INTO outbox_messages (tenant_id, id, kind, idempotency_key, content_hash, event_type, rendered, created_at)
		VALUES ($1, $2, 'webhook', 'sacrificial', '\x00', 'test', '{}', $3)`, A, messageID, b.clock.Now())
	require.NoError(t, err)
	certificateID := verwerker.NewID(verwerker.PrefixDeletionCertificate, b.clock.Now())
	_, err = b.db.Pool.Exec(ctx, `INSERT INTO deletion_certificates (tenant_id, id, scope, subject_id, what, records_count, subjects_count,
			key_versions_destroyed, erased_at, audit_seq, audit_hash, created_at)
		VALUES ($1, $2, 'subject', 'sub_sacrificial', '{}', 0, 1, '{}', $3, 1, '\x00', $3)`, A, certificateID, b.clock.Now())
	require.NoError(t, err)
	// A data-subject request with an export, inserted as its tables hold it.
	tenantVerification, err := b.audit.StartVerification(ctx, A, "system")
	require.NoError(t, err)
	platformVerification, err := b.audit.StartVerification(ctx, "platform", "system")
	require.NoError(t, err)
	requestID := verwerker.NewID(dsr.PrefixRequest, b.clock.Now())
	_, err = b.db.Pool.Exec(ctx, `INSERT INTO dsr_requests (tenant_id, id, type, state, source, received_at, due_last_day, due_at, forward_due_at, created_at, updated_at, failure, failed_at)
		VALUES ($1, $2, 'access', 'failed', 'controller', $3, '2026-04-02', $3, $3, $3, $3, 'forward webhook=http_500', $3)`, A, requestID, b.clock.Now())
	require.NoError(t, err)
	_, err = b.db.Pool.Exec(ctx, `INSERT INTO dsr_exports (tenant_id, request_id, zip, records, created_at, expires_at) VALUES ($1, $2, '\x00', 0, $3, $4)`,
		A, requestID, b.clock.Now(), b.clock.Now().Add(240*time.Hour))
	require.NoError(t, err)

	holdID, sweepID := verwerker.NewID(retention.PrefixHold, b.clock.Now()), verwerker.NewID(retention.PrefixSweep, b.clock.Now())
	_, err = b.db.Pool.Exec(ctx, `INSERT INTO legal_holds (tenant_id, id, scope, reason, owner, review_on, placed_by, placed_at)
		VALUES ($1, $2, 'tenant', 'sacrificial', 'legal', '2030-01-01', 'key_test', $3)`, A, holdID, b.clock.Now())
	require.NoError(t, err)
	_, err = b.db.Pool.Exec(ctx, `INSERT INTO retention_sweeps (tenant_id, id, cutoff, status, started_at) VALUES ($1, $2, $3, 'running', $3)`,
		A, sweepID, b.clock.Now())
	require.NoError(t, err)

	for _, o := range operations(b.server.OpenAPI()) {
		perm, _ := o.op.Extensions["x-verwerker-permission"].(string)
		scope, _ := o.op.Extensions["x-verwerker-domain"].(string)
		sessionOnly := o.op.Extensions["x-verwerker-credential"] == "session_mfa"
		keyID := platformKey.ID
		if strings.Contains(o.path, "{tenant_id}") {
			keyID = tenantKey.ID
		}
		verificationID := "dsv_01KJPWD6M2SCEZHYAQBMJ68TSM" // a data-subject request's
		switch {
		case strings.HasPrefix(o.path, "/v1/audit/verifications/"):
			verificationID = platformVerification.ID
		case strings.Contains(o.path, "/audit/verifications/"):
			verificationID = tenantVerification.ID
		}
		path := strings.NewReplacer("{tenant_id}", A, "{key_id}", keyID, "{user_id}", user.ID,
			"{session_id}", "ses_01KJPWD6M2SCEZHYAQBMJ68TSM", "{version}", strconv.Itoa(dpaVersion.Number),
			"{subprocessor_id}", "hosting-eu", "{change_id}", change.ID, "{message_id}", messageID,
			"{certificate_id}", certificateID, "{request_id}", requestID,
			"{verification_id}", verificationID, "{hold_id}", holdID, "{sweep_id}", sweepID,
			"{incident_id}", incident.ID, "{phase}", "0", "{token}", "bak_x").Replace(o.path)
		path = strings.ReplaceAll(path, "{slug}", "aaaaaaaaaaaaaaaaaaaaaaaaaa") // a public page nobody has
		require.NotContains(t, path, "{", "%s: a path parameter this test does not know", o.op.OperationID)
		var body any
		if o.method != http.MethodGet {
			body = map[string]any{}
		}
		if scope == "body.tenant_id" {
			// The tenant is in the body: send the documented example,
			// about tenant A.
			body = bodyExample(t, o.op, A)
		}

		t.Run(o.op.OperationID+"/NoKey", func(t *testing.T) {
			t.Parallel()
			res := b.do(t, o.method, path, "", body)
			if perm == api.Public {
				require.NotEqual(t, http.StatusUnauthorized, res.status, res.raw)
				require.Less(t, res.status, 500, res.raw)
				return
			}
			require.Equal(t, http.StatusUnauthorized, res.status, res.raw)
			require.NotEmpty(t, res.header.Get("WWW-Authenticate"))
		})
		if perm == api.Public {
			continue
		}
		require.NotEmpty(t, perm, o.op.OperationID)

		for c, tok := range b.tokens {
			name := o.op.OperationID + "/" + c.role + "@" + domainName(b, c.domain)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				dom := verwerker.PlatformDomain
				if scope == "tenant_id" || scope == "body.tenant_id" {
					dom = A
				}
				allowed := expectAllowed(c, perm, dom)

				res := b.do(t, o.method, path, tok, body)
				require.Less(t, res.status, 500, res.raw)
				require.NotEqual(t, http.StatusUnauthorized, res.status, res.raw)
				if allowed && sessionOnly {
					// Creating credentials needs a person's verified
					// session; an API key is told so.
					require.Equal(t, http.StatusForbidden, res.status, res.raw)
					require.Contains(t, res.problem(t).Detail, "second factor (TOTP)")
					return
				}
				if allowed {
					require.NotEqual(t, http.StatusForbidden, res.status, res.raw)
					require.NotEqual(t, http.StatusNotFound, res.status, res.raw)
					return
				}
				// Another tenant's objects are hidden; in one's own tenant or
				// on the platform a missing permission is a 403.
				want := http.StatusForbidden
				// (A tenant named in the body is the caller's own claim:
				// asking about another tenant is a 403.)
				if scope == "tenant_id" && c.domain != dom && c.domain != verwerker.PlatformDomain {
					want = http.StatusNotFound
				}
				require.Equal(t, want, res.status, res.raw)
				require.Empty(t, res.header.Get("WWW-Authenticate"))
			})
		}

		// People act through sessions; the operations that create
		// credentials let only them through.
		if sessionOnly {
			t.Run(o.op.OperationID+"/Session", func(t *testing.T) {
				t.Parallel()
				role, dom := policy.RolePlatformAdmin, verwerker.PlatformDomain
				if scope == "tenant_id" {
					role, dom = policy.RoleControllerAdmin, A
				}
				res := send(t, b.http, o.method, path, call{cookie: b.session(t, role, dom), body: body})
				require.Less(t, res.status, 500, res.raw)
				require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound}, res.status, res.raw)
			})
		}
	}
}

// bodyExample returns the operation's documented request body example with
// its tenant_id set to tenant.
func bodyExample(t *testing.T, op *huma.Operation, tenant string) map[string]any {
	t.Helper()
	require.NotNil(t, op.RequestBody, "%s: no request body", op.OperationID)
	mt := op.RequestBody.Content["application/json"]
	require.NotNil(t, mt, "%s: no JSON request body", op.OperationID)
	raw, err := json.Marshal(mt.Example)
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.Unmarshal(raw, &body), "%s: the request body needs an example object", op.OperationID)
	body["tenant_id"] = tenant
	return body
}

// expectAllowed is the authorization matrix as specified, independent of
// the implementation: the operations on oneself are open to every
// authenticated principal; otherwise the role must grant the permission,
// and a tenant role holds only in its own tenant, a platform role
// everywhere.
func expectAllowed(c credential, perm, dom string) bool {
	if perm == api.Authenticated || perm == api.Self {
		return true
	}
	if !slices.Contains(policy.Grants[c.role], perm) {
		return false
	}
	return policy.IsPlatformRole(c.role) || c.domain == dom
}

func domainName(b *testBundle, domain string) string {
	switch domain {
	case b.tenantA.ID:
		return "A"
	case b.tenantB.ID:
		return "B"
	}
	return domain
}

// TestNoAuthenticatorDeniesAll: a server without an authenticator or an
// authorizer refuses every operation that is not public.
func TestNoAuthenticatorDeniesAll(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(api.New(api.Config{Version: "test"}, api.Deps{}))
	t.Cleanup(srv.Close)
	b := &testBundle{http: srv}

	for _, o := range operations(api.New(api.Config{}, api.Deps{}).OpenAPI()) {
		perm, _ := o.op.Extensions["x-verwerker-permission"].(string)
		if perm == api.Public {
			continue
		}
		t.Run(o.op.OperationID, func(t *testing.T) {
			t.Parallel()
			path := strings.ReplaceAll(o.path, "{tenant_id}", verwerker.NewID(verwerker.PrefixTenant, testStart))
			res := b.do(t, o.method, path, "vwk_000000000000_"+strings.Repeat("A", 43), map[string]any{})
			require.Equal(t, http.StatusForbidden, res.status, res.raw)
			require.Equal(t, verwerker.EFORBIDDEN, res.problem(t).Code)
		})
	}
}

package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/identity"
)

// Special permissions. Every other permission is a policy permission,
// checked in the operation's domain.
const (
	// Public marks an operation that needs no credentials. Everything else
	// is denied unless the caller holds the operation's permission.
	Public = "public"
	// Authenticated allows any authenticated principal, including a
	// person's session that still has to enrol its second factor: reading
	// oneself, enrolling TOTP, logging out.
	Authenticated = "authenticated"
	// Self allows any authenticated principal acting on its own account,
	// once two-factor authentication is complete.
	Self = "self"
)

// Extension names in the OpenAPI document.
const (
	extPermission = "x-verwerker-permission"
	extDomain     = "x-verwerker-domain"
	// extCredential names the credential an operation needs beyond its
	// permission: credentialSession.
	extCredential = "x-verwerker-credential"
)

// credentialSession marks operations that create credentials (API keys,
// accounts): only a person's session with a verified second factor may
// call them, never an API key (identity.ErrSessionRequired).
const credentialSession = "session_mfa"

// sessionOnly marks op as callable only from a person's session with a
// verified second factor.
func sessionOnly(op huma.Operation) huma.Operation {
	if op.Extensions == nil {
		op.Extensions = map[string]any{}
	}
	op.Extensions[extCredential] = credentialSession
	return op
}

// domain says where an operation's authorization domain comes from.
type domain string

const (
	platformScope domain = "platform"  // platform-wide: tenants list, subprocessors, breaches
	tenantScope   domain = "tenant_id" // the {tenant_id} path parameter
	// bodyTenantScope: the tenant_id field of the request body. The gate
	// checks the permission in the caller's own tenant (a machine key's
	// domain); the handler checks it in the body's tenant (allowedIn),
	// and another tenant is a 403.
	bodyTenantScope domain = "body.tenant_id"
)

// register adds an operation with the permission it needs and the domain the
// permission is checked in. Declaring both here, in one place, is what lets
// the authorization test walk every operation of the OpenAPI document.
func register[I, O any](s *Server, op huma.Operation, permission string, d domain, h func(context.Context, *I) (*O, error)) {
	if op.Extensions == nil {
		op.Extensions = map[string]any{}
	}
	op.Extensions[extPermission] = permission
	if permission != Public {
		if permission != Authenticated && permission != Self {
			op.Extensions[extDomain] = string(d)
		}
		op.Security = []map[string][]string{{"apiKey": {}}, {"session": {}}}
		if op.Extensions[extCredential] == credentialSession {
			op.Security = []map[string][]string{{"session": {}}}
		}
		op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusForbidden)
		if d == tenantScope {
			op.Errors = append(op.Errors, http.StatusNotFound)
		}
	} else {
		op.Security = []map[string][]string{}
	}
	if op.Method != http.MethodGet {
		op.Errors = append(op.Errors, http.StatusUnprocessableEntity)
	}
	// checkInput reads the body within bodyReadTimeout; Huma then reads
	// the copy with the connection's read deadline lifted. Huma's own
	// timeout would leave the deadline on the connection while the
	// handler runs, and when it passes, net/http cancels the request's
	// context: a handler slower than the body timeout (a large export, a
	// busy database) would fail midway.
	op.BodyReadTimeout = -1
	sync := op.Method != http.MethodGet && !hotPath[op.OperationID]
	huma.Register(s.api, op, func(ctx context.Context, in *I) (*O, error) {
		out, err := h(ctx, in)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		if sync && s.deps.Sync != nil {
			s.sync(ctx)
		}
		return out, nil
	})
}

// hotPath names the operations of the chat service's hot path: they change
// nothing a replica keeps in memory, so they do not wait for replicas.
var hotPath = map[string]bool{"decide": true, "decideBatch": true, "writeRecords": true}

// syncTimeout bounds the wait for replicas after a change: beyond twice
// the longest lease (VERWERKER_REPLICA_LEASE), after which a silent replica
// has stopped trusting its caches anyway. Deps.Sync may bound it tighter.
const syncTimeout = 2*time.Minute + 5*time.Second

// sync waits until every replica has taken in the changes of this request.
// The change is committed: a failure is logged, not answered.
func (s *Server) sync(ctx context.Context) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), syncTimeout)
	defer cancel()
	if err := s.deps.Sync(c); err != nil {
		s.logger.Warn("waiting for replicas after a change failed; they catch up when their leases end", "request_id", RequestID(ctx), "error", err.Error())
	}
}

// problem maps err to a problem response and keeps the cause for the access
// log, so operators see what callers must not.
func (s *Server) problem(ctx context.Context, err error) error {
	ri := infoFrom(ctx)
	var op *huma.Operation
	if ri != nil {
		op = ri.operation
	}
	p := fromErrorIn(err, s.locator(op))
	p.Instance = instance(RequestID(ctx))
	if p.sqlState != "" {
		// A gap in input validation: worth an operator's look.
		s.logger.Warn("the database refused input that passed validation", "request_id", RequestID(ctx), "sqlstate", p.sqlState)
		if ri != nil {
			ri.cause = fmt.Errorf("the database refused the input (SQLSTATE %s)", p.sqlState)
		}
		return p
	}
	if ri != nil && (p.Status >= 500 || verwerker.ErrorCode(err) == verwerker.EINTERNAL) {
		ri.cause = err
	}
	return p
}

// recordDenial writes an authorization denial to the platform chain: the
// principal, the operation and the domain it reached for; never the request.
// A failure to record is logged but does not turn the denial into an error.
func (s *Server) recordDenial(ctx context.Context, p verwerker.Principal, opID, perm, dom string) {
	if s.deps.Audit == nil {
		return
	}
	if len(dom) > 64 {
		dom = dom[:64]
	}
	_, err := s.deps.Audit.Append(ctx, audit.Event{Chain: audit.PlatformChain, Actor: p.ID, Action: "authz.deny",
		Resource: sanitizeASCII(dom), Outcome: audit.Denied, Reason: "missing " + perm + " for " + opID})
	if err != nil {
		s.logger.Error("audit: recording a denial failed", "request_id", RequestID(ctx), "error", err.Error())
	}
}

// allowedIn checks the caller's permission in a tenant named in the request
// body (operations registered with bodyTenantScope). A denial is audited
// and is a 403: the tenant is the caller's own claim, so nothing is hidden.
func (s *Server) allowedIn(ctx context.Context, perm, tenantID string) error {
	p, _ := verwerker.PrincipalFrom(ctx)
	if p.Domain == tenantID {
		// The gate checked the permission in the caller's own tenant.
		return nil
	}
	ok, err := s.deps.Authz.Allowed(ctx, p, perm, tenantID)
	if err != nil {
		return &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "the access policy cannot be checked now", Err: err}
	}
	if !ok {
		s.recordDenial(ctx, p, "body.tenant_id", perm, tenantID)
		return verwerker.Errorf(verwerker.EFORBIDDEN, "you do not have the permission %s for this tenant", perm)
	}
	return nil
}

// sanitizeASCII keeps only characters the audit alphabet allows.
func sanitizeASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = '?'
		}
	}
	return string(b)
}

// authorize is the deny-by-default gate in front of every operation.
func (s *Server) authorize(ctx huma.Context, next func(huma.Context)) {
	op := ctx.Operation()
	perm, _ := op.Extensions[extPermission].(string)
	if perm == Public {
		next(ctx)
		return
	}
	deny := func(status int, msg string) {
		p := newProblem(status, msg).(*Problem)
		p.Instance = instance(RequestID(ctx.Context()))
		if status == http.StatusUnauthorized {
			ctx.SetHeader("WWW-Authenticate", `Bearer realm="verwerker"`)
		}
		_ = huma.WriteErr(s.api, ctx, status, p.Detail)
	}
	if perm == "" || s.deps.Authn == nil || s.deps.Authz == nil {
		// An operation without a declared permission is a bug: refuse it.
		deny(http.StatusForbidden, "this operation is not available")
		return
	}
	r, _ := humago.Unwrap(ctx)
	if !plainCredentials(r) {
		deny(http.StatusUnauthorized, "valid credentials are required")
		return
	}
	p, err := s.deps.Authn.Authenticate(ctx.Context(), r)
	if err != nil {
		if verwerker.ErrorCode(err) == verwerker.EUNAVAILABLE {
			deny(http.StatusServiceUnavailable, "")
			return
		}
		deny(http.StatusUnauthorized, "valid credentials are required")
		return
	}
	if ri := infoFrom(ctx.Context()); ri != nil {
		ri.principal = p.ID
	}
	// An operation that creates credentials needs a person's session with
	// a verified second factor: checked once the permission is, so that
	// another tenant stays hidden.
	session := func() bool {
		if op.Extensions[extCredential] != credentialSession || (p.Kind == verwerker.PrincipalUser && !p.MFAPending) {
			return true
		}
		s.recordDenial(ctx.Context(), p, op.OperationID, credentialSession, "session")
		deny(http.StatusForbidden, verwerker.ErrorMessage(identity.ErrSessionRequired))
		return false
	}
	if perm == Authenticated || (perm == Self && !p.MFAPending) {
		if session() {
			next(huma.WithContext(ctx, verwerker.WithPrincipal(ctx.Context(), p)))
		}
		return
	}
	if p.MFAPending {
		s.recordDenial(ctx.Context(), p, op.OperationID, perm, "mfa")
		deny(http.StatusForbidden, "two-factor authentication must be enrolled first: POST /v1/me/totp")
		return
	}
	if perm == Self {
		deny(http.StatusForbidden, "this operation is not available")
		return
	}
	dom := verwerker.PlatformDomain
	switch d, _ := op.Extensions[extDomain].(string); d {
	case string(tenantScope):
		dom = ctx.Param(string(tenantScope))
	case string(bodyTenantScope):
		if p.Domain == "" {
			// A person: the handler checks the body's tenant.
			if session() {
				next(huma.WithContext(ctx, verwerker.WithPrincipal(ctx.Context(), p)))
			}
			return
		}
		dom = p.Domain
	}
	ok, err := s.deps.Authz.Allowed(ctx.Context(), p, perm, dom)
	if err != nil {
		deny(http.StatusServiceUnavailable, "")
		return
	}
	if !ok {
		s.recordDenial(ctx.Context(), p, op.OperationID, perm, dom)
		if dom != verwerker.PlatformDomain && p.Domain != dom {
			// Whether another tenant exists is itself not for a caller
			// without any role there to know. One with a role there (a
			// person's, which Domain does not show) is told what it lacks.
			reaches, err := s.deps.Authz.Reaches(ctx.Context(), p, dom)
			if err != nil {
				deny(http.StatusServiceUnavailable, "")
				return
			}
			if !reaches {
				deny(http.StatusNotFound, "not found")
				return
			}
		}
		deny(http.StatusForbidden, "you do not have the permission "+perm+" here")
		return
	}
	if !session() {
		return
	}
	next(huma.WithContext(ctx, verwerker.WithPrincipal(ctx.Context(), p)))
}

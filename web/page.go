package web

import (
	"net/http"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/tenant"
)

// Special permissions of pages. Every other permission is a policy
// permission (policy.Perm...), checked in the page's Scope.
const (
	// Public pages need no session: sign-in and account set-up.
	Public = "public"
	// Authenticated pages take any person's session, also one that still
	// has to enrol its second factor: enrolment, sign-out, home.
	Authenticated = "authenticated"
)

// Scope says in which domain a page's permission is checked.
type Scope int

const (
	// Platform pages are checked in verwerker.PlatformDomain: only the
	// processor's people (DPO, admins, support) reach them.
	Platform Scope = iota
	// Tenant pages are checked in the customer of the {tenant_id} path
	// parameter; a viewer with no role there is told the page does not
	// exist (404).
	Tenant
)

// Page is one page (or form action) of the dashboard: its route, the
// permission it needs and where, and its handler. Every page declares its
// permission here, next to its handler; there is no default.
type Page struct {
	// Method and Path are the route (net/http pattern, under Prefix).
	Method, Path string
	// Permission is a policy permission, Public or Authenticated.
	Permission string
	Scope      Scope
	// Handle serves the request for the viewer v, whose principal and
	// domain are checked. It renders or redirects, or returns an error
	// that Server.failed maps to a page.
	Handle func(w http.ResponseWriter, r *http.Request, v *view) error
}

// allPages lists every page, one file each. Features add their pages here.
func (s *Server) allPages() []Page {
	return []Page{
		s.homePage(),
		s.signinPage(), s.signinSubmit(), s.signoutSubmit(),
		s.setupPage(), s.setupSubmit(), s.totpPage(), s.totpSubmit(),
		s.languageSwitch(),
		s.overviewPage(),
		s.customersPage(), s.customerPage(), s.agreementPage(), s.certificatesPage(),
		s.subprocessorsPage(), s.resolveSubmit(),
		s.noticesPage(), s.retrySubmit(),
		s.auditPage(), s.verifySubmit(),
		s.sessionsPage(), s.sessionEndSubmit(),
		s.breachesPage(), s.reportSubmit(), s.incidentPage(), s.triageSubmit(), s.scopeSubmit(), s.notifySubmit(),
		s.updateSubmit(), s.registerPage(), s.customerBreachesPage(), s.acknowledgeSubmit(), s.customerRegisterPage(),
		s.requestsPage(), s.customerRequestsPage(), s.requestPage(), s.instructSubmit(), s.extendSubmit(),
		s.pauseSubmit(), s.resumeSubmit(), s.requestRetrySubmit(), s.exportDownload(),
		s.retentionPage(), s.platformRetentionPage(), s.sweepPage(), s.placeSubmit(), s.reviewSubmit(), s.liftSubmit(),
		s.ackPage(http.MethodGet), s.ackPage(http.MethodPost),
	}
}

// register mounts p behind the deny-by-default gate.
func (s *Server) register(p Page) {
	s.pages = append(s.pages, p)
	s.mux.HandleFunc(p.Method+" "+Prefix+p.Path, func(w http.ResponseWriter, r *http.Request) {
		v := &view{Lang: language(r), Path: r.URL.Path, Now: s.now(), Loc: tenant.Location(tenant.DefaultTimezone)}
		v.CSRF = s.csrfToken(w, r)
		if r.Method == http.MethodPost && !s.csrfValid(r) {
			s.renderError(w, r, v, http.StatusForbidden, "error.csrf")
			return
		}
		if p.Permission != Public && !s.gate(w, r, p, v) {
			return
		}
		if err := p.Handle(w, r, v); err != nil {
			s.failed(w, r, v, err)
		}
	})
}

// gate authenticates the viewer and checks p's permission. It answers the
// request itself (sign-in redirect, 403 or 404) and returns false when the
// page may not be shown.
func (s *Server) gate(w http.ResponseWriter, r *http.Request, p Page, v *view) bool {
	ctx := r.Context()
	if r.Header.Get("Authorization") != "" {
		// The dashboard is for people's sessions, not API keys.
		s.renderError(w, r, v, http.StatusUnauthorized)
		return false
	}
	pr, err := s.deps.Authn.Authenticate(ctx, r)
	if err != nil || pr.Kind != verwerker.PrincipalUser {
		if verwerker.ErrorCode(err) == verwerker.EUNAVAILABLE {
			s.renderError(w, r, v, http.StatusServiceUnavailable)
			return false
		}
		if r.Method == http.MethodGet {
			http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
		} else {
			s.renderError(w, r, v, http.StatusUnauthorized)
		}
		return false
	}
	v.principal = pr
	*r = *r.WithContext(verwerker.WithPrincipal(ctx, pr))
	if p.Permission == Authenticated {
		return s.loadViewer(w, r, v)
	}
	if pr.MFAPending {
		http.Redirect(w, r, Prefix+"totp", http.StatusSeeOther)
		return false
	}
	dom := verwerker.PlatformDomain
	if p.Scope == Tenant {
		dom = r.PathValue("tenant_id")
		if !verwerker.ValidID(verwerker.PrefixTenant, dom) {
			s.renderError(w, r, v, http.StatusNotFound)
			return false
		}
	}
	ok, err := s.deps.Authz.Allowed(ctx, pr, p.Permission, dom)
	if err != nil {
		s.renderError(w, r, v, http.StatusServiceUnavailable)
		return false
	}
	if !ok {
		s.recordDenial(r, pr, p, dom)
		status := http.StatusForbidden
		if dom != verwerker.PlatformDomain {
			reaches, err := s.deps.Authz.Reaches(ctx, pr, dom)
			if err != nil {
				s.renderError(w, r, v, http.StatusServiceUnavailable)
				return false
			}
			if !reaches {
				status = http.StatusNotFound
			}
		}
		_ = s.loadViewer(w, r, v)
		s.renderError(w, r, v, status)
		return false
	}
	return s.loadViewer(w, r, v)
}

// recordDenial writes the denial to the platform chain, like the API's:
// the person's id, the page and the domain, never the request.
func (s *Server) recordDenial(r *http.Request, pr verwerker.Principal, p Page, dom string) {
	if s.deps.Audit == nil {
		return
	}
	if len(dom) > 64 {
		dom = dom[:64]
	}
	_, err := s.deps.Audit.Append(r.Context(), audit.Event{Chain: audit.PlatformChain, Actor: pr.ID, Action: "authz.deny",
		Resource: dom, Outcome: audit.Denied, Reason: "missing " + p.Permission + " for page " + p.Method + " " + p.Path})
	if err != nil {
		s.logger.Error("dashboard: audit: recording a denial failed", "error", err.Error())
	}
}

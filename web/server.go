package web

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/breach"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/dsr"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/records"
	"github.com/verwerker/verwerker/retention"
	"github.com/verwerker/verwerker/subprocessor"
	"github.com/verwerker/verwerker/tenant"
)

// Prefix is where the dashboard is mounted; the API keeps /v1/, /docs and
// /public/.
const Prefix = "/dashboard/"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Authenticator turns a request's session cookie into a principal (the
// same as the API's: identity.Authenticator).
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (verwerker.Principal, error)
}

// Authorizer decides whether a principal holds a permission in a domain
// (the same as the API's: policy.Authorizer).
type Authorizer interface {
	Allowed(ctx context.Context, p verwerker.Principal, permission, domain string) (bool, error)
	Reaches(ctx context.Context, p verwerker.Principal, domain string) (bool, error)
}

// Deps are the services the dashboard shows. They are the API's.
type Deps struct {
	Clock         verwerker.Clock
	Authn         Authenticator
	Authz         Authorizer
	People        *identity.People
	Keys          *identity.Keys
	Audit         *audit.Log
	Tenants       *tenant.Service
	DPA           *dpa.Service
	Subprocessors *subprocessor.Registry
	Outbox        *notify.Outbox
	Decisions     *decision.Service
	Records       *records.Store
	Calendar      *deadline.Calendar
	Breaches      *breach.Service
	Requests      *dsr.Service
	Retention     *retention.Service
	// ClientAddr is the client's address behind trusted proxies (the
	// API's, api.Server.ClientAddr), which keys sign-in throttling; the
	// connection's peer when nil.
	ClientAddr func(*http.Request) string
}

// Config configures the Server.
type Config struct {
	Logger *slog.Logger
	// SecureCookies marks cookies Secure even on plain HTTP (TLS
	// terminated by a proxy); on TLS connections they always are.
	SecureCookies bool
}

// Server serves the dashboard's pages under Prefix.
type Server struct {
	deps    Deps
	logger  *slog.Logger
	secure  bool
	tmpl    map[string]*template.Template
	mux     *http.ServeMux
	handler http.Handler
	pages   []Page
}

// New builds the dashboard with every page of pages().
func New(cfg Config, deps Deps) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Clock == nil {
		deps.Clock = verwerker.SystemClock{}
	}
	if deps.Calendar == nil {
		deps.Calendar = deadline.DefaultCalendar()
	}
	s := &Server{deps: deps, logger: cfg.Logger, secure: cfg.SecureCookies, mux: http.NewServeMux()}
	s.tmpl = parseTemplates()
	static, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", cacheForever(http.FileServerFS(static))))
	for _, p := range s.allPages() {
		s.register(p)
	}
	s.mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, &view{Lang: language(r)}, http.StatusNotFound)
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, &view{Lang: language(r)}, http.StatusForbidden, "error.csrf")
	}))
	s.handler = securityHeaders(cop.Handler(s.mux))
	return s
}

// Pages returns every registered page: for the permission test and the
// documentation.
func (s *Server) Pages() []Page { return s.pages }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// csp allows only the dashboard's own scripts, styles and images (and data:
// images for the QR code): no inline script or style, no third party.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func cacheForever(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// now is the services' clock.
func (s *Server) now() time.Time { return s.deps.Clock.Now() }

// failed renders the page for err: 404 for not found (also another
// tenant's resource), 409/422 as a bad form, else 500 without its text.
func (s *Server) failed(w http.ResponseWriter, r *http.Request, v *view, err error) {
	switch verwerker.ErrorCode(err) {
	case verwerker.ENOTFOUND:
		s.renderError(w, r, v, http.StatusNotFound)
	case verwerker.EINVALID, verwerker.ECONFLICT:
		s.renderError(w, r, v, http.StatusUnprocessableEntity, "error.400")
	case verwerker.EFORBIDDEN:
		s.renderError(w, r, v, http.StatusForbidden)
	default:
		if !errors.Is(err, context.Canceled) {
			s.logger.Error("dashboard: page failed", "path", r.URL.Path, "error", err.Error())
		}
		s.renderError(w, r, v, http.StatusInternalServerError)
	}
}

// localPath returns p if it is a path of the dashboard, else Prefix: where
// to go back to after a form, never another site.
func localPath(p string) string {
	if strings.HasPrefix(p, Prefix) && !strings.HasPrefix(p, "//") && !strings.ContainsAny(p, "\\\r\n") {
		return p
	}
	return Prefix
}

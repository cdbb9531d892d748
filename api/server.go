package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	"github.com/verwerker/verwerker/subject"
	"github.com/verwerker/verwerker/subprocessor"
	"github.com/verwerker/verwerker/tenant"
)

func init() {
	// Every problem Huma writes goes through newProblem: no echoed values,
	// no internal detail on 5xx, and the request id as the instance.
	huma.NewError = newProblem
	huma.NewErrorWithContext = func(ctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
		p := newProblem(status, msg, errs...).(*Problem)
		p.Instance = instance(RequestID(ctx.Context()))
		return p
	}
}

// Readiness reports whether the server can do its work: the database
// answers and its schema is current.
type Readiness interface {
	Ready(ctx context.Context) error
}

// Authenticator turns a request's credentials into a principal. It returns
// an EUNAUTHORIZED error for missing, unknown, expired or revoked
// credentials.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (verwerker.Principal, error)
}

// Authorizer decides whether a principal holds a permission in a domain (a
// tenant id or verwerker.PlatformDomain).
type Authorizer interface {
	Allowed(ctx context.Context, p verwerker.Principal, permission, domain string) (bool, error)
	// Reaches reports whether p holds any permission in domain: a caller
	// that does not is answered 404 for the tenant, one that does 403.
	Reaches(ctx context.Context, p verwerker.Principal, domain string) (bool, error)
}

// Deps are the services the API exposes. A nil service is allowed when only
// the OpenAPI document is wanted.
type Deps struct {
	Ready   Readiness
	Authn   Authenticator
	Authz   Authorizer
	Tenants *tenant.Service
	People  *identity.People
	Keys    *identity.Keys
	Audit   *audit.Log
	DPA     *dpa.Service
	// Subprocessors is the subprocessor registry with its changes.
	Subprocessors *subprocessor.Registry
	// Outbox delivers notices; the API manages webhook endpoints and
	// dead letters through it.
	Outbox   *notify.Outbox
	Calendar *deadline.Calendar
	// Decisions answers the chat service's processing decisions.
	Decisions *decision.Service
	// Subjects records controllers' instructions about data subjects.
	Subjects *subject.Service
	// Records stores, exports and erases sealed chat and admin records.
	Records *records.Store
	// Requests handles data-subject requests.
	Requests *dsr.Service
	// Clock gives "now" for what the API computes itself (whether a
	// request is overdue); the system clock when nil.
	Clock verwerker.Clock
	// Retention keeps retention rules, legal holds, sweeps and forecasts.
	Retention *retention.Service
	// Breaches keeps incidents, their notices and the register.
	Breaches *breach.Service
	// Mailbox, in development only, is where e-mail goes instead of a
	// relay; when set, GET /v1/dev/mailbox reads it.
	Mailbox *notify.Mailbox
	// Keyring, when set, tells whether the keyring (Vault) answers, for
	// /readyz and the alarms; nil for the local keyring.
	Keyring KeyringHealth
	// Sync, when set, is called after every successful change (any method
	// but GET) before it is answered, except decisions and record writes:
	// it waits until every replica has taken the change in (store.DB.Sync),
	// so replicas may answer from memory and a change still takes effect
	// on the very next request everywhere.
	Sync func(context.Context) error
}

// KeyringHealth tells whether the keyring answers (keys.Transit.Up).
type KeyringHealth interface {
	// Up reports whether the keyring answered its last probe or request.
	Up() bool
}

// Config configures the Server.
type Config struct {
	// Version is reported in the OpenAPI document and /healthz.
	Version string
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// Registry receives the HTTP metrics and the decision counters
	// (Deps.Decisions); nil means a private registry. MetricsHandler serves
	// it, on a listener of its own: never on the API's, whose /metrics
	// answers 404.
	Registry *prometheus.Registry
	// SecureCookies marks session cookies Secure even on plain HTTP, for
	// TLS terminated by a proxy. Cookies on TLS connections are always
	// Secure.
	SecureCookies bool
	// TrustedProxies are the reverse proxies (load balancers) in front of
	// verwerker. A request whose connection comes from one of them is
	// attributed to the right-most address in X-Forwarded-For that is not
	// a trusted proxy itself; from anywhere else the header is ignored. The
	// client address keys login throttling. Empty: trust none.
	TrustedProxies []netip.Prefix
	// DisableFastPath answers every decision through the generic Huma
	// operation instead of the equivalent fast path (fastDecide): for
	// comparisons.
	DisableFastPath bool
}

// Server is verwerker's HTTP server: the Huma API plus health and
// documentation routes. Its metrics are served apart (MetricsHandler).
type Server struct {
	api     huma.API
	mux     *http.ServeMux
	handler http.Handler
	logger  *slog.Logger
	metrics *metrics
	deps    Deps
	version string
	secure  bool
	proxies []netip.Prefix

	docsOnce sync.Once
	docsHTML []byte

	// vocabulary holds the property names of every schema of the API: the
	// only keys input problems are located by (checkInput).
	vocabulary map[string]bool

	// noFastPath sends every decision through the Huma operation;
	// fastDecisions counts those fastDecide answered itself.
	noFastPath    bool
	fastDecisions atomic.Int64

	// registry holds the metrics MetricsHandler serves.
	registry *prometheus.Registry
}

// New builds the server and registers every operation.
func New(cfg Config, deps Deps) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if deps.Calendar == nil {
		deps.Calendar = deadline.DefaultCalendar()
	}
	s := &Server{mux: http.NewServeMux(), logger: cfg.Logger, deps: deps, version: cfg.Version, secure: cfg.SecureCookies,
		noFastPath: cfg.DisableFastPath, proxies: cfg.TrustedProxies}
	s.metrics = newMetrics(cfg.Registry)
	s.registry = cfg.Registry
	if deps.Decisions != nil {
		cfg.Registry.MustRegister(deps.Decisions.Metrics())
	}

	hc := huma.DefaultConfig("verwerker API", cfg.Version)
	hc.Info.Description = apiDescription
	hc.DocsPath = "" // rendered by docs.go without third-party scripts
	hc.OpenAPIPath = "/openapi"
	hc.SchemasPath = ""
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"apiKey":  {Type: "http", Scheme: "bearer", Description: "An API key issued by verwerker: `Authorization: Bearer vwk_...`. Machine keys act with their own role; personal keys with their owner's roles."},
		"session": {Type: "apiKey", In: "cookie", Name: "verwerker_session", Description: "A person's session cookie, set by POST /v1/auth/login. State-changing requests from a browser must be same-origin."},
	}
	hc.CreateHooks = nil // no $schema links in responses
	s.api = humago.New(s.mux, hc)
	s.api.UseMiddleware(s.operationMiddleware, s.authorize, s.checkInput)

	s.registerHealth()
	s.registerTenants()
	s.registerAudit()
	s.registerAuth()
	s.registerMe()
	s.registerPeople()
	s.registerKeys()
	s.registerDPA()
	s.registerSubprocessors()
	s.registerOutbox()
	s.registerAlarms()
	s.registerBreaches()
	if deps.Mailbox != nil {
		s.registerDevMailbox(deps.Mailbox)
	}
	s.registerDecisions()
	s.registerDecisionStats()
	s.registerRecords()
	s.registerRequests()
	s.registerRetention()
	s.vocabulary = vocabulary(s.api.OpenAPI())

	// Metrics are for the operator's scraper on the metrics listener
	// (MetricsHandler): on the API's listener /metrics is not found
	// (noRoute), like any path that does not exist.
	s.mux.HandleFunc("GET /docs", s.serveDocs)
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/docs", http.StatusFound)
	})
	// Everything else: a problem document, not net/http's plain text.
	s.mux.HandleFunc("/", s.noRoute)
	// Cookie-authenticated state changes must come from verwerker's own
	// origin: browsers say where a request comes from (Sec-Fetch-Site,
	// Origin) and cross-site unsafe requests are refused. API clients send
	// neither header and are unaffected.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := newProblem(http.StatusForbidden, "cross-origin requests that change state are refused").(*Problem)
		p.Instance = instance(RequestID(r.Context()))
		writeJSON(w, http.StatusForbidden, "application/problem+json", p)
	}))
	s.handler = s.observe(cop.Handler(s.fastDecide(s.mux)))
	return s
}

// noRoute answers a request no route takes: 405 with the Allow header when
// the path is a resource that does not support the method, else 404. The
// path is not repeated.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	status, msg := http.StatusNotFound, "there is no resource at this path; see /docs for the API"
	if len(allow) > 0 {
		status, msg = http.StatusMethodNotAllowed, "the resource does not support this method; see the Allow header"
		w.Header().Set("Allow", strings.Join(allow, ", "))
	}
	p := newProblem(status, msg).(*Problem)
	p.Instance = instance(RequestID(r.Context()))
	writeJSON(w, status, "application/problem+json", p)
}

// vocabulary returns the property names of every schema in the document.
func vocabulary(doc *huma.OpenAPI) map[string]bool {
	words := map[string]bool{}
	var walk func(s *huma.Schema)
	walk = func(s *huma.Schema) {
		if s == nil {
			return
		}
		for name, p := range s.Properties {
			words[name] = true
			walk(p)
		}
		walk(s.Items)
		if ap, ok := s.AdditionalProperties.(*huma.Schema); ok {
			walk(ap)
		}
		for _, list := range [][]*huma.Schema{s.OneOf, s.AnyOf, s.AllOf} {
			for _, x := range list {
				walk(x)
			}
		}
	}
	for _, s := range doc.Components.Schemas.Map() {
		walk(s)
	}
	return words
}

// MetricsHandler serves the server's metrics registry (Config.Registry) in
// the Prometheus text format, without authentication: mount it on a
// listener of its own that only the operator's scraper reaches
// (VERWERKER_METRICS_ADDR), never on the API's. No metric label names a
// customer.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
}

// HandleFunc mounts a page that is not an API operation (the public
// request page, web/intake) at pattern, behind the server's request log
// and cross-origin protection. The page answers for its own access: it is
// public.
func (s *Server) HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request)) {
	s.mux.HandleFunc(pattern, handler)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// OpenAPI returns the OpenAPI 3.1 document of every operation.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

const apiDescription = `verwerker makes a data processor's GDPR promises true in software: processing
agreements and their scope, decisions before storing chat data, retention, subprocessors, data-subject
requests forwarded to the controller, breach notification within 48 hours, and a tamper-evident audit trail.

Every operation requires an API key (` + "`Authorization: Bearer vwk_...`" + `) or a person's session cookie
(from ` + "`POST /v1/auth/login`" + `, with a TOTP second factor) unless marked public, and
names the permission it needs in ` + "`x-verwerker-permission`" + `. Operations that create credentials (API keys,
accounts) are marked ` + "`x-verwerker-credential: session_mfa`" + `: only a person's session with a verified second
factor may call them, never an API key. Errors are RFC 9457 problem documents
(` + "`application/problem+json`" + `) that name the offending fields and never repeat submitted values.

Input is taken as sent or refused (422), never altered: JSON keys appear at most once per object, and
strings, keys and parameters are valid UTF-8 without NUL or other control characters (tab, line feed and
carriage return are allowed in body strings).`

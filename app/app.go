// Package app wires verwerker's domain packages into one application: the
// database, the audit log, the keys, the domain services, the watcher that
// keeps this replica's caches current and the HTTP API. It is the one
// wiring, used by `verwerker serve` and `dev`, by cmd/decisionbench and by
// the API tests; no domain package imports it.
//
// New builds the services without starting anything in the background: the
// caller runs the watcher, the decision counters' flushing and the jobs (see
// cmd/verwerker), or none of them (tests).
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/api"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/breach"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/dsr"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/records"
	"github.com/verwerker/verwerker/retention"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/subject"
	"github.com/verwerker/verwerker/subprocessor"
	"github.com/verwerker/verwerker/tenant"
	"github.com/verwerker/verwerker/web"
	"github.com/verwerker/verwerker/web/intake"
)

// DefaultKeyringFile is where the local keyring keeps its master key when
// Config.VaultAddr and Config.KeyringFile are empty, relative to the
// working directory.
const DefaultKeyringFile = ".verwerker/keyring.key"

// DefaultSubjectKeyFile is where the local key that pseudonymises subject
// references is kept when Config.SubjectKeyFile is empty.
const DefaultSubjectKeyFile = ".verwerker/subject-ref.key"

// Config is the part of verwerker's settings the application is built
// from (cmd/verwerker reads them from flags and the environment; README's
// configuration lists them).
type Config struct {
	// Version is the version the API reports.
	Version string

	// Tenant keys: Vault Transit when VaultAddr is set, logging in with
	// exactly one of a token, AppRole or Kubernetes; else the local keyring
	// in KeyringFile (DefaultKeyringFile when empty).
	VaultAddr, VaultToken, VaultRoleID, VaultSecretID, VaultSecretIDFile, VaultK8sRole, VaultMount string
	KeyringFile                                                                                    string

	// SubjectKeyFile holds the key that pseudonymises subject references,
	// created when missing (DefaultSubjectKeyFile when empty).
	SubjectKeyFile string

	// SMTPURL and MailFrom are the e-mail relay; without SMTPURL e-mail is
	// refused, or kept in DevMailbox when that is set.
	SMTPURL, MailFrom string
	// DevMailbox, when set and SMTPURL is empty, is the directory where
	// e-mail is kept, read at GET /v1/dev/mailbox (development only).
	DevMailbox string
	// WebhookAllowPrivate lets webhook endpoints be on private networks
	// (development only).
	WebhookAllowPrivate bool

	// DPOEmail receives the data-subject requests' deadline reminders
	// beside each controller, and the breach clocks' escalations; several
	// addresses are comma-separated.
	DPOEmail string
	// PublicURL is the absolute base URL of links in e-mail (breach notice
	// acknowledgements, escalations).
	PublicURL string

	// ReplicaLease is how long this replica answers from its caches
	// without hearing from the database (store.WatcherOptions.Lease);
	// store.DefaultLease when zero.
	ReplicaLease time.Duration

	// AuditVerifyMaxAge is how old a chain's last verification may be
	// before it counts as unverified (verwerker_audit_chains_unverified);
	// the periodic verification of every chain runs every half of it.
	// audit.DefaultMaxAge when zero.
	AuditVerifyMaxAge time.Duration

	// SecureCookies, TrustedProxies and DisableFastPath are passed to the
	// API (api.Config).
	SecureCookies   bool
	TrustedProxies  []netip.Prefix
	DisableFastPath bool
}

// Deps are what the application runs on and does not own: the caller
// closes them after App.Close.
type Deps struct {
	// DB is the migrated database (required).
	DB *store.DB
	// Clock gives "now"; the system clock when nil.
	Clock verwerker.Clock
	// Logger receives the application's logs; discarded when nil.
	Logger *slog.Logger
	// Keyring, when set, holds the tenant keys instead of the keyring
	// Config names (tests).
	Keyring keys.Keyring
	// SubjectKey, when set, pseudonymises subject references instead of
	// the key in Config.SubjectKeyFile (tests); subject.KeySize bytes.
	SubjectKey []byte
}

// App is the wired application. Its fields are the services; they are set
// by New and not changed after.
type App struct {
	DB     *store.DB
	Clock  verwerker.Clock
	Logger *slog.Logger

	Audit    *audit.Log
	Authz    *policy.Authorizer
	Tenants  *tenant.Service
	DPA      *dpa.Service
	Keys     *identity.Keys
	People   *identity.People
	Calendar *deadline.Calendar
	// Keyring holds the tenant keys (Vault Transit or the local keyring);
	// KeyManager ties it to tenant_keys and the data-key cache.
	Keyring    keys.Keyring
	KeyManager *keys.Manager
	Outbox     *notify.Outbox
	// Mailbox is the development mailbox; nil unless Config.DevMailbox is
	// used.
	Mailbox       *notify.Mailbox
	Subprocessors *subprocessor.Registry
	Subjects      *subject.Service
	Decisions     *decision.Service
	Records       *records.Store
	// Requests handles data-subject requests.
	Requests  *dsr.Service
	Retention *retention.Service
	Breaches  *breach.Service

	// Watcher keeps this replica's caches current once the caller runs it.
	Watcher *store.Watcher
	// Registry holds the metrics Server.MetricsHandler serves.
	Registry *prometheus.Registry
	// Server is the HTTP API.
	Server *api.Server
	// Web is the dashboard (web.Prefix).
	Web *web.Server
	// Handler serves both: the dashboard under web.Prefix, the API
	// everywhere else. It is what the HTTP server runs.
	Handler http.Handler

	// auditMaxAge is Config.AuditVerifyMaxAge, defaulted.
	auditMaxAge time.Duration

	closers   []func()
	closeOnce sync.Once
}

// onClose adds fn to what Close runs, last added first.
func (a *App) onClose(fn func()) { a.closers = append(a.closers, fn) }

// Close releases what New opened, in the reverse order of opening. It is
// safe to call more than once.
func (a *App) Close() {
	a.closeOnce.Do(func() {
		for _, fn := range slices.Backward(a.closers) {
			fn()
		}
		a.closers = nil
	})
}

// New builds the application on deps.DB. On error it has released what it
// opened.
func New(ctx context.Context, cfg Config, deps Deps) (_ *App, err error) {
	if deps.DB == nil {
		return nil, fmt.Errorf("app: no database")
	}
	a := &App{DB: deps.DB, Clock: deps.Clock, Logger: deps.Logger}
	if a.Clock == nil {
		a.Clock = verwerker.SystemClock{}
	}
	if a.Logger == nil {
		a.Logger = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	db, clock, logger := a.DB, a.Clock, a.Logger

	a.Audit = audit.NewLog(db, clock)
	if a.auditMaxAge = cfg.AuditVerifyMaxAge; a.auditMaxAge <= 0 {
		a.auditMaxAge = audit.DefaultMaxAge
	}
	a.onClose(a.Audit.Close)
	if a.Authz, err = policy.NewAuthorizer(ctx, db, logger); err != nil {
		return nil, err
	}
	if a.Keyring = deps.Keyring; a.Keyring == nil {
		var closeKeyring func()
		if a.Keyring, closeKeyring, err = openKeyring(ctx, cfg, logger); err != nil {
			return nil, err
		}
		a.onClose(closeKeyring)
	}
	a.KeyManager = keys.NewManager(db, a.Keyring, keys.ManagerOptions{Clock: clock, Logger: logger})
	a.onClose(a.KeyManager.Close)
	if cfg.SMTPURL == "" && cfg.DevMailbox != "" {
		if a.Mailbox, err = notify.OpenMailbox(cfg.DevMailbox); err != nil {
			return nil, err
		}
	}
	if a.Outbox, err = notify.New(db, clock, a.Audit, notify.Config{SMTPURL: cfg.SMTPURL, MailFrom: cfg.MailFrom,
		AllowPrivateNetworks: cfg.WebhookAllowPrivate, Keys: a.KeyManager, Mailbox: a.Mailbox}); err != nil {
		return nil, err
	}
	a.Calendar = deadline.DefaultCalendar()
	a.Tenants = tenant.NewService(db, clock, a.Audit)
	a.DPA = dpa.NewService(db, clock, a.Audit, subprocessor.Lists{})
	a.Keys = identity.NewKeys(db, clock, a.Audit)
	a.People = identity.NewPeople(db, clock, a.Audit)
	a.Subprocessors = subprocessor.NewRegistry(db, clock, a.Audit, a.Outbox, a.Calendar)

	subjectKey := deps.SubjectKey
	if subjectKey == nil {
		file := cfg.SubjectKeyFile
		if file == "" {
			file = DefaultSubjectKeyFile
		}
		var created bool
		if subjectKey, created, err = keys.LoadOrCreateSecretFile(file, subject.KeySize); err != nil {
			return nil, fmt.Errorf("VERWERKER_SUBJECT_KEY_FILE: %w", err)
		}
		if created {
			logger.Warn("created the local key that pseudonymises subject references; every replica must use the same file and keep it", "file", file)
		}
	}
	if a.Subjects, err = subject.NewService(db, clock, a.Audit, subjectKey); err != nil {
		return nil, err
	}
	if a.Decisions, err = decision.New(ctx, db, a.DPA, a.Subjects, a.Audit, clock, logger); err != nil {
		return nil, err
	}
	a.Records = records.New(db, a.KeyManager, a.Decisions, a.Subjects, a.Audit, clock, logger)
	a.Retention = retention.New(db, a.Records, a.DPA, a.Audit, clock, a.Calendar, logger)
	a.Requests = dsr.New(db, clock, a.Audit, a.Outbox, a.Records, a.Subjects, a.Calendar, a.Retention, dsr.Options{DPOEmail: first(addresses(cfg.DPOEmail)), Keys: a.KeyManager})
	if a.Breaches, err = breach.New(ctx, db, clock, a.Audit, a.Outbox, breach.Options{DPOEmails: addresses(cfg.DPOEmail), PublicURL: cfg.PublicURL}); err != nil {
		return nil, err
	}

	a.Watcher = db.NewWatcher(store.WatcherOptions{Lease: cfg.ReplicaLease, Logger: logger})
	a.Authz.Watch(a.Watcher)
	a.Keys.Watch(a.Watcher)
	a.Decisions.Watch(a.Watcher)
	a.KeyManager.Watch(a.Watcher)

	lease := cfg.ReplicaLease
	if lease <= 0 {
		lease = store.DefaultLease
	}
	a.Registry = prometheus.NewRegistry()
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), a.Subprocessors.Metrics(),
		a.Retention.Metrics(), a.Breaches.Metrics(), a.Audit.Metrics(a.auditMaxAge))
	a.Registry.MustRegister(a.Requests.Metrics()...)
	a.Registry.MustRegister(a.Outbox.Metrics())
	var keyringHealth api.KeyringHealth
	if v, ok := a.Keyring.(*keys.Transit); ok {
		a.Registry.MustRegister(v.Metrics())
		keyringHealth = v
	}
	a.Server = api.New(api.Config{Version: cfg.Version, Logger: logger, Registry: a.Registry, SecureCookies: cfg.SecureCookies,
		TrustedProxies: cfg.TrustedProxies, DisableFastPath: cfg.DisableFastPath}, api.Deps{
		Ready:         db,
		Authn:         identity.Authenticator{Keys: a.Keys, People: a.People},
		Authz:         a.Authz,
		Tenants:       a.Tenants,
		People:        a.People,
		Keys:          a.Keys,
		Audit:         a.Audit,
		DPA:           a.DPA,
		Calendar:      a.Calendar,
		Decisions:     a.Decisions,
		Subjects:      a.Subjects,
		Records:       a.Records,
		Requests:      a.Requests,
		Clock:         clock,
		Retention:     a.Retention,
		Subprocessors: a.Subprocessors,
		Outbox:        a.Outbox,
		Breaches:      a.Breaches,
		Mailbox:       a.Mailbox,
		Keyring:       keyringHealth,
		// Bounded by the lease: a silent replica stops trusting its
		// caches when its lease ends.
		Sync: func(ctx context.Context) error {
			c, cancel := context.WithTimeout(ctx, 2*lease+5*time.Second)
			defer cancel()
			return db.Sync(c)
		},
	})
	intake.New(a.Requests, a.Server.ClientAddr, cfg.SecureCookies).Register(a.Server)
	a.Web = web.New(web.Config{Logger: logger, SecureCookies: cfg.SecureCookies}, web.Deps{
		Clock: clock, Authn: identity.Authenticator{Keys: a.Keys, People: a.People}, Authz: a.Authz,
		People: a.People, Keys: a.Keys, Audit: a.Audit, Tenants: a.Tenants, DPA: a.DPA,
		Subprocessors: a.Subprocessors, Outbox: a.Outbox, Decisions: a.Decisions, Records: a.Records, Calendar: a.Calendar,
		ClientAddr: a.Server.ClientAddr,
		Breaches:   a.Breaches, Requests: a.Requests, Retention: a.Retention,
	})
	a.Handler = route(a.Web, a.Server)
	return a, nil
}

// route sends the dashboard's paths (web.Prefix, and its name without the
// slash, redirected) to dashboard and everything else to api: one prefix
// test, so the decision hot path pays no second router.
func route(dashboard, api http.Handler) http.Handler {
	bare := strings.TrimSuffix(web.Prefix, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, web.Prefix):
			dashboard.ServeHTTP(w, r)
		case p == bare:
			http.Redirect(w, r, web.Prefix, http.StatusMovedPermanently)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// addresses splits a comma-separated list of e-mail addresses.
func addresses(list string) []string {
	var out []string
	for _, a := range strings.Split(list, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// first is the first of list, or "".
func first(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[0]
}

// Command verwerker is the verwerker server and its operator tools. It only
// wires packages together; see the README for the subcommands and settings.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/api"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/demo"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/records"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/subject"
	"github.com/verwerker/verwerker/tenant"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `verwerker: GDPR processor operations.

Usage:
  verwerker serve     [flags]   run the API (DATABASE_URL required)
  verwerker dev       [flags]   run on embedded defaults with demo data
  verwerker migrate   [flags]   apply pending database migrations
  verwerker audit verify [-tenant T] [flags]
                                verify the audit chain (and its signed checkpoints)
                                of a tenant, or every chain
  verwerker audit checkpoint [flags]
                                sign a checkpoint of every audit chain that moved
  verwerker bootstrap -email E -name N [flags]
                                create the first platform admin, print its set-up token
  verwerker policy export -dir DIR [flags]
                                write the decision policy (Rego) and a data document of
                                every tenant's state, for an OPA server (opa run -s DIR)
  verwerker openapi             print the OpenAPI 3.1 document
  verwerker version             print the version

Run "verwerker <command> -h" for the flags; every flag has an environment variable.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "verwerker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, version)
		return nil
	case "openapi":
		return printOpenAPI(stdout)
	case "serve", "dev", "migrate":
	case "audit":
		switch {
		case len(args) > 0 && args[0] == "verify":
			return auditVerify(ctx, args[1:], stdout, stderr)
		case len(args) > 0 && args[0] == "checkpoint":
			return auditCheckpoint(ctx, args[1:], stdout, stderr)
		}
		return errors.New("usage: verwerker audit verify [-tenant T] | verwerker audit checkpoint")
	case "bootstrap":
		return bootstrap(ctx, args, stdout, stderr)
	case "policy":
		if len(args) > 0 && args[0] == "export" {
			return policyExport(ctx, args[1:], stdout, stderr)
		}
		return errors.New("usage: verwerker policy export -dir DIR")
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	cfg, _, err := parseConfig("verwerker "+cmd, args, stderr)
	if err != nil {
		return err
	}
	logger, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	switch cmd {
	case "migrate":
		return migrate(ctx, cfg, logger, stdout)
	case "serve":
		return serve(ctx, cfg, logger, nil)
	default:
		return dev(ctx, cfg, logger, stdout)
	}
}

func newLogger(cfg *Config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("VERWERKER_LOG_LEVEL: must be debug, info, warn or error")
	}
	opts := &slog.HandlerOptions{Level: level}
	switch cfg.LogFormat {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("VERWERKER_LOG_FORMAT: must be json or text")
}

func printOpenAPI(w io.Writer) error {
	b, err := json.MarshalIndent(api.New(api.Config{Version: version}, api.Deps{}).OpenAPI(), "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func openDB(ctx context.Context, cfg *Config) (*store.DB, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("DATABASE_URL is not set (use `verwerker dev` for a throwaway database)")
	}
	return store.Open(ctx, cfg.DatabaseURL, store.Options{MaxConns: int32(cfg.DBMaxConns)})
}

// auditVerify verifies one chain or every chain and prints a JSON report per
// chain. It fails when any chain does not verify.
func auditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var tenantID string
	var rest []string
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "-tenant" || args[i] == "--tenant":
			if i+1 == len(args) {
				return errors.New("-tenant needs a tenant id")
			}
			tenantID = args[i+1]
			i++
		case strings.HasPrefix(args[i], "-tenant=") || strings.HasPrefix(args[i], "--tenant="):
			_, tenantID, _ = strings.Cut(args[i], "=")
		default:
			rest = append(rest, args[i])
		}
	}
	cfg, _, err := parseConfig("verwerker audit verify", rest, stderr)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	log := audit.NewLog(db, verwerker.SystemClock{})
	defer log.Close()
	if err := loadVerificationKeys(cfg, log, stderr); err != nil {
		return err
	}
	chains := []string{tenantID}
	if tenantID == "" {
		if chains, err = log.Chains(ctx); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(stdout)
	failed := 0
	for _, c := range chains {
		r, err := log.Verify(ctx, c)
		if err != nil {
			return err
		}
		if !r.OK {
			failed++
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d audit chains do not verify", failed, len(chains))
	}
	return nil
}

func migrate(ctx context.Context, cfg *Config, logger *slog.Logger, stdout io.Writer) error {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := db.Migrate(ctx, logger)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database schema at version %d\n", v)
	return nil
}

// app is the wired application.
type app struct {
	db      *store.DB
	audit   *audit.Log
	tenants *tenant.Service
	dpa     *dpa.Service
	keys    *identity.Keys
	// watcher keeps this replica's caches current (store.Watcher).
	watcher   *store.Watcher
	people    *identity.People
	authz     *policy.Authorizer
	outbox    *notify.Outbox
	subs      *dpa.Registry
	subjects  *subject.Service
	decisions *decision.Service
	// keyring holds the tenant keys (Vault Transit or the local keyring);
	// keyManager ties it to tenant_keys and the data-key cache.
	keyring    keys.Keyring
	keyManager *keys.Manager
	closeKeys  func()
	records    *records.Store
	server     *api.Server
}

// Close releases what newApp opened.
func (a *app) Close() {
	a.keyManager.Close()
	a.closeKeys()
	a.audit.Close()
}

func newApp(ctx context.Context, db *store.DB, cfg *Config, logger *slog.Logger) (*app, error) {
	clock := verwerker.SystemClock{}
	log := audit.NewLog(db, clock)
	authz, err := policy.NewAuthorizer(ctx, db, logger)
	if err != nil {
		log.Close()
		return nil, err
	}
	ring, closeKeys, err := openKeyring(ctx, cfg, logger)
	if err != nil {
		log.Close()
		return nil, err
	}
	keyManager := keys.NewManager(db, ring, keys.ManagerOptions{Clock: clock, Logger: logger})
	var mailbox *notify.Mailbox
	if cfg.SMTPURL == "" && cfg.DevMailbox != "" {
		mailbox, err = notify.OpenMailbox(cfg.DevMailbox)
	}
	var outbox *notify.Outbox
	if err == nil {
		outbox, err = notify.New(db, clock, log, notify.Config{SMTPURL: cfg.SMTPURL, MailFrom: cfg.MailFrom,
			AllowPrivateNetworks: cfg.WebhookAllowPrivate, Keys: keyManager, Mailbox: mailbox})
	}
	if err != nil {
		keyManager.Close()
		closeKeys()
		log.Close()
		return nil, err
	}
	calendar := deadline.DefaultCalendar()
	a := &app{keyring: ring, keyManager: keyManager, closeKeys: closeKeys,
		db: db, audit: log, tenants: tenant.NewService(db, clock, log), dpa: dpa.NewService(db, clock, log), keys: identity.NewKeys(db, clock, log),
		people: identity.NewPeople(db, clock, log), authz: authz, outbox: outbox, subs: dpa.NewRegistry(db, clock, log, outbox, calendar)}
	subjectKey, created, err := keys.LoadOrCreateSecretFile(subjectKeyFile(cfg), subject.KeySize)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("VERWERKER_SUBJECT_KEY_FILE: %w", err)
	}
	if created {
		logger.Warn("created the local key that pseudonymises subject references; every replica must use the same file and keep it", "file", subjectKeyFile(cfg))
	}
	if a.subjects, err = subject.NewService(db, clock, log, subjectKey); err != nil {
		a.Close()
		return nil, err
	}
	if a.decisions, err = decision.New(ctx, db, a.dpa, a.subjects, log, clock, logger); err != nil {
		a.Close()
		return nil, err
	}
	a.records = records.New(db, a.keyManager, a.decisions, a.subjects, log, clock, logger)
	a.watcher = db.NewWatcher(store.WatcherOptions{Lease: cfg.ReplicaLease, Logger: logger})
	authz.Watch(a.watcher)
	a.keys.Watch(a.watcher)
	a.decisions.Watch(a.watcher)
	a.keyManager.Watch(a.watcher)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), a.decisions.Metrics(), a.subs.Metrics())
	a.server = api.New(api.Config{Version: version, Logger: logger, Registry: reg, SecureCookies: cfg.SecureCookies}, api.Deps{
		Ready:     db,
		Authn:     identity.Authenticator{Keys: a.keys, People: a.people},
		Authz:     authz,
		Tenants:   a.tenants,
		People:    a.people,
		Keys:      a.keys,
		Audit:     a.audit,
		DPA:       a.dpa,
		Calendar:  calendar,
		Decisions: a.decisions,
		Subjects:  a.subjects,
		Records:   a.records,

		Subprocessors: a.subs,
		Outbox:        outbox,
		Mailbox:       mailbox,
		// Bounded by the lease: a silent replica stops trusting its
		// caches when its lease ends.
		Sync: func(ctx context.Context) error {
			c, cancel := context.WithTimeout(ctx, 2*cfg.ReplicaLease+5*time.Second)
			defer cancel()
			return db.Sync(c)
		},
	})
	return a, nil
}

// serve runs the API until ctx ends. ready, if not nil, is called with the
// listening address once the server accepts connections.
func serve(ctx context.Context, cfg *Config, logger *slog.Logger, ready func(a *app, addr string) error) error {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.MigrateOnStart {
		v, err := db.Migrate(ctx, nil)
		if err != nil {
			return err
		}
		logger.Info("database schema current", "version", v)
	}
	a, err := newApp(ctx, db, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	checkpointer, err := startSigning(cfg, logger, a)
	if err != nil {
		return err
	}
	// Not ended by the signal but after the server has drained (defers run
	// last first): caches stay current and the decisions made while
	// draining are counted into the last aggregate.
	listenCtx, stopListening := context.WithCancel(context.WithoutCancel(ctx))
	defer stopListening()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		a.watcher.Run(listenCtx)
	}()
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		a.decisions.Run(listenCtx, cfg.DecisionFlushInterval, logger)
	}()
	// Stopped after the server (defers run last first): the last allows
	// are flushed to the audit log before it closes.
	defer func() { stopListening(); <-flushed; <-watched }()
	stopJobs, err := startJobs(ctx, a, cfg, logger)
	if err != nil {
		return err
	}
	defer stopJobs()
	a.subjects.UseNotifier(a.outbox)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           a.server,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if cfg.DebugAddr != "" {
		stopDebug, err := serveDebug(cfg.DebugAddr, logger)
		if err != nil {
			_ = ln.Close()
			return err
		}
		defer stopDebug()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "version", version)
	if ready != nil {
		if err := ready(a, ln.Addr().String()); err != nil {
			_ = srv.Close()
			return err
		}
	}
	// After ready, so that dev's demo data is signed at once.
	defer runCheckpoints(ctx, checkpointer, cfg.CheckpointInterval, logger)()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// dev runs serve on embedded defaults: a throwaway PostgreSQL cluster when
// DATABASE_URL is unset, migrations, demo data, and a banner with the URLs
// and demo credentials.
func dev(ctx context.Context, cfg *Config, logger *slog.Logger, stdout io.Writer) error {
	if cfg.DatabaseURL == "" {
		fmt.Fprintln(stdout, "Starting a throwaway PostgreSQL cluster (DATABASE_URL is not set)...")
		cluster, err := store.StartCluster(ctx, store.ClusterOptions{BinDir: cfg.PGBin, Dir: cfg.DevDir})
		if err != nil {
			return err
		}
		defer func() {
			if err := cluster.Stop(); err != nil {
				logger.Error("stopping the throwaway cluster", "error", err)
			} else {
				fmt.Fprintln(stdout, "Throwaway PostgreSQL cluster stopped and removed.")
			}
		}()
		cfg.DatabaseURL = cluster.URL()
		if cfg.SigningKeyFile == "" {
			// A throwaway key for a throwaway audit trail.
			cfg.SigningKeyFile = filepath.Join(cluster.Dir(), "audit-signing.key")
		}
		if cfg.SubjectKeyFile == "" {
			cfg.SubjectKeyFile = filepath.Join(cluster.Dir(), "subject-ref.key")
		}
		if cfg.KeyringFile == "" && cfg.VaultAddr == "" {
			cfg.KeyringFile = filepath.Join(cluster.Dir(), "keyring.key")
		}
		cfg.DevMailbox = filepath.Join(cluster.Dir(), "mailbox")
	}
	if cfg.SMTPURL == "" && cfg.DevMailbox == "" {
		cfg.DevMailbox = defaultDevMailbox
	}
	cfg.MigrateOnStart = true
	cfg.WebhookAllowPrivate = true // demo receivers run on this machine
	return serve(ctx, cfg, logger, func(a *app, addr string) error {
		data, err := demo.Seed(ctx, verwerker.SystemClock{}, a.tenants, a.keys, a.people)
		if err != nil {
			return err
		}
		if err := demo.SeedSubprocessors(ctx, a.subs); err != nil {
			return err
		}
		if _, err := demo.SeedDPA(ctx, a.dpa, data.Tenants[0].ID); err != nil {
			return err
		}
		printBanner(stdout, addr, cfg.DatabaseURL, data, cfg.DevMailbox)
		return nil
	})
}

// defaultDevMailbox is where `dev` keeps e-mail without SMTP_URL when it
// does not run a throwaway cluster.
const defaultDevMailbox = ".verwerker/mailbox"

func printBanner(w io.Writer, addr, dbURL string, data demo.Data, mailbox string) {
	base := "http://" + addr
	var b strings.Builder
	fmt.Fprintf(&b, "\nverwerker %s is running on embedded defaults (NOT for production).\n\n", version)
	fmt.Fprintf(&b, "  API docs      %s/docs\n", base)
	fmt.Fprintf(&b, "  OpenAPI       %s/openapi.json\n", base)
	fmt.Fprintf(&b, "  Health        %s/healthz   %s/readyz\n", base, base)
	fmt.Fprintf(&b, "  Metrics       %s/metrics\n", base)
	if mailbox != "" {
		fmt.Fprintf(&b, "  Mailbox       %s/v1/dev/mailbox (e-mail is kept, not sent; platform_admin or dpo key; files in %s)\n", base, mailbox)
	}
	if len(data.Tenants) > 0 {
		fmt.Fprintf(&b, "  Subprocessors %s/public/tenants/%s/subprocessors (public page; .json, .atom)\n", base, data.Tenants[0].ID)
	}
	fmt.Fprintf(&b, "  Database      %s\n\n", dbURL)
	fmt.Fprintf(&b, "Demo tenants:\n")
	for _, t := range data.Tenants {
		fmt.Fprintf(&b, "  %s  %s (%s)\n", t.ID, t.Name, t.Country)
	}
	fmt.Fprintf(&b, "\nDemo API keys (shown once; the database is thrown away on exit):\n")
	for _, c := range data.Credentials {
		fmt.Fprintf(&b, "  %-18s %-10s %s\n", c.Role, shortDomain(c.Domain), c.Token)
	}
	fmt.Fprintf(&b, "\nDemo people (sign in at POST /v1/auth/login with e-mail, password and the TOTP code;\n  codes: oathtool --totp -b SECRET, or add the secret to an authenticator app):\n")
	for _, p := range data.People {
		fmt.Fprintf(&b, "  %-34s %-18s %-10s password %-24s TOTP secret %s\n", p.Email, p.Role, shortDomain(p.Domain), p.Password, p.TOTPSecret)
	}
	fmt.Fprintf(&b, "\nTry:\n  curl -s -H 'Authorization: Bearer %s' %s/v1/tenants\n\nPress Ctrl-C to stop.\n", data.Credentials[0].Token, base)
	fmt.Fprint(w, b.String())
}

func shortDomain(d string) string {
	if len(d) > 10 {
		return d[:10] + "…"
	}
	return d
}

// Command verwerker is the verwerker server and its operator tools. It only
// wires packages together; see the README for the subcommands and settings.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
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
	"github.com/verwerker/verwerker/subprocessor"
	"github.com/verwerker/verwerker/tenant"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// A command is one subcommand: its usage, what it does, which settings it
// reads (each is a flag and an environment variable) and its own flags.
type command struct {
	name  string // "audit verify"
	args  string // the rest of the usage line
	short string // one line for `verwerker -h`
	about string // what it does, for `verwerker NAME -h`
	// settings selects the settings the command reads, by environment
	// variable; nil for none.
	settings func(env string) bool
	// define defines the command's own flags on fs and returns what runs
	// it with the parsed settings.
	define func(fs *flag.FlagSet) func(ctx context.Context, cfg *Config, stdout, stderr io.Writer) error
}

// dbSettings are the settings of a command that opens the database.
var dbSettings = []string{"DATABASE_URL", "VERWERKER_DB_MAX_CONNS"}

// devOnlySettings are read by dev alone.
var devOnlySettings = []string{"VERWERKER_PG_BIN", "VERWERKER_DEV_DIR"}

// commands are the subcommands, in the order `verwerker -h` lists them.
var commands = []command{
	{name: "serve", args: "[flags]", short: "run the API (DATABASE_URL required)",
		about:    "Runs the API server and its background jobs until SIGINT or SIGTERM, then drains. Applies pending migrations first unless -migrate-on-start=false.",
		settings: func(env string) bool { return !slices.Contains(devOnlySettings, env) },
		define: func(*flag.FlagSet) func(context.Context, *Config, io.Writer, io.Writer) error {
			return logged(func(ctx context.Context, cfg *Config, logger *slog.Logger, _ io.Writer) error {
				return serve(ctx, cfg, logger, nil)
			})
		}},
	{name: "dev", args: "[flags]", short: "run on embedded defaults with demo data",
		about:    "Runs the server on embedded defaults (NOT for production): a throwaway PostgreSQL cluster when DATABASE_URL is empty, migrations, demo tenants, keys and people, and a banner with the URLs and demo credentials. Ctrl-C stops it and removes the throwaway cluster.",
		settings: everySetting,
		define: func(*flag.FlagSet) func(context.Context, *Config, io.Writer, io.Writer) error {
			return logged(dev)
		}},
	{name: "migrate", args: "[flags]", short: "apply pending database migrations",
		about:    "Applies the pending database migrations and prints the schema version. Safe to run from several replicas at once.",
		settings: onlySettings(append(dbSettings, "VERWERKER_LOG_LEVEL", "VERWERKER_LOG_FORMAT")...),
		define: func(*flag.FlagSet) func(context.Context, *Config, io.Writer, io.Writer) error {
			return logged(migrate)
		}},
	{name: "audit verify", args: "[-tenant T] [flags]", short: "verify the audit chain (and its signed checkpoints) of a tenant, or every chain",
		about: "Recomputes the hash chain of one tenant (-tenant), or of every chain, and checks its signed checkpoints with the public key of " +
			"VERWERKER_SIGNING_KEY_FILE. Prints one JSON report per chain, as GET /v1/tenants/{tenant_id}/audit/verification answers it " +
			"(hashes in hex), and exits 1 when any chain does not verify.",
		settings: onlySettings(append(dbSettings, "VERWERKER_SIGNING_KEY_FILE")...),
		define: func(fs *flag.FlagSet) func(context.Context, *Config, io.Writer, io.Writer) error {
			tenant := fs.String("tenant", "", "verify only the chain of tenant `T` (platform: the platform's own chain); every chain when empty")
			return func(ctx context.Context, cfg *Config, stdout, stderr io.Writer) error {
				return auditVerify(ctx, cfg, *tenant, stdout, stderr)
			}
		}},
	{name: "audit checkpoint", args: "[flags]", short: "sign a checkpoint of every audit chain that moved",
		about: "Signs a checkpoint of the head of every audit chain that moved since its last checkpoint, now (the server does it every " +
			"VERWERKER_CHECKPOINT_INTERVAL), with the existing key of VERWERKER_SIGNING_KEY_FILE; it never creates a key.",
		settings: onlySettings(append(dbSettings, "VERWERKER_SIGNING_KEY_FILE")...),
		define: func(*flag.FlagSet) func(context.Context, *Config, io.Writer, io.Writer) error {
			return auditCheckpoint
		}},
	{name: "bootstrap", args: "-email E -name N [flags]", short: "create the first platform admin, print its set-up token",
		about:    "Creates the first platform admin of a new installation and prints its one-time set-up token (valid 72 hours); everyone else is created through the API.",
		settings: onlySettings(dbSettings...),
		define:   bootstrapCommand},
	{name: "policy export", args: "-dir DIR [flags]", short: "write the decision policy and every tenant's state for an OPA server",
		about:    "Writes the decision policy (decision.rego) and a data document of every tenant's decision state (data.json) into DIR, for an OPA server: opa run -s DIR.",
		settings: onlySettings(dbSettings...),
		define:   policyExportCommand},
	{name: "openapi", short: "print the OpenAPI 3.1 document", about: "Prints the OpenAPI 3.1 document of the API.",
		define: func(*flag.FlagSet) func(context.Context, *Config, io.Writer, io.Writer) error {
			return func(_ context.Context, _ *Config, stdout, _ io.Writer) error { return printOpenAPI(stdout) }
		}},
	{name: "version", short: "print the version", about: "Prints the version.",
		define: func(*flag.FlagSet) func(context.Context, *Config, io.Writer, io.Writer) error {
			return func(_ context.Context, _ *Config, stdout, _ io.Writer) error {
				_, err := fmt.Fprintln(stdout, version)
				return err
			}
		}},
}

// logged runs fn with the logger the settings ask for.
func logged(fn func(ctx context.Context, cfg *Config, logger *slog.Logger, stdout io.Writer) error) func(context.Context, *Config, io.Writer, io.Writer) error {
	return func(ctx context.Context, cfg *Config, stdout, stderr io.Writer) error {
		logger, err := newLogger(cfg, stderr)
		if err != nil {
			return err
		}
		return fn(ctx, cfg, logger, stdout)
	}
}

// usage writes the commands whose names start with prefix ("" for all).
func usage(w io.Writer, prefix string) {
	fmt.Fprint(w, "verwerker: GDPR processor operations.\n\nUsage: verwerker <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		if strings.HasPrefix(c.name, prefix) {
			fmt.Fprintf(w, "  %-18s %s\n", c.name, c.short)
		}
	}
	fmt.Fprint(w, "\nRun \"verwerker <command> -h\" for what a command does and its flags; every setting is also an environment variable.\n")
}

// help writes the usage of c and its flags.
func (c *command) help(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n\n", strings.TrimSpace("verwerker "+c.name+" "+c.args))
	line := 0
	for _, word := range strings.Fields(c.about) {
		if line > 0 && line+1+len(word) > 80 {
			fmt.Fprintln(w)
			line = 0
		}
		if line > 0 {
			fmt.Fprint(w, " ")
			line++
		}
		fmt.Fprint(w, word)
		line += len(word)
	}
	fmt.Fprintln(w)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nFlags (a flag wins over its environment variable):\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "verwerker:", err)
		os.Exit(1)
	}
}

func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "--help" || arg == "-help" || arg == "--h"
}

// run runs the command in args. -h or --help after a command writes its
// help to stdout and succeeds.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr, "")
		return errors.New("no command given")
	}
	if isHelp(args[0]) {
		usage(stdout, "")
		return nil
	}
	var cmd *command
	for i := range commands {
		words := strings.Fields(commands[i].name)
		if len(args) >= len(words) && slices.Equal(args[:len(words)], words) {
			cmd, args = &commands[i], args[len(words):]
			break
		}
	}
	if cmd == nil {
		// A group such as "audit" without its subcommand.
		group := args[0] + " "
		var names []string
		for _, c := range commands {
			if strings.HasPrefix(c.name, group) {
				names = append(names, c.name)
			}
		}
		if names != nil {
			if len(args) > 1 && isHelp(args[1]) {
				usage(stdout, group)
				return nil
			}
			usage(stderr, group)
			if len(args) == 1 {
				return fmt.Errorf("%q needs a subcommand: %s", args[0], strings.Join(names, ", "))
			}
			return fmt.Errorf("unknown command %q: the commands are %s", args[0]+" "+args[1], strings.Join(names, ", "))
		}
		usage(stderr, "")
		return fmt.Errorf("unknown command %q", args[0])
	}
	fs := flag.NewFlagSet("verwerker "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, help goes to stdout
	body := cmd.define(fs)
	cfg, envErr := &Config{}, error(nil)
	if cmd.settings != nil {
		cfg, envErr = bindSettings(fs, cmd.settings)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cmd.help(stdout, fs)
			return nil
		}
		return fmt.Errorf("%w (\"verwerker %s -h\" lists its flags)", err, cmd.name)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (\"verwerker %s -h\" lists its flags)", fs.Args(), cmd.name)
	}
	if envErr != nil {
		return envErr
	}
	return body(ctx, cfg, stdout, stderr)
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

// auditVerify verifies the chain of tenantID, or every chain when it is
// empty, and prints a JSON report per chain. It fails when any chain does
// not verify.
func auditVerify(ctx context.Context, cfg *Config, tenantID string, stdout, stderr io.Writer) error {
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
	subs      *subprocessor.Registry
	subjects  *subject.Service
	decisions *decision.Service
	// keyring holds the tenant keys (Vault Transit or the local keyring);
	// keyManager ties it to tenant_keys and the data-key cache.
	keyring    keys.Keyring
	keyManager *keys.Manager
	closeKeys  func()
	records    *records.Store
	server     *api.Server
	// metricsAddr is where serve serves the metrics; "" when they are off.
	metricsAddr string
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
		db: db, audit: log, tenants: tenant.NewService(db, clock, log), dpa: dpa.NewService(db, clock, log, subprocessor.Lists{}), keys: identity.NewKeys(db, clock, log),
		people: identity.NewPeople(db, clock, log), authz: authz, outbox: outbox, subs: subprocessor.NewRegistry(db, clock, log, outbox, calendar)}
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
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), a.subs.Metrics())
	a.server = api.New(api.Config{Version: version, Logger: logger, Registry: reg, SecureCookies: cfg.SecureCookies, TrustedProxies: cfg.TrustedProxies}, api.Deps{
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
	if cfg.MetricsAddr != "" {
		addr, stopMetrics, err := serveMetrics(cfg.MetricsAddr, a.server.MetricsHandler(), logger)
		if err != nil {
			_ = ln.Close()
			return err
		}
		defer stopMetrics()
		a.metricsAddr = addr
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
		page, err := a.subs.PublicPage(ctx, data.Tenants[0].ID)
		if err != nil {
			return err
		}
		printBanner(stdout, addr, a.metricsAddr, cfg.DatabaseURL, data, page.Slug, cfg.DevMailbox)
		return nil
	})
}

// defaultDevMailbox is where `dev` keeps e-mail without SMTP_URL when it
// does not run a throwaway cluster.
const defaultDevMailbox = ".verwerker/mailbox"

// printBanner prints where everything is; slug names the first demo
// customer's public subprocessor page, mailbox the dev mailbox (if any).
func printBanner(w io.Writer, addr, metricsAddr, dbURL string, data demo.Data, slug, mailbox string) {
	base := "http://" + addr
	var b strings.Builder
	fmt.Fprintf(&b, "\nverwerker %s is running on embedded defaults (NOT for production).\n\n", version)
	fmt.Fprintf(&b, "  API docs      %s/docs\n", base)
	fmt.Fprintf(&b, "  OpenAPI       %s/openapi.json\n", base)
	fmt.Fprintf(&b, "  Health        %s/healthz   %s/readyz\n", base, base)
	if metricsAddr != "" {
		fmt.Fprintf(&b, "  Metrics       http://%s/metrics (its own listener, VERWERKER_METRICS_ADDR; not on the API's address)\n", metricsAddr)
	} else {
		fmt.Fprintf(&b, "  Metrics       off (VERWERKER_METRICS_ADDR)\n")
	}
	if mailbox != "" {
		fmt.Fprintf(&b, "  Mailbox       %s/v1/dev/mailbox (e-mail is kept, not sent; platform_admin or dpo key; files in %s)\n", base, mailbox)
	}
	if len(data.Tenants) > 0 && slug != "" {
		fmt.Fprintf(&b, "  Subprocessors %s/public/pages/%s/subprocessors (public page of %s; .json, .atom; rotate: POST /v1/tenants/{tenant_id}/subprocessor-page/rotate)\n",
			base, slug, data.Tenants[0].Name)
	}
	fmt.Fprintf(&b, "  Database      %s\n\n", dbURL)
	// Every key and person names its customer in full: the tenant id and
	// the customer's name, or the platform (the processor's own staff).
	names := map[string]string{verwerker.PlatformDomain: "the processor; platform roles reach every customer"}
	fmt.Fprintf(&b, "Demo customers (controllers):\n")
	for _, t := range data.Tenants {
		names[t.ID] = t.Name
		var has []string
		for _, c := range data.Credentials {
			if c.Domain == t.ID {
				has = append(has, c.Role+" key")
			}
		}
		for _, p := range data.People {
			if p.Domain == t.ID {
				has = append(has, p.Role+" person "+p.Email)
			}
		}
		own := "no keys or people of its own"
		if len(has) > 0 {
			own = strings.Join(has, ", ")
		}
		fmt.Fprintf(&b, "  %s  %s (%s, %s): %s\n", t.ID, t.Name, t.Country, t.Timezone, own)
	}
	fmt.Fprintf(&b, "\nDemo API keys (shown once; the database is thrown away on exit):\n")
	for _, c := range data.Credentials {
		expiry := ""
		if c.ExpiresAt != nil {
			expiry = ", expires " + c.ExpiresAt.Format(time.DateOnly)
		}
		fmt.Fprintf(&b, "  %-18s %-30s %s\n  %-18s %-30s   of %s%s\n", c.Role, c.Domain, c.Token, "", "", names[c.Domain], expiry)
	}
	fmt.Fprintf(&b, "\nDemo people (sign in at POST /v1/auth/login with email, password and otp, the current TOTP code;\n  codes: oathtool --totp -b SECRET, or add the secret to an authenticator app):\n")
	for _, p := range data.People {
		fmt.Fprintf(&b, "  %-34s %-18s %-30s of %s\n  %-34s password %-24s TOTP secret %s\n", p.Email, p.Role, p.Domain, names[p.Domain], "", p.Password, p.TOTPSecret)
	}
	fmt.Fprintf(&b, "\nTry:\n  curl -s -H 'Authorization: Bearer %s' %s/v1/tenants\n\nPress Ctrl-C to stop.\n", data.Credentials[0].Token, base)
	fmt.Fprint(w, b.String())
}

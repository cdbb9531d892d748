// Command verwerker is the verwerker server and its operator tools. It only
// wires packages together; see the README for the subcommands and settings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/store"
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
	{name: "totp", args: "-secret SECRET", short: "print the current TOTP code of a base32 secret (demo people, tests)",
		about: "Prints the code an authenticator app shows now for the base32 TOTP SECRET, such as a demo person's from the `dev` banner. " +
			"It reads nothing else and changes nothing; in production people use their own app.",
		define: func(fs *flag.FlagSet) func(context.Context, *Config, io.Writer, io.Writer) error {
			secret := fs.String("secret", "", "the base32 TOTP `SECRET`")
			return func(_ context.Context, _ *Config, stdout, _ io.Writer) error {
				if *secret == "" {
					return fmt.Errorf("-secret is required (\"verwerker totp -h\" lists its flags)")
				}
				code, err := identity.TOTPCode(strings.ToUpper(strings.TrimSpace(*secret)), time.Now())
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(stdout, code)
				return err
			}
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

func openDB(ctx context.Context, cfg *Config) (*store.DB, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("DATABASE_URL is not set (use `verwerker dev` for a throwaway database)")
	}
	return store.Open(ctx, cfg.DatabaseURL, store.Options{MaxConns: int32(cfg.DBMaxConns)})
}

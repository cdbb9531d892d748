package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/demo"
	"github.com/verwerker/verwerker/store"
)

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
	return serve(ctx, cfg, logger, func(a *running, addr string) error {
		data, err := demo.Seed(ctx, verwerker.SystemClock{}, a.Tenants, a.Keys, a.People)
		if err != nil {
			return err
		}
		if err := demo.SeedSubprocessors(ctx, a.Subprocessors); err != nil {
			return err
		}
		if _, err := demo.SeedDPA(ctx, a.DPA, data.Tenants[0].ID); err != nil {
			return err
		}
		dash, err := demo.SeedDashboard(ctx, demo.DashboardDeps{DB: a.DB, Clock: a.Clock, Audit: a.Audit, Calendar: a.Calendar,
			Tenants: a.Tenants, DPA: a.DPA, Decisions: a.Decisions, Subprocessors: a.Subprocessors}, data)
		if err != nil {
			return err
		}
		if err := demo.SeedRequests(ctx, verwerker.SystemClock{}, a.Requests, data.Tenants[0].ID); err != nil {
			return err
		}
		if err := demo.SeedRetention(ctx, verwerker.SystemClock{}, a.Records, a.Retention, data.Tenants[0].ID); err != nil {
			return err
		}
		if err := demo.SeedBreaches(ctx, verwerker.SystemClock{}, a.Breaches, []string{data.Tenants[0].ID, data.Tenants[1].ID}); err != nil {
			return err
		}
		page, err := a.Subprocessors.PublicPage(ctx, data.Tenants[0].ID)
		if err != nil {
			return err
		}
		// The banner names every demo customer, also the two the dashboard
		// seed adds (a terminating contract, an agreement not accepted).
		data.Tenants = append(data.Tenants, dash.Terminating, dash.Offered)
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
	fmt.Fprintf(&b, "  Dashboard     %s/dashboard/ (sign in as a demo person below)\n", base)
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
		state := ""
		if t.ContractEnd != nil {
			state = "; contract ends " + t.ContractEnd.String()
		}
		fmt.Fprintf(&b, "  %s  %s (%s, %s%s): %s\n", t.ID, t.Name, t.Country, t.Timezone, state, own)
	}
	fmt.Fprintf(&b, "\nDemo API keys (shown once; the database is thrown away on exit):\n")
	for _, c := range data.Credentials {
		expiry := ""
		if c.ExpiresAt != nil {
			expiry = ", expires " + c.ExpiresAt.Format(time.DateOnly)
		}
		fmt.Fprintf(&b, "  %-18s %-30s %s\n  %-18s %-30s   of %s%s\n", c.Role, c.Domain, c.Token, "", "", names[c.Domain], expiry)
	}
	fmt.Fprintf(&b, "\nDemo people (sign in on the dashboard, or at POST /v1/auth/login, with email, password and the current TOTP code;\n  the code: bin/verwerker totp -secret SECRET, oathtool --totp -b SECRET, or add the secret to an authenticator app):\n")
	for _, p := range data.People {
		fmt.Fprintf(&b, "  %-34s %-18s %-30s of %s\n  %-34s password %-24s TOTP secret %s\n", p.Email, p.Role, p.Domain, names[p.Domain], "", p.Password, p.TOTPSecret)
	}
	fmt.Fprintf(&b, "\nTry:\n  curl -s -H 'Authorization: Bearer %s' %s/v1/tenants\n\nPress Ctrl-C to stop.\n", data.Credentials[0].Token, base)
	fmt.Fprint(w, b.String())
}

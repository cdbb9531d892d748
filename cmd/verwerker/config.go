package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/verwerker/verwerker/api"
	"github.com/verwerker/verwerker/app"
)

// Config is every setting of verwerker. Each has an environment variable and
// a flag; the flag wins. The README lists them all with their defaults.
type Config struct {
	DatabaseURL     string
	Addr            string
	LogLevel        string
	LogFormat       string
	DBMaxConns      int
	MigrateOnStart  bool
	ShutdownTimeout time.Duration
	PGBin           string
	DevDir          string
	SecureCookies   bool
	SMTPURL         string
	MailFrom        string
	// DPOEmail receives the data-subject requests' deadline reminders and
	// the breach clocks' escalations (comma-separated addresses).
	DPOEmail string
	// PublicURL is the absolute base URL controllers reach verwerker at:
	// links in e-mail start with it. Empty: http:// and the listen address.
	PublicURL string
	// WebhookAllowPrivate lets webhook endpoints be on private networks
	// (development only).
	WebhookAllowPrivate bool

	// Keys: Vault Transit when VaultAddr is set, else the local keyring.
	VaultAddr, VaultToken, VaultRoleID, VaultSecretID, VaultSecretIDFile, VaultK8sRole, VaultMount string
	KeyringFile                                                                                    string
	// KeyRotationInterval is the tenant key rotation cycle.
	KeyRotationInterval time.Duration

	SigningKeyFile     string
	CheckpointInterval time.Duration
	// AuditVerifyMaxAge is app.Config.AuditVerifyMaxAge.
	AuditVerifyMaxAge time.Duration

	SubjectKeyFile        string
	DecisionFlushInterval time.Duration

	// ReplicaLease is how long a replica answers from its caches without
	// hearing from the database (store.WatcherOptions.Lease).
	ReplicaLease time.Duration

	// DebugAddr, when set, serves Go's profiler (/debug/pprof/) there.
	DebugAddr string

	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed (api.Config.TrustedProxies).
	TrustedProxies []netip.Prefix

	// MetricsAddr is where Prometheus metrics are served, apart from the
	// API; empty when they are off.
	MetricsAddr string

	// DevMailbox is set by `dev` (never by a setting): without SMTP_URL,
	// e-mail is kept in this directory and read at GET /v1/dev/mailbox.
	DevMailbox string
}

type setting struct {
	env, flag, def, usage string
	set                   func(string) error
}

func (c *Config) settings() []setting {
	str := func(p *string) func(string) error { return func(v string) error { *p = v; return nil } }
	return []setting{
		{"DATABASE_URL", "database-url", "", "PostgreSQL connection string; `dev` creates a throwaway cluster when empty", str(&c.DatabaseURL)},
		{"VERWERKER_ADDR", "addr", "127.0.0.1:8080", "address to listen on", str(&c.Addr)},
		{"VERWERKER_METRICS_ADDR", "metrics-addr", "127.0.0.1:9464", "serve Prometheus metrics (/metrics) on this address, apart from the API and without authentication: loopback or an internal network only; off or empty turns them off", func(v string) error {
			if v == "off" || v == "" {
				c.MetricsAddr = ""
				return nil
			}
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("must be host:port, off or empty")
			}
			c.MetricsAddr = v
			return nil
		}},
		{"VERWERKER_DEBUG_ADDR", "debug-addr", "", "when set, serve Go's profiler (/debug/pprof/) on this address, apart from the API; keep it on loopback", str(&c.DebugAddr)},
		{"VERWERKER_LOG_LEVEL", "log-level", "info", "debug, info, warn or error", str(&c.LogLevel)},
		{"VERWERKER_LOG_FORMAT", "log-format", "json", "json or text", str(&c.LogFormat)},
		{"VERWERKER_DB_MAX_CONNS", "db-max-conns", "20", "maximum database connections per replica", func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("must be a positive integer")
			}
			c.DBMaxConns = n
			return nil
		}},
		{"VERWERKER_MIGRATE_ON_START", "migrate-on-start", "true", "apply pending migrations when serve starts (safe with many replicas)", func(v string) error {
			b, err := strconv.ParseBool(v)
			c.MigrateOnStart = b
			return err
		}},
		{"VERWERKER_SHUTDOWN_TIMEOUT", "shutdown-timeout", "15s", "how long to drain requests on SIGTERM", func(v string) error {
			d, err := time.ParseDuration(v)
			c.ShutdownTimeout = d
			return err
		}},
		{"VERWERKER_SECURE_COOKIES", "secure-cookies", "false", "mark session cookies Secure on plain HTTP too, when a proxy terminates TLS (always Secure on TLS)", func(v string) error {
			b, err := strconv.ParseBool(v)
			c.SecureCookies = b
			return err
		}},
		{"VERWERKER_TRUSTED_PROXIES", "trusted-proxies", "", "comma-separated CIDRs of the reverse proxies in front of verwerker; from them the client address is taken from X-Forwarded-For (the right-most untrusted entry), for login throttling. Empty: trust none", func(v string) error {
			p, err := api.ParseTrustedProxies(v)
			c.TrustedProxies = p
			return err
		}},
		{"SMTP_URL", "smtp-url", "", "SMTP relay for outbox e-mail: smtp://[user:password@]host:port; empty refuses e-mail notices", str(&c.SMTPURL)},
		{"VERWERKER_MAIL_FROM", "mail-from", "", "sender address of outbox e-mail; required with SMTP_URL", str(&c.MailFrom)},
		{"VERWERKER_DPO_EMAIL", "dpo-email", "", "address of the DPO (several comma-separated), reminded of data-subject requests' deadlines beside each controller and e-mailed each escalation of a breach clock (24, 36, 44 h and overdue)", str(&c.DPOEmail)},
		{"VERWERKER_PUBLIC_URL", "public-url", "", "absolute base URL (http or https, no query) at which controllers and the DPO reach verwerker, as behind a load balancer or proxy; links in e-mail (breach notice acknowledgement, escalations) start with it. Empty: http:// and VERWERKER_ADDR (localhost for an unspecified host), right for dev only", func(v string) error {
			if v == "" {
				c.PublicURL = ""
				return nil
			}
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
				return fmt.Errorf("must be an absolute http or https URL without user, query or fragment")
			}
			c.PublicURL = strings.TrimRight(v, "/")
			return nil
		}},
		{"VERWERKER_WEBHOOK_ALLOW_PRIVATE", "webhook-allow-private", "false", "allow webhook endpoints on loopback, private and link-local addresses (never in production: SSRF); `dev` turns it on", func(v string) error {
			b, err := strconv.ParseBool(v)
			c.WebhookAllowPrivate = b
			return err
		}},
		{"VAULT_ADDR", "vault-addr", "", "Vault address; Transit holds the tenant keys. Empty: the local keyring (not for production)", str(&c.VaultAddr)},
		{"VAULT_TOKEN", "vault-token", "", "Vault token with the verwerker policy (renewed while renewable; production uses AppRole or Kubernetes)", str(&c.VaultToken)},
		{"VERWERKER_VAULT_ROLE_ID", "vault-role-id", "", "AppRole role id (login with VERWERKER_VAULT_SECRET_ID or _SECRET_ID_FILE)", str(&c.VaultRoleID)},
		{"VERWERKER_VAULT_SECRET_ID", "vault-secret-id", "", "AppRole secret id", str(&c.VaultSecretID)},
		{"VERWERKER_VAULT_SECRET_ID_FILE", "vault-secret-id-file", "", "file holding the AppRole secret id, read at every login", str(&c.VaultSecretIDFile)},
		{"VERWERKER_VAULT_K8S_ROLE", "vault-k8s-role", "", "Kubernetes auth role (the pod's service-account token)", str(&c.VaultK8sRole)},
		{"VERWERKER_VAULT_TRANSIT_MOUNT", "vault-transit-mount", "transit", "where the Transit engine is mounted", str(&c.VaultMount)},
		{"VERWERKER_KEYRING_FILE", "keyring-file", "", "local keyring master key (32 bytes, mode 0600) used when VAULT_ADDR is empty; " +
			"empty means " + app.DefaultKeyringFile + ", or inside the throwaway cluster for `dev`", str(&c.KeyringFile)},
		{"VERWERKER_KEY_ROTATION_INTERVAL", "key-rotation-interval", "336h", "tenant key rotation cycle: rotate, rewrap every data key, retire older versions; a database backup can reveal an erased subject for at most this long (plus Vault's snapshot retention)", func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Hour {
				return fmt.Errorf("must be a duration of at least 1h")
			}
			c.KeyRotationInterval = d
			return nil
		}},
		{"VERWERKER_REPLICA_LEASE", "replica-lease", "5s", "how long a replica answers credentials and decisions from memory without hearing from PostgreSQL; a change through the API waits at most this long for a replica that stopped listening", func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 300*time.Millisecond || d > time.Minute {
				return fmt.Errorf("must be a duration from 300ms to 1m")
			}
			c.ReplicaLease = d
			return nil
		}},
		{"VERWERKER_PG_BIN", "pg-bin", "", "directory with initdb and postgres for `dev`; searched on PATH and /usr/lib/postgresql/*/bin when empty", str(&c.PGBin)},
		{"VERWERKER_DEV_DIR", "dev-dir", "", "parent directory of the throwaway cluster of `dev`; the system temp dir when empty", str(&c.DevDir)},
		{"VERWERKER_SIGNING_KEY_FILE", "signing-key-file", "", "local Ed25519 key that signs audit checkpoints (32-byte seed, mode 0600), created by serve when missing; " +
			"empty means " + defaultSigningKeyFile + ", or inside the throwaway cluster for `dev`", str(&c.SigningKeyFile)},
		{"VERWERKER_CHECKPOINT_INTERVAL", "checkpoint-interval", "1h", "how often the server signs the heads of the audit chains that moved", func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second {
				return fmt.Errorf("must be a duration of at least 1s")
			}
			c.CheckpointInterval = d
			return nil
		}},
		{"VERWERKER_AUDIT_VERIFY_MAX_AGE", "audit-verify-max-age", "48h", "how old the last verification of an audit chain may be before the chain counts as unverified (verwerker_audit_chains_unverified); every chain is verified in the background every half of it", func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Minute {
				return fmt.Errorf("must be a duration of at least 1m")
			}
			c.AuditVerifyMaxAge = d
			return nil
		}},
		{"VERWERKER_SUBJECT_KEY_FILE", "subject-key-file", "", "local 32-byte key (mode 0600) of the HMAC that pseudonymises subject references, created by serve when missing; " +
			"empty means " + app.DefaultSubjectKeyFile + ", or inside the throwaway cluster for `dev`", str(&c.SubjectKeyFile)},
		{"VERWERKER_DECISION_FLUSH_INTERVAL", "decision-flush-interval", "1m", "how often the counts of allowed decisions are written to each tenant's audit chain", func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second {
				return fmt.Errorf("must be a duration of at least 1s")
			}
			c.DecisionFlushInterval = d
			return nil
		}},
	}
}

// parseConfig reads every setting from the environment, then the flags in
// args: the settings of serve and dev.
func parseConfig(name string, args []string, stderr io.Writer) (*Config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c, err := bindSettings(fs, everySetting)
	if err != nil {
		return nil, nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	return c, fs.Args(), nil
}

// bindSettings returns a Config holding the settings keep selects (by
// environment variable) as the environment or their defaults give them, and
// defines their flags on fs, which override them when fs parses. The error
// names the first environment variable with a value that is not valid; the
// flags are defined all the same, so that -h works.
func bindSettings(fs *flag.FlagSet, keep func(env string) bool) (*Config, error) {
	c := &Config{}
	var first error
	for _, s := range c.settings() {
		if !keep(s.env) {
			continue
		}
		v := s.def
		if e, ok := os.LookupEnv(s.env); ok {
			v = e
		}
		if err := s.set(v); err != nil && first == nil {
			first = fmt.Errorf("%s: %v", s.env, err)
		}
		// A `word` in a usage would become the value's name in -h.
		usage := strings.ReplaceAll(s.usage, "`", "'")
		fs.Func(s.flag, usage+" (env "+s.env+", default "+strconv.Quote(s.def)+")", s.set)
	}
	return c, first
}

// everySetting selects every setting: serve and dev read them all.
func everySetting(string) bool { return true }

// onlySettings selects the settings of these environment variables.
func onlySettings(envs ...string) func(string) bool {
	return func(env string) bool { return slices.Contains(envs, env) }
}

// publicURL is the base URL of links in e-mail: PublicURL, or http:// and
// the listen address (localhost for an unspecified host).
func (c *Config) publicURL() string {
	if c.PublicURL != "" {
		return c.PublicURL
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return "http://" + c.Addr
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

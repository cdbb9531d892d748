package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/demo"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
	"github.com/verwerker/verwerker/tenant"
)

func TestOpenAPICommand(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	require.NoError(t, run(context.Background(), []string{"openapi"}, &out, io.Discard))
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(out.String()), &doc))
	require.Regexp(t, `^3\.1\.`, doc["openapi"])
	require.Contains(t, doc["paths"], "/v1/tenants")
}

// runProcess runs the verwerker command as a process (the test binary, see
// TestMain) and returns its exit status, stdout and stderr.
func runProcess(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "VERWERKER_TEST_RUN_MAIN=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	require.NoError(t, err)
	return 0, stdout.String(), stderr.String()
}

// TestCommandHelp: -h and --help show a command's usage, what it does and
// its own flags only, on stdout, and exit 0; verwerker -h lists the
// commands.
func TestCommandHelp(t *testing.T) {
	t.Parallel()
	serverOnly := []string{"-addr", "-smtp-url", "-vault-addr", "-checkpoint-interval", "-log-level", "-replica-lease", "-debug-addr"}
	for _, h := range []string{"-h", "--help"} {
		code, out, errOut := runProcess(t, "audit", "verify", h)
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "Usage: verwerker audit verify [-tenant T] [flags]")
		require.Contains(t, out, "Recomputes the hash chain")
		for _, f := range []string{"-tenant T", "-database-url", "-signing-key-file"} {
			require.Contains(t, out, "\n  "+f, "audit verify takes %s", f)
		}
		for _, f := range serverOnly {
			require.NotContains(t, out, "\n  "+f+" ", "audit verify does not take %s", f)
		}
	}

	names := []string{"serve", "dev", "migrate", "audit verify", "audit checkpoint", "bootstrap", "policy export", "openapi", "version"}
	code, out, _ := runProcess(t, "-h")
	require.Equal(t, 0, code)
	for _, name := range names {
		require.Regexp(t, `(?m)^  `+name+`\s+\S`, out, "verwerker -h lists %s", name)
	}
	for _, name := range names {
		code, out, errOut := runProcess(t, append(strings.Fields(name), "-h")...)
		require.Equal(t, 0, code, "%s -h: %s", name, errOut)
		require.Contains(t, out, "Usage: verwerker "+name)
		if name != "serve" && name != "dev" {
			require.NotContains(t, out, "\n  -addr ", "%s does not take -addr", name)
		}
	}
	code, out, _ = runProcess(t, "serve", "-h")
	require.Equal(t, 0, code)
	require.Contains(t, out, "\n  -addr ")
	require.NotContains(t, out, "\n  -dev-dir ", "dev-dir is dev's")

	// A flag of another command is refused, pointing at the help.
	code, _, errOut := runProcess(t, "audit", "verify", "-addr", "127.0.0.1:0")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "flag provided but not defined: -addr")
	require.Contains(t, errOut, `"verwerker audit verify -h"`)
	code, out, errOut = runProcess(t, "audit", "-h")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "audit checkpoint")
	require.NotContains(t, out, "bootstrap")
}

// TestSettingsFromEnvironment: a command reads its settings from the
// environment, and its flags win.
func TestSettingsFromEnvironment(t *testing.T) {
	url := storetest.NewEmptyURL(t)
	t.Setenv("DATABASE_URL", url)
	t.Setenv("VERWERKER_LOG_FORMAT", "yaml")
	err := run(context.Background(), []string{"migrate"}, io.Discard, io.Discard)
	require.ErrorContains(t, err, "VERWERKER_LOG_FORMAT")
	var out strings.Builder
	require.NoError(t, run(context.Background(), []string{"migrate", "-log-format", "text"}, &out, io.Discard))
	require.Regexp(t, `schema at version [1-9]`, out.String())
	t.Setenv("VERWERKER_DB_MAX_CONNS", "0")
	require.ErrorContains(t, run(context.Background(), []string{"policy", "export", "-dir", t.TempDir()}, io.Discard, io.Discard), "VERWERKER_DB_MAX_CONNS")
	// A setting of serve alone does not concern the tools.
	t.Setenv("VERWERKER_DB_MAX_CONNS", "")
	os.Unsetenv("VERWERKER_DB_MAX_CONNS")
	t.Setenv("VERWERKER_REPLICA_LEASE", "1h")
	require.NoError(t, run(context.Background(), []string{"policy", "export", "-dir", t.TempDir()}, io.Discard, io.Discard))
	require.ErrorContains(t, run(context.Background(), []string{"serve"}, io.Discard, io.Discard), "VERWERKER_REPLICA_LEASE")
}

func TestUnknownCommandAndBadConfig(t *testing.T) {
	require.ErrorContains(t, run(context.Background(), []string{"nope"}, io.Discard, io.Discard), "unknown command")
	require.ErrorContains(t, run(context.Background(), nil, io.Discard, io.Discard), "no command")
	require.ErrorContains(t, run(context.Background(), []string{"serve", "-log-level", "loud"}, io.Discard, io.Discard), "VERWERKER_LOG_LEVEL")
	t.Setenv("DATABASE_URL", "")
	require.ErrorContains(t, run(context.Background(), []string{"migrate"}, io.Discard, io.Discard), "DATABASE_URL is not set")
}

// TestMetricsAddrSetting: metrics are on loopback by default, and off or
// empty turns them off.
func TestMetricsAddrSetting(t *testing.T) {
	for env, want := range map[string]string{"": "", "off": "", "0.0.0.0:9100": "0.0.0.0:9100"} {
		t.Setenv("VERWERKER_METRICS_ADDR", env)
		cfg, _, err := parseConfig("verwerker serve", nil, io.Discard)
		require.NoError(t, err)
		require.Equal(t, want, cfg.MetricsAddr, env)
	}
	os.Unsetenv("VERWERKER_METRICS_ADDR")
	cfg, _, err := parseConfig("verwerker serve", nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9464", cfg.MetricsAddr)
	cfg, _, err = parseConfig("verwerker serve", []string{"-metrics-addr", "off"}, io.Discard)
	require.NoError(t, err)
	require.Empty(t, cfg.MetricsAddr)
	t.Setenv("VERWERKER_METRICS_ADDR", "9464")
	_, _, err = parseConfig("verwerker serve", nil, io.Discard)
	require.ErrorContains(t, err, "VERWERKER_METRICS_ADDR")
}

func TestMigrateCommand(t *testing.T) {
	url := storetest.NewEmptyURL(t)
	var out strings.Builder
	require.NoError(t, run(context.Background(), []string{"migrate", "-database-url", url, "-log-format", "text"}, &out, io.Discard))
	require.Regexp(t, `schema at version [1-9]`, out.String())
}

// TestDevStartsAndStopsCleanly is `make run` in miniature: embedded cluster,
// migrations, demo data, a ready server; then Ctrl-C (context cancel) leaves
// no postgres process and no cluster directory behind.
func TestDevStartsAndStopsCleanly(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("SMTP_URL", "")
	// Not t.TempDir: its parent is private to root, and the cluster may run as
	// the postgres user.
	parent, err := os.MkdirTemp("", "verwerker-devtest-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(parent, 0o755))
	t.Cleanup(func() { os.RemoveAll(parent) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"dev", "-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-dev-dir", parent}, pw, io.Discard)
		pw.Close()
	}()

	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var base, token, metrics, page, banner, mailbox string
	docsRe := regexp.MustCompile(`API docs\s+(http://\S+)/docs`)
	mailboxRe := regexp.MustCompile(`Mailbox\s+(http://\S+/v1/dev/mailbox)`)
	keyRe := regexp.MustCompile(`^\s+platform_admin\s+\S+\s+(vwk_\S+)`)
	metricsRe := regexp.MustCompile(`Metrics\s+(http://\S+/metrics)`)
	pageRe := regexp.MustCompile(`Subprocessors\s+(http://\S+/public/pages/[a-z2-7]{26}/subprocessors)\s`)
	timeout := time.After(60 * time.Second)
	for base == "" || token == "" || metrics == "" || page == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("dev exited early: %v\n%s", <-done, banner)
			}
			banner += l + "\n"
			if m := docsRe.FindStringSubmatch(l); m != nil {
				base = m[1]
			}
			if m := keyRe.FindStringSubmatch(l); m != nil {
				token = m[1]
			}
			if m := metricsRe.FindStringSubmatch(l); m != nil {
				metrics = m[1]
			}
			if m := pageRe.FindStringSubmatch(l); m != nil {
				page = m[1]
			}
			if m := mailboxRe.FindStringSubmatch(l); m != nil {
				mailbox = m[1]
			}
		case <-timeout:
			t.Fatalf("no banner within 60s:\n%s", banner)
		}
	}
	go func() {
		for range lines {
		}
	}()

	res, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)

	req, _ := http.NewRequest(http.MethodGet, base+"/v1/tenants", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	var list struct{ Items []map[string]any }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&list))
	res.Body.Close()
	require.Len(t, list.Items, 4, "two demo customers with people and keys, and two more for the dashboard (demo.SeedDashboard)")
	for _, c := range list.Items {
		require.Contains(t, banner, c["id"].(string)+"  "+c["name"].(string), "the banner names every demo customer")
	}

	// The dashboard is on the same address.
	res, err = http.Get(base + "/dashboard/signin")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, res.Header.Get("Content-Security-Policy"), "default-src 'none'")
	// Retention shows a hold and a past sweep with its certificate.
	for _, c := range []struct{ path, status string }{{"/legal-holds", ""}, {"/retention/sweeps", "completed"}} {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/tenants/"+list.Items[0]["id"].(string)+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		var items struct{ Items []map[string]any }
		require.NoError(t, json.NewDecoder(res.Body).Decode(&items))
		res.Body.Close()
		require.NotEmpty(t, items.Items, c.path)
		if c.status != "" {
			// The demo's sweep is the oldest; the schedule may have swept since.
			require.Equal(t, c.status, items.Items[len(items.Items)-1]["status"])
		} else {
			require.Len(t, items.Items, 1, c.path)
		}
	}

	// Metrics are on their own listener, not on the API's address, and
	// name no customer.
	require.NotEqual(t, base+"/metrics", metrics)
	res, err = http.Get(base + "/metrics")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	require.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
	res, err = http.Get(metrics)
	require.NoError(t, err)
	scraped, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, string(scraped), `verwerker_http_requests_total{code="200",method="GET",operation="listTenants"} 1`)
	require.Contains(t, string(scraped), "go_goroutines")
	// The demo's sweep, and the schedule's first sweeps of the demo customers.
	require.Regexp(t, `(?m)^verwerker_retention_sweeps_completed_total [1-9]\d*$`, string(scraped))
	require.Contains(t, string(scraped), "verwerker_retention_lag_seconds 0")
	require.NotContains(t, string(scraped), "tnt_")

	// The demo customer's public page is at the printed address, and at
	// no address made of a customer's id.
	res, err = http.Get(page + "?lang=en")
	require.NoError(t, err)
	html, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, string(html))
	require.Contains(t, string(html), "Subprocessors")
	for _, tn := range list.Items {
		res, err = http.Get(base + "/public/tenants/" + tn["id"].(string) + "/subprocessors")
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusNotFound, res.StatusCode)
	}

	// Without SMTP_URL, e-mail is kept in a mailbox the banner points to.
	require.NotEmpty(t, mailbox, "the banner says where mail is kept:\n%s", banner)
	req, _ = http.NewRequest(http.MethodGet, mailbox, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	var box struct {
		Dir   string
		Items []map[string]any
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&box))
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.True(t, strings.HasPrefix(box.Dir, parent), "the mailbox is thrown away with the cluster: %s", box.Dir)

	entries, _ := os.ReadDir(parent)
	require.Len(t, entries, 1, "one cluster directory while running")
	clusterDir := parent + "/" + entries[0].Name()

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("dev did not stop within 60s")
	}
	_, err = os.Stat(clusterDir)
	require.True(t, os.IsNotExist(err), "cluster directory removed")
	out, _ := exec.Command("pgrep", "-f", clusterDir).Output()
	require.Empty(t, strings.TrimSpace(string(out)), "no postgres left running")
}

func TestAuditVerifyCommand(t *testing.T) {
	url := storetest.NewURL(t)
	ctx := context.Background()
	db, err := store.Open(ctx, url, store.Options{})
	require.NoError(t, err)
	defer db.Close()
	a, err := newApp(ctx, db, &Config{SubjectKeyFile: os.Getenv("VERWERKER_SUBJECT_KEY_FILE"), KeyringFile: os.Getenv("VERWERKER_KEYRING_FILE")}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	tn, err := a.Tenants.Create(ctx, tenant.New{Name: "Audit Me", Country: "NL", ContactEmail: "privacy@auditme.example"})
	require.NoError(t, err)
	a.Close()

	var out strings.Builder
	require.NoError(t, run(ctx, []string{"audit", "verify", "-tenant", tn.ID, "-database-url", url}, &out, io.Discard))
	require.Contains(t, out.String(), `"ok":true`)
	// The head hash is in hex, as the API and the export give it.
	var report map[string]any
	require.NoError(t, json.Unmarshal([]byte(out.String()), &report))
	var seq int64
	var head []byte
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT seq, hash FROM audit_heads WHERE chain = $1`, tn.ID).Scan(&seq, &head))
	require.EqualValues(t, seq, report["head_seq"])
	require.Equal(t, hex.EncodeToString(head), report["head_hash"])

	_, err = db.Pool.Exec(ctx, `SET session_replication_role = replica; UPDATE audit_events SET action = 'tenant.read'; RESET session_replication_role`)
	require.NoError(t, err)
	out.Reset()
	err = run(ctx, []string{"audit", "verify", "-database-url", url}, &out, io.Discard)
	require.ErrorContains(t, err, "1 of 1 audit chains do not verify")
	require.Contains(t, out.String(), `"first_bad":1`)
}

// TestBannerNamesEachCustomer: the demo banner names every demo customer
// in full and, for every key and person, the customer (or the platform) it
// belongs to, with the whole tenant id rather than a shortened one.
func TestBannerNamesEachCustomer(t *testing.T) {
	expires := time.Date(2027, 3, 3, 0, 0, 0, 0, time.UTC)
	end := deadline.DateOf(time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC))
	data := demo.Data{
		Tenants: []tenant.Tenant{
			{ID: "tnt_01M8Y2VYQYGBXHV6FWM99GPP5X", Name: "Bakkerij De Vries B.V.", Country: "NL", Timezone: "Europe/Amsterdam"},
			{ID: "tnt_01M8Y2VYRFSDERA1919SQ842HY", Name: "Fietsenwinkel Jansen", Country: "BE", Timezone: "Europe/Brussels"},
			{ID: "tnt_01M8Y2VYRZ0000000000000000", Name: "Reisbureau Zonnestraal", Country: "NL", Timezone: "Europe/Amsterdam", ContractEnd: &end},
		},
		Credentials: []demo.Credential{
			{Role: "platform_admin", Domain: verwerker.PlatformDomain, Token: "vwk_aaa_platform", ExpiresAt: &expires},
			{Role: "chat_service", Domain: "tnt_01M8Y2VYQYGBXHV6FWM99GPP5X", Token: "vwk_bbb_chat"},
		},
		People: []demo.Person{
			{Email: "privacy@bakkerij-devries.example", Role: "controller_admin", Domain: "tnt_01M8Y2VYQYGBXHV6FWM99GPP5X", Password: "pw", TOTPSecret: "SECRET"},
		},
	}
	var out strings.Builder
	printBanner(&out, "127.0.0.1:8080", "127.0.0.1:9464", "postgres://x", data, "abc", "/tmp/mailbox")
	banner := out.String()
	lines := strings.Split(banner, "\n")
	lineOf := func(s string) (int, string) {
		for i, l := range lines {
			if strings.Contains(l, s) {
				return i, l
			}
		}
		t.Fatalf("no line with %q in:\n%s", s, banner)
		return 0, ""
	}
	_, l := lineOf("tnt_01M8Y2VYQYGBXHV6FWM99GPP5X  Bakkerij De Vries B.V.")
	require.Contains(t, l, "chat_service key")
	require.Contains(t, l, "controller_admin person privacy@bakkerij-devries.example")
	_, l = lineOf("tnt_01M8Y2VYRFSDERA1919SQ842HY  Fietsenwinkel Jansen")
	require.Contains(t, l, "no keys or people of its own")
	_, l = lineOf("tnt_01M8Y2VYRZ0000000000000000  Reisbureau Zonnestraal")
	require.Contains(t, l, "contract ends 2026-12-24")

	i, l := lineOf("vwk_bbb_chat")
	require.Regexp(t, `^\s+chat_service\s+tnt_01M8Y2VYQYGBXHV6FWM99GPP5X\s+vwk_bbb_chat$`, l)
	require.Contains(t, lines[i+1], "of Bakkerij De Vries B.V.")
	i, l = lineOf("vwk_aaa_platform")
	require.Regexp(t, `^\s+platform_admin\s+\S+\s+(vwk_\S+)`, l, "the line TestDevStartsAndStopsCleanly reads")
	require.Contains(t, lines[i+1], "of the processor")
	require.Contains(t, lines[i+1], "expires 2027-03-03")
	i, _ = lineOf("privacy@bakkerij-devries.example   ")
	require.Regexp(t, `tnt_01M8Y2VYQYGBXHV6FWM99GPP5X\s+of Bakkerij De Vries B.V.$`, lines[i])
	require.Contains(t, lines[i+1], "TOTP secret SECRET")
	require.NotContains(t, banner, "…", "no shortened ids")
}

// verwerker totp prints the code an authenticator app shows for a secret.
func TestTOTPCommand(t *testing.T) {
	var out, errOut strings.Builder
	require.NoError(t, run(context.Background(), []string{"totp", "-secret", "JBSWY3DPEHPK3PXP"}, &out, &errOut))
	want, err := identity.TOTPCode("JBSWY3DPEHPK3PXP", time.Now())
	require.NoError(t, err)
	prev, _ := identity.TOTPCode("JBSWY3DPEHPK3PXP", time.Now().Add(-30*time.Second))
	require.Contains(t, []string{want, prev}, strings.TrimSpace(out.String()))
	require.Error(t, run(context.Background(), []string{"totp"}, &out, &errOut))
}

// TestPublicURLSetting: links in e-mail start with VERWERKER_PUBLIC_URL,
// or by default with http:// and the listen address (localhost for an
// unspecified host); a relative URL or one with a query is refused.
func TestPublicURLSetting(t *testing.T) {
	for _, tc := range []struct{ public, addr, want string }{
		{"", "127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"", ":8080", "http://localhost:8080"},
		{"", "0.0.0.0:9000", "http://localhost:9000"},
		{"https://verwerker.example.com/", "0.0.0.0:8080", "https://verwerker.example.com"},
		{"https://example.com/verwerker", "", "https://example.com/verwerker"},
	} {
		t.Setenv("VERWERKER_PUBLIC_URL", tc.public)
		t.Setenv("VERWERKER_ADDR", tc.addr)
		cfg, _, err := parseConfig("verwerker serve", nil, io.Discard)
		require.NoError(t, err)
		require.Equal(t, tc.want, appConfig(cfg).PublicURL, tc)
	}
	for _, bad := range []string{"verwerker.example.com", "ftp://verwerker.example.com", "https://verwerker.example.com/?a=1", "https://u:p@verwerker.example.com"} {
		t.Setenv("VERWERKER_PUBLIC_URL", bad)
		_, _, err := parseConfig("verwerker serve", nil, io.Discard)
		require.ErrorContains(t, err, "VERWERKER_PUBLIC_URL", bad)
	}
}

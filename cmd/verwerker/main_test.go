package main

import (
	"bufio"
	"context"
	"encoding/json"
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

func TestUnknownCommandAndBadConfig(t *testing.T) {
	require.ErrorContains(t, run(context.Background(), []string{"nope"}, io.Discard, io.Discard), "unknown command")
	require.ErrorContains(t, run(context.Background(), nil, io.Discard, io.Discard), "no command")
	require.ErrorContains(t, run(context.Background(), []string{"serve", "-log-level", "loud"}, io.Discard, io.Discard), "VERWERKER_LOG_LEVEL")
	t.Setenv("DATABASE_URL", "")
	require.ErrorContains(t, run(context.Background(), []string{"migrate"}, io.Discard, io.Discard), "DATABASE_URL is not set")
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
		done <- run(ctx, []string{"dev", "-addr", "127.0.0.1:0", "-dev-dir", parent}, pw, io.Discard)
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
	var base, token, banner, mailbox string
	docsRe := regexp.MustCompile(`API docs\s+(http://\S+)/docs`)
	mailboxRe := regexp.MustCompile(`Mailbox\s+(http://\S+/v1/dev/mailbox)`)
	keyRe := regexp.MustCompile(`^\s+platform_admin\s+\S+\s+(vwk_\S+)`)
	timeout := time.After(60 * time.Second)
	for base == "" || token == "" {
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
	require.Len(t, list.Items, 2, "two demo customers")

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
	tn, err := a.tenants.Create(ctx, tenant.New{Name: "Audit Me", Country: "NL", ContactEmail: "privacy@auditme.example"})
	require.NoError(t, err)
	a.Close()

	var out strings.Builder
	require.NoError(t, run(ctx, []string{"audit", "verify", "-tenant", tn.ID, "-database-url", url}, &out, io.Discard))
	require.Contains(t, out.String(), `"ok":true`)

	_, err = db.Pool.Exec(ctx, `SET session_replication_role = replica; UPDATE audit_events SET action = 'tenant.read'; RESET session_replication_role`)
	require.NoError(t, err)
	out.Reset()
	err = run(ctx, []string{"audit", "verify", "-database-url", url}, &out, io.Discard)
	require.ErrorContains(t, err, "1 of 1 audit chains do not verify")
	require.Contains(t, out.String(), `"first_bad":1`)
}

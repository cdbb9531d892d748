package api_test

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/app"
	vkeys "github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/keys/vaulttest"
	"github.com/verwerker/verwerker/notify/notifytest"
	"github.com/verwerker/verwerker/policy"
)

// gauge reads a gauge without labels from the application's registry;
// found is false when the registry gives no sample of it.
func (b *testBundle) gauge(t *testing.T, reg *prometheus.Registry, name string) (value float64, found bool) {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == name {
			require.Len(t, f.GetMetric(), 1)
			return f.GetMetric()[0].GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// TestVaultStopped: verwerker runs on a Vault of its own, which is stopped
// (killed, as in a crash) and started again sealed, then unsealed. While it
// is gone, storing and reading sealed records fail closed with 503, a
// Retry-After header and a problem that says nothing internal, and store
// nothing; decisions still answer; /readyz stays 200 but says degraded;
// GET /v1/alarms has keyring_unavailable and verwerker_vault_up is 0. Once
// Vault answers again everything recovers without restarting verwerker.
func TestVaultStopped(t *testing.T) {
	t.Parallel()
	p := vaulttest.Start(t)
	ring := p.Transit(t, vkeys.TransitOptions{MaxRetries: -1, Timeout: 2 * time.Second, RetryAfter: 7 * time.Second, ProbeEvery: 100 * time.Millisecond})
	b := setupWith(t, ring)
	A := b.tenantA.ID
	activeDPA(t, b, A)
	chat, admin := b.token(t, policy.RoleChatService, A), b.token(t, policy.RoleControllerAdmin, A)
	write := func(ref, text string) response {
		return b.do(t, http.MethodPost, "/v1/tenants/"+A+"/records", chat, map[string]any{"items": []any{map[string]any{"subject_ref": ref,
			"kind": "chat.message", "category": "chat.message", "purpose": "service.delivery", "region": "nl", "content": map[string]any{"text": text}}}})
	}
	export := func(ref string) response {
		return b.do(t, http.MethodPost, "/v1/tenants/"+A+"/subjects/export", admin, map[string]any{"subject_ref": ref})
	}
	decide := func() response {
		return b.do(t, http.MethodPost, "/v1/decisions", chat, map[string]any{"tenant_id": A, "category": "chat.message",
			"purpose": "service.delivery", "region": "nl", "subject_ref": "visitor-new"})
	}
	ready := func() map[string]any {
		r := b.do(t, http.MethodGet, "/readyz", "", nil)
		require.Equal(t, http.StatusOK, r.status, "a replica without Vault stays in service: decisions still answer; %s", r.raw)
		return r.json
	}
	vaultUp := func() float64 {
		v, ok := b.gauge(t, b.app.Registry, "verwerker_vault_up")
		require.True(t, ok, "no verwerker_vault_up")
		return v
	}
	count := func() (n int64) {
		require.NoError(t, b.db.Pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM records) + (SELECT count(*) FROM subjects)`).Scan(&n))
		return n
	}

	r := write("visitor-1", "before")
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	require.Equal(t, map[string]any{"status": "ready", "keyring": "up"}, ready())
	require.EqualValues(t, 1, vaultUp())
	require.Empty(t, b.alarms(t)["keyring_unavailable"])
	before := count()

	p.Stop(t)
	b.keyMgr.Cache().Purge("") // as if the cached data keys had expired
	unavailable := func(r response, what string) {
		t.Helper()
		require.Equal(t, http.StatusServiceUnavailable, r.status, "%s: %s", what, r.raw)
		require.Equal(t, "7", r.header.Get("Retry-After"), what)
		prob := r.problem(t)
		require.Equal(t, verwerker.EUNAVAILABLE, prob.Code)
		requireNoLeak(t, r.raw)
		for _, s := range []string{"vault", "Vault", "127.0.0.1", "refused", "transit", "dial"} {
			require.NotContains(t, r.raw, s, "%s: internal text in the problem", what)
		}
	}
	unavailable(write("visitor-2", "a new subject"), "a record of a new subject")
	unavailable(write("visitor-1", "a known subject"), "a record of a known subject")
	unavailable(export("visitor-1"), "an export")
	require.Equal(t, before, count(), "nothing half-written")
	r = decide()
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, true, r.json["allow"], r.raw)
	require.Equal(t, map[string]any{"status": "degraded", "keyring": "unavailable"}, ready())
	alarms := b.alarms(t)["keyring_unavailable"]
	require.Len(t, alarms, 1)
	require.Equal(t, "critical", alarms[0]["severity"])
	require.EqualValues(t, 0, vaultUp())

	// Back, sealed: still unavailable, and nothing breaks more.
	p.StartAgain(t)
	waitFor(t, "the probe to see the sealed Vault", func() bool { return ready()["keyring"] == "unavailable" })
	unavailable(write("visitor-2", "sealed"), "a record while Vault is sealed")

	// Unsealed: verwerker recovers by itself.
	p.Unseal(t)
	waitFor(t, "the probe to see Vault again", func() bool { return ready()["status"] == "ready" })
	require.EqualValues(t, 1, vaultUp())
	require.Empty(t, b.alarms(t)["keyring_unavailable"])
	r = write("visitor-2", "after")
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	r = write("visitor-1", "after")
	require.Equal(t, http.StatusCreated, r.status, r.raw)
	r = export("visitor-1")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.EqualValues(t, 2, r.json["count"])
	require.Contains(t, r.raw, "before")
}

// mailpitProcess is a private mailpit on free ports, started and stopped by
// one test.
type mailpitProcess struct {
	bin, smtpAddr, httpAddr, dir string
	cmd                          *exec.Cmd
}

// newMailpit picks the ports of a private mailpit without starting it: its
// SMTP URL refuses connections until start. The binary is
// VERWERKER_TEST_MAILPIT_BIN, or mailpit in $(go env GOPATH)/bin (where
// deploy/mailpit.sh installs it) or on PATH.
func newMailpit(t *testing.T) *mailpitProcess {
	t.Helper()
	bin := os.Getenv("VERWERKER_TEST_MAILPIT_BIN")
	if bin == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			if p := filepath.Join(strings.TrimSpace(string(out)), "bin", "mailpit"); fileExists(p) {
				bin = p
			}
		}
	}
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("mailpit"); err != nil {
			t.Fatal("no mailpit binary: run deploy/mailpit.sh env (make test does) or set VERWERKER_TEST_MAILPIT_BIN")
		}
	}
	m := &mailpitProcess{bin: bin, smtpAddr: freeAddr(t), httpAddr: freeAddr(t), dir: t.TempDir()}
	t.Cleanup(func() { m.stop() })
	return m
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func (m *mailpitProcess) smtpURL() string { return "smtp://" + m.smtpAddr }
func (m *mailpitProcess) apiURL() string  { return "http://" + m.httpAddr }

// start runs mailpit and waits until its API answers.
func (m *mailpitProcess) start(t *testing.T) {
	t.Helper()
	logf, err := os.Create(filepath.Join(m.dir, "mailpit.log"))
	require.NoError(t, err)
	m.cmd = exec.Command(m.bin, "--smtp", m.smtpAddr, "--listen", m.httpAddr, "--database", filepath.Join(m.dir, "mail.db"),
		"--smtp-auth-accept-any", "--smtp-auth-allow-insecure")
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	require.NoError(t, m.cmd.Start())
	go func() { _ = m.cmd.Wait(); logf.Close() }()
	waitFor(t, "mailpit to answer", func() bool {
		resp, err := http.Get(m.apiURL() + "/api/v1/messages?limit=1")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func (m *mailpitProcess) stop() {
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
		m.cmd = nil
	}
}

// TestSMTPDown: with the e-mail relay down, a customer's notice (a
// subprocessor change, e-mail its only channel) waits: it is retried with
// backoff, stays pending (not dead), and is an alarm with its cause in
// GET /v1/alarms and in verwerker_notices_undelivered. When the relay is
// back, a retry delivers it and the alarm ends.
func TestSMTPDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mp := newMailpit(t) // not started: the relay is down
	a := b.newApp(t, app.Config{SMTPURL: mp.smtpURL(), MailFrom: "verwerker@verwerker.example"})
	// River's backoff (attempt^4 s) compressed: 12 attempts in about 15 s.
	notifytest.StartRetrying(t, b.db, a.Outbox, notifytest.Backoff{First: 100 * time.Millisecond, Max: 2 * time.Second})
	b.serve(t, a)
	A := b.tenantA.ID
	b.activeDPA(t, A, 30, "dpo@a.example")
	b.registerLLM(t)
	changeID, _ := b.proposeLLM(t, "2026-04-15")

	waitFor(t, "retries of the e-mail", func() bool {
		n := b.notice(t, changeID, A)
		for _, c := range delivery(n)["channels"].([]any) {
			if c := c.(map[string]any); c["channel"] == "email" {
				return c["state"] == "failing" && c["cause"] == "smtp_unavailable" && c["attempts"].(float64) >= 3
			}
		}
		return false
	})
	require.Equal(t, "undelivered", delivery(b.notice(t, changeID, A))["state"])
	alarms := b.alarms(t)[`subprocessor_notice_undelivered`]
	require.Len(t, alarms, 1)
	require.Equal(t, changeID, alarms[0]["change_id"])
	require.Contains(t, alarms[0]["message"], "smtp_unavailable")
	require.EqualValues(t, 1, b.undeliveredGauge(t))
	dead, ok := b.gauge(t, a.Registry, "verwerker_outbox_dead_letters")
	require.True(t, ok)
	require.Zero(t, dead, "waiting, not given up")
	res := b.do(t, http.MethodGet, "/v1/outbox/dead-letters", b.token(t, policy.RoleDPO, verwerker.PlatformDomain), nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Empty(t, res.json["items"])

	mp.start(t)
	waitFor(t, "the notice delivered", func() bool { return delivery(b.notice(t, changeID, A))["state"] == "delivered" })
	require.Equal(t, "email", delivery(b.notice(t, changeID, A))["via"])
	require.Len(t, mails(t, mp.apiURL(), "dpo@a.example", changeID), 1, "delivered once")
	require.Empty(t, b.alarms(t)[`subprocessor_notice_undelivered`])
	require.Zero(t, b.undeliveredGauge(t))
}

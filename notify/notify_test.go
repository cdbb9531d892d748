package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/notify/notifytest"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
)

type env struct {
	db     *store.DB
	outbox *notify.Outbox
	tenant string
	audit  *audit.Log
}

// newEnv returns a migrated database with one tenant and an outbox whose
// River client runs until the test ends.
func newEnv(t *testing.T, cfg notify.Config) *env {
	t.Helper()
	ctx := context.Background()
	db := storetest.New(t)
	clock := verwerker.SystemClock{}
	now := clock.Now()
	tenantID := verwerker.NewID(verwerker.PrefixTenant, now)
	_, err := db.Pool.Exec(ctx, `INSERT INTO tenants (id, name, country, contact_email, created_at, updated_at) VALUES ($1, 'Acme', 'NL', 'dpo@acme.example', $2, $2)`, tenantID, now)
	require.NoError(t, err)
	log := audit.NewLog(db, clock)
	t.Cleanup(log.Close)
	if cfg.Keys == nil {
		ring, err := keys.OpenLocalKeyring(filepath.Join(t.TempDir(), "keyring.key"), slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		cfg.Keys = keys.NewManager(db, ring, keys.ManagerOptions{})
		t.Cleanup(cfg.Keys.Close)
	}
	o, err := notify.New(db, clock, log, cfg)
	require.NoError(t, err)
	notifytest.Start(t, db, o)
	return &env{db: db, outbox: o, tenant: tenantID, audit: log}
}

// enqueue enqueues m in a tenant transaction and commits it.
func (e *env) enqueue(t *testing.T, m notify.Message) string {
	t.Helper()
	var id string
	err := e.db.InTenantTx(context.Background(), e.tenant, func(tx pgx.Tx) error {
		var err error
		id, err = e.outbox.Enqueue(context.Background(), tx, m)
		return err
	})
	require.NoError(t, err)
	return id
}

func (e *env) waitStatus(t *testing.T, id string, want notify.Status) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, n, err := e.outbox.Status(context.Background(), id)
		require.NoError(t, err)
		if s == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s: status %s after %d attempts, want %s", id, s, n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receiver is a webhook endpoint that verifies every request per the
// Standard Webhooks specification with its own code, and fails the first
// failFirst verified requests with a 500.
type receiver struct {
	t         *testing.T
	mu        sync.Mutex
	secret    string // the secret the receiver knows
	failFirst int
	requests  []delivery
}

type delivery struct {
	id, timestamp, body string
	signatures          int
	status              int
}

func (rc *receiver) setSecret(s string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secret = s
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	id, ts, sigHeader := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	d := delivery{id: id, timestamp: ts, body: string(body), signatures: len(strings.Fields(sigHeader))}
	if !verifyStandardWebhook(rc.secret, id, ts, sigHeader, body, time.Now()) {
		d.status = http.StatusUnauthorized
	} else if rc.failFirst > 0 {
		rc.failFirst--
		d.status = http.StatusInternalServerError
	} else {
		d.status = http.StatusNoContent
	}
	rc.requests = append(rc.requests, d)
	w.WriteHeader(d.status)
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.requests...)
}

// verifyStandardWebhook checks a request as a Standard Webhooks consumer
// does: the timestamp within five minutes, and one of the space-separated
// "v1,<base64>" signatures equal to HMAC-SHA256(key, id.timestamp.body),
// where key is the base64 after "whsec_".
func verifyStandardWebhook(secret, id, ts, header string, body []byte, now time.Time) bool {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || id == "" || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(header) {
		version, sig, ok := strings.Cut(s, ",")
		got, err := base64.StdEncoding.DecodeString(sig)
		if ok && version == "v1" && err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func (e *env) endpoint(t *testing.T, failFirst int) *receiver {
	t.Helper()
	rc := &receiver{t: t, failFirst: failFirst}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	_, secret, err := e.outbox.SetEndpoint(context.Background(), e.tenant, srv.URL+"/hooks")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(secret, "whsec_"))
	rc.setSecret(secret)
	return rc
}

func webhook(key string) notify.Message {
	return notify.Message{Kind: notify.KindWebhook, IdempotencyKey: key, EventType: "dsr.forwarded",
		Payload: json.RawMessage(`{"request_id": "dsr_01", "deadline": "2026-03-01"}`)}
}

func TestWebhookRetriedAfterTwoFailuresIsDeliveredOnce(t *testing.T) {
	e := newEnv(t, notify.Config{AllowPrivateNetworks: true})
	rc := e.endpoint(t, 2)
	m := webhook("dsr/dsr_01/forwarded")
	m.TenantID = e.tenant
	id := e.enqueue(t, m)
	e.waitStatus(t, id, notify.StatusDelivered)

	got := rc.deliveries()
	require.Len(t, got, 3)
	for i, d := range got {
		require.Equal(t, id, d.id, "attempt %d", i+1)
		require.Equal(t, got[0].body, d.body, "attempt %d sends the same bytes", i+1)
		require.Equal(t, 1, d.signatures)
	}
	require.Equal(t, []int{500, 500, 204}, []int{got[0].status, got[1].status, got[2].status})
	var body struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(got[0].body), &body))
	require.Equal(t, "dsr.forwarded", body.Type)
	require.JSONEq(t, `{"request_id":"dsr_01","deadline":"2026-03-01"}`, string(body.Data))

	log, err := e.outbox.Attempts(context.Background(), id)
	require.NoError(t, err)
	require.Len(t, log, 3)
	require.Equal(t, "http_500", log[0].ErrorCode)
	require.Equal(t, 500, log[1].HTTPStatus)
	require.Equal(t, "delivered", log[2].Outcome)
	require.Equal(t, 204, log[2].HTTPStatus)

	// A stray second run of the job sends nothing: the message is delivered.
	time.Sleep(200 * time.Millisecond)
	require.Len(t, rc.deliveries(), 3)
}

func TestWebhookSecretRotationSignsWithBoth(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, notify.Config{AllowPrivateNetworks: true})
	rc := e.endpoint(t, 0)
	oldSecret := rc.secret
	newSecret, err := e.outbox.RotateSecret(ctx, e.tenant)
	require.NoError(t, err)
	require.NotEqual(t, oldSecret, newSecret)

	// During the rotation a receiver that knows either secret accepts.
	for i, s := range []string{oldSecret, newSecret} {
		rc.setSecret(s)
		m := webhook(fmt.Sprintf("rotation/%d", i))
		m.TenantID = e.tenant
		e.waitStatus(t, e.enqueue(t, m), notify.StatusDelivered)
		d := rc.deliveries()
		require.Equal(t, 2, d[len(d)-1].signatures)
	}
	// After it, only the new one signs.
	require.NoError(t, e.outbox.FinishRotation(ctx, e.tenant))
	m := webhook("rotation/done")
	m.TenantID = e.tenant
	e.waitStatus(t, e.enqueue(t, m), notify.StatusDelivered)
	d := rc.deliveries()
	require.Equal(t, 1, d[len(d)-1].signatures)
	require.Len(t, d, 3, "no attempt was refused")
}

func TestRolledBackEnqueueSendsNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, notify.Config{AllowPrivateNetworks: true})
	rc := e.endpoint(t, 0)
	errRollback := errors.New("the state change failed")
	err := e.db.InTenantTx(ctx, e.tenant, func(tx pgx.Tx) error {
		m := webhook("rolled-back")
		m.TenantID = e.tenant
		if _, err := e.outbox.Enqueue(ctx, tx, m); err != nil {
			return err
		}
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)
	var messages, jobs int
	require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM outbox_messages), (SELECT count(*) FROM river_job)`).Scan(&messages, &jobs))
	require.Zero(t, messages)
	require.Zero(t, jobs)
	time.Sleep(300 * time.Millisecond)
	require.Empty(t, rc.deliveries())
}

func TestIdempotencyKeyReuseSendsOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, notify.Config{AllowPrivateNetworks: true})
	rc := e.endpoint(t, 0)
	m := webhook("breach/brc_01/initial")
	m.TenantID = e.tenant
	first := e.enqueue(t, m)
	second := e.enqueue(t, m)
	require.Equal(t, first, second)
	e.waitStatus(t, first, notify.StatusDelivered)

	// The same key with different content is refused, not sent.
	other := m
	other.Payload = json.RawMessage(`{"request_id": "dsr_02"}`)
	err := e.db.InTenantTx(ctx, e.tenant, func(tx pgx.Tx) error {
		_, err := e.outbox.Enqueue(ctx, tx, other)
		return err
	})
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err))

	var messages, jobs int
	require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM outbox_messages), (SELECT count(*) FROM river_job)`).Scan(&messages, &jobs))
	require.Equal(t, 1, messages)
	require.Equal(t, 1, jobs)
	time.Sleep(200 * time.Millisecond)
	require.Len(t, rc.deliveries(), 1)
}

func TestExhaustedRetriesAreDeadAndCanBeRetried(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, notify.Config{AllowPrivateNetworks: true})
	rc := e.endpoint(t, notify.MaxAttempts)
	m := webhook("subprocessor/change/1")
	m.TenantID = e.tenant
	gauge := e.outbox.Metrics()
	before := testutil.ToFloat64(gauge)
	id := e.enqueue(t, m)
	e.waitStatus(t, id, notify.StatusDead)
	require.Len(t, rc.deliveries(), notify.MaxAttempts)
	require.Equal(t, before+1, testutil.ToFloat64(gauge), "verwerker_outbox_dead_letters counts it")

	dead, err := e.outbox.DeadLetters(ctx, 0)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	require.Equal(t, id, dead[0].ID)
	require.Equal(t, e.tenant, dead[0].TenantID)
	require.Equal(t, notify.MaxAttempts, dead[0].Attempts)
	require.Equal(t, "http_500", dead[0].LastError)

	var deadEvents int
	require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE chain = $1 AND action = 'outbox.dead' AND resource = $2`, e.tenant, id).Scan(&deadEvents))
	require.Equal(t, 1, deadEvents)

	// The DPO retries once the receiver is back: same id, same bytes.
	require.NoError(t, e.outbox.Retry(ctx, id))
	e.waitStatus(t, id, notify.StatusDelivered)
	got := rc.deliveries()
	require.Len(t, got, notify.MaxAttempts+1)
	require.Equal(t, got[0].body, got[len(got)-1].body)
	require.Equal(t, id, got[len(got)-1].id)
	log, err := e.outbox.Attempts(ctx, id)
	require.NoError(t, err)
	require.Len(t, log, notify.MaxAttempts+1)
	dead, err = e.outbox.DeadLetters(ctx, 0)
	require.NoError(t, err)
	require.Empty(t, dead)
	require.Equal(t, before, testutil.ToFloat64(gauge))
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(e.outbox.Retry(ctx, id)))
}

// smtpEnv returns the test SMTP server and mailpit API URLs, or fails with
// instructions: e-mail tests need a real SMTP server.
func smtpEnv(t *testing.T) (smtpURL, apiURL string) {
	t.Helper()
	smtpURL, apiURL = os.Getenv("VERWERKER_TEST_SMTP_URL"), os.Getenv("VERWERKER_TEST_MAILPIT_URL")
	if smtpURL == "" || apiURL == "" {
		t.Fatal("set VERWERKER_TEST_SMTP_URL and VERWERKER_TEST_MAILPIT_URL to a running mailpit (run `make test`, which starts one: deploy/mailpit.sh)")
	}
	return smtpURL, apiURL
}

func TestEmailArrivesOverSMTP(t *testing.T) {
	smtpURL, apiURL := smtpEnv(t)
	e := newEnv(t, notify.Config{SMTPURL: smtpURL, MailFrom: "verwerker@verwerker.example", AllowPrivateNetworks: true})
	key := "dsr/" + verwerker.NewID("dsr", time.Now()) + "/forwarded"
	subject := "Verzoek van betrokkene doorgestuurd — " + key
	m := notify.Message{TenantID: e.tenant, Kind: notify.KindEmail, IdempotencyKey: key, EventType: "dsr.forwarded",
		To: []string{"dpo@acme.example"}, Subject: subject, Body: "A data-subject request reached us.\nDeadline: 2026-03-01.\n"}
	id := e.enqueue(t, m)
	e.waitStatus(t, id, notify.StatusDelivered)

	wantMessageID := strings.Trim(notify.MessageID(e.tenant, key, "verwerker.example"), "<>")
	resp, err := http.Get(apiURL + "/api/v1/search?query=" + url.QueryEscape("message-id:"+wantMessageID))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var list struct {
		Messages []struct {
			MessageID string
			Subject   string
			To        []struct{ Address string }
		} `json:"messages"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	require.Len(t, list.Messages, 1, "exactly one e-mail with the message's Message-ID")
	require.Equal(t, subject, list.Messages[0].Subject)
	require.Equal(t, wantMessageID, list.Messages[0].MessageID)
	require.Equal(t, "dpo@acme.example", list.Messages[0].To[0].Address)

	log, err := e.outbox.Attempts(context.Background(), id)
	require.NoError(t, err)
	require.Len(t, log, 1)
	require.Equal(t, 250, log[0].SMTPCode)
}

// TestWebhookEndpointsMustBePublic: by default an endpoint cannot point at
// verwerker's own network, neither when it is registered nor when its name
// resolves there at delivery time (DNS rebinding); the message is then
// never sent to the internal receiver.
func TestWebhookEndpointsMustBePublic(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, notify.Config{})
	for _, u := range []string{
		"http://hooks.example.com/x",          // not https
		"https://127.0.0.1/x",                 // loopback
		"https://[::1]:8443/x",                // loopback v6
		"https://10.1.2.3/x",                  // private
		"https://169.254.169.254/latest/meta", // link-local: cloud metadata
		"https://100.64.0.1/x",                // shared address space
		"https://[2002:a00:1::1]/x",           // 6to4 of 10.0.0.1
		"https://[64:ff9b::a00:1]/x",          // NAT64 of 10.0.0.1
		"https://[2001:0:a00:1::1]/x",         // Teredo
		"https://localhost/x",                 // loopback name
		"https://vault.internal/x",            // internal name
		"https://intranet/x",                  // single-label name
		"https://user:pw@hooks.example.com/x", // credentials
		"ftp://hooks.example.com/x",           // scheme
	} {
		_, _, err := e.outbox.SetEndpoint(ctx, e.tenant, u)
		require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err), u)
		var ve *verwerker.Error
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "url", ve.Fields[0].Field)
		require.NotContains(t, ve.Error(), u, "the error does not echo the URL")
	}
	_, _, err := e.outbox.SetEndpoint(ctx, e.tenant, "https://hooks.example.com/verwerker")
	require.NoError(t, err)

	// A name that resolves to an internal address at delivery time: the
	// stored URL points at a local receiver, as a rebound name would.
	rc := &receiver{t: t}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	_, err = e.db.Pool.Exec(ctx, `UPDATE webhook_endpoints SET url = $2 WHERE tenant_id = $1`, e.tenant, srv.URL+"/hooks")
	require.NoError(t, err)
	m := webhook("ssrf/1")
	m.TenantID = e.tenant
	id := e.enqueue(t, m)
	deadline := time.Now().Add(10 * time.Second)
	for {
		log, err := e.outbox.Attempts(ctx, id)
		require.NoError(t, err)
		if len(log) > 0 {
			require.Equal(t, "connect_failed", log[0].ErrorCode)
			break
		}
		require.True(t, time.Now().Before(deadline), "no attempt was made")
		time.Sleep(20 * time.Millisecond)
	}
	require.Empty(t, rc.deliveries(), "the internal receiver got nothing")
}

// TestWebhookSecretsAreSealed: signing secrets are stored sealed under the
// tenant's key, never in the clear; a secret stored in the clear before
// sealing existed still signs, and the next rotation seals it.
func TestWebhookSecretsAreSealed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, notify.Config{AllowPrivateNetworks: true})
	rc := e.endpoint(t, 0)
	var stored []string
	var wrapped *string
	require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT secrets, wrapped_key FROM webhook_endpoints WHERE tenant_id = $1`, e.tenant).Scan(&stored, &wrapped))
	require.Len(t, stored, 1)
	require.True(t, strings.HasPrefix(stored[0], "sealed:"))
	require.NotContains(t, stored[0], strings.TrimPrefix(rc.secret, "whsec_"))
	require.NotNil(t, wrapped)

	// A legacy row: the secret in the clear, no wrapped key.
	_, err := e.db.Pool.Exec(ctx, `UPDATE webhook_endpoints SET secrets = ARRAY[$2], wrapped_key = NULL WHERE tenant_id = $1`, e.tenant, rc.secret)
	require.NoError(t, err)
	m := webhook("sealed/1")
	m.TenantID = e.tenant
	e.waitStatus(t, e.enqueue(t, m), notify.StatusDelivered)

	next, err := e.outbox.RotateSecret(ctx, e.tenant)
	require.NoError(t, err)
	require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT secrets, wrapped_key FROM webhook_endpoints WHERE tenant_id = $1`, e.tenant).Scan(&stored, &wrapped))
	require.Len(t, stored, 2)
	for _, s := range stored {
		require.True(t, strings.HasPrefix(s, "sealed:"), "the rotation sealed the old secret too")
	}
	require.NotNil(t, wrapped)
	require.NoError(t, e.outbox.FinishRotation(ctx, e.tenant))
	rc.setSecret(next)
	m = webhook("sealed/2")
	m.TenantID = e.tenant
	e.waitStatus(t, e.enqueue(t, m), notify.StatusDelivered)
}

// TestEnqueueAll: many messages in one call are each stored and
// delivered; enqueueing the same keys again returns the first ids and
// sends nothing new; a key reused for other content is a conflict.
func TestEnqueueAll(t *testing.T) {
	t.Parallel()
	got := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("webhook-id")
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	e := newEnv(t, notify.Config{AllowPrivateNetworks: true})
	_, _, err := e.outbox.SetEndpoint(context.Background(), e.tenant, srv.URL)
	require.NoError(t, err)
	msgs := []notify.Message{}
	for i := range 3 {
		msgs = append(msgs, notify.Message{TenantID: e.tenant, Kind: notify.KindWebhook, IdempotencyKey: fmt.Sprint("all/", i),
			EventType: "test.all", Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
	}
	all := func(ms []notify.Message) ([]string, error) {
		var ids []string
		err := e.db.InTenantTx(context.Background(), e.tenant, func(tx pgx.Tx) error {
			var err error
			ids, err = e.outbox.EnqueueAll(context.Background(), tx, ms)
			return err
		})
		return ids, err
	}
	ids, err := all(msgs)
	require.NoError(t, err)
	require.Len(t, ids, 3)
	for _, id := range ids {
		e.waitStatus(t, id, notify.StatusDelivered)
	}
	again, err := all(msgs)
	require.NoError(t, err)
	require.Equal(t, ids, again)
	msgs[1].Payload = json.RawMessage(`{"n":"other"}`)
	_, err = all(msgs)
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err))
	require.Len(t, got, 3, "each message sent once")
}

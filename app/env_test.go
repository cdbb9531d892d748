package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/app"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/dpa/dpatest"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/notify/notifytest"
	"github.com/verwerker/verwerker/records"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/subject"
	"github.com/verwerker/verwerker/tenant"
)

// start is where every test's clock starts: a Monday morning.
var start = time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)

// env is a database with what the replicas of one test share: the clock,
// the keyring, the subject key, the SMTP relay (mailpit).
type env struct {
	ctx     context.Context
	url     string
	db      *store.DB
	clock   *verwerker.ManualClock
	ring    keys.Keyring
	smtp    string
	mailpit string
	// domain makes the test's e-mail addresses its own in the shared
	// mailpit.
	domain string
}

// newEnv opens url's database for the test, with the shared test
// keyring settings and mailpit from the environment.
func newEnv(t *testing.T, url string) *env {
	t.Helper()
	e := &env{ctx: verwerker.WithPrincipal(context.Background(), verwerker.Principal{ID: "key_test", Kind: verwerker.PrincipalAPIKey}),
		url: url, clock: verwerker.NewManualClock(start)}
	e.smtp, e.mailpit = os.Getenv("VERWERKER_TEST_SMTP_URL"), os.Getenv("VERWERKER_TEST_MAILPIT_URL")
	if e.smtp == "" || e.mailpit == "" {
		t.Fatal("set VERWERKER_TEST_SMTP_URL and VERWERKER_TEST_MAILPIT_URL to a running mailpit (run `make test`, which starts one)")
	}
	e.domain = strings.ToLower(verwerker.NewID("t", time.Now())) + ".example"
	var err error
	e.db, err = store.Open(context.Background(), url, store.Options{MaxConns: 30})
	require.NoError(t, err)
	t.Cleanup(e.db.Close)
	ring, err := keys.OpenLocalKeyring(filepath.Join(t.TempDir(), "keyring.key"), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(ring.Close)
	e.ring = ring
	return e
}

// replica wires an application on the env as `verwerker serve` does
// (app.New), with e-mail to mailpit. It is closed when the test ends.
func (e *env) replica(t *testing.T) *app.App {
	t.Helper()
	a, err := app.New(context.Background(), app.Config{Version: "test", SMTPURL: e.smtp, MailFrom: "verwerker@verwerker.example",
		WebhookAllowPrivate: true}, app.Deps{DB: e.db, Clock: e.clock, Logger: slog.New(slog.DiscardHandler), Keyring: e.ring,
		SubjectKey: make([]byte, subject.KeySize)})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	return a
}

// jobs builds a's River client (app.Jobs) with quick retries and polling,
// with or without the periodic jobs, and starts it; it is stopped when the
// test ends.
func (e *env) jobs(t *testing.T, a *app.App, periodic bool) *river.Client[pgx.Tx] {
	t.Helper()
	client := e.client(t, a, periodic)
	e.start(t, client)
	return client
}

// client builds a's River client without starting it: the services
// enqueue their jobs with it, which run once it is started (start).
func (e *env) client(t *testing.T, a *app.App, periodic bool) *river.Client[pgx.Tx] {
	t.Helper()
	client, err := a.Jobs(app.JobsConfig{MaxWorkers: 3, RetryPolicy: notifytest.QuickRetry{}, FetchCooldown: 10 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond, NoPeriodicJobs: !periodic})
	require.NoError(t, err)
	return client
}

// start starts client; it is stopped when the test ends.
func (e *env) start(t *testing.T, client *river.Client[pgx.Tx]) {
	t.Helper()
	require.NoError(t, client.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.StopAndCancel(ctx)
	})
}

// customer creates a customer with an active agreement: chat messages 30
// days after the last interaction, breach and DPO contacts at the test's
// domain.
func (e *env) customer(t *testing.T, a *app.App, name string) tenant.Tenant {
	t.Helper()
	slug := strings.ToLower(strings.Fields(name)[0])
	tn, err := a.Tenants.Create(e.ctx, tenant.New{Name: name, Country: "NL", ContactEmail: "privacy-" + slug + "@" + e.domain})
	require.NoError(t, err)
	dpatest.Activate(t, a.DPA, tn.ID, dpa.Scope{
		Categories:    []dpa.CategoryScope{{ID: "chat.message", Retention: dpa.Retention30DaysAfterLastInteraction}},
		Purposes:      []string{"service.delivery"},
		BreachContact: dpa.Contact{Name: "Breach desk", Email: "breach-" + slug + "@" + e.domain},
		DPOContact:    dpa.Contact{Name: "DPO", Email: "dpo-" + slug + "@" + e.domain},
	})
	e.clock.Advance(time.Millisecond)
	return tn
}

// write stores perSubject chat messages for each of subjects subjects
// named prefix-N, through the records store (decision, sealing, keys).
func (e *env) write(t *testing.T, a *app.App, tenantID, prefix string, subjects, perSubject int) {
	t.Helper()
	var items []records.Item
	for s := range subjects {
		for range perSubject {
			items = append(items, records.Item{SubjectRef: fmt.Sprintf("%s-%d", prefix, s), Kind: records.KindMessage,
				Category: "chat.message", Purpose: "service.delivery", Region: "nl", Content: json.RawMessage(`{"text":"hallo"}`)})
		}
	}
	for len(items) > 0 {
		n := min(len(items), 1000)
		_, err := a.Records.Write(e.ctx, tenantID, -1, items[:n])
		require.NoError(t, err)
		items = items[n:]
	}
}

// count runs a query that returns one number.
func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, e.db.Pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// waitFor polls cond until it holds, for at most 45 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// pauseLock is the advisory lock a paused transaction waits for.
const pauseLock = 4242

// pause makes the nth row inserted into table (counted across
// transactions, rolled back or not) wait, inside its transaction, until
// the returned release is called or the session holding the lock ends:
// the test stops a job at a known point between its statements, as a
// crash or a restart of the database would find it. It returns once the
// lock is held.
func (e *env) pause(t *testing.T, table string, n int) (release func()) {
	t.Helper()
	ctx := context.Background()
	_, err := e.db.Pool.Exec(ctx, fmt.Sprintf(`
		CREATE SEQUENCE IF NOT EXISTS test_pause_%[1]s;
		CREATE OR REPLACE FUNCTION test_pause_%[1]s() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('test_pause_%[1]s') = %[2]d THEN
				-- Name the paused row's tenant, for the test to find its job.
				PERFORM set_config('application_name', 'paused ' || coalesce(to_jsonb(NEW)->>'tenant_id', ''), false);
				PERFORM pg_advisory_xact_lock(%[3]d);
			END IF;
			RETURN NEW;
		END $$;
		CREATE OR REPLACE TRIGGER test_pause_%[1]s AFTER INSERT ON %[1]s FOR EACH ROW EXECUTE FUNCTION test_pause_%[1]s();`,
		table, n, pauseLock))
	require.NoError(t, err)
	holder, err := pgx.Connect(ctx, e.url)
	require.NoError(t, err)
	_, err = holder.Exec(ctx, `SELECT pg_advisory_lock($1)`, pauseLock)
	require.NoError(t, err)
	released := false
	release = func() {
		if !released {
			released = true
			_ = holder.Close(context.Background()) // ends the session and its lock
		}
	}
	t.Cleanup(release)
	return release
}

// waitPaused waits until a transaction waits at the pause and returns the
// tenant of the row it inserted.
func (e *env) waitPaused(t *testing.T) (tenantID string) {
	t.Helper()
	waitFor(t, "a transaction to reach the pause", func() bool {
		return e.count(t, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted`, pauseLock) > 0
	})
	var name string
	require.NoError(t, e.db.Pool.QueryRow(context.Background(), `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'advisory' AND l.objid = $1 AND NOT l.granted`, pauseLock).Scan(&name))
	return strings.TrimPrefix(name, "paused ")
}

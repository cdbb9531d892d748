package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/app"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
)

// watched is a replica as `verwerker serve` runs it: credentials and
// decisions answered from memory while its watcher is fresh, and every
// change it makes synced with the other replicas before it answers.
type watched struct {
	http    *httptest.Server
	watcher *store.Watcher
	stop    func()
}

func (b *testBundle) watchedReplica(t *testing.T) *watched {
	t.Helper()
	a := b.newApp(t, app.Config{ReplicaLease: 5 * time.Second})
	srv := httptest.NewServer(a.Server)
	t.Cleanup(srv.Close)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Watcher.Run(runCtx) }()
	r := &watched{http: srv, watcher: a.Watcher, stop: func() { cancel(); <-done }}
	t.Cleanup(r.stop)
	require.Eventually(t, a.Watcher.Fresh, 10*time.Second, 5*time.Millisecond)
	return r
}

// hideKeys makes every key lookup in the database fail until the returned
// function is called: what still authenticates comes from memory.
func hideKeys(t *testing.T, b *testBundle) func() {
	t.Helper()
	_, err := b.db.Pool.Exec(context.Background(), `ALTER TABLE api_keys RENAME TO api_keys_hidden`)
	require.NoError(t, err)
	restored := false
	restore := func() {
		if !restored {
			restored = true
			_, err := b.db.Pool.Exec(context.Background(), `ALTER TABLE api_keys_hidden RENAME TO api_keys`)
			require.NoError(t, err)
		}
	}
	t.Cleanup(restore)
	return restore
}

func TestWatchedReplicasAnswerFromMemoryAndTakeChangesAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	activeDPA(t, b, b.tenantA.ID)
	r1, r2 := b.watchedReplica(t), b.watchedReplica(t)
	tA := "/v1/tenants/" + b.tenantA.ID
	admin := b.token(t, policy.RoleControllerAdmin, b.tenantA.ID)
	question := map[string]any{"tenant_id": b.tenantA.ID, "category": "chat.message", "purpose": "service.delivery", "region": "nl"}

	// A chat service key of its own, used on r2 once, so r2 knows it.
	res := send(t, r1.http, http.MethodPost, tA+"/api-keys", call{cookie: b.session(t, policy.RoleControllerAdmin, b.tenantA.ID), body: map[string]any{"label": "chat", "role": policy.RoleChatService}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	chat, chatID := res.json["token"].(string), res.json["id"].(string)
	requireDecision(t, send(t, r2.http, http.MethodPost, "/v1/decisions", call{token: chat, body: question}), true, policy.ReasonInScope)

	// r2 answers from memory: with the keys table gone, the known key
	// still decides, an unknown one cannot be checked.
	restore := hideKeys(t, b)
	requireDecision(t, send(t, r2.http, http.MethodPost, "/v1/decisions", call{token: chat, body: question}), true, policy.ReasonInScope)
	other := b.token(t, policy.RoleControllerViewer, b.tenantA.ID)
	require.Equal(t, http.StatusServiceUnavailable, send(t, r2.http, http.MethodGet, tA, call{token: other}).status)
	restore()

	// Terminating the contract on r1, ending today: once r1 answers, r2
	// knows the end. It allows through today and denies from the first
	// instant of tomorrow, by its clock alone (which it can only do if it
	// took the termination in: before it, its state had no end).
	res = send(t, r1.http, http.MethodPost, tA+"/termination", call{token: b.admin(t), body: map[string]any{"contract_end": testStart.Format(time.DateOnly), "reason": "customer_notice"}})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	requireDecision(t, send(t, r2.http, http.MethodPost, "/v1/decisions", call{token: chat, body: question}), true, policy.ReasonInScope)
	b.clock.Advance(24 * time.Hour)
	requireDecision(t, send(t, r2.http, http.MethodPost, "/v1/decisions", call{token: chat, body: question}), false, policy.ReasonContractTerminated)

	// Revoking the key on r1: once r1 answers, r2 refuses it.
	res = send(t, r1.http, http.MethodDelete, tA+"/api-keys/"+chatID, call{token: admin})
	require.Less(t, res.status, 300, res.raw)
	require.Equal(t, http.StatusUnauthorized, send(t, r2.http, http.MethodPost, "/v1/decisions", call{token: chat, body: question}).status)

	// A replica whose watcher stopped trusts nothing it remembers.
	res = send(t, r1.http, http.MethodPost, tA+"/api-keys", call{cookie: b.session(t, policy.RoleControllerAdmin, b.tenantA.ID), body: map[string]any{"label": "chat 2", "role": policy.RoleChatService}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	chat2 := res.json["token"].(string)
	require.Equal(t, http.StatusOK, send(t, r2.http, http.MethodPost, "/v1/decisions", call{token: chat2, body: question}).status)
	r2.stop()
	require.False(t, r2.watcher.Fresh())
	hideKeys(t, b)
	require.Equal(t, http.StatusServiceUnavailable, send(t, r2.http, http.MethodPost, "/v1/decisions", call{token: chat2, body: question}).status)
}

package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/policy"
)

// TestSlowHandlerIsNotCancelled: a request with a body whose handler runs
// longer than the body's read timeout (5 s; here a record write waiting
// for its subject's row, held by another transaction for 6 s) completes.
// The read deadline set for the body must not stay on the connection:
// when it passes, net/http cancels the request's context, and the write
// failed with 503 midway (found by the soak of `make bench`). The test
// waits those 6 s of real time: it is about a network deadline, which no
// injected clock drives.
func TestSlowHandlerIsNotCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A := b.tenantA.ID
	activeDPA(t, b, A)
	chat := b.token(t, policy.RoleChatService, A)
	item := map[string]any{"subject_ref": "visitor-slow", "kind": "chat.message", "category": "chat.message", "purpose": "service.delivery",
		"region": "nl", "content": map[string]any{"text": "Hallo!"}}
	path := "/v1/tenants/" + A + "/records"
	res := b.do(t, http.MethodPost, path, chat, map[string]any{"items": []any{item}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)

	ctx := context.Background()
	tx, err := b.db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `SELECT 1 FROM subjects WHERE tenant_id = $1 FOR UPDATE`, A)
	require.NoError(t, err)
	done := make(chan response, 1)
	go func() { done <- b.do(t, http.MethodPost, path, chat, map[string]any{"items": []any{item}}) }()
	require.Eventually(t, func() bool {
		var waiting int
		require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
			WHERE NOT l.granted AND a.datname = current_database()`).Scan(&waiting))
		return waiting > 0
	}, 30*time.Second, 10*time.Millisecond, "the write waits for the subject's row")
	time.Sleep(6 * time.Second)
	require.NoError(t, tx.Commit(ctx))
	res = <-done
	require.Equal(t, http.StatusCreated, res.status, res.raw)
}

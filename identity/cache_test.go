package identity_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/store"
)

// TestRevokedPersonalKeyLeavesTheCache: a personal key has no grant of its
// own, yet its revocation must drop it from every replica's memory.
func TestRevokedPersonalKeyLeavesTheCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.account(t, "ada@example.com")
	w := e.db.NewWatcher(store.WatcherOptions{Lease: 5 * time.Second})
	e.keys.Watch(w)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.Run(rctx) }()
	defer func() { cancel(); <-done }()
	require.Eventually(t, w.Fresh, 10*time.Second, 5*time.Millisecond)

	exp := e.clock.Now().Add(30 * 24 * time.Hour)
	key, tok, err := e.keys.Issue(ctx, identity.NewKey{Label: "scripts", UserID: u.ID, ExpiresAt: &exp})
	require.NoError(t, err)
	require.NoError(t, e.db.Sync(ctx))
	_, err = e.keys.Check(ctx, tok) // cached now
	require.NoError(t, err)
	_, err = e.keys.Revoke(ctx, identity.KeyOwner{UserID: u.ID}, key.ID)
	require.NoError(t, err)
	require.NoError(t, e.db.Sync(ctx))
	_, err = e.keys.Check(ctx, tok)
	require.Error(t, err, "revoked personal key still accepted from cache")
}

package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
)

// replica is one watcher with a handler that records what it was told.
type replica struct {
	w        *store.Watcher
	mu       sync.Mutex
	heard    []string
	connects int
	stop     context.CancelFunc
	done     chan struct{}
	slow     chan struct{} // when not nil, the handler waits for it
}

func (r *replica) payloads() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.heard...)
}

func startReplica(t *testing.T, db *store.DB, lease time.Duration) *replica {
	t.Helper()
	r := &replica{w: db.NewWatcher(store.WatcherOptions{Lease: lease}), done: make(chan struct{})}
	r.w.Handle("verwerker_test", func(context.Context) error {
		r.mu.Lock()
		r.connects++
		r.mu.Unlock()
		return nil
	}, func(_ context.Context, p string) error {
		r.mu.Lock()
		slow := r.slow
		r.mu.Unlock()
		if slow != nil {
			<-slow
		}
		r.mu.Lock()
		r.heard = append(r.heard, p)
		r.mu.Unlock()
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = func() { cancel(); <-r.done }
	go func() { defer close(r.done); r.w.Run(ctx) }()
	t.Cleanup(r.stop)
	require.Eventually(t, r.w.Fresh, 10*time.Second, 5*time.Millisecond, "the watcher never became fresh")
	return r
}

func change(t *testing.T, db *store.DB, payload string) {
	t.Helper()
	require.NoError(t, db.InTx(context.Background(), func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `SELECT pg_notify('verwerker_test', $1)`, payload)
		return err
	}))
}

func TestSyncWaitsForEveryReplica(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	ctx := context.Background()
	a, b := startReplica(t, db, 5*time.Second), startReplica(t, db, 5*time.Second)
	require.False(t, (*store.Watcher)(nil).Fresh(), "no watcher: never fresh")

	// Once Sync returns, both replicas have handled the change.
	for i, p := range []string{"one", "two", "three"} {
		change(t, db, p)
		require.NoError(t, db.Sync(ctx))
		require.Len(t, a.payloads(), i+1)
		require.Len(t, b.payloads(), i+1)
		require.Equal(t, p, b.payloads()[i])
	}

	// A slow replica holds Sync back until it has handled the change.
	gate := make(chan struct{})
	b.mu.Lock()
	b.slow = gate
	b.mu.Unlock()
	change(t, db, "four")
	synced := make(chan error, 1)
	go func() { synced <- db.Sync(ctx) }()
	select {
	case err := <-synced:
		t.Fatalf("Sync returned before the slow replica handled the change: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(gate)
	require.NoError(t, <-synced)
	require.Equal(t, []string{"one", "two", "three", "four"}, b.payloads())

	// A replica that stopped gives up its lease: Sync no longer waits.
	b.stop()
	require.False(t, b.w.Fresh())
	change(t, db, "five")
	require.NoError(t, db.Sync(ctx))
	require.Len(t, a.payloads(), 5)
}

func TestReplicaThatCannotHearLosesItsLease(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	ctx := context.Background()
	lease := 900 * time.Millisecond
	a := startReplica(t, db, lease)
	b := startReplica(t, db, lease)

	// Leases are renewed: still fresh after several lease periods.
	time.Sleep(3 * lease)
	require.True(t, a.w.Fresh())

	// b's handler hangs: it hears nothing more. Sync waits for b until
	// its lease ends in the database; by then b no longer trusts itself.
	gate := make(chan struct{})
	defer close(gate)
	b.mu.Lock()
	b.slow = gate
	b.mu.Unlock()
	change(t, db, "x")
	start := time.Now()
	require.NoError(t, db.Sync(ctx))
	require.GreaterOrEqual(t, time.Since(start), lease/3, "Sync did not wait for the silent replica")
	require.False(t, b.w.Fresh(), "Sync returned while the silent replica still trusted its caches")
	require.True(t, a.w.Fresh())
	require.Equal(t, []string{"x"}, a.payloads())

	// A replica whose connection is cut reconnects, runs its connected
	// hooks again and becomes fresh again.
	_, err := db.Pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()
		AND pid <> pg_backend_pid() AND (query LIKE 'UPDATE replicas%' OR query LIKE 'INSERT INTO replicas%' OR query LIKE 'LISTEN%')`)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.connects >= 2 && a.w.Fresh()
	}, 10*time.Second, 10*time.Millisecond, "the replica did not reconnect")
	change(t, db, "y")
	require.NoError(t, db.Sync(ctx))
	require.Equal(t, []string{"x", "y"}, a.payloads())
}

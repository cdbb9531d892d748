package store_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
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

// model is a replica's view of numbered changes: applied is the newest it
// has taken in, by notification or by reloading on (re)connection.
type model struct {
	committed, applied atomic.Int64
	block              chan struct{} // notifications wait for it while set
	delay              time.Duration // each notification takes this long
	mu                 sync.Mutex
}

func (m *model) watch(t *testing.T, db *store.DB, lease time.Duration, hook func()) *store.Watcher {
	t.Helper()
	w := db.NewWatcher(store.WatcherOptions{Lease: lease})
	w.Handle("verwerker_test", func(context.Context) error {
		// A reload reads the state first, then may take its time.
		snap := m.committed.Load()
		if hook != nil {
			hook()
		}
		m.applied.Store(snap)
		return nil
	}, func(_ context.Context, p string) error {
		m.mu.Lock()
		b := m.block
		m.mu.Unlock()
		if b != nil {
			<-b
		}
		time.Sleep(m.delay)
		n, _ := strconv.ParseInt(p, 10, 64)
		if n > m.applied.Load() {
			m.applied.Store(n)
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

// commit makes change n and announces it.
func (m *model) commit(t *testing.T, db *store.DB, n int64) {
	t.Helper()
	m.committed.Store(n)
	change(t, db, strconv.FormatInt(n, 10))
}

// requireNeverStale watches w for d: whenever it is fresh, it must have
// taken in every change up to acked.
func requireNeverStale(t *testing.T, w *store.Watcher, m *model, acked int64, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Microsecond) {
		applied := m.applied.Load()
		if w.Fresh() {
			require.GreaterOrEqual(t, applied, acked, "fresh with a change unapplied whose Sync returned")
		}
	}
}

func TestLapsedLeaseIsNotRenewed(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	ctx := context.Background()
	lease := 900 * time.Millisecond
	m := &model{}
	w := m.watch(t, db, lease, nil)
	require.Eventually(t, w.Fresh, 10*time.Second, 5*time.Millisecond)

	// The replica hangs on change 1: Sync returns when its lease lapses.
	gate := make(chan struct{})
	m.mu.Lock()
	m.block = gate
	m.mu.Unlock()
	m.commit(t, db, 1)
	require.NoError(t, db.Sync(ctx))
	require.False(t, w.Fresh())
	// Change 2 is answered without waiting for the silent replica.
	m.commit(t, db, 2)
	require.NoError(t, db.Sync(ctx))
	// When it wakes up it must not trust itself before it has change 2.
	m.mu.Lock()
	m.block = nil
	m.mu.Unlock()
	close(gate)
	requireNeverStale(t, w, m, 2, 3*lease)
	require.Eventually(t, w.Fresh, 10*time.Second, 5*time.Millisecond, "the replica did not recover")
	require.EqualValues(t, 2, m.applied.Load())
}

func TestReplicaIsWaitedForWhileItConnects(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	ctx := context.Background()
	m := &model{delay: 300 * time.Millisecond}
	inHook, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	w := m.watch(t, db, 2*time.Second, func() {
		once.Do(func() {
			// The hook has read nothing yet of what follows; it is slow.
			close(inHook)
			<-gate
		})
	})
	<-inHook
	m.commit(t, db, 1)
	synced := make(chan error, 1)
	go func() { synced <- db.Sync(ctx) }()
	time.Sleep(100 * time.Millisecond)
	close(gate)
	require.NoError(t, <-synced)
	requireNeverStale(t, w, m, 1, time.Second)
	require.True(t, w.Fresh())
}

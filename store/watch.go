package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// BarrierChannel is the LISTEN/NOTIFY channel of barriers (DB.Sync).
const BarrierChannel = "verwerker_barrier"

// DefaultLease is how long a replica may trust its caches without hearing
// from the database (WatcherOptions.Lease).
const DefaultLease = 5 * time.Second

// Watcher is a replica's one LISTEN connection. It delivers the
// notifications of every channel a component registered (Handle) to its
// handler, one at a time in commit order, and it lets the replica answer
// from in-memory caches without giving up "a change takes effect on the
// very next request on every replica":
//
//   - while connected, it holds a lease in the replicas table, renewed
//     every third of the lease; Fresh reports whether the lease is still
//     valid by this process's own clock (it ends earlier than the
//     database's copy);
//   - a change made through the API is followed by a barrier (DB.Sync): a
//     number from replica_barrier_seq, notified after the change committed,
//     so every watcher receives it after the change's own notifications.
//     The watcher records the barrier as heard once the handlers before it
//     have run, and Sync returns when every replica with a live lease has
//     heard it. A replica that cannot hear (its connection is down) stops
//     trusting its caches when its lease ends, which is when Sync stops
//     waiting for it.
//
// Caches trust themselves only while Fresh; otherwise they read the
// database on every request, as without a watcher.
type Watcher struct {
	db     *DB
	id     string
	lease  time.Duration
	logger *slog.Logger
	start  time.Time // monotonic base of freshUntil

	mu       sync.Mutex
	handlers map[string][]handler
	running  bool

	freshUntil atomic.Int64 // nanoseconds since start; 0: not fresh
}

type handler struct {
	connected func(context.Context) error
	notified  func(context.Context, string) error
}

// WatcherOptions configure a Watcher.
type WatcherOptions struct {
	// Lease is how long the replica trusts its caches after it last heard
	// from the database; DefaultLease when zero. A change waits at most
	// about this long for a replica that stopped answering.
	Lease time.Duration
	// Logger receives connection failures; nil discards.
	Logger *slog.Logger
}

// NewWatcher returns a watcher of db; register handlers, then Run it.
func (db *DB) NewWatcher(opts WatcherOptions) *Watcher {
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &Watcher{db: db, id: "rep_" + hex.EncodeToString(b), lease: opts.Lease, logger: opts.Logger, start: time.Now(),
		handlers: map[string][]handler{}}
}

// ID names the replica in the replicas table.
func (w *Watcher) ID() string { return w.id }

// Handle registers the handlers of channel: connected runs after every
// (re)connection, before the replica trusts its caches again (reload
// everything: notifications may have been missed); notified runs for each
// notification with its payload. Both run on the watcher's goroutine and
// must not block for long: they delay every later notification. Several
// handlers of one channel run in the order they were registered. Handle
// must be called before Run.
func (w *Watcher) Handle(channel string, connected func(context.Context) error, notified func(context.Context, string) error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running {
		panic("store: Watcher.Handle after Run")
	}
	w.handlers[channel] = append(w.handlers[channel], handler{connected, notified})
}

// Fresh reports whether the replica's caches may answer: the watcher is
// connected, has run every handler's connected hook and holds a lease it
// renewed less than a lease ago. A nil Watcher is never fresh.
func (w *Watcher) Fresh() bool {
	if w == nil {
		return false
	}
	until := w.freshUntil.Load()
	return until != 0 && int64(time.Since(w.start)) < until
}

// Run watches until ctx ends, reconnecting after failures. When it returns
// the replica's lease is given up.
func (w *Watcher) Run(ctx context.Context) {
	w.mu.Lock()
	w.running = true
	w.mu.Unlock()
	defer func() {
		w.freshUntil.Store(0)
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = w.db.Pool.Exec(c, `DELETE FROM replicas WHERE id = $1`, w.id)
	}()
	const minBackoff = 100 * time.Millisecond
	backoff := minBackoff
	for ctx.Err() == nil {
		began := time.Now()
		err := w.watch(ctx)
		w.freshUntil.Store(0)
		if ctx.Err() != nil {
			return
		}
		// Deaf now: give the lease up at once, so that changes do not wait
		// for this replica until it ends (best effort; it ends anyway).
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, _ = w.db.Pool.Exec(c, `UPDATE replicas SET lease_until = now() WHERE id = $1`, w.id)
		cancel()
		if time.Since(began) > w.lease {
			backoff = minBackoff
		}
		w.logger.Warn("watching for changes failed; the caches are not trusted until it reconnects", "error", err.Error(), "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// errEvicted means the replica's lease ended before it was renewed:
// changes may have been answered without waiting for this replica, so it
// must reconnect and reload before it trusts its caches again.
var errEvicted = errors.New("store: this replica's lease ended before it was renewed")

func (w *Watcher) watch(ctx context.Context) error {
	conn, err := w.db.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection leaves the pool: it listens to channels.
	c := conn.Hijack()
	defer c.Close(context.Background()) //nolint:errcheck // closing a connection we gave up on
	channels := []string{BarrierChannel}
	for ch := range w.handlers {
		channels = append(channels, ch)
	}
	for _, ch := range channels {
		if _, err := c.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	// Rows of replicas that ended without giving up their lease (a crash)
	// are never waited for; clear the old ones.
	if _, err := c.Exec(ctx, `DELETE FROM replicas WHERE lease_until < now() - interval '1 hour'`); err != nil {
		return err
	}
	// Barriers issued up to now concern changes committed before the hooks
	// below reload; later ones arrive as notifications. The lease is taken
	// before the hooks run, so that changes committed meanwhile wait for
	// this replica; it trusts its caches only once the hooks have run and
	// the lease is still unbroken.
	var heard int64
	if err := c.QueryRow(ctx, `SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM replica_barrier_seq`).Scan(&heard); err != nil {
		return err
	}
	if _, err := c.Exec(ctx, `INSERT INTO replicas (id, lease_until, heard) VALUES ($1, now() + $2 * interval '1 millisecond', $3)
		ON CONFLICT (id) DO UPDATE SET lease_until = excluded.lease_until, heard = excluded.heard`, w.id, w.leaseMillis(), heard); err != nil {
		return err
	}
	for _, hs := range w.handlers {
		for _, h := range hs {
			if err := h.connected(ctx); err != nil {
				return err
			}
		}
	}
	if err := w.renew(ctx, c, heard); err != nil {
		return err
	}
	beat := w.lease / 3
	next := time.Now().Add(beat)
	for {
		wctx, cancel := context.WithDeadline(ctx, next)
		n, err := c.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if n.Channel == BarrierChannel {
				b, _ := strconv.ParseInt(n.Payload, 10, 64)
				if b > heard {
					heard = b
					if err := w.renew(ctx, c, heard); err != nil {
						return err
					}
				}
				continue
			}
			for _, h := range w.handlers[n.Channel] {
				if err := h.notified(ctx, n.Payload); err != nil {
					return fmt.Errorf("handling %s: %w", n.Channel, err)
				}
			}
			if time.Now().Before(next) {
				continue
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded):
			return err
		}
		if err := w.renew(ctx, c, heard); err != nil {
			return err
		}
		next = time.Now().Add(beat)
	}
}

// leaseMillis is the lease in whole milliseconds, rounded up: the
// database's copy never ends before the replica's own.
func (w *Watcher) leaseMillis() int64 {
	return int64((w.lease + time.Millisecond - 1) / time.Millisecond)
}

// renew extends the lease, if it has not ended, and records the last
// barrier heard. The replica trusts its caches until nine tenths of the
// lease after it sent the renewal (by its own monotonic clock, a margin
// for clock rates).
func (w *Watcher) renew(ctx context.Context, c *pgx.Conn, heard int64) error {
	sent := time.Since(w.start)
	tag, err := c.Exec(ctx, `UPDATE replicas SET lease_until = now() + $2 * interval '1 millisecond', heard = greatest(heard, $3)
		WHERE id = $1 AND lease_until > now()`, w.id, w.leaseMillis(), heard)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		w.freshUntil.Store(0)
		return errEvicted
	}
	w.freshUntil.Store(int64(sent + w.lease*9/10))
	return nil
}

// Sync waits until every replica's watcher has processed the changes
// committed before it was called: it issues a barrier and returns when
// every replica with a live lease has heard it (replicas whose lease ends
// meanwhile are no longer waited for: they stopped trusting their caches).
// The API calls it after each change it made, before it answers.
func (db *DB) Sync(ctx context.Context) error {
	var b int64
	if err := db.Pool.QueryRow(ctx, `SELECT pg_notify($1, n::text), n FROM (SELECT nextval('replica_barrier_seq') AS n) s`, BarrierChannel).Scan(nil, &b); err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	wait := 500 * time.Microsecond
	for {
		var behind bool
		if err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM replicas WHERE lease_until > now() AND heard < $1)`, b).Scan(&behind); err != nil {
			return fmt.Errorf("store: sync: %w", err)
		}
		if !behind {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: sync: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 20*time.Millisecond)
	}
}

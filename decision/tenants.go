package decision

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
	"golang.org/x/sync/singleflight"
)

// LoadFunc reads a tenant's decision state from the database: first its
// decision_state version, then the state, so the state is at least as new
// as the version it carries. An unknown tenant is ENOTFOUND.
// dpa.Service.DecisionState is the one the application uses.
type LoadFunc func(ctx context.Context, tenantID string) (policy.TenantState, error)

// DefaultReloadTimeout bounds one load and compilation of a tenant's state
// unless Options.ReloadTimeout says otherwise. Each caller waits only as
// long as its own context (a request's), so this bound only ends a load
// that nobody may wait for any more; it is generous because a broad
// agreement compiled on a busy machine (or under the race detector) took
// over 10 s, and a load cut short fails every caller that shared it.
const DefaultReloadTimeout = time.Minute

// customer is what the service keeps of one customer: its compiled table,
// the newest decision_state version heard of, its key reference and its
// decision counts. Entries are made when a tenant is first asked or heard
// about and never removed.
type customer struct {
	id, keyRef string
	// table answers for the tenant; nil until loaded and after a change.
	table atomic.Pointer[policy.Table]
	// last is the newest table loaded, kept after an invalidation: its
	// time zone dates the counts.
	last atomic.Pointer[policy.Table]
	// heard is the newest decision_state version announced: no older table
	// answers once it is heard of.
	heard atomic.Int64
	// gen is raised by every invalidation, so that a load that began
	// before a change cannot install what it read.
	gen atomic.Uint64
	// mu orders installing a table with invalidations.
	mu     sync.Mutex
	counts counts
}

// tenants is the one per-tenant cache of decisions: each customer's
// compiled table (policy.Compiler), kept current through the replica's
// watcher (Service.Watch). A table is never trusted beyond its version:
// callers pass the newest decision_state version they know of (read with
// the credential), and so does the watcher for every change it hears of; a
// newer version loads the state again before deciding. Nor is it trusted
// beyond its time: the state of a terminating tenant holds until its
// contract ends (policy.TenantState.Until), and from that instant (by the
// service's clock) the state is loaded again, without any change or
// request announcing it.
type tenants struct {
	compiler *policy.Compiler
	load     LoadFunc
	// db is where versions are read when a caller does not know the
	// current one; nil in tests and benchmarks (version 0).
	db            *store.DB
	clock         verwerker.Clock
	logger        *slog.Logger
	reloadTimeout time.Duration
	cells         int // counts per tenant

	mu    sync.RWMutex
	byID  map[string]*customer
	loads singleflight.Group
}

// lookup returns the tenant's entry, or nil.
func (c *tenants) lookup(id string) *customer {
	c.mu.RLock()
	t := c.byID[id]
	c.mu.RUnlock()
	return t
}

// get returns the tenant's entry, making it if there is none.
func (c *tenants) get(id string) *customer {
	if t := c.lookup(id); t != nil {
		return t
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.byID[id]; t != nil {
		return t
	}
	// The entry keeps its own copy of the id: the caller's may be part of
	// a request's buffer.
	id = strings.Clone(id)
	t := &customer{id: id, keyRef: keys.TenantKeyRef(id), counts: newCounts(c.cells)}
	c.byID[id] = t
	return t
}

// all returns every entry, ordered by tenant id.
func (c *tenants) all() []*customer {
	c.mu.RLock()
	out := make([]*customer, 0, len(c.byID))
	for _, t := range c.byID {
		out = append(out, t)
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// table returns t's table at decision_state version min or newer, valid at
// now, loading the state when the cached table is older, was invalidated or
// has expired (a terminating tenant's contract ended). A negative min means
// the caller does not know the current version: it is read from the
// database (one query).
func (c *tenants) table(ctx context.Context, t *customer, min int64, now time.Time) (*policy.Table, error) {
	tb := t.table.Load()
	if min >= 0 {
		min = max(min, t.heard.Load())
		if tb != nil && tb.Version() >= min && !tb.Expired(now) {
			return tb, nil
		}
	} else {
		min = t.heard.Load()
		if c.db != nil {
			v, err := store.DecisionStateVersion(ctx, c.db.Pool, t.id)
			if err != nil {
				return nil, &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "decisions cannot be made now", Err: err}
			}
			min = max(min, v)
		}
		if tb != nil && tb.Version() >= min && !tb.Expired(now) {
			return tb, nil
		}
	}
	return c.reload(ctx, t, min)
}

// reload loads t's state until it is at version min or newer (and at least
// the version heard of) and has not expired. Concurrent reloads of one
// tenant share one load.
func (c *tenants) reload(ctx context.Context, t *customer, min int64) (*policy.Table, error) {
	for range 3 {
		// The shared load outlives any one caller's context but not the
		// reload timeout; each caller waits only as long as its own context.
		ch := c.loads.DoChan(t.id, func() (any, error) {
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.reloadTimeout)
			defer cancel()
			return c.loadTenant(lctx, t)
		})
		var tb *policy.Table
		select {
		case r := <-ch:
			if r.Err != nil {
				return nil, r.Err
			}
			tb = r.Val.(*policy.Table)
		case <-ctx.Done():
			return nil, &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "decisions cannot be made now", Err: ctx.Err()}
		}
		if tb.Version() >= max(min, t.heard.Load()) && !tb.Expired(c.clock.Now()) {
			return tb, nil
		}
	}
	return nil, verwerker.Errorf(verwerker.EUNAVAILABLE, "decisions cannot be made now")
}

// loadTenant reads and compiles t's state and makes it t's table, unless
// t changed while it loaded (an invalidation, a newer version heard of) or
// a newer table is already installed. The table it returns answers the
// caller either way.
func (c *tenants) loadTenant(ctx context.Context, t *customer) (*policy.Table, error) {
	gen := t.gen.Load()
	st, err := c.load(ctx, t.id)
	if err != nil {
		return nil, err
	}
	st.TenantID = t.id
	tb, err := c.compiler.Compile(ctx, st)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if l := t.last.Load(); l == nil || tb.Version() >= l.Version() {
		t.last.Store(tb)
	}
	cur := t.table.Load()
	if t.gen.Load() == gen && tb.Version() >= t.heard.Load() &&
		(cur == nil || tb.Version() > cur.Version() || (tb.Version() == cur.Version() && tb.Until() >= cur.Until())) {
		t.table.Store(tb)
	}
	return tb, nil
}

// invalidate drops t's table, so the next request loads the state again,
// and reports whether there was one.
func (t *customer) invalidate() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen.Add(1)
	return t.table.Swap(nil) != nil
}

// heardOf records that t's decision state reached version v and drops an
// older table; it reports whether it dropped one.
func (t *customer) heardOf(v int64) bool {
	t.mu.Lock()
	for {
		cur := t.heard.Load()
		if v <= cur || t.heard.CompareAndSwap(cur, v) {
			break
		}
	}
	t.mu.Unlock()
	if tb := t.table.Load(); tb == nil || tb.Version() >= v {
		return false
	}
	return t.invalidate()
}

// notice takes in a store.DecisionChannel notification: the version it
// announces is heard of; a payload without one invalidates the tenant. A
// tenant whose table was dropped is loaded again in the background, so
// that its next request finds it ready.
func (c *tenants) notice(payload string) {
	id, v := store.ParseDecisionNotice(payload)
	t := c.get(id)
	var dropped bool
	if v > 0 {
		dropped = t.heardOf(v)
	} else {
		dropped = t.invalidate()
	}
	if dropped {
		c.reloadLater(t, v)
	}
}

// resync reads every tenant's decision_state version and records it as
// heard: after a lost connection, when announcements may have been missed.
func (c *tenants) resync(ctx context.Context) error {
	vs, err := store.DecisionStateVersions(ctx, c.db.Pool)
	if err != nil {
		return err
	}
	for _, t := range c.all() {
		if t.heardOf(vs[t.id]) {
			c.reloadLater(t, vs[t.id])
		}
	}
	return nil
}

// reloadLater loads t's state at version v or newer in the background.
func (c *tenants) reloadLater(t *customer, v int64) {
	go func() {
		if _, err := c.reload(context.Background(), t, v); err != nil {
			c.logger.Warn("decision: reloading a tenant's decision state failed; it reloads on its next request", "tenant", t.id, "error", err.Error())
		}
	}()
}

// timezone is the tenant's time zone as last loaded ("" before).
func (t *customer) timezone() string {
	if l := t.last.Load(); l != nil {
		return l.Timezone()
	}
	return ""
}

// known returns the newest decision_state version of the tenant this
// replica knows of: heard of or compiled; 0 when none.
func (c *tenants) known(id string) int64 {
	t := c.lookup(id)
	if t == nil {
		return 0
	}
	v := t.heard.Load()
	if tb := t.table.Load(); tb != nil && tb.Version() > v {
		v = tb.Version()
	}
	return v
}

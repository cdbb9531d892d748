package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/internal/shardmap"
	"github.com/verwerker/verwerker/store"
	"golang.org/x/sync/singleflight"
)

// LoadFunc reads a tenant's decision state from the database: first its
// decision_state version, then the state, so the state is at least as new
// as the version it carries. An unknown tenant is ENOTFOUND.
type LoadFunc func(ctx context.Context, tenantID string) (TenantState, error)

// Decider answers processing decisions (the hot path of the chat service).
//
// Rego is the source of truth; the Decider compiles it. For each tenant
// state (its active agreement, contract status, effective subprocessors and
// objections, at one decision_state version) it evaluates the policy over
// the agreement's finite scope: every category x purpose x region in
// scope (an EEA country counts as in scope when "eea" is), with no
// subprocessor or each effective one, with and without the suspected-minor
// flag. The answers form an immutable table, swapped atomically; a lookup
// costs a few map reads. Requests outside the table (out of scope, a
// special-category flag, a subject under restriction or objection, a
// subprocessor not on the list, values outside the taxonomy) are evaluated
// by Rego itself. Tables are shared between tenants whose states are
// equal, so customers on the same agreement template cost one table.
//
// The table is never trusted beyond its version: callers pass the newest
// decision_state version they know of (read with the credential), and so
// does the replica's watcher for every change it hears of (Heard); a newer
// version reloads before deciding. LISTEN/NOTIFY on store.DecisionChannel
// reloads ahead of time. Nor is it trusted beyond its time: the state of a
// terminating tenant holds until its contract ends (TenantState.Until), and
// from that instant (by the Decider's clock) the tenant's state is loaded
// again, without any change or request announcing it.
type Decider struct {
	eval     *evaluator
	taxonomy Taxonomy
	load     LoadFunc
	db       *store.DB
	// reloadTimeout bounds one load (DeciderOptions.ReloadTimeout).
	reloadTimeout time.Duration
	logger        *slog.Logger

	catIdx, purIdx, regIdx map[string]int
	nc, np, nr             int

	tenants *shardmap.Map[*TenantDecider]
	loads   singleflight.Group
	// heard holds the newest decision_state version announced per tenant:
	// no older state is answered from once it is heard of.
	heard *shardmap.Map[int64]

	clock verwerker.Clock

	mu     sync.Mutex
	tables map[[32]byte]weak.Pointer[table]

	builds atomic.Int64
}

// DeciderOptions configure a Decider.
type DeciderOptions struct {
	// DB is where Listen waits for changes and where versions are read
	// when a caller does not know the current one. Optional in tests.
	DB *store.DB
	// Logger receives reload failures; nil discards.
	Logger *slog.Logger
	// Clock tells when a state expires (TenantState.Until): the clock the
	// LoadFunc computes contract statuses with. Nil is the system clock.
	Clock verwerker.Clock
	// ReloadTimeout bounds one load and compilation of a tenant's state;
	// zero is DefaultReloadTimeout.
	ReloadTimeout time.Duration
}

// NewDecider prepares the decision policy over the taxonomy. Tenants'
// states are loaded with load when first asked about.
func NewDecider(ctx context.Context, tax Taxonomy, load LoadFunc, opts DeciderOptions) (*Decider, error) {
	e, err := newEvaluator(ctx, tax)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = verwerker.SystemClock{}
	}
	if opts.ReloadTimeout <= 0 {
		opts.ReloadTimeout = DefaultReloadTimeout
	}
	d := &Decider{eval: e, load: load, clock: opts.Clock, reloadTimeout: opts.ReloadTimeout, tenants: shardmap.New[*TenantDecider](), heard: shardmap.New[int64](), db: opts.DB, logger: opts.Logger, tables: map[[32]byte]weak.Pointer[table]{},
		catIdx: map[string]int{}, purIdx: map[string]int{}, regIdx: map[string]int{}}
	for i, c := range tax.Categories {
		d.catIdx[c.ID] = i
	}
	for i, p := range tax.Purposes {
		d.purIdx[p] = i
	}
	for i, r := range tax.Regions {
		d.regIdx[r.ID] = i
	}
	d.nc, d.np, d.nr = len(tax.Categories), len(tax.Purposes), len(tax.Regions)
	d.taxonomy = tax
	return d, nil
}

// TenantDecider decides for one tenant at one state version. It is
// immutable.
type TenantDecider struct {
	// What the hot path reads, first, in one cache line (64 bytes); the
	// state, read only by Rego, last.
	d        *Decider
	version  int64
	table    *table
	dpa      int
	timezone string
	dpaID    string
	state    *TenantState
	// until is TenantState.Until in Unix nanoseconds, math.MaxInt64 when
	// the state never expires by itself.
	until int64
}

// Until returns the instant the decider stops being valid without any
// change of the tenant's state (the end of a terminating tenant's
// contract), in Unix nanoseconds; math.MaxInt64 when never. A decider must
// not answer at or after it: Decider.Tenant reloads it.
func (t *TenantDecider) Until() int64 { return t.until }

// Expired reports whether the decider's state no longer holds at now.
func (t *TenantDecider) Expired(now time.Time) bool { return now.UnixNano() >= t.until }

// Timezone is the tenant's time zone.
func (t *TenantDecider) Timezone() string { return t.timezone }

// DPAVersionID is the id of the active agreement version, or "".
func (t *TenantDecider) DPAVersionID() (int, string) { return t.dpa, t.dpaID }

// Version is the decision_state version the decider was compiled at.
func (t *TenantDecider) Version() int64 { return t.version }

// table is the compiled answers of one tenant state: a dense array over
// the scope's categories, purposes and regions (mapped from the taxonomy's
// indices; -1 is outside the scope), the subprocessor dimension and the
// minor flag.
type table struct {
	// term is the state as the policy input carries it, shared like the
	// table by every tenant of an equal state.
	term          *ast.Term
	cat, pur, reg []int
	np, nr        int
	subs          []string // "" (none named), then the effective subprocessors
	cells         []*Result
}

// State returns the tenant's state the decisions are made from. It must not
// be modified.
func (t *TenantDecider) State() *TenantState { return t.state }

// Decide answers req from the table, or from Rego when req is outside it.
// The result is shared and must not be modified.
func (t *TenantDecider) Decide(ctx context.Context, req *Request) (*Result, error) {
	if r := t.Lookup(req); r != nil {
		return r, nil
	}
	return t.Eval(ctx, req)
}

// Lookup answers req from the compiled table, or returns nil when req is
// outside it.
func (t *TenantDecider) Lookup(req *Request) *Result {
	if req.SpecialCategory != "" || (req.Subject != nil && (req.Subject.Restricted || len(req.Subject.ObjectedPurposes) > 0)) {
		return nil
	}
	d, tb := t.d, t.table
	ci, ok := d.catIdx[req.Category]
	if !ok || tb.cat[ci] < 0 {
		return nil
	}
	pi, ok := d.purIdx[req.Purpose]
	if !ok || tb.pur[pi] < 0 {
		return nil
	}
	ri, ok := d.regIdx[req.Region]
	if !ok || tb.reg[ri] < 0 {
		return nil
	}
	si := 0
	if req.Subprocessor != "" {
		si = -1
		for i := 1; i < len(tb.subs); i++ {
			if tb.subs[i] == req.Subprocessor {
				si = i
				break
			}
		}
		if si < 0 {
			return nil
		}
	}
	m := 0
	if req.SuspectedMinor {
		m = 1
	}
	return tb.cells[(((tb.cat[ci]*tb.np+tb.pur[pi])*tb.nr+tb.reg[ri])*len(tb.subs)+si)*2+m]
}

// Eval answers req with Rego itself, never the table: the reference the
// table is tested against, and the path for requests outside it.
func (t *TenantDecider) Eval(ctx context.Context, req *Request) (*Result, error) {
	return t.d.eval.eval(ctx, t.state.TenantID, t.table.term, req)
}

// Builds counts the tables compiled so far (shared tables count once).
func (d *Decider) Builds() int64 { return d.builds.Load() }

// Tenant returns the decider for tenantID at decision_state version
// minVersion or newer, loading the tenant's state when the cached one is
// older or has expired (a terminating tenant's contract ended). A negative
// minVersion means the caller does not know the current version: it is
// read from the database (one query).
func (d *Decider) Tenant(ctx context.Context, tenantID string, minVersion int64) (*TenantDecider, error) {
	if h, ok := d.heard.Load(tenantID); ok && minVersion >= 0 && h > minVersion {
		minVersion = h
	}
	now := d.clock.Now()
	if t, ok := d.tenants.Load(tenantID); ok && minVersion >= 0 && t.version >= minVersion && !t.Expired(now) {
		return t, nil
	}
	if minVersion < 0 {
		if d.db == nil {
			minVersion = 0
		} else {
			v, err := store.DecisionStateVersion(ctx, d.db.Pool, tenantID)
			if err != nil {
				return nil, &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "decisions cannot be made now", Err: err}
			}
			minVersion = v
			if t, ok := d.tenants.Load(tenantID); ok && t.state.Version >= minVersion && !t.Expired(now) {
				return t, nil
			}
		}
	}
	return d.reload(ctx, tenantID, minVersion)
}

// DefaultReloadTimeout bounds one load and compilation of a tenant's state
// unless DeciderOptions.ReloadTimeout says otherwise. Each caller waits only
// as long as its own context (a request's), so this bound only ends a load
// that nobody may wait for any more; it is generous because a broad
// agreement compiled on a busy machine (or under the race detector) took
// over 10 s, and a load cut short fails every caller that shared it.
const DefaultReloadTimeout = time.Minute

// reload loads the tenant's state until it is at version min or newer and
// has not expired. Concurrent reloads of one tenant share one load.
func (d *Decider) reload(ctx context.Context, tenantID string, min int64) (*TenantDecider, error) {
	for range 3 {
		// The shared load outlives any one caller's context but not
		// the reload timeout; each caller waits only as long as its own context.
		ch := d.loads.DoChan(tenantID, func() (any, error) {
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.reloadTimeout)
			defer cancel()
			return d.loadTenant(lctx, tenantID)
		})
		var v any
		select {
		case r := <-ch:
			if r.Err != nil {
				return nil, r.Err
			}
			v = r.Val
		case <-ctx.Done():
			return nil, &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "decisions cannot be made now", Err: ctx.Err()}
		}
		if t := v.(*TenantDecider); t.state.Version >= min && !t.Expired(d.clock.Now()) {
			return t, nil
		}
	}
	return nil, verwerker.Errorf(verwerker.EUNAVAILABLE, "decisions cannot be made now")
}

// loadTenant reads and compiles the tenant's state and makes it current
// unless a newer one already is.
func (d *Decider) loadTenant(ctx context.Context, tenantID string) (*TenantDecider, error) {
	st, err := d.load(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	st.TenantID = tenantID
	t, err := d.Compile(ctx, st)
	if err != nil {
		return nil, err
	}
	return d.tenants.Update(tenantID, func(cur *TenantDecider, ok bool) *TenantDecider {
		if ok && (cur.state.Version > t.state.Version || (cur.state.Version == t.state.Version && cur.until > t.until)) {
			return cur
		}
		return t
	}), nil
}

// Compile builds the decider of a state without caching it: the table,
// shared with every other tenant of an equal state.
func (d *Decider) Compile(ctx context.Context, st TenantState) (*TenantDecider, error) {
	if st.Subprocessors == nil {
		st.Subprocessors = []string{}
	}
	if st.Blocks == nil {
		st.Blocks = []Block{}
	}
	doc, err := json.Marshal(&st)
	if err != nil {
		return nil, verwerker.Internal("policy: state", err)
	}
	t := &TenantDecider{d: d, version: st.Version, timezone: st.Timezone, state: &st, until: math.MaxInt64}
	if !st.Until.IsZero() {
		t.until = st.Until.UnixNano()
	}
	if st.DPA != nil {
		t.dpa, t.dpaID = st.DPA.Version, st.DPA.ID
	}
	key := sha256.Sum256(doc)
	d.mu.Lock()
	if w, ok := d.tables[key]; ok {
		t.table = w.Value()
	}
	d.mu.Unlock()
	if t.table == nil {
		v, err := ast.ValueFromReader(bytes.NewReader(doc))
		if err != nil {
			return nil, verwerker.Internal("policy: state", err)
		}
		tb, err := d.build(ctx, t, ast.NewTerm(v))
		if err != nil {
			return nil, err
		}
		d.mu.Lock()
		if w, ok := d.tables[key]; ok && w.Value() != nil {
			tb = w.Value()
		} else {
			d.tables[key] = weak.Make(tb)
		}
		d.mu.Unlock()
		t.table = tb
	}
	return t, nil
}

// build evaluates the policy over the finite scope of t's state.
func (d *Decider) build(ctx context.Context, t *TenantDecider, term *ast.Term) (*table, error) {
	start := time.Now()
	st := t.state
	t.table = &table{term: term}
	tb := t.table
	*tb = table{term: term, subs: append([]string{""}, st.Subprocessors...), cat: make([]int, d.nc), pur: make([]int, d.np), reg: make([]int, d.nr)}
	var cats, purposes, regions []string
	for i, c := range d.taxonomy.Categories {
		tb.cat[i] = -1
		if st.DPA != nil && (st.Status == TenantActive || st.Status == TenantTerminating) && !st.Erased {
			if _, ok := st.DPA.Categories[c.ID]; ok {
				tb.cat[i] = len(cats)
				cats = append(cats, c.ID)
			}
		}
	}
	for i, p := range d.taxonomy.Purposes {
		tb.pur[i] = -1
		if st.DPA != nil && slices.Contains(st.DPA.Purposes, p) {
			tb.pur[i] = len(purposes)
			purposes = append(purposes, p)
		}
	}
	for i, r := range d.taxonomy.Regions {
		tb.reg[i] = -1
		if st.DPA != nil && (slices.Contains(st.DPA.Regions, r.ID) || (r.EEA && slices.Contains(st.DPA.Regions, "eea"))) {
			tb.reg[i] = len(regions)
			regions = append(regions, r.ID)
		}
	}
	tb.np, tb.nr = len(purposes), len(regions)
	tb.cells = make([]*Result, len(cats)*len(purposes)*len(regions)*len(tb.subs)*2)
	shared := map[string]*Result{}
	i := 0
	for _, c := range cats {
		for _, p := range purposes {
			for _, r := range regions {
				for _, s := range tb.subs {
					for _, minor := range []bool{false, true} {
						res, err := t.Eval(ctx, &Request{Category: c, Purpose: p, Region: r, Subprocessor: s, SuspectedMinor: minor})
						if err != nil {
							return nil, verwerker.Internal("policy: compile", err)
						}
						k := res.key()
						if x, ok := shared[k]; ok {
							res = x
						} else {
							shared[k] = res
						}
						tb.cells[i] = res
						i++
					}
				}
			}
		}
	}
	d.builds.Add(1)
	d.logger.Debug("policy: decision table compiled", "cells", len(tb.cells), "distinct", len(shared), "took", time.Since(start).String())
	return tb, nil
}

// Heard records that the tenant's decision state reached version: from now
// on no older state answers for it (a request may wait for the reload), and
// a cached one is reloaded in the background.
func (d *Decider) Heard(tenantID string, version int64) {
	d.heard.Update(tenantID, func(cur int64, _ bool) int64 { return max(cur, version) })
	d.Invalidate(tenantID)
}

// Known returns the newest decision_state version of the tenant this
// replica knows of: heard of (Heard) or compiled; 0 when none.
func (d *Decider) Known(tenantID string) int64 {
	v, _ := d.heard.Load(tenantID)
	if t, ok := d.tenants.Load(tenantID); ok && t.version > v {
		v = t.version
	}
	return v
}

// Resync reads every tenant's decision_state version and records it as
// heard (Heard): after a lost connection, when announcements may have been
// missed.
func (d *Decider) Resync(ctx context.Context) (map[string]int64, error) {
	vs, err := store.DecisionStateVersions(ctx, d.db.Pool)
	if err != nil {
		return nil, err
	}
	for t, v := range vs {
		if d.Cached(t) < v {
			d.Heard(t, v)
		} else {
			d.heard.Update(t, func(cur int64, _ bool) int64 { return max(cur, v) })
		}
	}
	return vs, nil
}

// Invalidate reloads the tenant's state in the background if it is cached.
func (d *Decider) Invalidate(tenantID string) {
	if _, ok := d.tenants.Load(tenantID); !ok {
		return
	}
	go func() {
		if _, err := d.reload(context.Background(), tenantID, 0); err != nil {
			d.logger.Warn("policy: reloading a tenant's decision state failed; it reloads on its next request", "tenant", tenantID, "error", err.Error())
			d.tenants.Delete(tenantID)
		}
	}()
}

// Listen reloads a tenant's table whenever a transaction announces a change
// of its decision state, until ctx ends. After every (re)connection it
// catches up with the versions it may have missed (Resync).
func (d *Decider) Listen(ctx context.Context) {
	d.db.Listen(ctx, store.DecisionChannel, d.logger, func(ctx context.Context) error {
		_, err := d.Resync(ctx)
		return err
	}, func(_ context.Context, payload string) error {
		d.Notice(payload)
		return nil
	})
}

// Notice takes in a DecisionChannel notification and returns its tenant:
// the version it announces is heard of (Heard); a payload without one
// reloads the tenant.
func (d *Decider) Notice(payload string) string {
	t, v := store.ParseDecisionNotice(payload)
	if v > 0 {
		d.Heard(t, v)
	} else {
		d.Invalidate(t)
	}
	return t
}

// Cached reports the decision_state version of the tenant's cached state,
// or -1 when none is cached.
func (d *Decider) Cached(tenantID string) int64 {
	if t, ok := d.tenants.Load(tenantID); ok {
		return t.state.Version
	}
	return -1
}

// Evaluate answers req for an arbitrary state with Rego, without a table or
// a cache: for tests and tools.
func (d *Decider) Evaluate(ctx context.Context, st TenantState, req *Request) (*Result, error) {
	b, err := json.Marshal(&st)
	if err != nil {
		return nil, err
	}
	v, err := ast.ValueFromReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return d.eval.eval(ctx, st.TenantID, ast.NewTerm(v), req)
}

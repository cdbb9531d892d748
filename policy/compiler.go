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
)

// Compiler turns a tenant's decision state into its answer table: a pure
// function of the state (and the embedded policy), without a cache of
// tenants. The decision package keeps the one per-tenant cache of tables.
//
// Rego is the source of truth; the Compiler compiles it. For a state (its
// active agreement, contract status, effective subprocessors and
// objections, at one decision_state version) it evaluates the policy over
// the agreement's finite scope: every category x purpose x region in scope
// (an EEA country counts as in scope when "eea" is), with no subprocessor or
// each effective one, with and without the suspected-minor flag. The
// answers form an immutable Table; a lookup costs a few map reads. Requests
// outside the table (out of scope, a special-category flag, a subject under
// restriction or objection, a subprocessor not on the list, values outside
// the taxonomy) are evaluated by Rego itself. Equal states share their
// answers (held weakly), so customers on the same agreement template cost
// one compilation.
type Compiler struct {
	eval     *evaluator
	taxonomy Taxonomy
	logger   *slog.Logger

	catIdx, purIdx, regIdx map[string]int
	nc, np, nr             int

	mu      sync.Mutex
	answers map[[32]byte]weak.Pointer[answers]
	// zones interns the tenants' time zone names, so that the decisions of
	// many tenants in one zone read one string.
	zones map[string]string

	builds atomic.Int64
}

// NewCompiler prepares the decision policy over the taxonomy. logger
// receives compilation timings at debug level; nil discards.
func NewCompiler(ctx context.Context, tax Taxonomy, logger *slog.Logger) (*Compiler, error) {
	e, err := newEvaluator(ctx, tax)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Compiler{eval: e, taxonomy: tax, logger: logger, answers: map[[32]byte]weak.Pointer[answers]{}, zones: map[string]string{},
		catIdx: map[string]int{}, purIdx: map[string]int{}, regIdx: map[string]int{}}
	for i, x := range tax.Categories {
		c.catIdx[x.ID] = i
	}
	for i, p := range tax.Purposes {
		c.purIdx[p] = i
	}
	for i, r := range tax.Regions {
		c.regIdx[r.ID] = i
	}
	c.nc, c.np, c.nr = len(tax.Categories), len(tax.Purposes), len(tax.Regions)
	return c, nil
}

// Table answers decisions for one tenant at one state version. It is
// immutable.
type Table struct {
	c        *Compiler
	version  int64
	answers  *answers
	dpa      int
	timezone string
	dpaID    string
	state    *TenantState
	// until is TenantState.Until in Unix nanoseconds, math.MaxInt64 when
	// the state never expires by itself.
	until int64
}

// Until returns the instant the table stops being valid without any change
// of the tenant's state (the end of a terminating tenant's contract), in
// Unix nanoseconds; math.MaxInt64 when never. A table must not answer at or
// after it: the state is to be loaded and compiled again.
func (t *Table) Until() int64 { return t.until }

// Expired reports whether the table's state no longer holds at now.
func (t *Table) Expired(now time.Time) bool { return now.UnixNano() >= t.until }

// Timezone is the tenant's time zone.
func (t *Table) Timezone() string { return t.timezone }

// DPAVersionID is the number and the id of the active agreement version,
// or 0 and "".
func (t *Table) DPAVersionID() (int, string) { return t.dpa, t.dpaID }

// Version is the decision_state version the table was compiled at.
func (t *Table) Version() int64 { return t.version }

// State returns the tenant's state the decisions are made from. It must not
// be modified.
func (t *Table) State() *TenantState { return t.state }

// answers are the compiled answers of one tenant state: a dense array over
// the scope's categories, purposes and regions (mapped from the taxonomy's
// indices; -1 is outside the scope), the subprocessor dimension and the
// minor flag.
type answers struct {
	// term is the state as the policy input carries it, shared like the
	// answers by every tenant of an equal state.
	term          *ast.Term
	cat, pur, reg []int
	np, nr        int
	subs          []string // "" (none named), then the effective subprocessors
	cells         []*Result
}

// Decide answers req from the table, or from Rego when req is outside it.
// The result is shared and must not be modified.
func (t *Table) Decide(ctx context.Context, req *Request) (*Result, error) {
	if r := t.Lookup(req); r != nil {
		return r, nil
	}
	return t.Eval(ctx, req)
}

// Lookup answers req from the compiled table, or returns nil when req is
// outside it.
func (t *Table) Lookup(req *Request) *Result {
	if req.SpecialCategory != "" || (req.Subject != nil && (req.Subject.Restricted || len(req.Subject.ObjectedPurposes) > 0)) {
		return nil
	}
	c, a := t.c, t.answers
	ci, ok := c.catIdx[req.Category]
	if !ok || a.cat[ci] < 0 {
		return nil
	}
	pi, ok := c.purIdx[req.Purpose]
	if !ok || a.pur[pi] < 0 {
		return nil
	}
	ri, ok := c.regIdx[req.Region]
	if !ok || a.reg[ri] < 0 {
		return nil
	}
	si := 0
	if req.Subprocessor != "" {
		si = slices.Index(a.subs[1:], req.Subprocessor) + 1
		if si == 0 {
			return nil
		}
	}
	m := 0
	if req.SuspectedMinor {
		m = 1
	}
	return a.cells[(((a.cat[ci]*a.np+a.pur[pi])*a.nr+a.reg[ri])*len(a.subs)+si)*2+m]
}

// Eval answers req with Rego itself, never the table: the reference the
// table is tested against, and the path for requests outside it.
func (t *Table) Eval(ctx context.Context, req *Request) (*Result, error) {
	return t.c.eval.eval(ctx, t.state.TenantID, t.answers.term, req)
}

// Builds counts the answer tables compiled so far (shared ones count once).
func (c *Compiler) Builds() int64 { return c.builds.Load() }

// Compile builds the table of a state; its answers are shared with every
// other state equal to it that is still in use.
func (c *Compiler) Compile(ctx context.Context, st TenantState) (*Table, error) {
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
	t := &Table{c: c, version: st.Version, timezone: st.Timezone, state: &st, until: math.MaxInt64}
	if !st.Until.IsZero() {
		t.until = st.Until.UnixNano()
	}
	if st.DPA != nil {
		t.dpa, t.dpaID = st.DPA.Version, st.DPA.ID
	}
	key := sha256.Sum256(doc)
	c.mu.Lock()
	if z, ok := c.zones[t.timezone]; ok {
		t.timezone = z
	} else {
		c.zones[t.timezone] = t.timezone
	}
	if w, ok := c.answers[key]; ok {
		t.answers = w.Value()
	}
	c.mu.Unlock()
	if t.answers == nil {
		v, err := ast.ValueFromReader(bytes.NewReader(doc))
		if err != nil {
			return nil, verwerker.Internal("policy: state", err)
		}
		a, err := c.build(ctx, t, ast.NewTerm(v))
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if w, ok := c.answers[key]; ok && w.Value() != nil {
			a = w.Value()
		} else {
			c.answers[key] = weak.Make(a)
		}
		c.mu.Unlock()
		t.answers = a
	}
	return t, nil
}

// build evaluates the policy over the finite scope of t's state.
func (c *Compiler) build(ctx context.Context, t *Table, term *ast.Term) (*answers, error) {
	start := time.Now()
	st := t.state
	a := &answers{term: term, subs: append([]string{""}, st.Subprocessors...), cat: make([]int, c.nc), pur: make([]int, c.np), reg: make([]int, c.nr)}
	t.answers = a
	var cats, purposes, regions []string
	for i, x := range c.taxonomy.Categories {
		a.cat[i] = -1
		if st.DPA != nil && (st.Status == TenantActive || st.Status == TenantTerminating) && !st.Erased {
			if _, ok := st.DPA.Categories[x.ID]; ok {
				a.cat[i] = len(cats)
				cats = append(cats, x.ID)
			}
		}
	}
	for i, p := range c.taxonomy.Purposes {
		a.pur[i] = -1
		if st.DPA != nil && slices.Contains(st.DPA.Purposes, p) {
			a.pur[i] = len(purposes)
			purposes = append(purposes, p)
		}
	}
	for i, r := range c.taxonomy.Regions {
		a.reg[i] = -1
		if st.DPA != nil && (slices.Contains(st.DPA.Regions, r.ID) || (r.EEA && slices.Contains(st.DPA.Regions, "eea"))) {
			a.reg[i] = len(regions)
			regions = append(regions, r.ID)
		}
	}
	a.np, a.nr = len(purposes), len(regions)
	a.cells = make([]*Result, len(cats)*len(purposes)*len(regions)*len(a.subs)*2)
	shared := map[string]*Result{}
	i := 0
	for _, cat := range cats {
		for _, p := range purposes {
			for _, r := range regions {
				for _, s := range a.subs {
					for _, minor := range []bool{false, true} {
						res, err := t.Eval(ctx, &Request{Category: cat, Purpose: p, Region: r, Subprocessor: s, SuspectedMinor: minor})
						if err != nil {
							return nil, verwerker.Internal("policy: compile", err)
						}
						k := res.key()
						if x, ok := shared[k]; ok {
							res = x
						} else {
							shared[k] = res
						}
						a.cells[i] = res
						i++
					}
				}
			}
		}
	}
	c.builds.Add(1)
	c.logger.Debug("policy: decision table compiled", "cells", len(a.cells), "distinct", len(shared), "took", time.Since(start).String())
	return a, nil
}

// Evaluate answers req for an arbitrary state with Rego, without a table:
// for tests and tools.
func (c *Compiler) Evaluate(ctx context.Context, st TenantState, req *Request) (*Result, error) {
	b, err := json.Marshal(&st)
	if err != nil {
		return nil, err
	}
	v, err := ast.ValueFromReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return c.eval.eval(ctx, st.TenantID, ast.NewTerm(v), req)
}

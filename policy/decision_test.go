package policy_test

import (
	"context"
	"io/fs"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/policy"
)

// TestRegoUnitTests runs the Rego unit tests (policy/rego/*_test.rego) with
// OPA's tester package, as `opa test policy/rego` does.
func TestRegoUnitTests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	modules := map[string]*ast.Module{}
	files, err := fs.Glob(policy.RegoFiles(), "*.rego")
	require.NoError(t, err)
	for _, name := range files {
		src, err := fs.ReadFile(policy.RegoFiles(), name)
		require.NoError(t, err)
		m, err := ast.ParseModuleWithOpts(name, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		require.NoError(t, err)
		modules[name] = m
	}
	ch, err := tester.NewRunner().SetModules(modules).RunTests(ctx, nil)
	require.NoError(t, err)
	n := 0
	for r := range ch {
		n++
		require.NoError(t, r.Error, r.Name)
		require.False(t, r.Fail, "%s failed", r.Name)
	}
	require.GreaterOrEqual(t, n, 10, "the Rego unit tests did not run")
}

// states are tenant states that exercise every rule.
func states() []policy.TenantState {
	scope := &policy.DPAState{Version: 3, ID: "dpa_a", Categories: map[string]policy.CategoryRule{
		"chat.message":   {Retention: dpa.Retention30DaysAfterLastInteraction},
		"chat.metadata":  {Retention: dpa.Retention30DaysAfterLastInteraction},
		"contact.email":  {Retention: dpa.RetentionContractEndPlus30Days},
		"special.health": {Retention: dpa.Retention30DaysAfterLastInteraction, Special: true},
	}, Purposes: []string{"service.delivery", "service.improvement", "security"}, Regions: []string{"eea", "us", "uk"},
		Transfers: map[string]string{"us": "sccs", "uk": "adequacy"}}
	narrow := &policy.DPAState{Version: 1, ID: "dpa_b", Categories: map[string]policy.CategoryRule{
		"billing.invoice": {Retention: dpa.RetentionStatutory7Years},
	}, Purposes: []string{"billing"}, Regions: []string{"nl", "de"}, Transfers: map[string]string{}}
	return []policy.TenantState{
		{TenantID: "tnt_a", Status: policy.TenantActive, DPA: scope, Subprocessors: []string{"hosting-eu", "mail-us"},
			Blocks: []policy.Block{{Subprocessor: "cdn-x", ChangeID: "chg_1", Categories: []string{"chat.message", "chat.metadata"}, Locations: []string{"eea", "us"}}}},
		{TenantID: "tnt_b", Status: policy.TenantActive, DPA: narrow, Subprocessors: []string{}},
		{TenantID: "tnt_c", Status: policy.TenantActive},
		{TenantID: "tnt_d", Status: policy.TenantEnded, DPA: scope},
		{TenantID: "tnt_f", Status: policy.TenantTerminating, DPA: narrow, Subprocessors: []string{"hosting-eu"}},
		{TenantID: "tnt_g", Status: policy.TenantTerminating, DPA: scope, Erased: true},
		{TenantID: "tnt_e", Status: policy.TenantActive, DPA: scope, Subprocessors: []string{"hosting-eu"},
			Blocks: []policy.Block{{Subprocessor: "hosting-de", ChangeID: "chg_2", Categories: []string{"contact.email"}, Locations: []string{"de"}}}},
	}
}

func newCompiler(t testing.TB) *policy.Compiler {
	c, err := policy.NewCompiler(context.Background(), dpa.PolicyTaxonomy(), nil)
	require.NoError(t, err)
	return c
}

// randomRequest draws a request from the state's scope half of the time,
// otherwise from the taxonomy, and sometimes from values outside it.
func randomRequest(r *rand.Rand, st policy.TenantState) policy.Request {
	tax := dpa.PolicyTaxonomy()
	var cats, regions []string
	for _, c := range tax.Categories {
		cats = append(cats, c.ID)
	}
	for _, x := range tax.Regions {
		regions = append(regions, x.ID)
	}
	purposes := tax.Purposes
	if st.DPA != nil && r.IntN(2) == 0 {
		cats = cats[:0]
		for c := range st.DPA.Categories {
			cats = append(cats, c)
		}
		slices.Sort(cats)
		purposes, regions = st.DPA.Purposes, append(st.DPA.Regions, "nl", "de")
	}
	pick := func(list []string, outside ...string) string {
		if r.IntN(10) == 0 {
			return outside[r.IntN(len(outside))]
		}
		return list[r.IntN(len(list))]
	}
	req := policy.Request{
		Category: pick(cats, "", "chat", "CHAT.MESSAGE", "special.unknown"),
		Purpose:  pick(purposes, "", "Marketing", "training"),
		Region:   pick(regions, "", "mars", "EEA", "us-east-1"),
	}
	switch r.IntN(6) {
	case 0:
		req.Subprocessor = "hosting-eu"
	case 1:
		req.Subprocessor = "mail-us"
	case 2:
		req.Subprocessor = []string{"cdn-x", "hosting-de", "unknown"}[r.IntN(3)]
	}
	if r.IntN(8) == 0 {
		req.SpecialCategory = []string{"special.health", "special.religion", "chat.message", "x"}[r.IntN(4)]
	}
	req.SuspectedMinor = r.IntN(5) == 0
	switch r.IntN(6) {
	case 0:
		req.Subject = &policy.Subject{Restricted: true}
	case 1:
		req.Subject = &policy.Subject{ObjectedPurposes: []string{tax.Purposes[r.IntN(len(tax.Purposes))], "marketing"}}
	case 2:
		req.Subject = &policy.Subject{}
	}
	return req
}

// TestDecisionTableMatchesRego is the differential test: thousands of
// random requests, inside and outside the taxonomy, answered by the
// compiled table (and its Rego fallback) and by Rego directly must give the
// same answer for the same reasons.
func TestDecisionTableMatchesRego(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCompiler(t)
	r := rand.New(rand.NewPCG(1, 2))
	fromTable := 0
	const n = 3000
	for _, st := range states() {
		td, err := c.Compile(ctx, st)
		require.NoError(t, err)
		for range n {
			req := randomRequest(r, st)
			want, err := td.Eval(ctx, &req)
			require.NoError(t, err)
			got, err := td.Decide(ctx, &req)
			require.NoError(t, err)
			require.True(t, want.Equal(got), "%s %+v:\ntable %+v\nrego  %+v", st.TenantID, req, got, want)
			if tr := td.Lookup(&req); tr != nil {
				fromTable++
				require.True(t, want.Equal(tr))
			}
		}
	}
	require.Greater(t, fromTable, n/3, "too few requests were answered from the table")
}

// TestTableOfATerminatingTenant: a terminating tenant's table holds until
// its contract ends (TenantState.Until) and answers as before from the
// table; the state compiled after the end denies everything and never
// expires. (That the decision service loads the state again at the end by
// its clock alone is decision's TestContractEndsWithoutARequest.)
func TestTableOfATerminatingTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	end := time.Date(2026, time.July, 16, 0, 0, 0, 0, time.UTC)
	scope := states()[1].DPA // narrow: invoices for billing in nl and de
	c := newCompiler(t)
	req := &policy.Request{Category: "billing.invoice", Purpose: "billing", Region: "nl"}

	td, err := c.Compile(ctx, policy.TenantState{TenantID: "tnt_x", Version: 7, Status: policy.TenantTerminating, Until: end, DPA: scope})
	require.NoError(t, err)
	require.Equal(t, end.UnixNano(), td.Until())
	require.Equal(t, int64(7), td.Version())
	res, err := td.Decide(ctx, req)
	require.NoError(t, err)
	require.True(t, res.Allow, "a terminating customer is processed as before")
	require.NotNil(t, td.Lookup(req), "and from the compiled table")
	require.False(t, td.Expired(end.Add(-time.Nanosecond)))
	require.True(t, td.Expired(end))

	after, err := c.Compile(ctx, policy.TenantState{TenantID: "tnt_x", Version: 7, Status: policy.TenantEnded, DPA: scope})
	require.NoError(t, err)
	res, err = after.Decide(ctx, req)
	require.NoError(t, err)
	require.False(t, res.Allow)
	require.Equal(t, []string{policy.ReasonContractTerminated}, res.ReasonCodes())
	require.False(t, after.Expired(end.Add(100*365*24*time.Hour)), "an ended state never expires")
}

// TestEqualStatesShareAnswers: customers on the same agreement template
// cost one compilation.
func TestEqualStatesShareAnswers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCompiler(t)
	st := states()[1]
	a, err := c.Compile(ctx, st)
	require.NoError(t, err)
	b, err := c.Compile(ctx, st)
	require.NoError(t, err)
	require.Equal(t, int64(1), c.Builds())
	st.Version++ // a version alone changes no answer
	_, err = c.Compile(ctx, st)
	require.NoError(t, err)
	require.Equal(t, int64(1), c.Builds())
	st.Status = policy.TenantTerminating
	_, err = c.Compile(ctx, st)
	require.NoError(t, err)
	require.Equal(t, int64(2), c.Builds(), "another state is another table")
	require.NotNil(t, a.Lookup(&policy.Request{Category: "billing.invoice", Purpose: "billing", Region: "nl"}))
	require.Same(t, a.Lookup(&policy.Request{Category: "billing.invoice", Purpose: "billing", Region: "nl"}),
		b.Lookup(&policy.Request{Category: "billing.invoice", Purpose: "billing", Region: "nl"}))
}

package policy

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/verwerker/verwerker/deadline"
)

// regoFiles holds the decision policy (decision.rego) and its Rego unit
// tests (decision_test.rego), which `opa test policy/rego` runs as well.
//
//go:embed rego/*.rego
var regoFiles embed.FS

// DecisionPolicy returns the Rego source of the decision policy.
func DecisionPolicy() []byte {
	b, err := regoFiles.ReadFile("rego/decision.rego")
	if err != nil {
		panic(err) // embedded at build time
	}
	return b
}

// RegoFiles returns the embedded Rego files, tests included.
func RegoFiles() fs.FS {
	sub, err := fs.Sub(regoFiles, "rego")
	if err != nil {
		panic(err)
	}
	return sub
}

// DecisionQuery is the query whose value is a decision.
const DecisionQuery = "data.verwerker.decision.result"

// Reason codes of decisions, in the order reasons are listed. Each reason
// also names its legal ground (Ref) and says why in a sentence (Message).
const (
	ReasonContractTerminated        = "contract_terminated"
	ReasonCustomerDataErased        = "customer_data_erased"
	ReasonNoActiveDPA               = "no_active_dpa"
	ReasonCategoryNotInScope        = "category_not_in_scope"
	ReasonSpecialCategoryNotAllowed = "special_category_not_allowed"
	ReasonPurposeNotInScope         = "purpose_not_in_scope"
	ReasonRegionNotInScope          = "region_not_in_scope"
	ReasonTransferBasisMissing      = "transfer_basis_missing"
	ReasonSubprocessorObjection     = "subprocessor_objection"
	ReasonSubprocessorNotAuthorised = "subprocessor_not_authorised"
	ReasonSubjectRestricted         = "subject_restricted"
	ReasonSubjectObjected           = "subject_objected"
	ReasonMinorServiceImprovement   = "minor_service_improvement"
	ReasonInScope                   = "in_scope"
)

// ReasonCodes lists every reason code in the order reasons are listed.
var ReasonCodes = []string{
	ReasonContractTerminated, ReasonCustomerDataErased, ReasonNoActiveDPA, ReasonCategoryNotInScope, ReasonSpecialCategoryNotAllowed,
	ReasonPurposeNotInScope, ReasonRegionNotInScope, ReasonTransferBasisMissing, ReasonSubprocessorObjection,
	ReasonSubprocessorNotAuthorised, ReasonSubjectRestricted, ReasonSubjectObjected, ReasonMinorServiceImprovement,
	ReasonInScope,
}

// Obligations of an allowed decision, in the order they are listed.
const (
	// ObligationRetention: keep the data no longer than the retention rule.
	ObligationRetention = "retention"
	// ObligationEncrypt: store the data encrypted under the tenant's key.
	ObligationEncrypt = "encrypt"
	// ObligationDeleteASAP: a suspected minor's data is deleted as soon as
	// possible (seed 000 art. 9.5): the decision service sets its deletion
	// deadline decision.MinorDeletionPeriod (24 hours) after the decision.
	ObligationDeleteASAP = "delete_asap"
	// ObligationNotifyController: the customer is told at once (seed 000
	// art. 9.5); verwerker sends the notice.
	ObligationNotifyController = "notify_controller"
)

// ObligationCodes lists every obligation in the order they are listed.
var ObligationCodes = []string{ObligationRetention, ObligationEncrypt, ObligationDeleteASAP, ObligationNotifyController}

// Contract statuses of a tenant, as the policy reads them. Processing is
// open while the contract runs (active, terminating); every other status
// denies everything.
const (
	// TenantActive: the contract runs, no termination recorded.
	TenantActive = "active"
	// TenantTerminating: notice of termination recorded, but the contract
	// runs through its last day: processing continues (seed 000 art. 8.3).
	TenantTerminating = "terminating"
	// TenantEnded: the contract's last day is over.
	TenantEnded = "ended"
)

// Taxonomy is what the decision policy knows of the fixed scope taxonomy
// (dpa.PolicyTaxonomy supplies it): the finite domain the compiled tables
// cover.
type Taxonomy struct {
	Categories []TaxonomyCategory
	Purposes   []string
	Regions    []TaxonomyRegion
}

// TaxonomyCategory is a data category; Special marks GDPR Art. 9 data.
type TaxonomyCategory struct {
	ID      string
	Special bool
}

// TaxonomyRegion is a region; EEA marks regions inside the European
// Economic Area, Adequacy third countries with an adequacy decision.
type TaxonomyRegion struct {
	ID       string
	EEA      bool
	Adequacy bool
}

// Document returns the taxonomy as the policy reads it at
// data.verwerker.taxonomy: objects keyed by id.
func (t Taxonomy) Document() map[string]any {
	cats, purposes, regions := map[string]any{}, map[string]any{}, map[string]any{}
	for _, c := range t.Categories {
		cats[c.ID] = map[string]any{"special": c.Special}
	}
	for _, p := range t.Purposes {
		purposes[p] = map[string]any{}
	}
	for _, r := range t.Regions {
		regions[r.ID] = map[string]any{"eea": r.EEA, "adequacy": r.Adequacy}
	}
	return map[string]any{"categories": cats, "purposes": purposes, "regions": regions}
}

// TenantState is everything about one customer that decisions read: its
// contract status, its active processing agreement, its effective
// subprocessors and the routes blocked by its objections. It changes only
// together with the tenant's decision_state version
// (store.TouchDecisionState), and with time: a terminating tenant's state
// holds only until its contract ends (Until).
type TenantState struct {
	// TenantID is the customer.
	TenantID string `json:"-"`
	// Version is the tenant's decision_state version this state was read at.
	Version int64 `json:"-"`
	// Timezone is the customer's time zone for deadlines.
	Timezone string `json:"-"`
	// Status is TenantActive, TenantTerminating or TenantEnded at the time
	// the state was read.
	Status string `json:"status"`
	// ContractEnd is the contract's last day once a termination is
	// recorded (in Timezone); nil while it runs without one.
	ContractEnd *deadline.Date `json:"-"`
	// Until is when this state stops being true without any change: the
	// instant a terminating tenant's contract ends. Zero: never.
	Until time.Time `json:"-"`
	// Erased says the customer's data was crypto-shredded; nothing can be
	// stored for it any more.
	Erased bool `json:"erased,omitempty"`
	// DPA is the active processing agreement; nil when there is none.
	DPA *DPAState `json:"dpa,omitempty"`
	// Subprocessors are the ids of the effective subprocessors, sorted.
	Subprocessors []string `json:"subprocessors"`
	// Blocks are the routes closed by open objections.
	Blocks []Block `json:"blocks"`
}

// DPAState is the active processing agreement as the policy reads it.
type DPAState struct {
	// Version is the version number, ID its id.
	Version int    `json:"version"`
	ID      string `json:"-"` // not read by the policy: equal scopes share a table
	// Categories maps each category in scope to its rule.
	Categories map[string]CategoryRule `json:"categories"`
	Purposes   []string                `json:"purposes"`
	Regions    []string                `json:"regions"`
	// Transfers maps each region outside the EEA to its transfer basis.
	Transfers map[string]string `json:"transfers"`
}

// CategoryRule is a category in scope: its retention rule and whether the
// agreement explicitly allows it as a special category (GDPR Art. 9).
type CategoryRule struct {
	Retention string `json:"retention"`
	Special   bool   `json:"special"`
}

// Block is an open objection to a subprocessor (GDPR Art. 28(2), (4)): it
// closes processing of its categories in its locations for the tenant.
type Block struct {
	Subprocessor string   `json:"subprocessor"`
	ChangeID     string   `json:"change_id"`
	Categories   []string `json:"categories"`
	Locations    []string `json:"locations"`
}

// Request is one question: may the chat service store data of Category for
// Purpose in Region?
type Request struct {
	Category string
	Purpose  string
	Region   string
	// Subprocessor optionally names the subprocessor the data will go
	// through; it must be on the tenant's effective list.
	Subprocessor string
	// SpecialCategory optionally names the special category (GDPR Art. 9)
	// the content was recognised as containing.
	SpecialCategory string
	// SuspectedMinor says the data was recognised as a minor's.
	SuspectedMinor bool
	// Subject is the data subject's state, when the request names one.
	Subject *Subject
}

// Subject is what the controller instructed about one data subject.
type Subject struct {
	// Restricted: processing is restricted (GDPR Art. 18).
	Restricted bool `json:"restricted"`
	// ObjectedPurposes are purposes the subject objected to (Art. 21).
	ObjectedPurposes []string `json:"objected_purposes"`
}

// Input returns the policy input for the request to tenantID, as an OPA
// server is asked (the tenant's state then comes from the data document).
func (r Request) Input(tenantID string) map[string]any {
	in := map[string]any{"tenant_id": tenantID, "category": r.Category, "purpose": r.Purpose, "region": r.Region}
	if r.Subprocessor != "" {
		in["subprocessor"] = r.Subprocessor
	}
	if r.SpecialCategory != "" {
		in["special_category"] = r.SpecialCategory
	}
	if r.SuspectedMinor {
		in["suspected_minor"] = true
	}
	if r.Subject != nil {
		objected := r.Subject.ObjectedPurposes
		if objected == nil {
			objected = []string{}
		}
		in["subject"] = map[string]any{"restricted": r.Subject.Restricted, "objected_purposes": objected}
	}
	return in
}

// value returns the input as an AST value with the tenant's state inlined.
func (r *Request) value(tenantID string, state *ast.Term) ast.Value {
	items := make([][2]*ast.Term, 0, 10)
	items = append(items,
		ast.Item(ast.InternedTerm("state"), state),
		ast.Item(ast.InternedTerm("tenant_id"), ast.StringTerm(tenantID)),
		ast.Item(ast.InternedTerm("category"), ast.StringTerm(r.Category)),
		ast.Item(ast.InternedTerm("purpose"), ast.StringTerm(r.Purpose)),
		ast.Item(ast.InternedTerm("region"), ast.StringTerm(r.Region)))
	if r.Subprocessor != "" {
		items = append(items, ast.Item(ast.InternedTerm("subprocessor"), ast.StringTerm(r.Subprocessor)))
	}
	if r.SpecialCategory != "" {
		items = append(items, ast.Item(ast.InternedTerm("special_category"), ast.StringTerm(r.SpecialCategory)))
	}
	if r.SuspectedMinor {
		items = append(items, ast.Item(ast.InternedTerm("suspected_minor"), ast.BooleanTerm(true)))
	}
	if r.Subject != nil {
		objected := make([]*ast.Term, len(r.Subject.ObjectedPurposes))
		for i, p := range r.Subject.ObjectedPurposes {
			objected[i] = ast.StringTerm(p)
		}
		items = append(items, ast.Item(ast.InternedTerm("subject"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("restricted"), ast.BooleanTerm(r.Subject.Restricted)),
			ast.Item(ast.InternedTerm("objected_purposes"), ast.ArrayTerm(objected...)))))
	}
	return ast.NewObject(items...)
}

// Reason is one ground of a decision.
type Reason struct {
	// Code is a machine code (the Reason* constants).
	Code string `json:"code"`
	// Ref is the legal ground: a GDPR article, a clause of the company's
	// terms, the agreement's version.
	Ref string `json:"ref"`
	// Message says it in an English sentence.
	Message string `json:"message"`
}

// Result is the policy's answer to one request. Results handed out by the
// engine are shared and must not be modified.
type Result struct {
	Allow bool
	// Reasons are sorted: by code in the order of ReasonCodes, then by ref.
	Reasons []Reason
	// Obligations are sorted in the order of ObligationCodes.
	Obligations []string
	// Retention is the retention rule of the category when allowed.
	Retention string
	// DPAVersion is the number of the agreement version that decided, or
	// 0 when none did (no active agreement, contract ended).
	DPAVersion int
}

// Equal reports whether r and o give the same answer for the same reasons.
func (r *Result) Equal(o *Result) bool {
	return r.Allow == o.Allow && r.Retention == o.Retention && r.DPAVersion == o.DPAVersion &&
		slices.Equal(r.Reasons, o.Reasons) && slices.Equal(r.Obligations, o.Obligations)
}

// key identifies the result's content, for sharing equal results.
func (r *Result) key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%t|%s|%d|%s", r.Allow, r.Retention, r.DPAVersion, strings.Join(r.Obligations, ","))
	for _, x := range r.Reasons {
		b.WriteString("|" + x.Code + "|" + x.Ref + "|" + x.Message)
	}
	return b.String()
}

// ReasonCodes returns the codes of the result's reasons, in order.
func (r *Result) ReasonCodes() []string {
	out := make([]string, len(r.Reasons))
	for i, x := range r.Reasons {
		out[i] = x.Code
	}
	return out
}

func rank(list []string, code string) int {
	if i := slices.Index(list, code); i >= 0 {
		return i
	}
	return len(list)
}

// ParseResult turns the value of DecisionQuery, as an OPA server or the Go
// library returns it (JSON-like), into a Result with its reasons and
// obligations in their fixed order.
func ParseResult(v any) (*Result, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("policy: decision is not an object")
	}
	out := &Result{}
	out.Allow, _ = m["allow"].(bool)
	out.Retention, _ = m["retention"].(string)
	switch n := m["dpa_version"].(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			return nil, fmt.Errorf("policy: dpa_version: %w", err)
		}
		out.DPAVersion = int(i)
	case float64:
		out.DPAVersion = int(n)
	case int:
		out.DPAVersion = n
	}
	reasons, _ := m["reasons"].([]any)
	for _, x := range reasons {
		o, _ := x.(map[string]any)
		code, _ := o["code"].(string)
		ref, _ := o["ref"].(string)
		msg, _ := o["message"].(string)
		if code == "" {
			return nil, errors.New("policy: a reason without a code")
		}
		out.Reasons = append(out.Reasons, Reason{Code: code, Ref: ref, Message: msg})
	}
	obligations, _ := m["obligations"].([]any)
	for _, x := range obligations {
		s, _ := x.(string)
		out.Obligations = append(out.Obligations, s)
	}
	slices.SortFunc(out.Reasons, func(a, b Reason) int {
		if d := rank(ReasonCodes, a.Code) - rank(ReasonCodes, b.Code); d != 0 {
			return d
		}
		if c := strings.Compare(a.Ref, b.Ref); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	slices.SortFunc(out.Obligations, func(a, b string) int {
		if d := rank(ObligationCodes, a) - rank(ObligationCodes, b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	if len(out.Reasons) == 0 || (out.Allow && (len(out.Reasons) != 1 || out.Reasons[0].Code != ReasonInScope)) {
		return nil, errors.New("policy: an allow needs the in_scope reason and a denial at least one reason")
	}
	return out, nil
}

// evaluator runs the decision policy with the Go library.
type evaluator struct {
	query rego.PreparedEvalQuery
}

func newEvaluator(ctx context.Context, tax Taxonomy) (*evaluator, error) {
	store := inmem.NewFromObjectWithOpts(map[string]any{"verwerker": map[string]any{"taxonomy": tax.Document()}}, inmem.OptReturnASTValuesOnRead(true))
	q, err := rego.New(
		rego.Query(DecisionQuery),
		rego.Module("decision.rego", string(DecisionPolicy())),
		rego.Store(store),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy: prepare the decision policy: %w", err)
	}
	return &evaluator{query: q}, nil
}

// eval asks Rego.
func (e *evaluator) eval(ctx context.Context, tenantID string, state *ast.Term, req *Request) (*Result, error) {
	rs, err := e.query.Eval(ctx, rego.EvalParsedInput(req.value(tenantID, state)))
	if err != nil {
		return nil, fmt.Errorf("policy: evaluate: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, errors.New("policy: the decision policy gave no result")
	}
	return ParseResult(rs[0].Expressions[0].Value)
}

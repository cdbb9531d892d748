package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/subject"
)

// DecisionItem is one question: may data of a category be stored for a
// purpose in a region?
type DecisionItem struct {
	Category        string `json:"category" maxLength:"64" doc:"Data category: chat.message, chat.metadata, contact.email, contact.phone, account.profile, billing.invoice, special.health, special.religion, special.ethnic_origin."`
	Purpose         string `json:"purpose" maxLength:"64" doc:"Purpose: service.delivery, service.improvement, security, billing, support, marketing."`
	Region          string `json:"region" maxLength:"16" doc:"Where the data is stored: eea, nl, be, de, fr, ie, fi, se, uk, ch, us, ca, jp, in."`
	Subprocessor    string `json:"subprocessor,omitempty" maxLength:"64" doc:"The subprocessor the data goes through, if any; it must be on the customer's effective list and not blocked by an objection."`
	SpecialCategory string `json:"special_category,omitempty" maxLength:"64" doc:"The special category of personal data (GDPR Art. 9) the content was recognised as containing, if any: allowed only where the agreement explicitly allows it."`
	SuspectedMinor  bool   `json:"suspected_minor,omitempty" doc:"The data was recognised as a minor's (seed 000 art. 9.5): never used to improve the service, deleted as soon as possible — within 24 hours of the decision (obligation delete_asap, deletion_due) unless a statutory retention period applies — and the customer is told at once (a subject.minor_suspected webhook, once per subject)."`
	SubjectRef      string `json:"subject_ref,omitempty" maxLength:"128" doc:"The chat service's pseudonymous reference of the data subject, for restrictions (GDPR Art. 18) and objections (Art. 21). Stored only as an HMAC; never logged or audited."`
}

func (i DecisionItem) request() decision.Request {
	return decision.Request{Category: i.Category, Purpose: i.Purpose, Region: i.Region, Subprocessor: i.Subprocessor,
		SpecialCategory: i.SpecialCategory, SuspectedMinor: i.SuspectedMinor, SubjectRef: i.SubjectRef}
}

// DecisionReason is one ground of a decision.
type DecisionReason struct {
	Code    string `json:"code" doc:"Machine code: in_scope, contract_terminated, customer_data_erased, no_active_dpa, category_not_in_scope, special_category_not_allowed, purpose_not_in_scope, region_not_in_scope, transfer_basis_missing, subprocessor_objection, subprocessor_not_authorised, subject_restricted, subject_objected, minor_service_improvement."`
	Ref     string `json:"ref" doc:"Legal ground: GDPR article, clause of the company's terms, agreement version."`
	Message string `json:"message" doc:"The reason in an English sentence."`
}

// DecisionObligations say how allowed data must be kept.
type DecisionObligations struct {
	Retention        string         `json:"retention" doc:"The category's retention rule: 30d_after_last_interaction, contract_end+30d or statutory_7y."`
	DeletionDeadline *deadline.Date `json:"deletion_deadline" doc:"Last day the data may be kept if nothing more happens, counted from now per Regulation 1182/71 in the customer's time zone; for contract_end+30d 30 days after the contract's last day once a termination is recorded (the customer's purge_due), null before; for a suspected minor's data (delete_asap) the day of deletion_due."`
	DeletionDue      *time.Time     `json:"deletion_due,omitempty" doc:"The instant the deletion deadline expires: the start of the day after the last day; for a suspected minor's data (delete_asap) exactly 24 hours after the decision (seed 000 art. 9.5: as soon as possible), unless the category is under statutory retention (statutory_7y, GDPR Art. 17(3)(b))."`
	KeyRef           string         `json:"key_ref" doc:"The key the data must be encrypted under."`
	Actions          []string       `json:"actions" nullable:"false" doc:"What the chat service must do: retention, encrypt, and for suspected minors delete_asap (within 24 hours: deletion_due) and notify_controller (verwerker sends the notice)."`
}

// DecisionResult is the answer to one question.
type DecisionResult struct {
	DecisionID   string               `json:"decision_id" doc:"Names the decision; denials are audited under it."`
	Allow        bool                 `json:"allow"`
	Reasons      []DecisionReason     `json:"reasons" nullable:"false" doc:"Why, in a fixed order; the same input always gives the same reasons."`
	Obligations  *DecisionObligations `json:"obligations,omitempty" doc:"Present when allowed."`
	DPAVersion   int                  `json:"dpa_version" doc:"The agreement version that decided; 0 when none is active."`
	DPAVersionID string               `json:"dpa_version_id,omitempty"`
	SubjectID    string               `json:"subject_id,omitempty" doc:"The subject's pseudonymous id, when verwerker has one on record."`
}

func decisionOut(d decision.Decision) DecisionResult {
	out := DecisionResult{DecisionID: d.ID, Allow: d.Allow, Reasons: make([]DecisionReason, len(d.Reasons)), DPAVersion: d.DPAVersion,
		DPAVersionID: d.DPAVersionID, SubjectID: d.SubjectID}
	for i, r := range d.Reasons {
		out.Reasons[i] = DecisionReason(r)
	}
	if o := d.Obligations; o != nil {
		out.Obligations = &DecisionObligations{Retention: o.Retention, KeyRef: o.KeyRef, Actions: o.Actions}
		if o.DeletionDeadline != nil {
			out.Obligations.DeletionDeadline, out.Obligations.DeletionDue = &o.DeletionDeadline.LastDay, &o.DeletionDeadline.Due
		}
	}
	return out
}

type decideInput struct {
	Body struct {
		TenantID string `json:"tenant_id" maxLength:"64" doc:"The customer (controller) the data belongs to. A chat service key may ask about its own tenant only (403 otherwise)."`
		DecisionItem
	}
}

type decideOutput struct {
	Body DecisionResult
}

type decideBatchInput struct {
	Body struct {
		TenantID string         `json:"tenant_id" maxLength:"64" doc:"The customer (controller) every item belongs to."`
		Items    []DecisionItem `json:"items" minItems:"1" doc:"The questions, at most 1000 (413 beyond)."`
	}
}

type decideBatchOutput struct {
	Body struct {
		Items []DecisionResult `json:"items" nullable:"false" doc:"The answers, in the order of the questions."`
	}
}

// exampleTenant is the tenant id in the request examples.
const exampleTenant = "tnt_01JD5X6Q9W3N2M8K7V4T0R1S2Y"

func exampleBody(v any) *huma.RequestBody {
	return &huma.RequestBody{Content: map[string]*huma.MediaType{"application/json": {Example: v}}}
}

// decisionVersion is the tenant's decision state version the caller's
// credential carried, or -1 when it carries none for this tenant.
func decisionVersion(ctx context.Context, tenantID string) int64 {
	if p, ok := verwerker.PrincipalFrom(ctx); ok && p.Domain == tenantID {
		return p.DecisionVersion
	}
	return -1
}

func (s *Server) decide(ctx context.Context, tenantID string, items []decision.Request) ([]decision.Decision, error) {
	if s.deps.Decisions == nil {
		return nil, verwerker.Errorf(verwerker.EUNAVAILABLE, "decisions are not available on this server")
	}
	if !verwerker.ValidID(verwerker.PrefixTenant, tenantID) {
		return nil, verwerker.Invalid("unknown tenant", verwerker.FieldError{Field: "tenant_id", Message: "must be a tenant id"})
	}
	if err := s.allowedIn(ctx, policy.PermDecide, tenantID); err != nil {
		return nil, err
	}
	return s.deps.Decisions.Decide(ctx, tenantID, decisionVersion(ctx, tenantID), items)
}

func (s *Server) registerDecisions() {
	const tag = "Decisions"
	item := map[string]any{"category": "chat.message", "purpose": "service.delivery", "region": "nl", "subject_ref": "visitor-7f3a9c"}
	single := map[string]any{"tenant_id": exampleTenant}
	for k, v := range item {
		single[k] = v
	}
	register(s, huma.Operation{
		OperationID: "decide",
		Method:      http.MethodPost,
		Path:        "/v1/decisions",
		Summary:     "Decide whether data may be stored",
		Description: "The chat service asks before storing anything: may this data category be stored for this purpose in this region for this customer? " +
			"Decided from the customer's active processing agreement and live state (contract, subprocessors and objections, the subject's restriction or objection). " +
			"Deny by default; every denial is audited, allows are counted per tenant, category and purpose. " +
			"The answer names its reasons with their legal ground, the obligations (retention rule, deletion deadline, key), the agreement version and a decision id.",
		Tags:         []string{tag},
		MaxBodyBytes: decideMaxBody,
		RequestBody:  exampleBody(single),
		Errors:       []int{http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable},
	}, policy.PermDecide, bodyTenantScope, func(ctx context.Context, in *decideInput) (*decideOutput, error) {
		ds, err := s.decide(ctx, in.Body.TenantID, []decision.Request{in.Body.DecisionItem.request()})
		if err != nil {
			return nil, err
		}
		return &decideOutput{Body: decisionOut(ds[0])}, nil
	})

	register(s, huma.Operation{
		OperationID: "decideBatch",
		Method:      http.MethodPost,
		Path:        "/v1/decisions/batch",
		Summary:     "Decide many questions at once",
		Description: "Up to " + strconv.Itoa(decision.MaxBatch) + " questions for one customer, answered in order as by POST /v1/decisions; " +
			"invalid fields are named body.items[i].<field>; more items is a 413. Each subject is looked up once.",
		Tags:         []string{tag},
		MaxBodyBytes: 1 << 20,
		RequestBody:  exampleBody(map[string]any{"tenant_id": exampleTenant, "items": []any{item}}),
		Errors:       []int{http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable},
	}, policy.PermDecide, bodyTenantScope, func(ctx context.Context, in *decideBatchInput) (*decideBatchOutput, error) {
		reqs := make([]decision.Request, len(in.Body.Items))
		for i, it := range in.Body.Items {
			reqs[i] = it.request()
		}
		ds, err := s.decide(ctx, in.Body.TenantID, reqs)
		if err != nil {
			return nil, err
		}
		out := &decideBatchOutput{}
		out.Body.Items = make([]DecisionResult, len(ds))
		for i, d := range ds {
			out.Body.Items[i] = decisionOut(d)
		}
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "instructSubject",
		Method:      http.MethodPut,
		Path:        "/v1/tenants/{tenant_id}/subjects/restrictions",
		Summary:     "Restrict or object for a data subject",
		Description: "The controller's instruction about one data subject, named by the chat service's pseudonymous reference: restrict processing (GDPR Art. 18) and/or the purposes the subject objected to (Art. 21). " +
			"It replaces the previous instruction (restricted=false and no purposes clear it) and takes effect on the next decision. Audited with the subject's id only.",
		Tags:         []string{tag},
		MaxBodyBytes: 8 << 10,
	}, policy.PermSubjectInstruct, tenantScope, func(ctx context.Context, in *instructInput) (*instructOutput, error) {
		if s.deps.Subjects == nil {
			return nil, verwerker.Errorf(verwerker.EUNAVAILABLE, "subjects are not available on this server")
		}
		st, err := s.deps.Subjects.Instruct(ctx, in.TenantID, in.Body.SubjectRef,
			subject.Instruction{Restricted: in.Body.Restricted, ObjectedPurposes: in.Body.ObjectedPurposes}, s.deps.Decisions.ValidPurpose)
		if err != nil {
			return nil, err
		}
		out := &instructOutput{}
		out.Body.SubjectID, out.Body.Restricted, out.Body.ObjectedPurposes, out.Body.UpdatedAt = st.ID, st.Restricted, st.ObjectedPurposes, st.UpdatedAt
		return out, nil
	})
}

type instructInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Body     struct {
		SubjectRef       string   `json:"subject_ref" maxLength:"128" doc:"The chat service's pseudonymous reference of the subject."`
		Restricted       bool     `json:"restricted" doc:"Restrict processing of the subject's data (GDPR Art. 18)."`
		ObjectedPurposes []string `json:"objected_purposes,omitempty" maxItems:"20" doc:"Purposes the subject objected to (GDPR Art. 21)."`
	}
}

type instructOutput struct {
	Body struct {
		SubjectID        string    `json:"subject_id"`
		Restricted       bool      `json:"restricted"`
		ObjectedPurposes []string  `json:"objected_purposes" nullable:"false"`
		UpdatedAt        time.Time `json:"updated_at"`
	}
}

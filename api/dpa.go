package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/policy"
)

// DPAScope is what a processing agreement version allows.
type DPAScope struct {
	Categories          []DPACategory `json:"categories" maxItems:"50" doc:"Data categories with their retention rule. Categories: chat.message, chat.metadata, contact.email, contact.phone, account.profile, billing.invoice; special categories (GDPR Art. 9, need special=true): special.health, special.religion, special.ethnic_origin."`
	Purposes            []string      `json:"purposes" maxItems:"20" doc:"Purposes: service.delivery, service.improvement, security, billing, support, marketing. No purpose implies another; marketing is in scope only when listed."`
	Regions             []string      `json:"regions,omitempty" maxItems:"30" doc:"Where data may be processed; default [eea]. EEA: eea, nl, be, de, fr, ie, fi, se. Outside the EEA (need a transfer): uk, ch, us, ca, jp (adequacy or sccs), in (sccs only)."`
	Transfers           []DPATransfer `json:"transfers,omitempty" maxItems:"30" doc:"The transfer basis of every region outside the EEA (GDPR Art. 44-46)."`
	Subprocessors       []string      `json:"subprocessors,omitempty" maxItems:"100" doc:"Ids of the authorised subprocessors."`
	ObjectionWindowDays int           `json:"objection_window_days,omitempty" doc:"Days the controller has to object to a change of subprocessors, 14 to 180; default 30."`
	BreachContact       DPAContact    `json:"breach_contact" doc:"Whom the processor notifies of a breach."`
	DPOContact          DPAContact    `json:"dpo_contact" doc:"The controller's data protection officer."`
}

// DPACategory is one data category in a scope.
type DPACategory struct {
	ID        string `json:"id" maxLength:"64" doc:"Data category."`
	Retention string `json:"retention,omitempty" maxLength:"64" doc:"Required. Retention rule: 30d_after_last_interaction, contract_end+30d or statutory_7y."`
	Special   bool   `json:"special,omitempty" doc:"Must be true for special categories of personal data (GDPR Art. 9), and only for them."`
}

// DPATransfer is the basis of processing in a region outside the EEA.
type DPATransfer struct {
	Region string `json:"region" maxLength:"16" doc:"Region outside the EEA."`
	Basis  string `json:"basis" maxLength:"16" doc:"adequacy (GDPR Art. 45, only where the Commission decided adequacy) or sccs (standard contractual clauses, Art. 46(2)(c))."`
}

// DPAContact is a person or function to reach.
type DPAContact struct {
	Name  string `json:"name,omitempty" maxLength:"200" doc:"Name or function."`
	Email string `json:"email" maxLength:"254" doc:"E-mail address."`
	Phone string `json:"phone,omitempty" maxLength:"32" doc:"International telephone number."`
}

// DPADocumentHashes are the SHA-256 hashes of the offered documents.
type DPADocumentHashes struct {
	NL string `json:"nl" doc:"SHA-256 (hex) of the Dutch document."`
	EN string `json:"en" doc:"SHA-256 (hex) of the English document."`
}

// DPAVersion is one version of a customer's processing agreement.
type DPAVersion struct {
	ID             string             `json:"id" example:"dpa_01JD5X6Q9W3N2M8K7V4T0R1S2Y" doc:"Version id."`
	TenantID       string             `json:"tenant_id" doc:"The customer (controller)."`
	Version        int                `json:"version" doc:"Version number, from 1 per customer."`
	Status         string             `json:"status" enum:"draft,offered,accepted,active,superseded,terminated" doc:"Lifecycle status."`
	ControllerName string             `json:"controller_name" doc:"The customer's name as it appears in the documents."`
	CreatedAt      time.Time          `json:"created_at"`
	CreatedBy      string             `json:"created_by" doc:"Principal id of who drafted it."`
	UpdatedAt      time.Time          `json:"updated_at"`
	OfferedAt      *time.Time         `json:"offered_at,omitempty"`
	DocumentSHA256 *DPADocumentHashes `json:"document_sha256,omitempty" doc:"Hashes of the documents fixed at the offer; the controller accepts one of them."`
	AcceptedAt     *time.Time         `json:"accepted_at,omitempty"`
	AcceptedBy     string             `json:"accepted_by,omitempty" doc:"Principal id of the controller's administrator who accepted."`
	AcceptedSHA256 string             `json:"accepted_sha256,omitempty" doc:"SHA-256 of the document accepted."`
	AcceptedLang   string             `json:"accepted_lang,omitempty" enum:"nl,en" doc:"Language of the document accepted."`
	ActivatedAt    *time.Time         `json:"activated_at,omitempty"`
	SupersededAt   *time.Time         `json:"superseded_at,omitempty"`
	TerminatedAt   *time.Time         `json:"terminated_at,omitempty"`
	Scope          *DPAScope          `json:"scope,omitempty" doc:"The scope; absent in lists."`
}

func dpaOut(v dpa.Version, withScope bool) DPAVersion {
	out := DPAVersion{ID: v.ID, TenantID: v.TenantID, Version: v.Number, Status: string(v.Status), ControllerName: v.ControllerName,
		CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy, UpdatedAt: v.UpdatedAt, OfferedAt: v.OfferedAt,
		AcceptedAt: v.AcceptedAt, AcceptedBy: v.AcceptedBy, AcceptedSHA256: v.AcceptedSHA256, AcceptedLang: v.AcceptedLang,
		ActivatedAt: v.ActivatedAt, SupersededAt: v.SupersededAt, TerminatedAt: v.TerminatedAt}
	if v.SHA256NL != "" {
		out.DocumentSHA256 = &DPADocumentHashes{NL: v.SHA256NL, EN: v.SHA256EN}
	}
	if withScope {
		sc := scopeOut(v.Scope)
		out.Scope = &sc
	}
	return out
}

func scopeOut(s dpa.Scope) DPAScope {
	out := DPAScope{Purposes: s.Purposes, Regions: s.Regions, Subprocessors: s.Subprocessors, ObjectionWindowDays: s.ObjectionWindowDays,
		BreachContact: DPAContact(s.BreachContact), DPOContact: DPAContact(s.DPOContact), Categories: []DPACategory{}}
	for _, c := range s.Categories {
		out.Categories = append(out.Categories, DPACategory(c))
	}
	for _, t := range s.Transfers {
		out.Transfers = append(out.Transfers, DPATransfer(t))
	}
	return out
}

func scopeIn(s DPAScope) dpa.Scope {
	out := dpa.Scope{Purposes: s.Purposes, Regions: s.Regions, Subprocessors: s.Subprocessors, ObjectionWindowDays: s.ObjectionWindowDays,
		BreachContact: dpa.Contact(s.BreachContact), DPOContact: dpa.Contact(s.DPOContact)}
	for _, c := range s.Categories {
		out.Categories = append(out.Categories, dpa.CategoryScope(c))
	}
	for _, t := range s.Transfers {
		out.Transfers = append(out.Transfers, dpa.Transfer(t))
	}
	return out
}

// scopeError locates a scope's field errors under body.scope.
func scopeError(err error) error { return fromErrorAt(err, "body.scope") }

type dpaBody struct {
	Body DPAVersion
}

type dpaScopeInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Body     struct {
		Scope DPAScope `json:"scope"`
	}
}

type dpaVersionPath struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Version  int    `path:"version" minimum:"1" maximum:"1000000" doc:"Version number."`
}

type dpaUpdateInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Version  int    `path:"version" minimum:"1" maximum:"1000000" doc:"Version number."`
	Body     struct {
		Scope DPAScope `json:"scope"`
	}
}

type dpaAcceptInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Version  int    `path:"version" minimum:"1" maximum:"1000000" doc:"Version number."`
	Body     struct {
		DocumentSHA256 string `json:"document_sha256" pattern:"^[0-9a-f]{64}$" patternDescription:"64 lowercase hex digits" doc:"SHA-256 of the document (Dutch or English) the controller read and accepts."`
	}
}

type dpaDocumentInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Version  int    `path:"version" minimum:"1" maximum:"1000000" doc:"Version number."`
	Lang     string `query:"lang" enum:"nl,en" default:"nl" doc:"Language of the document."`
}

type recordInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Lang     string `query:"lang" enum:"nl,en" default:"nl" doc:"Language of the page."`
}

type dpaList struct {
	Body struct {
		Items []DPAVersion `json:"items" nullable:"false"`
	}
}

// htmlPage is an HTML response with its digest (RFC 9530).
type htmlPage struct {
	ContentType string `header:"Content-Type"`
	Digest      string `header:"Repr-Digest" doc:"SHA-256 of the page (RFC 9530)."`
	Body        []byte
}

func newHTMLPage(page []byte, sumHex string) *htmlPage {
	sum, _ := hex.DecodeString(sumHex)
	return &htmlPage{ContentType: "text/html; charset=utf-8", Digest: "sha-256=:" + base64.StdEncoding.EncodeToString(sum) + ":", Body: page}
}

// DPARecordTransfer is a transfer outside the EEA with its safeguard.
type DPARecordTransfer struct {
	Region string `json:"region"`
	Basis  string `json:"basis" enum:"adequacy,sccs"`
}

// DPAProcessing is one category of processing in the record.
type DPAProcessing struct {
	Category  string   `json:"category"`
	Special   bool     `json:"special" doc:"A special category of personal data (GDPR Art. 9)."`
	Purposes  []string `json:"purposes"`
	Retention string   `json:"retention"`
}

// DPAMeasure is a security measure (GDPR Art. 32).
type DPAMeasure struct {
	ID          string `json:"id"`
	Description string `json:"description"`
}

// RecordOfProcessing is the processor's record of processing for one
// controller (GDPR Art. 30(2)).
type RecordOfProcessing struct {
	TenantID            string              `json:"tenant_id"`
	ControllerName      string              `json:"controller_name"`
	ProcessorName       string              `json:"processor_name"`
	ProcessorContact    string              `json:"processor_contact"`
	Active              bool                `json:"active" doc:"False when the controller has no active agreement: then nothing is processed on its behalf and the lists are empty."`
	DPAVersion          int                 `json:"dpa_version,omitempty"`
	DPAVersionID        string              `json:"dpa_version_id,omitempty"`
	ActiveSince         *time.Time          `json:"active_since,omitempty"`
	ControllerDPO       *DPAContact         `json:"controller_dpo,omitempty"`
	Processing          []DPAProcessing     `json:"processing" nullable:"false" doc:"Categories of processing (Art. 30(2)(b))."`
	Regions             []string            `json:"regions" nullable:"false"`
	Transfers           []DPARecordTransfer `json:"transfers" nullable:"false" doc:"Transfers to third countries and their safeguards (Art. 30(2)(c))."`
	Subprocessors       []string            `json:"subprocessors" nullable:"false" doc:"Ids of the subprocessors that touch the controller's data now."`
	SubprocessorDetails []Subprocessor      `json:"subprocessor_details" nullable:"false" doc:"Their registry entries: service, locations and transfer mechanism."`
	SecurityMeasures    []DPAMeasure        `json:"security_measures" nullable:"false" doc:"Technical and organisational security measures (Art. 30(2)(d), 32(1))."`
	GeneratedAt         time.Time           `json:"generated_at"`
}

type recordBody struct {
	Body RecordOfProcessing
}

func recordSubprocessorsOut(list []dpa.SubprocessorEntry) []Subprocessor {
	out := make([]Subprocessor, 0, len(list))
	for _, s := range list {
		out = append(out, Subprocessor(s))
	}
	return out
}

func recordOut(r dpa.Record) RecordOfProcessing {
	out := RecordOfProcessing{TenantID: r.TenantID, ControllerName: r.ControllerName, ProcessorName: r.Processor.Name,
		ProcessorContact: r.Processor.Contact, Active: r.Active, DPAVersion: r.DPAVersion, DPAVersionID: r.DPAVersionID,
		ActiveSince: r.ActiveSince, Processing: []DPAProcessing{}, Regions: r.Regions, Transfers: []DPARecordTransfer{},
		Subprocessors: r.Subprocessors, SubprocessorDetails: recordSubprocessorsOut(r.SubprocessorDetails), SecurityMeasures: []DPAMeasure{}, GeneratedAt: r.GeneratedAt}
	if r.Active {
		c := DPAContact(r.ControllerDPO)
		out.ControllerDPO = &c
	}
	for _, p := range r.Processing {
		out.Processing = append(out.Processing, DPAProcessing{Category: p.Category, Special: p.Special, Purposes: p.Purposes, Retention: p.Retention})
	}
	for _, t := range r.Transfers {
		out.Transfers = append(out.Transfers, DPARecordTransfer(t))
	}
	for _, m := range r.Security {
		out.SecurityMeasures = append(out.SecurityMeasures, DPAMeasure{ID: m.ID, Description: m.EN})
	}
	return out
}

func htmlResponses(desc string) map[string]*huma.Response {
	return map[string]*huma.Response{"200": {Description: desc, Content: map[string]*huma.MediaType{
		"text/html": {Schema: &huma.Schema{Type: "string"}}}}}
}

func (s *Server) registerDPA() {
	const tag = "Processing agreements"
	versionOp := func(id, method, path, summary, desc string) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: "/v1/tenants/{tenant_id}/dpa/versions" + path,
			Summary: summary, Description: desc, Tags: []string{tag}}
	}

	op := versionOp("createDPAVersion", http.MethodPost, "", "Draft a processing agreement version",
		"Stores the customer's next version as a draft. The scope is checked against the fixed taxonomy; every offending field is named (body.scope.categories[2].id).")
	op.DefaultStatus, op.MaxBodyBytes, op.Errors = http.StatusCreated, 64<<10, []int{http.StatusConflict, http.StatusRequestEntityTooLarge}
	register(s, op, policy.PermDPAWrite, tenantScope, func(ctx context.Context, in *dpaScopeInput) (*dpaBody, error) {
		v, err := s.deps.DPA.Create(ctx, in.TenantID, scopeIn(in.Body.Scope))
		if err != nil {
			return nil, scopeError(err)
		}
		return &dpaBody{Body: dpaOut(v, true)}, nil
	})

	register(s, versionOp("listDPAVersions", http.MethodGet, "", "List processing agreement versions",
		"Lists the customer's versions, newest first, without their scope."),
		policy.PermDPAList, tenantScope, func(ctx context.Context, in *tenantPath) (*dpaList, error) {
			vs, err := s.deps.DPA.List(ctx, in.TenantID)
			if err != nil {
				return nil, err
			}
			drafts := s.seesDrafts(ctx, in.TenantID)
			out := &dpaList{}
			out.Body.Items = make([]DPAVersion, 0, len(vs))
			for _, v := range vs {
				if v.Status == dpa.StatusDraft && !drafts {
					continue
				}
				out.Body.Items = append(out.Body.Items, dpaOut(v, false))
			}
			return out, nil
		})

	register(s, versionOp("getDPAVersion", http.MethodGet, "/{version}", "Get a processing agreement version", ""),
		policy.PermDPARead, tenantScope, func(ctx context.Context, in *dpaVersionPath) (*dpaBody, error) {
			v, err := s.deps.DPA.Get(ctx, in.TenantID, in.Version)
			if err != nil {
				return nil, err
			}
			if v.Status == dpa.StatusDraft && !s.seesDrafts(ctx, in.TenantID) {
				return nil, errDraftHidden
			}
			return &dpaBody{Body: dpaOut(v, true)}, nil
		})

	op = versionOp("updateDPAVersion", http.MethodPut, "/{version}", "Edit a draft",
		"Replaces the scope of a draft. Offered and accepted versions never change (409): make a new version.")
	op.MaxBodyBytes, op.Errors = 64<<10, []int{http.StatusConflict, http.StatusRequestEntityTooLarge}
	register(s, op, policy.PermDPAWrite, tenantScope, func(ctx context.Context, in *dpaUpdateInput) (*dpaBody, error) {
		v, err := s.deps.DPA.Update(ctx, in.TenantID, in.Version, scopeIn(in.Body.Scope))
		if err != nil {
			return nil, scopeError(err)
		}
		return &dpaBody{Body: dpaOut(v, true)}, nil
	})

	for _, t := range []struct {
		id, path, summary, desc string
		fn                      func(context.Context, string, int) (dpa.Version, error)
	}{
		{"offerDPAVersion", "/offer", "Offer a draft to the customer",
			"Fixes the draft: renders its Dutch and English documents, stores them with their SHA-256 and offers the version for acceptance.", s.deps.DPA.Offer},
		{"activateDPAVersion", "/activate", "Activate an accepted version",
			"Makes the accepted version the customer's active one and supersedes the previous active version at once. Of concurrent activations exactly one succeeds; the others get 409.", s.deps.DPA.Activate},
		{"terminateDPAVersion", "/terminate", "Terminate a version",
			"Ends an offered, accepted or active version. Without an active version nothing is processed on the customer's behalf.", s.deps.DPA.Terminate},
	} {
		op := versionOp(t.id, http.MethodPost, "/{version}"+t.path, t.summary, t.desc)
		op.Errors = []int{http.StatusConflict}
		register(s, op, policy.PermDPAWrite, tenantScope, func(ctx context.Context, in *dpaVersionPath) (*dpaBody, error) {
			v, err := t.fn(ctx, in.TenantID, in.Version)
			if err != nil {
				return nil, err
			}
			return &dpaBody{Body: dpaOut(v, true)}, nil
		})
	}

	op = versionOp("acceptDPAVersion", http.MethodPost, "/{version}/accept", "Accept an offered version",
		"The customer's administrator accepts the document it read, named by its SHA-256 (from the document's Repr-Digest or the version's document_sha256). A hash of neither offered document is a 409. Who accepted, when and which text are recorded and never change.")
	op.MaxBodyBytes, op.Errors = 4<<10, []int{http.StatusConflict}
	register(s, op, policy.PermDPAAccept, tenantScope, func(ctx context.Context, in *dpaAcceptInput) (*dpaBody, error) {
		v, err := s.deps.DPA.Accept(ctx, in.TenantID, in.Version, in.Body.DocumentSHA256)
		if err != nil {
			return nil, err
		}
		return &dpaBody{Body: dpaOut(v, true)}, nil
	})

	op = versionOp("getDPADocument", http.MethodGet, "/{version}/document", "Read a version's document",
		"The agreement as HTML in Dutch or English, generated from the scope. From the offer on it is exactly the text offered; Repr-Digest carries its SHA-256 for acceptance. A draft is marked as such.")
	op.Responses = htmlResponses("The document.")
	register(s, op, policy.PermDPARead, tenantScope, func(ctx context.Context, in *dpaDocumentInput) (*htmlPage, error) {
		if !s.seesDrafts(ctx, in.TenantID) {
			v, err := s.deps.DPA.Get(ctx, in.TenantID, in.Version)
			if err != nil {
				return nil, err
			}
			if v.Status == dpa.StatusDraft {
				return nil, errDraftHidden
			}
		}
		doc, sum, err := s.deps.DPA.Document(ctx, in.TenantID, in.Version, in.Lang)
		if err != nil {
			return nil, fromErrorAt(err, "query")
		}
		return newHTMLPage(doc, sum), nil
	})

	register(s, huma.Operation{
		OperationID: "getRecordOfProcessing",
		Method:      http.MethodGet,
		Path:        "/v1/tenants/{tenant_id}/dpa/record-of-processing",
		Summary:     "Get the record of processing",
		Description: "The processor's record of processing activities for this controller (GDPR Art. 30(2)), generated from its active agreement version. HTML: record-of-processing.html.",
		Tags:        []string{tag},
	}, policy.PermDPARead, tenantScope, func(ctx context.Context, in *tenantPath) (*recordBody, error) {
		r, err := s.deps.DPA.Record(ctx, in.TenantID)
		if err != nil {
			return nil, err
		}
		return &recordBody{Body: recordOut(r)}, nil
	})

	register(s, huma.Operation{
		OperationID: "getRecordOfProcessingHTML",
		Method:      http.MethodGet,
		Path:        "/v1/tenants/{tenant_id}/dpa/record-of-processing.html",
		Summary:     "Read the record of processing as a page",
		Description: "The record of processing (GDPR Art. 30(2)) as printable HTML in Dutch or English.",
		Tags:        []string{tag},
		Responses:   htmlResponses("The record of processing."),
	}, policy.PermDPARead, tenantScope, func(ctx context.Context, in *recordInput) (*htmlPage, error) {
		r, err := s.deps.DPA.Record(ctx, in.TenantID)
		if err != nil {
			return nil, err
		}
		page, err := dpa.RenderRecord(r, in.Lang)
		if err != nil {
			return nil, fromErrorAt(err, "query")
		}
		sum := sha256Hex(page)
		return newHTMLPage(page, sum), nil
	})
}

// errDraftHidden answers a customer asking for a draft: drafts are the
// processor's work in progress until offered.
var errDraftHidden = verwerker.Errorf(verwerker.ENOTFOUND, "processing agreement version not found")

// seesDrafts reports whether the caller may see the tenant's drafts: only
// the processor's side, who may write them.
func (s *Server) seesDrafts(ctx context.Context, tenantID string) bool {
	p, ok := verwerker.PrincipalFrom(ctx)
	if !ok || s.deps.Authz == nil {
		return false
	}
	allowed, err := s.deps.Authz.Allowed(ctx, p, policy.PermDPAWrite, tenantID)
	return err == nil && allowed
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/records"
)

// RecordItem is one record to store.
type RecordItem struct {
	SubjectRef      string          `json:"subject_ref" maxLength:"128" doc:"The chat service's pseudonymous reference of the data subject. Stored only as an HMAC; never logged or audited."`
	Kind            string          `json:"kind" enum:"chat.conversation,chat.message,admin.account,admin.user,admin.login_event,admin.invoice" doc:"What the record is."`
	ConversationID  string          `json:"conversation_id,omitempty" maxLength:"64" doc:"For a chat.message: the id of its chat.conversation record (of the same subject)."`
	Category        string          `json:"category" maxLength:"64" doc:"Data category, as for POST /v1/decisions."`
	Purpose         string          `json:"purpose" maxLength:"64" doc:"Purpose, as for POST /v1/decisions."`
	Region          string          `json:"region" maxLength:"16" doc:"Region, as for POST /v1/decisions."`
	Subprocessor    string          `json:"subprocessor,omitempty" maxLength:"64" doc:"The subprocessor the data goes through, if any."`
	SpecialCategory string          `json:"special_category,omitempty" maxLength:"64" doc:"The special category (GDPR Art. 9) the content was recognised as containing, if any."`
	SuspectedMinor  bool            `json:"suspected_minor,omitempty" doc:"The data was recognised as a minor's (seed 000 art. 9.5): the record is due for deletion 24 hours after it is written (delete_after), unless its category is under statutory retention."`
	Content         json.RawMessage `json:"content" doc:"The record: a JSON object or string, at most 65536 bytes. Sealed with the subject's data key before it is stored; returned only by the subject's export."`
}

// StoredRecord describes a stored record.
type StoredRecord struct {
	RecordID      string     `json:"record_id"`
	SubjectID     string     `json:"subject_id" doc:"The subject's pseudonymous id."`
	DecisionID    string     `json:"decision_id" doc:"The decision that allowed the write (the same decision POST /v1/decisions makes)."`
	DPAVersion    int        `json:"dpa_version"`
	Retention     string     `json:"retention" doc:"The retention rule from the decision's obligations."`
	DeleteAfter   *time.Time `json:"delete_after,omitempty" doc:"When the record is due for deletion: from its decision's obligations (24 hours after the write for a suspected minor's record); absent for contract_end+30d while the contract's end is not known."`
	CreatedAt     time.Time  `json:"created_at"`
	SealedWithKey string     `json:"sealed_with" doc:"How the content is sealed: AES-256-GCM under the subject's data key, wrapped by the tenant key."`
}

type writeRecordsInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Body     struct {
		Items []RecordItem `json:"items" minItems:"1" maxItems:"1000" doc:"The records, at most 1000 and 8 MiB; stored all or nothing."`
	}
}

type writeRecordsOutput struct {
	Body struct {
		Items []StoredRecord `json:"items" nullable:"false" doc:"The stored records, in the order of the request."`
	}
}

type subjectRefInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Body     struct {
		SubjectRef string `json:"subject_ref" maxLength:"128" doc:"The chat service's pseudonymous reference of the subject."`
	}
}

// DeletionCertificate proves an erasure: what, how many, when, which key
// versions were destroyed, and the hash of the audit event.
type DeletionCertificate struct {
	ID                   string           `json:"id"`
	TenantID             string           `json:"tenant_id"`
	Scope                string           `json:"scope" enum:"subject,tenant"`
	SubjectID            string           `json:"subject_id,omitempty" doc:"The erased subject's pseudonymous id (scope subject)."`
	What                 map[string]int64 `json:"what" doc:"Erased records per kind."`
	Records              int64            `json:"records"`
	Subjects             int64            `json:"subjects"`
	KeyVersionsDestroyed []int            `json:"key_versions_destroyed" nullable:"false" doc:"Tenant key versions of the destroyed keys: the version the subject's data key was wrapped under, or every version of the destroyed tenant key."`
	KeyName              string           `json:"key_name,omitempty" doc:"The destroyed tenant key (scope tenant)."`
	ErasedAt             time.Time        `json:"erased_at" doc:"When the data became unreadable."`
	AuditSeq             int64            `json:"audit_seq" doc:"The erasure's event in the tenant's audit chain."`
	AuditHash            string           `json:"audit_hash" doc:"Hex SHA-256 hash of that event (verify with GET /v1/tenants/{tenant_id}/audit)."`
	RowsPurgedAt         *time.Time       `json:"rows_purged_at,omitempty" doc:"When the background purge deleted the last sealed row."`
}

func certificateOut(c records.Certificate) DeletionCertificate {
	return DeletionCertificate{ID: c.ID, TenantID: c.TenantID, Scope: c.Scope, SubjectID: c.SubjectID, What: c.What, Records: c.Records,
		Subjects: c.Subjects, KeyVersionsDestroyed: c.KeyVersionsDestroyed, KeyName: c.KeyName, ErasedAt: c.ErasedAt,
		AuditSeq: c.AuditSeq, AuditHash: hex.EncodeToString(c.AuditHash), RowsPurgedAt: c.RowsPurgedAt}
}

type certificateOutput struct {
	Body DeletionCertificate
}

type listCertificatesInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Cursor   string `query:"cursor" maxLength:"64" doc:"Cursor from the previous page's next_cursor."`
	Limit    int    `query:"limit" minimum:"1" maximum:"500" default:"100" doc:"Page size."`
}

type certificatePath struct {
	TenantID      string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	CertificateID string `path:"certificate_id" maxLength:"64" doc:"Deletion certificate id."`
}

type listCertificatesOutput struct {
	Body struct {
		Items      []DeletionCertificate `json:"items" nullable:"false" doc:"Newest first."`
		NextCursor string                `json:"next_cursor,omitempty" doc:"Pass as cursor to get the next page; absent on the last page."`
	}
}

// SubjectExport documents the export stream (Art. 20, machine-readable).
type SubjectExport struct {
	Format     string           `json:"format" doc:"verwerker.subject-export/v1"`
	TenantID   string           `json:"tenant_id"`
	SubjectID  string           `json:"subject_id"`
	ExportedAt time.Time        `json:"exported_at"`
	Records    []ExportedRecord `json:"records" doc:"Every record of the subject in creation order, decrypted."`
	Count      int              `json:"count" doc:"The number of records; written last, so a truncated stream is recognised."`
}

// ExportedRecord is one record in an export.
type ExportedRecord struct {
	ID             string     `json:"id"`
	Kind           string     `json:"kind"`
	ConversationID string     `json:"conversation_id,omitempty"`
	Category       string     `json:"category"`
	Purpose        string     `json:"purpose"`
	Region         string     `json:"region"`
	DPAVersion     int        `json:"dpa_version"`
	DecisionID     string     `json:"decision_id"`
	Retention      string     `json:"retention"`
	DeleteAfter    *time.Time `json:"delete_after,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	Content        any        `json:"content" doc:"The record as stored: a JSON object or string."`
}

func (s *Server) records() (*records.Store, error) {
	if s.deps.Records == nil {
		return nil, verwerker.Errorf(verwerker.EUNAVAILABLE, "records are not available on this server")
	}
	return s.deps.Records, nil
}

// erase runs an erasure and answers its certificate.
func (s *Server) erase(fn func(*records.Store) (records.Certificate, error)) (*certificateOutput, error) {
	st, err := s.records()
	if err != nil {
		return nil, err
	}
	c, err := fn(st)
	if err != nil {
		return nil, err
	}
	return &certificateOutput{Body: certificateOut(c)}, nil
}

// exportWriteTimeout bounds how long one subject export may take to send.
const exportWriteTimeout = 15 * time.Minute

func (s *Server) registerRecords() {
	const tag = "Records"
	example := map[string]any{"items": []any{map[string]any{"subject_ref": "visitor-7f3a9c", "kind": "chat.message", "category": "chat.message",
		"purpose": "service.delivery", "region": "nl", "content": map[string]any{"text": "Hallo, ik heb een vraag over mijn bestelling."}}}}
	register(s, huma.Operation{
		OperationID: "writeRecords",
		Method:      http.MethodPost,
		Path:        "/v1/tenants/{tenant_id}/records",
		Summary:     "Store chat or admin records",
		Description: "Stores records sealed with the subject's data key (AES-256-GCM; the key is made by Vault Transit under the tenant key and only its wrapped form is stored). " +
			"Every item is decided exactly as POST /v1/decisions decides it, inside the write: the customer's decision state and the subject's instructions are locked until the records commit. " +
			"If any item is denied nothing is stored, the answer is a 403 naming the decision and its reasons, and the denial is audited. " +
			"Each record keeps its category, purpose, region, agreement version, decision id and retention deadline. " +
			"If Vault is unavailable the answer is a 503 with Retry-After and nothing is stored.",
		Tags:          []string{tag},
		DefaultStatus: http.StatusCreated,
		MaxBodyBytes:  8 << 20,
		RequestBody:   exampleBody(example),
		Errors:        []int{http.StatusRequestEntityTooLarge, http.StatusConflict, http.StatusServiceUnavailable},
	}, policy.PermRecordWrite, tenantScope, func(ctx context.Context, in *writeRecordsInput) (*writeRecordsOutput, error) {
		st, err := s.records()
		if err != nil {
			return nil, err
		}
		items := make([]records.Item, len(in.Body.Items))
		for i, it := range in.Body.Items {
			items[i] = records.Item{SubjectRef: it.SubjectRef, Kind: it.Kind, ConversationID: it.ConversationID, Category: it.Category,
				Purpose: it.Purpose, Region: it.Region, Subprocessor: it.Subprocessor, SpecialCategory: it.SpecialCategory,
				SuspectedMinor: it.SuspectedMinor, Content: it.Content}
		}
		stored, err := st.Write(ctx, in.TenantID, decisionVersion(ctx, in.TenantID), items)
		if err != nil {
			return nil, err
		}
		out := &writeRecordsOutput{}
		out.Body.Items = make([]StoredRecord, len(stored))
		for i, r := range stored {
			out.Body.Items[i] = StoredRecord{RecordID: r.ID, SubjectID: r.SubjectID, DecisionID: r.DecisionID, DPAVersion: r.DPAVersion,
				Retention: r.RetentionRule, DeleteAfter: r.DeleteAfter, CreatedAt: r.CreatedAt, SealedWithKey: "aes-256-gcm/subject-data-key"}
		}
		return out, nil
	})

	exportSchema := s.api.OpenAPI().Components.Schemas.Schema(reflect.TypeOf(SubjectExport{}), true, "SubjectExport")
	register(s, huma.Operation{
		OperationID: "exportSubject",
		Method:      http.MethodPost,
		Path:        "/v1/tenants/{tenant_id}/subjects/export",
		Summary:     "Export a data subject's records",
		Description: "Streams every record of the subject, decrypted, as one JSON document (GDPR Art. 15 and 20), without buffering the data set. " +
			"The subject's data key is unwrapped once (one Vault request at most, however many records). 404 when no subject has the reference; " +
			"503 with Retry-After when Vault is unavailable (before any byte is sent). The export is audited with the subject's id.",
		Tags:         []string{tag},
		MaxBodyBytes: 8 << 10,
		RequestBody:  exampleBody(map[string]any{"subject_ref": "visitor-7f3a9c"}),
		Responses: map[string]*huma.Response{"200": {Description: "The export document, streamed.",
			Content: map[string]*huma.MediaType{"application/json": {Schema: exportSchema}}}},
		Errors: []int{http.StatusServiceUnavailable},
	}, policy.PermRecordExport, tenantScope, func(ctx context.Context, in *subjectRefInput) (*huma.StreamResponse, error) {
		st, err := s.records()
		if err != nil {
			return nil, err
		}
		exp, err := st.OpenExport(ctx, in.TenantID, in.Body.SubjectRef)
		if err != nil {
			return nil, err
		}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			defer exp.Close()
			started := false
			_, err := exp.WriteTo(hctx.Context(), func() io.Writer {
				started = true
				// A large export may take longer than the server's write
				// timeout; it gets its own.
				_, w := humago.Unwrap(hctx)
				_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(exportWriteTimeout))
				hctx.SetHeader("Content-Type", "application/json")
				hctx.SetHeader("Cache-Control", "no-store")
				hctx.SetStatus(http.StatusOK)
				return hctx.BodyWriter()
			})
			if err == nil {
				return
			}
			if ri := infoFrom(hctx.Context()); ri != nil {
				ri.cause = logCause(err)
			}
			if !started {
				p := fromError(err)
				p.Instance = instance(RequestID(hctx.Context()))
				for k, v := range p.headers {
					hctx.SetHeader(k, v[0])
				}
				_ = huma.WriteErr(s.api, hctx, p.Status, p.Detail)
			}
			// Once started, the document stays unterminated: no "count".
		}}, nil
	})

	register(s, huma.Operation{
		OperationID: "eraseSubject",
		Method:      http.MethodPost,
		Path:        "/v1/tenants/{tenant_id}/subjects/erasure",
		Summary:     "Erase a data subject (crypto-shredding)",
		Description: "Erases every record of the subject (GDPR Art. 17): its wrapped data key is deleted in the transaction that marks it erased, so its records are unreadable at once; " +
			"a background job deletes the sealed rows; the next key rotation makes copies of the key in database backups useless (see the README's erasure horizon). " +
			"The reference is unlinked, so a returning visitor becomes a new subject. Answers the deletion certificate, whose audit hash names the erasure's audit event.",
		Tags:         []string{tag},
		MaxBodyBytes: 8 << 10,
		RequestBody:  exampleBody(map[string]any{"subject_ref": "visitor-7f3a9c"}),
		Errors:       []int{http.StatusServiceUnavailable},
	}, policy.PermRecordErase, tenantScope, func(ctx context.Context, in *subjectRefInput) (*certificateOutput, error) {
		return s.erase(func(st *records.Store) (records.Certificate, error) {
			return st.EraseSubject(ctx, in.TenantID, in.Body.SubjectRef)
		})
	})

	register(s, huma.Operation{
		OperationID: "eraseTenant",
		Method:      http.MethodPost,
		Path:        "/v1/tenants/{tenant_id}/erasure",
		Summary:     "Erase a customer's data (crypto-shredding)",
		Description: "Destroys the customer's tenant key in Vault, so every wrapped data key of the customer, in the database and in every backup, is useless (GDPR Art. 28(3)(g)); " +
			"then deletes the wrapped keys, marks the customer erased (decisions for it are denied with customer_data_erased from then on) and certifies the erasure; a background job deletes the sealed rows. " +
			"A notice of termination is not the end of the contract: the data can be erased once the contract has ended (status ended), " +
			"and before that (status terminating) only on the instruction of the customer's own controller_admin with confirm: erase_before_contract_end, " +
			"which is audited (tenant.erase_instruction) before anything is destroyed; without it the answer is 409 naming the contract's last day, and the confirmation from anyone else is a 403. " +
			"A customer whose contract was not terminated is a 409. " +
			"Running it again returns the first certificate; a 503 (Vault unavailable) leaves the customer's keys unusable and completes when retried.",
		Tags:   []string{tag},
		Errors: []int{http.StatusConflict, http.StatusServiceUnavailable},
	}, policy.PermTenantErase, tenantScope, func(ctx context.Context, in *eraseTenantInput) (*certificateOutput, error) {
		req := records.TenantErasure{}
		if in.Body != nil {
			req.Confirm = in.Body.Confirm
		}
		if req.Confirm != "" {
			// The early erasure is the customer's instruction: only its
			// controller_admin may give it.
			p, _ := verwerker.PrincipalFrom(ctx)
			ok, err := s.deps.Authz.Allowed(ctx, p, policy.PermTenantEraseEarly, in.TenantID)
			if err != nil {
				return nil, &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "the access policy cannot be checked now", Err: err}
			}
			if !ok {
				s.recordDenial(ctx, p, "eraseTenant", policy.PermTenantEraseEarly, in.TenantID)
				return nil, &verwerker.Error{Code: verwerker.EFORBIDDEN, Message: "only the customer's controller_admin can instruct the erasure of its data before its contract ends",
					Fields: []verwerker.FieldError{{Field: "confirm", Message: "is the customer's instruction: only its controller_admin may give it"}}}
			}
		}
		return s.erase(func(st *records.Store) (records.Certificate, error) { return st.EraseTenant(ctx, in.TenantID, req) })
	})

	register(s, huma.Operation{
		OperationID: "listDeletionCertificates",
		Method:      http.MethodGet,
		Path:        "/v1/tenants/{tenant_id}/deletion-certificates",
		Summary:     "List deletion certificates",
		Description: "The customer's deletion certificates, newest first: subject erasures and the customer's own erasure.",
		Tags:        []string{tag},
	}, policy.PermCertificateRead, tenantScope, func(ctx context.Context, in *listCertificatesInput) (*listCertificatesOutput, error) {
		st, err := s.records()
		if err != nil {
			return nil, err
		}
		list, err := st.Certificates(ctx, in.TenantID, in.Cursor, in.Limit+1)
		if err != nil {
			return nil, err
		}
		out := &listCertificatesOutput{}
		out.Body.Items, out.Body.NextCursor = page(list, in.Limit, func(c records.Certificate) string { return c.ID }, certificateOut)
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "getDeletionCertificate",
		Method:      http.MethodGet,
		Path:        "/v1/tenants/{tenant_id}/deletion-certificates/{certificate_id}",
		Summary:     "Get a deletion certificate",
		Description: "One of the customer's deletion certificates by its id, as the erasure answered it, with rows_purged_at once the background purge has deleted the sealed rows. " +
			"404 when the customer has no certificate of that id.",
		Tags: []string{tag},
	}, policy.PermCertificateRead, tenantScope, func(ctx context.Context, in *certificatePath) (*certificateOutput, error) {
		st, err := s.records()
		if err != nil {
			return nil, err
		}
		c, err := st.Certificate(ctx, in.TenantID, in.CertificateID)
		if err != nil {
			return nil, err
		}
		return &certificateOutput{Body: certificateOut(c)}, nil
	})
}

// eraseTenantInput is a customer erasure: the tenant, and optionally the
// customer's instruction to erase before its contract ends.
type eraseTenantInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Body     *struct {
		Confirm string `json:"confirm,omitempty" enum:"erase_before_contract_end" doc:"The customer's controller_admin's explicit instruction to erase all of the customer's data before its contract ends (while its status is terminating), naming the consequence: the data is destroyed at once and irrecoverably, and nothing more can be stored for the customer, although the contract runs until its last day. Not needed once the contract has ended; refused (403) from anyone but the customer's controller_admin."`
	} `required:"false"`
}

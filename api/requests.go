package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/dsr"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/records"
)

// DSRequest is a data-subject request as the controller and the DPO see it:
// ids, states and dates, never the requester's address.
type DSRequest struct {
	ID              string              `json:"id"`
	TenantID        string              `json:"tenant_id"`
	Type            string              `json:"type" enum:"access,rectification,erasure,restriction,portability,objection"`
	State           string              `json:"state" enum:"received,forwarded,awaiting_instruction,in_progress,waiting_on_subject,completed,rejected,duplicate,failed"`
	Source          string              `json:"source" enum:"subject,controller"`
	Matched         bool                `json:"matched" doc:"Whether verwerker found the subject; unmatched requests are forwarded all the same."`
	SubjectID       string              `json:"subject_id,omitempty" doc:"The matched subject's pseudonymous id."`
	ReceivedAt      time.Time           `json:"received_at" doc:"Receipt: starts the statutory clock."`
	DueLastDay      string              `json:"due_last_day" doc:"The last day of the period (Regulation 1182/71, the customer's calendar), after extension and pauses."`
	DueAt           time.Time           `json:"due_at" doc:"The instant the period ends: midnight after due_last_day in the customer's time zone."`
	ForwardDueAt    time.Time           `json:"forward_due_at" doc:"verwerker's own forwarding service level (one working day)."`
	ForwardedAt     *time.Time          `json:"forwarded_at,omitempty" doc:"When a notice to the controller was delivered."`
	ExtensionMonths int                 `json:"extension_months"`
	ExtensionReason string              `json:"extension_reason,omitempty"`
	PausedAt        *time.Time          `json:"paused_at,omitempty"`
	PausedSeconds   int64               `json:"paused_seconds" doc:"Time spent waiting on the subject, by which the deadline shifted."`
	Overdue         bool                `json:"overdue"`
	DuplicateOf     string              `json:"duplicate_of,omitempty"`
	RejectReason    string              `json:"reject_reason,omitempty"`
	Instruction     *dsr.Instruction    `json:"instruction,omitempty"`
	Progress        int                 `json:"progress" doc:"Percentage of the running execution."`
	ExportDone      int                 `json:"export_done" doc:"Records the running (or finished) export has written so far."`
	ExportTotal     int                 `json:"export_total" doc:"Records the export will write."`
	CertificateID   string              `json:"certificate_id,omitempty" doc:"The deletion certificate of a completed erasure (GET /v1/tenants/{tenant_id}/certificates/{certificate_id})."`
	Kept            map[string]dsr.Kept `json:"kept,omitempty" doc:"What an erasure kept, per data category, and why (legal hold, statutory retention)."`
	Failure         string              `json:"failure,omitempty" doc:"What could not succeed (codes); retry with POST .../retry."`
	Timeline        []DSRStep           `json:"timeline,omitempty"`
}

// DSRStep is one step of a request's timeline.
type DSRStep struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
}

func requestOut(r dsr.Request, steps []dsr.Step, now time.Time) DSRequest {
	out := DSRequest{ID: r.ID, TenantID: r.TenantID, Type: string(r.Type), State: string(r.State), Source: r.Source, Matched: r.SubjectID != "",
		SubjectID: r.SubjectID, ReceivedAt: r.ReceivedAt, DueLastDay: r.Due.LastDay.String(), DueAt: r.Due.Due, ForwardDueAt: r.ForwardDueAt,
		ForwardedAt: r.ForwardedAt, ExtensionMonths: r.ExtensionMonths, ExtensionReason: r.ExtensionReason, PausedAt: r.PausedAt,
		PausedSeconds: int64(r.PausedFor / time.Second), Overdue: r.Overdue(now), DuplicateOf: r.DuplicateOf, RejectReason: r.RejectReason,
		Instruction: r.Instruction, Progress: r.Progress, ExportDone: r.ExportDone, ExportTotal: r.ExportTotal, CertificateID: r.CertificateID, Kept: r.Kept, Failure: r.Failure}
	for _, st := range steps {
		out.Timeline = append(out.Timeline, DSRStep(st))
	}
	return out
}

type requestOutput struct {
	Body DSRequest
}

type requestPath struct {
	TenantID  string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	RequestID string `path:"request_id" maxLength:"64" doc:"Request id."`
}

type submitInput struct {
	Body struct {
		TenantID   string `json:"tenant_id" maxLength:"64" doc:"The customer (website) you chatted with, as named on its privacy page."`
		Type       string `json:"type" enum:"access,rectification,erasure,restriction,portability,objection"`
		Email      string `json:"email" maxLength:"254" doc:"Where the verification code is sent, and where you are told of the request."`
		SubjectRef string `json:"subject_ref,omitempty" maxLength:"128" doc:"The visitor reference the chat showed you, if you have it."`
		Language   string `json:"language,omitempty" enum:"nl,en" doc:"The language of the e-mails (default en)."`
		Details    string `json:"details,omitempty" maxLength:"4000" doc:"Anything the controller should know."`
		Incorrect  string `json:"incorrect,omitempty" maxLength:"4000" doc:"Rectification (required): which of your data is wrong."`
		Correct    string `json:"correct,omitempty" maxLength:"4000" doc:"Rectification (required): the correct value."`
		Grounds    string `json:"grounds,omitempty" maxLength:"4000" doc:"Objection (required): the grounds relating to your particular situation (GDPR Art. 21(1))."`
	}
}

type submitOutput struct {
	Status int
	Body   struct {
		VerificationID string    `json:"verification_id"`
		ExpiresAt      time.Time `json:"expires_at"`
		Message        string    `json:"message"`
	}
}

type verifyInput struct {
	VerificationID string `path:"verification_id" maxLength:"64"`
	Body           struct {
		Code string `json:"code" maxLength:"6" doc:"The six-digit code from the e-mail."`
	}
}

type verifyOutput struct {
	Body struct {
		RequestID string `json:"request_id"`
		Message   string `json:"message"`
	}
}

type createRequestInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Body     struct {
		Type       string     `json:"type" enum:"access,rectification,erasure,restriction,portability,objection"`
		SubjectRef string     `json:"subject_ref,omitempty" maxLength:"128" doc:"The chat service's reference of the subject; matched, never stored."`
		ReceivedAt *time.Time `json:"received_at,omitempty" doc:"When the request reached you: starts the clock (default now)."`
		Email      string     `json:"email,omitempty" maxLength:"254" doc:"The subject's address, when verwerker should tell the subject of the request's steps."`
		Language   string     `json:"language,omitempty" enum:"nl,en"`
	}
}

type listRequestsInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Open     bool   `query:"open" doc:"Only open requests."`
	Limit    int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type requestList struct {
	Body struct {
		Items []DSRequest `json:"items" nullable:"false"`
	}
}

type instructRequestInput struct {
	TenantID  string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	RequestID string `path:"request_id" maxLength:"64" doc:"Request id."`
	Body      struct {
		Action           string          `json:"action" enum:"export,erase,rectify,restrict,lift_restriction,object,reject"`
		Corrections      []DSRCorrection `json:"corrections,omitempty" maxItems:"100" doc:"For rectify: the records to correct and their new content. Applied at once (the records are re-sealed) and not kept on the request."`
		Reason           string          `json:"reason,omitempty" maxLength:"1000" doc:"For reject: the reason, passed to the subject."`
		ObjectedPurposes []string        `json:"objected_purposes,omitempty" maxItems:"32" doc:"For object: the purposes objected to."`
	}
}

// DSRCorrection is the new content of one record.
type DSRCorrection struct {
	RecordID string          `json:"record_id" maxLength:"64"`
	Content  json.RawMessage `json:"content" doc:"A JSON object or string, at most 65536 bytes."`
}

type extendInput struct {
	TenantID  string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	RequestID string `path:"request_id" maxLength:"64" doc:"Request id."`
	Body      struct {
		Months int    `json:"months" minimum:"1" maximum:"2" doc:"The extension in total: 1 or 2 months (GDPR Art. 12(3))."`
		Reason string `json:"reason" maxLength:"1000" doc:"Why; passed to the subject."`
	}
}

type retryAllOutput struct {
	Body struct {
		Retried int `json:"retried"`
	}
}

func (s *Server) requests() (*dsr.Service, error) {
	if s.deps.Requests == nil {
		return nil, verwerker.Errorf(verwerker.EUNAVAILABLE, "data-subject requests are not available on this server")
	}
	return s.deps.Requests, nil
}

func (s *Server) now() time.Time {
	if s.deps.Clock != nil {
		return s.deps.Clock.Now()
	}
	return time.Now()
}

func (s *Server) registerRequests() {
	const tag = "Data-subject requests"
	register(s, huma.Operation{OperationID: "submitRequest", Method: http.MethodPost, Path: "/v1/public/requests", DefaultStatus: http.StatusAccepted,
		Summary: "File a data-subject request (public)", Tags: []string{tag}, MaxBodyBytes: 16 << 10,
		Description: "For a data subject: names the customer you chatted with, the right you exercise and your e-mail address, to which a one-time code is sent (valid 15 minutes, 3 attempts). " +
			"Nothing happens and nothing is kept beyond what verification needs until the code is verified. Limited per client address and per e-mail address: 429 with Retry-After.",
		Errors: []int{http.StatusTooManyRequests, http.StatusServiceUnavailable}},
		Public, platformScope, func(ctx context.Context, in *submitInput) (*submitOutput, error) {
			svc, err := s.requests()
			if err != nil {
				return nil, err
			}
			addr := ""
			if ri := infoFrom(ctx); ri != nil {
				addr = ri.client
			}
			p, err := svc.Submit(ctx, dsr.Submission{TenantID: in.Body.TenantID, Type: dsr.Type(in.Body.Type), Email: in.Body.Email,
				SubjectRef: in.Body.SubjectRef, Language: in.Body.Language, Details: in.Body.Details,
				Incorrect: in.Body.Incorrect, Correct: in.Body.Correct, Grounds: in.Body.Grounds, ClientAddr: addr})
			if err != nil {
				return nil, err
			}
			out := &submitOutput{Status: http.StatusAccepted}
			out.Body.VerificationID, out.Body.ExpiresAt = p.VerificationID, p.ExpiresAt
			out.Body.Message = "A code was sent to the address given. Verify it with POST /v1/public/requests/{verification_id}/verify."
			return out, nil
		})
	register(s, huma.Operation{OperationID: "verifyRequest", Method: http.MethodPost, Path: "/v1/public/requests/{verification_id}/verify",
		Summary: "Verify a data-subject request (public)", Tags: []string{tag}, MaxBodyBytes: 1 << 10,
		Description: "The code from the e-mail turns the submission into a request, forwarded to the controller at once. A wrong or expired code is a 422 (the third wrong code ends the submission). " +
			"The answer does not say whether verwerker holds data about you."},
		Public, platformScope, func(ctx context.Context, in *verifyInput) (*verifyOutput, error) {
			svc, err := s.requests()
			if err != nil {
				return nil, err
			}
			r, err := svc.Verify(ctx, in.VerificationID, in.Body.Code)
			if err != nil {
				return nil, err
			}
			out := &verifyOutput{}
			out.Body.RequestID = r.ID
			out.Body.Message = "Your request was received and is forwarded to the organisation you chatted with, which decides on it."
			return out, nil
		})
	register(s, huma.Operation{OperationID: "createRequest", Method: http.MethodPost, Path: "/v1/tenants/{tenant_id}/requests", DefaultStatus: http.StatusCreated,
		Summary: "Record a data-subject request the controller received", Tags: []string{tag}, MaxBodyBytes: 8 << 10,
		Description: "A request that reached you directly (or your own): its actual date of receipt starts the clock of one month (GDPR Art. 12(3), Regulation 1182/71, your calendar and time zone)."},
		policy.PermRequestCreate, tenantScope, func(ctx context.Context, in *createRequestInput) (*requestOutput, error) {
			svc, err := s.requests()
			if err != nil {
				return nil, err
			}
			intake := dsr.Intake{Type: dsr.Type(in.Body.Type), SubjectRef: in.Body.SubjectRef, Email: in.Body.Email, Language: in.Body.Language}
			if in.Body.ReceivedAt != nil {
				intake.ReceivedAt = *in.Body.ReceivedAt
			}
			r, err := svc.Create(ctx, in.TenantID, intake)
			if err != nil {
				return nil, err
			}
			return s.requestWithTimeline(ctx, svc, r.TenantID, r.ID)
		})
	register(s, huma.Operation{OperationID: "listRequests", Method: http.MethodGet, Path: "/v1/tenants/{tenant_id}/requests",
		Summary: "List data-subject requests by deadline", Tags: []string{tag}},
		policy.PermRequestRead, tenantScope, func(ctx context.Context, in *listRequestsInput) (*requestList, error) {
			svc, err := s.requests()
			if err != nil {
				return nil, err
			}
			list, err := svc.List(ctx, in.TenantID, in.Open, in.Limit)
			if err != nil {
				return nil, err
			}
			out := &requestList{}
			out.Body.Items = []DSRequest{}
			now := s.now()
			for _, r := range list {
				out.Body.Items = append(out.Body.Items, requestOut(r, nil, now))
			}
			return out, nil
		})
	register(s, huma.Operation{OperationID: "getRequest", Method: http.MethodGet, Path: "/v1/tenants/{tenant_id}/requests/{request_id}",
		Summary: "Read a data-subject request and its timeline", Tags: []string{tag}},
		policy.PermRequestRead, tenantScope, func(ctx context.Context, in *requestPath) (*requestOutput, error) {
			svc, err := s.requests()
			if err != nil {
				return nil, err
			}
			return s.requestWithTimeline(ctx, svc, in.TenantID, in.RequestID)
		})
	register(s, huma.Operation{OperationID: "instructRequest", Method: http.MethodPost, Path: "/v1/tenants/{tenant_id}/requests/{request_id}/instructions",
		Summary: "Instruct on a data-subject request", Tags: []string{tag}, MaxBodyBytes: 8 << 10,
		Description: "The controller's instruction: export (a ZIP built in the background), rectify (the corrected records are re-sealed at once), erase (crypto-shredding, respecting legal and statutory holds; a deletion certificate), " +
			"restrict, lift_restriction or object (the decision engine applies them at once), or reject with a reason passed to the subject. Audited with who instructed what, when."},
		policy.PermRequestInstruct, tenantScope, func(ctx context.Context, in *instructRequestInput) (*requestOutput, error) {
			svc, err := s.requests()
			if err != nil {
				return nil, err
			}
			var valid func(string) bool
			if s.deps.Decisions != nil {
				valid = s.deps.Decisions.ValidPurpose
			}
			var corrections []records.Correction
			for _, c := range in.Body.Corrections {
				corrections = append(corrections, records.Correction{RecordID: c.RecordID, Content: c.Content})
			}
			if _, err := svc.Instruct(ctx, in.TenantID, in.RequestID, dsr.Instruction{Action: dsr.Action(in.Body.Action), Reason: in.Body.Reason,
				ObjectedPurposes: in.Body.ObjectedPurposes, Corrections: corrections}, valid); err != nil {
				return nil, err
			}
			return s.requestWithTimeline(ctx, svc, in.TenantID, in.RequestID)
		})
	register(s, huma.Operation{OperationID: "extendRequest", Method: http.MethodPost, Path: "/v1/tenants/{tenant_id}/requests/{request_id}/extension",
		Summary: "Extend a request's deadline", Tags: []string{tag}, MaxBodyBytes: 4 << 10,
		Description: "By up to two further months in total, with a reason passed to the subject (GDPR Art. 12(3))."},
		policy.PermRequestInstruct, tenantScope, func(ctx context.Context, in *extendInput) (*requestOutput, error) {
			svc, err := s.requests()
			if err != nil {
				return nil, err
			}
			if _, err := svc.Extend(ctx, in.TenantID, in.RequestID, in.Body.Months, in.Body.Reason); err != nil {
				return nil, err
			}
			return s.requestWithTimeline(ctx, svc, in.TenantID, in.RequestID)
		})
	for _, op := range []struct {
		id, path, summary string
		fn                func(*dsr.Service) func(context.Context, string, string) (dsr.Request, error)
	}{
		{"pauseRequest", "pause", "Pause a request's clock while waiting on the subject", func(d *dsr.Service) func(context.Context, string, string) (dsr.Request, error) { return d.Pause }},
		{"resumeRequest", "resume", "Resume a paused request (its deadline shifts by the paused time)", func(d *dsr.Service) func(context.Context, string, string) (dsr.Request, error) { return d.Resume }},
	} {
		register(s, huma.Operation{OperationID: op.id, Method: http.MethodPost, Path: "/v1/tenants/{tenant_id}/requests/{request_id}/" + op.path,
			Summary: op.summary, Tags: []string{tag}},
			policy.PermRequestInstruct, tenantScope, func(ctx context.Context, in *requestPath) (*requestOutput, error) {
				svc, err := s.requests()
				if err != nil {
					return nil, err
				}
				if _, err := op.fn(svc)(ctx, in.TenantID, in.RequestID); err != nil {
					return nil, err
				}
				return s.requestWithTimeline(ctx, svc, in.TenantID, in.RequestID)
			})
	}
	register(s, huma.Operation{OperationID: "downloadRequestExport", Method: http.MethodGet, Path: "/v1/tenants/{tenant_id}/requests/{request_id}/export",
		Summary: "Download a request's export (ZIP)", Tags: []string{tag},
		Description: "records.json (machine-readable, GDPR Art. 20), a CSV per record kind and summary.txt (Dutch or English). Only the tenant's own roles; 404 once the link expired (7 days).",
		Responses:   map[string]*huma.Response{"200": {Description: "The ZIP.", Content: map[string]*huma.MediaType{"application/zip": {}}}}},
		policy.PermRequestInstruct, tenantScope, func(ctx context.Context, in *requestPath) (*huma.StreamResponse, error) {
			svc, err := s.requests()
			if err != nil {
				return nil, err
			}
			zip, err := svc.Download(ctx, in.TenantID, in.RequestID)
			if err != nil {
				return nil, err
			}
			return &huma.StreamResponse{Body: func(hctx huma.Context) {
				hctx.SetHeader("Content-Type", "application/zip")
				hctx.SetHeader("Content-Disposition", `attachment; filename="`+in.RequestID+`.zip"`)
				hctx.SetHeader("Cache-Control", "no-store")
				hctx.SetStatus(http.StatusOK)
				_, _ = bytes.NewReader(zip).WriteTo(hctx.BodyWriter())
			}}, nil
		})
	register(s, huma.Operation{OperationID: "retryRequest", Method: http.MethodPost, Path: "/v1/tenants/{tenant_id}/requests/{request_id}/retry",
		Summary: "Retry what failed on a request", Tags: []string{tag},
		Description: "Sends its undelivered notices again and runs a failed execution again: the one-call retry of its alarm."},
		policy.PermRequestRetry, tenantScope, func(ctx context.Context, in *requestPath) (*requestOutput, error) {
			svc, err := s.requests()
			if err != nil {
				return nil, err
			}
			if _, err := svc.Retry(ctx, in.TenantID, in.RequestID); err != nil {
				return nil, err
			}
			return s.requestWithTimeline(ctx, svc, in.TenantID, in.RequestID)
		})
	register(s, huma.Operation{OperationID: "retryFailedRequests", Method: http.MethodPost, Path: "/v1/requests/retry-failed",
		Summary: "Retry every failed request", Tags: []string{tag}},
		policy.PermRequestRetry, platformScope, func(ctx context.Context, _ *struct{}) (*retryAllOutput, error) {
			svc, err := s.requests()
			if err != nil {
				return nil, err
			}
			n, err := svc.RetryFailed(ctx)
			if err != nil {
				return nil, err
			}
			out := &retryAllOutput{}
			out.Body.Retried = n
			return out, nil
		})
	register(s, huma.Operation{OperationID: "requestRegister", Method: http.MethodGet, Path: "/v1/requests/register",
		Summary: "Export the register of data-subject requests (CSV)", Tags: []string{tag},
		Description: "Every customer's requests: ids, types, states, dates and whether they were answered in time. No personal data.",
		Responses:   map[string]*huma.Response{"200": {Description: "The register.", Content: map[string]*huma.MediaType{"text/csv": {}}}}},
		policy.PermRequestRead, platformScope, func(ctx context.Context, _ *struct{}) (*huma.StreamResponse, error) {
			svc, err := s.requests()
			if err != nil {
				return nil, err
			}
			var buf bytes.Buffer
			if err := svc.WriteRegister(ctx, "*", &buf); err != nil {
				return nil, err
			}
			return &huma.StreamResponse{Body: func(hctx huma.Context) {
				hctx.SetHeader("Content-Type", "text/csv; charset=utf-8")
				hctx.SetHeader("Content-Disposition", `attachment; filename="requests.csv"`)
				hctx.SetStatus(http.StatusOK)
				_, _ = buf.WriteTo(hctx.BodyWriter())
			}}, nil
		})
}

func (s *Server) requestWithTimeline(ctx context.Context, svc *dsr.Service, tenantID, id string) (*requestOutput, error) {
	r, steps, err := svc.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	return &requestOutput{Body: requestOut(r, steps, s.now())}, nil
}

// requestAlarms adds the data-subject requests that failed or are overdue.
func (s *Server) requestAlarms(ctx context.Context, items *[]Alarm) error {
	if s.deps.Requests == nil {
		return nil
	}
	failed, err := s.deps.Requests.Failed(ctx)
	if err != nil {
		return err
	}
	for _, r := range failed {
		*items = append(*items, Alarm{Kind: alarmRequestFailed, Severity: "critical", Since: r.FailedAt, TenantID: r.TenantID, RequestID: r.ID,
			Message: fmt.Sprintf("A step of data-subject request %s of customer %s could not succeed (%s). Fix the cause (the customer's webhook endpoint, SMTP_URL, Vault) and retry: POST /v1/tenants/%s/requests/%s/retry (or POST /v1/requests/retry-failed for all).",
				r.ID, r.TenantID, r.Failure, r.TenantID, r.ID)})
	}
	overdue, err := s.deps.Requests.Overdue(ctx)
	if err != nil {
		return err
	}
	for _, r := range overdue {
		due := r.Due.Due
		*items = append(*items, Alarm{Kind: alarmRequestOverdue, Severity: "critical", Since: &due, TenantID: r.TenantID, RequestID: r.ID,
			Message: fmt.Sprintf("Data-subject request %s (%s) of customer %s is past its deadline of %s and is %s.", r.ID, r.Type, r.TenantID, r.Due.LastDay, r.State)})
	}
	return nil
}

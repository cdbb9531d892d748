package api

import (
	"context"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/retention"
)

// RetentionRule is one retention rule of a customer with its legal ground.
type RetentionRule struct {
	Category   string `json:"category" doc:"The data category, or * for every category."`
	Kind       string `json:"kind,omitempty" doc:"The record kind the rule is limited to (the statutory rule for invoices)."`
	Code       string `json:"code" doc:"The rule's code, as in the decision's obligations."`
	Trigger    string `json:"trigger" enum:"last_interaction,creation,contract_end,minor_flag" doc:"The event the period runs from."`
	Period     string `json:"period"`
	Action     string `json:"action" doc:"crypto_shred_and_purge: the subject's data key is destroyed once none of its records remains, and the rows are deleted."`
	Source     string `json:"source" enum:"agreement,law"`
	DPAVersion int    `json:"dpa_version,omitempty" doc:"The agreement version the rule comes from."`
	Ground     string `json:"ground" doc:"The legal ground: contract clause or statute."`
	Overrides  string `json:"overrides,omitempty" doc:"Which shorter rule this one beats."`
}

// LegalHold is a legal hold: the data it covers is never deleted while it holds.
type LegalHold struct {
	ID         string     `json:"id"`
	TenantID   string     `json:"tenant_id"`
	Scope      string     `json:"scope" enum:"subject,category,tenant"`
	SubjectID  string     `json:"subject_id,omitempty" doc:"The held subject's pseudonymous id (scope subject)."`
	Category   string     `json:"category,omitempty" doc:"The held data category (scope category)."`
	Reason     string     `json:"reason"`
	Owner      string     `json:"owner" doc:"Who answers for the hold: a role or team."`
	ReviewOn   string     `json:"review_on" format:"date" doc:"The day by which the hold must be reviewed; past it, GET /v1/alarms flags the hold."`
	PastReview bool       `json:"past_review"`
	PlacedBy   string     `json:"placed_by" doc:"The principal id that placed it."`
	PlacedAt   time.Time  `json:"placed_at"`
	LiftedAt   *time.Time `json:"lifted_at,omitempty"`
	LiftedBy   string     `json:"lifted_by,omitempty"`
	LiftReason string     `json:"lift_reason,omitempty"`
}

func (s *Server) holdOut(h retention.Hold) LegalHold {
	return LegalHold{ID: h.ID, TenantID: h.TenantID, Scope: h.Scope, SubjectID: h.SubjectID, Category: h.Category, Reason: h.Reason,
		Owner: h.Owner, ReviewOn: h.ReviewOn.String(), PastReview: h.ReviewPassed, PlacedBy: h.PlacedBy, PlacedAt: h.PlacedAt,
		LiftedAt: h.LiftedAt, LiftedBy: h.LiftedBy, LiftReason: h.LiftReason}
}

// SweepCertificate is a retention sweep and, once completed, its deletion
// certificate.
type SweepCertificate struct {
	ID                   string               `json:"id"`
	TenantID             string               `json:"tenant_id"`
	Status               string               `json:"status" enum:"running,completed"`
	Cutoff               time.Time            `json:"cutoff" doc:"Records whose deadline is at or before this instant were due."`
	ContractEnded        bool                 `json:"contract_ended" doc:"The contract-end purge: every record but statutory ones was due."`
	StartedAt            time.Time            `json:"started_at"`
	CompletedAt          *time.Time           `json:"completed_at,omitempty"`
	What                 map[string]int64     `json:"what" doc:"Deleted records per data category; only what was verified deleted."`
	Records              int64                `json:"records"`
	Subjects             int64                `json:"subjects" doc:"Subjects crypto-shredded (their data key destroyed)."`
	KeyVersionsDestroyed []int                `json:"key_versions_destroyed" nullable:"false" doc:"Tenant key versions the destroyed data keys were wrapped under."`
	OldestDeadline       *time.Time           `json:"oldest_deadline,omitempty" doc:"The time range of the deleted records' deadlines."`
	NewestDeadline       *time.Time           `json:"newest_deadline,omitempty"`
	Held                 []retention.HeldBack `json:"held" nullable:"false" doc:"The holds that kept due data back, with how many records each."`
	AuditSeq             int64                `json:"audit_seq,omitempty" doc:"The sweep's event in the customer's audit chain."`
	AuditHash            string               `json:"audit_hash,omitempty" doc:"Hex SHA-256 hash of that event: the chain's head when the sweep completed. Absent when the sweep deleted nothing (no event)."`
}

func sweepOut(w retention.Sweep) SweepCertificate {
	return SweepCertificate{ID: w.ID, TenantID: w.TenantID, Status: w.Status, Cutoff: w.Cutoff, ContractEnded: w.ContractEnded, StartedAt: w.StartedAt,
		CompletedAt: w.CompletedAt, What: w.What, Records: w.Records, Subjects: w.Subjects, KeyVersionsDestroyed: w.KeyVersionsDestroyed,
		OldestDeadline: w.OldestDeadline, NewestDeadline: w.NewestDeadline, Held: w.Held, AuditSeq: w.AuditSeq, AuditHash: hex.EncodeToString(w.AuditHash)}
}

type rulesOutput struct {
	Body struct {
		Items []RetentionRule `json:"items" nullable:"false"`
	}
}

// ForecastCategory is what will be deleted of one category.
type ForecastCategory struct {
	Category string  `json:"category"`
	Due      []int64 `json:"due" nullable:"false" doc:"Records due within each of horizons_days (overdue ones included), before holds."`
}

// ContractCountdown is the contract-end purge's clock.
type ContractCountdown struct {
	Status      string    `json:"status" enum:"terminating,ended"`
	ContractEnd string    `json:"contract_end" format:"date" doc:"The contract's last day."`
	PurgeDue    time.Time `json:"purge_due" doc:"Everything but statutory records is deleted by then: 30 days after the last day (Regulation 1182/71)."`
	DaysLeft    int       `json:"days_left"`
}

type forecastOutput struct {
	Body struct {
		TenantID     string             `json:"tenant_id"`
		At           time.Time          `json:"at"`
		HorizonsDays []int              `json:"horizons_days" nullable:"false"`
		Categories   []ForecastCategory `json:"categories" nullable:"false"`
		Countdown    *ContractCountdown `json:"countdown,omitempty" doc:"Set once the contract is terminated."`
	}
}

// CustomerDue is what will be deleted of one customer's data.
type CustomerDue struct {
	TenantID string  `json:"tenant_id"`
	Due      []int64 `json:"due" nullable:"false" doc:"Records due within each of horizons_days, over all categories."`
}

type platformForecastInput struct {
	Limit int `query:"limit" minimum:"1" maximum:"1000" default:"20" doc:"How many customers to list, most records due within 90 days first."`
}

type platformForecastOutput struct {
	Body struct {
		ComputedAt   *time.Time         `json:"computed_at,omitempty" doc:"When the forecast was counted (every 15 minutes); absent before the first count."`
		HorizonsDays []int              `json:"horizons_days" nullable:"false"`
		Total        []int64            `json:"total" nullable:"false" doc:"Records of every customer due within each horizon."`
		Categories   []ForecastCategory `json:"categories" nullable:"false" doc:"Per data category, over every customer."`
		Customers    []CustomerDue      `json:"customers" nullable:"false"`
	}
}

// DueRecord is one record a sweep started now would delete.
type DueRecord struct {
	RecordID    string     `json:"record_id"`
	SubjectID   string     `json:"subject_id"`
	Kind        string     `json:"kind"`
	Category    string     `json:"category"`
	Retention   string     `json:"retention"`
	DeleteAfter *time.Time `json:"delete_after,omitempty"`
}

type previewInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Limit    int    `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"How many records to list."`
}

type previewOutput struct {
	Body struct {
		Total int64       `json:"total" doc:"How many records a sweep started now would delete."`
		Items []DueRecord `json:"items" nullable:"false" doc:"The first of them, oldest deadline first, in the order the sweep takes them."`
	}
}

type listHoldsInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	All      bool   `query:"all" doc:"Include lifted holds."`
}

type holdsOutput struct {
	Body struct {
		Items []LegalHold `json:"items" nullable:"false" doc:"Active holds first, newest first."`
	}
}

type placeHoldInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Body     struct {
		Scope     string `json:"scope" enum:"subject,category,tenant"`
		SubjectID string `json:"subject_id,omitempty" maxLength:"64" doc:"For scope subject: the subject's pseudonymous id (sub_...)."`
		Category  string `json:"category,omitempty" maxLength:"64" doc:"For scope category: the data category."`
		Reason    string `json:"reason" maxLength:"500"`
		Owner     string `json:"owner" maxLength:"200" doc:"Who answers for the hold: a role or team, not a person's name."`
		ReviewOn  string `json:"review_on" format:"date" maxLength:"10" doc:"The day by which the hold must be reviewed (after today, within three years)."`
	}
}

type holdOutput struct {
	Body LegalHold
}

type liftHoldInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	HoldID   string `path:"hold_id" maxLength:"64" doc:"Legal hold id."`
	Body     struct {
		Reason string `json:"reason" maxLength:"500" doc:"Why the hold ends."`
	}
}

type sweepPath struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	SweepID  string `path:"sweep_id" maxLength:"64" doc:"Sweep id."`
}

type sweepOutput struct {
	Body SweepCertificate
}

type listSweepsOutput struct {
	Body struct {
		Items      []SweepCertificate `json:"items" nullable:"false" doc:"Newest first."`
		NextCursor string             `json:"next_cursor,omitempty" doc:"Pass as cursor to get the next page; absent on the last page."`
	}
}

func (s *Server) retention() (*retention.Service, error) {
	if s.deps.Retention == nil {
		return nil, verwerker.Errorf(verwerker.EUNAVAILABLE, "retention is not available on this server")
	}
	return s.deps.Retention, nil
}

func (s *Server) registerRetention() {
	const tag = "Retention"
	register(s, huma.Operation{OperationID: "listRetentionRules", Method: http.MethodGet, Path: "/v1/tenants/{tenant_id}/retention/rules",
		Summary: "List retention rules", Tags: []string{tag},
		Description: "The customer's retention rules with their legal ground: one per data category of its active agreement, and the rules of law (invoices 7 years, AWR art. 52(4), which beat a shorter contractual rule; a suspected minor's data within 24 hours; everything but statutory records within 30 days after the contract's end)."},
		policy.PermRetentionRead, tenantScope, func(ctx context.Context, in *tenantPath) (*rulesOutput, error) {
			svc, err := s.retention()
			if err != nil {
				return nil, err
			}
			rules, err := svc.Rules(ctx, in.TenantID)
			if err != nil {
				return nil, err
			}
			out := &rulesOutput{}
			out.Body.Items = make([]RetentionRule, len(rules))
			for i, r := range rules {
				out.Body.Items[i] = RetentionRule{Category: r.Category, Kind: r.Kind, Code: r.Code, Trigger: r.Trigger, Period: r.Period,
					Action: r.Action, Source: r.Source, DPAVersion: r.DPAVersion, Ground: r.Ground, Overrides: r.Overrides}
			}
			return out, nil
		})

	register(s, huma.Operation{OperationID: "getRetentionForecast", Method: http.MethodGet, Path: "/v1/tenants/{tenant_id}/retention/forecast",
		Summary: "Deletion forecast", Tags: []string{tag},
		Description: "What will be deleted of the customer's data in the next 7, 30 and 90 days, per data category, and once its contract is terminated the countdown to the contract-end purge."},
		policy.PermRetentionRead, tenantScope, func(ctx context.Context, in *tenantPath) (*forecastOutput, error) {
			svc, err := s.retention()
			if err != nil {
				return nil, err
			}
			f, err := svc.Forecast(ctx, in.TenantID)
			if err != nil {
				return nil, err
			}
			out := &forecastOutput{}
			out.Body.TenantID, out.Body.At, out.Body.HorizonsDays = f.TenantID, f.At, f.Horizons
			out.Body.Categories = make([]ForecastCategory, len(f.Categories))
			for i, c := range f.Categories {
				out.Body.Categories[i] = ForecastCategory{Category: c.Category, Due: c.Due}
			}
			if c := f.Countdown; c != nil {
				out.Body.Countdown = &ContractCountdown{Status: string(c.Status), ContractEnd: c.ContractEnd.String(), PurgeDue: c.PurgeDue, DaysLeft: c.DaysLeft}
			}
			return out, nil
		})

	register(s, huma.Operation{OperationID: "getPlatformRetentionForecast", Method: http.MethodGet, Path: "/v1/retention/forecast",
		Summary: "Platform-wide deletion forecast", Tags: []string{tag},
		Description: "For the DPO: what will be deleted of every customer's data in the next 7, 30 and 90 days, per data category (overdue records included, before holds, the contract-end purge of terminated customers included), and the customers with the most due. Counted every 15 minutes; computed_at says when."},
		policy.PermRetentionRead, platformScope, func(ctx context.Context, in *platformForecastInput) (*platformForecastOutput, error) {
			svc, err := s.retention()
			if err != nil {
				return nil, err
			}
			f, err := svc.PlatformForecast(ctx, in.Limit)
			if err != nil {
				return nil, err
			}
			out := &platformForecastOutput{}
			if !f.ComputedAt.IsZero() {
				out.Body.ComputedAt = &f.ComputedAt
			}
			out.Body.HorizonsDays, out.Body.Total = f.Horizons, f.Total
			out.Body.Categories = make([]ForecastCategory, len(f.Categories))
			for i, c := range f.Categories {
				out.Body.Categories[i] = ForecastCategory{Category: c.Category, Due: c.Due}
			}
			out.Body.Customers = make([]CustomerDue, len(f.Customers))
			for i, c := range f.Customers {
				out.Body.Customers[i] = CustomerDue{TenantID: c.TenantID, Due: c.Due}
			}
			return out, nil
		})

	register(s, huma.Operation{OperationID: "previewRetentionSweep", Method: http.MethodGet, Path: "/v1/tenants/{tenant_id}/retention/preview",
		Summary: "Dry run of a retention sweep", Tags: []string{tag},
		Description: "Exactly what a sweep started now would delete (ids only), in the order it would take them, after legal holds; deletes nothing."},
		policy.PermRetentionRead, tenantScope, func(ctx context.Context, in *previewInput) (*previewOutput, error) {
			svc, err := s.retention()
			if err != nil {
				return nil, err
			}
			list, total, err := svc.Preview(ctx, in.TenantID, in.Limit)
			if err != nil {
				return nil, err
			}
			out := &previewOutput{}
			out.Body.Total = total
			out.Body.Items = make([]DueRecord, len(list))
			for i, d := range list {
				out.Body.Items[i] = DueRecord{RecordID: d.ID, SubjectID: d.SubjectID, Kind: d.Kind, Category: d.Category, Retention: d.Rule, DeleteAfter: d.DeleteAfter}
			}
			return out, nil
		})

	register(s, huma.Operation{OperationID: "listLegalHolds", Method: http.MethodGet, Path: "/v1/tenants/{tenant_id}/legal-holds",
		Summary: "List legal holds", Tags: []string{tag},
		Description: "The customer's legal holds, active ones first; with all=true lifted ones too."},
		policy.PermRetentionRead, tenantScope, func(ctx context.Context, in *listHoldsInput) (*holdsOutput, error) {
			svc, err := s.retention()
			if err != nil {
				return nil, err
			}
			hs, err := svc.Holds(ctx, in.TenantID, in.All)
			if err != nil {
				return nil, err
			}
			out := &holdsOutput{}
			out.Body.Items = make([]LegalHold, len(hs))
			for i, h := range hs {
				out.Body.Items[i] = s.holdOut(h)
			}
			return out, nil
		})

	register(s, huma.Operation{OperationID: "placeLegalHold", Method: http.MethodPost, Path: "/v1/tenants/{tenant_id}/legal-holds",
		Summary: "Place a legal hold", Tags: []string{tag}, DefaultStatus: http.StatusCreated,
		Description: "Suspends deletion of a subject's data, a data category or everything of the customer, with a reason, an owner and a review date. From the answer on no sweep deletes what it covers. Audited (retention.hold_place)."},
		policy.PermHoldManage, tenantScope, func(ctx context.Context, in *placeHoldInput) (*holdOutput, error) {
			svc, err := s.retention()
			if err != nil {
				return nil, err
			}
			review, err := deadline.ParseDate(in.Body.ReviewOn)
			if err != nil {
				return nil, verwerker.Invalid("the hold is not valid", verwerker.FieldError{Field: "review_on", Message: "must be a date (YYYY-MM-DD)"})
			}
			h, err := svc.Place(ctx, in.TenantID, retention.Placement{Scope: in.Body.Scope, SubjectID: in.Body.SubjectID, Category: in.Body.Category,
				Reason: in.Body.Reason, Owner: in.Body.Owner, ReviewOn: review})
			if err != nil {
				return nil, err
			}
			return &holdOutput{Body: s.holdOut(h)}, nil
		})

	register(s, huma.Operation{OperationID: "liftLegalHold", Method: http.MethodPost, Path: "/v1/tenants/{tenant_id}/legal-holds/{hold_id}/lift",
		Summary: "Lift a legal hold", Tags: []string{tag}, Errors: []int{http.StatusConflict},
		Description: "Ends a hold with a reason: deletion of what it covered resumes at the next sweep. Audited (retention.hold_lift). A lifted hold is a 409."},
		policy.PermHoldManage, tenantScope, func(ctx context.Context, in *liftHoldInput) (*holdOutput, error) {
			svc, err := s.retention()
			if err != nil {
				return nil, err
			}
			h, err := svc.Lift(ctx, in.TenantID, in.HoldID, in.Body.Reason)
			if err != nil {
				return nil, err
			}
			return &holdOutput{Body: s.holdOut(h)}, nil
		})

	register(s, huma.Operation{OperationID: "listRetentionSweeps", Method: http.MethodGet, Path: "/v1/tenants/{tenant_id}/retention/sweeps",
		Summary: "List retention sweeps and their certificates", Tags: []string{tag},
		Description: "The customer's retention sweeps, newest first. A completed sweep is a deletion certificate: counts per category, the range of deadlines, the key versions destroyed, the holds that kept data back and the audit event that closed it."},
		policy.PermCertificateRead, tenantScope, func(ctx context.Context, in *listCertificatesInput) (*listSweepsOutput, error) {
			svc, err := s.retention()
			if err != nil {
				return nil, err
			}
			list, err := svc.Sweeps(ctx, in.TenantID, in.Cursor, in.Limit+1)
			if err != nil {
				return nil, err
			}
			out := &listSweepsOutput{}
			out.Body.Items, out.Body.NextCursor = page(list, in.Limit, func(w retention.Sweep) string { return w.ID }, sweepOut)
			return out, nil
		})

	register(s, huma.Operation{OperationID: "getRetentionSweep", Method: http.MethodGet, Path: "/v1/tenants/{tenant_id}/retention/sweeps/{sweep_id}",
		Summary: "Get a retention sweep's certificate", Tags: []string{tag}},
		policy.PermCertificateRead, tenantScope, func(ctx context.Context, in *sweepPath) (*sweepOutput, error) {
			svc, err := s.retention()
			if err != nil {
				return nil, err
			}
			w, err := svc.Certificate(ctx, in.TenantID, in.SweepID)
			if err != nil {
				return nil, err
			}
			return &sweepOutput{Body: sweepOut(w)}, nil
		})

	register(s, huma.Operation{OperationID: "runRetentionSweep", Method: http.MethodPost, Path: "/v1/tenants/{tenant_id}/retention/sweeps",
		Summary: "Run a retention sweep now", Tags: []string{tag},
		Description: "Sweeps the customer now instead of waiting for the schedule (every 15 minutes), joining a sweep already running. Answers the sweep: completed with its certificate, or running when another replica still holds due records."},
		policy.PermRetentionSweep, tenantScope, func(ctx context.Context, in *tenantPath) (*sweepOutput, error) {
			svc, err := s.retention()
			if err != nil {
				return nil, err
			}
			w, ok, err := svc.Run(ctx, in.TenantID)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, verwerker.Errorf(verwerker.ECONFLICT, "the customer's data was erased; there is nothing to sweep")
			}
			return &sweepOutput{Body: sweepOut(w)}, nil
		})
}

// page converts a list read with limit+1 rows into one page of at most
// limit items and the cursor of the next page ("" on the last).
func page[T, U any](list []T, limit int, id func(T) string, conv func(T) U) ([]U, string) {
	out := make([]U, 0, min(len(list), limit))
	for i, x := range list {
		if i == limit {
			return out, id(list[i-1])
		}
		out = append(out, conv(x))
	}
	return out, ""
}

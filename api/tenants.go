package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/tenant"
)

// Tenant is a customer of the company: a controller for whom verwerker
// processes data.
type Tenant struct {
	ID             string         `json:"id" example:"tnt_01JD5X6Q9W3N2M8K7V4T0R1S2Y" doc:"Tenant id."`
	Name           string         `json:"name" example:"Bakkerij De Vries B.V." doc:"Name of the customer, unique regardless of case."`
	Country        string         `json:"country" example:"NL" doc:"Country of establishment, ISO 3166-1 alpha-2."`
	ContactEmail   string         `json:"contact_email" example:"privacy@devries.example" doc:"The controller's privacy contact for notices."`
	Timezone       string         `json:"timezone" example:"Europe/Amsterdam" doc:"Time zone the controller's deadlines are computed in."`
	Status         string         `json:"status" enum:"active,terminating,ended" doc:"Contract status now: active; terminating once notice of termination is recorded — the contract runs, and its data is processed, through contract_end in the tenant's time zone; ended from contract_ends_at on — nothing is processed any more and all data is deleted by purge_due."`
	ContractEnd    *deadline.Date `json:"contract_end,omitempty" doc:"Last day of the contract (in the tenant's time zone), once a termination is recorded."`
	ContractEndsAt *time.Time     `json:"contract_ends_at,omitempty" doc:"The instant the contract ends: the first instant after contract_end in the tenant's time zone. Processing decisions are denied from then on."`
	Reason         string         `json:"termination_reason,omitempty" enum:"customer_notice,processor_notice,mutual_agreement,breach_of_terms,other" doc:"Why the contract ends."`
	PurgeDue       *deadline.Date `json:"purge_due,omitempty" doc:"Last day by which all of the tenant's data is deleted: 30 days after the contract end, counted per Regulation 1182/71 (a period ending on a weekend or public holiday ends on the next working day), unless a statutory retention period applies."`
	TerminatedAt   *time.Time     `json:"terminated_at,omitempty" doc:"When the termination was recorded."`
	ErasedAt       *time.Time     `json:"erased_at,omitempty" doc:"When the customer's data was erased (its tenant key destroyed): after the contract ended, or before on the instruction of the customer's controller_admin."`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
}

func (s *Server) tenantOut(t tenant.Tenant) Tenant {
	out := Tenant{
		ID: t.ID, Name: t.Name, Country: t.Country, ContactEmail: t.ContactEmail, Timezone: t.Timezone,
		Status: string(t.Status), ContractEnd: t.ContractEnd, ContractEndsAt: t.ContractEndsAt, Reason: string(t.Reason),
		TerminatedAt: t.TerminatedAt, ErasedAt: t.ErasedAt, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
	}
	if t.ContractEndsAt != nil {
		// Shown in the tenant's time zone: local midnight after the last day.
		at := t.ContractEndsAt.In(tenant.Location(t.Timezone))
		out.ContractEndsAt = &at
	}
	if d := t.PurgeDue(s.deps.Calendar); d != nil {
		out.PurgeDue = &d.LastDay
	}
	return out
}

type tenantBody struct {
	Body Tenant
}

type tenantPath struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
}

type createTenantInput struct {
	Body struct {
		Name         string `json:"name" minLength:"2" maxLength:"200" doc:"Name of the customer."`
		Country      string `json:"country" pattern:"^[A-Z]{2}$" patternDescription:"ISO 3166-1 alpha-2 code" doc:"Country of establishment, ISO 3166-1 alpha-2."`
		ContactEmail string `json:"contact_email" format:"email" maxLength:"254" doc:"The controller's privacy contact."`
		Timezone     string `json:"timezone,omitempty" maxLength:"64" doc:"IANA time zone for deadlines; default Europe/Amsterdam."`
	}
}

type listTenantsInput struct {
	Status string `query:"status" enum:"active,terminating,ended" doc:"Only tenants with this contract status now."`
	Cursor string `query:"cursor" maxLength:"200" doc:"Cursor from the previous page's next_cursor."`
	Limit  int    `query:"limit" minimum:"1" maximum:"500" default:"50" doc:"Page size."`
}

type tenantList struct {
	Body struct {
		Items      []Tenant `json:"items" nullable:"false"`
		NextCursor string   `json:"next_cursor,omitempty" doc:"Pass as cursor to get the next page; absent on the last page."`
	}
}

type terminateInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Body     struct {
		ContractEnd deadline.Date `json:"contract_end" format:"date" doc:"Last day of the contract (YYYY-MM-DD, the controller's time zone): processing continues through this day."`
		Reason      string        `json:"reason" enum:"customer_notice,processor_notice,mutual_agreement,breach_of_terms,other" doc:"Why the contract ends."`
	}
}

// requireTenant answers 404 unless the tenant in the path exists: an
// operation on a tenant's data first checks that the tenant is there, so an
// unknown id is "not found" rather than an empty list or a change to nothing.
func (s *Server) requireTenant(ctx context.Context, tenantID string) error {
	_, err := s.deps.Tenants.Get(ctx, tenantID)
	return err
}

func (s *Server) registerTenants() {
	register(s, huma.Operation{
		OperationID:   "createTenant",
		Method:        http.MethodPost,
		Path:          "/v1/tenants",
		Summary:       "Create a tenant",
		Description:   "Registers a new customer (controller) with an active contract.",
		Tags:          []string{"Tenants"},
		DefaultStatus: http.StatusCreated,
		MaxBodyBytes:  16 << 10,
		Errors:        []int{http.StatusConflict, http.StatusRequestEntityTooLarge},
	}, policy.PermTenantCreate, platformScope, func(ctx context.Context, in *createTenantInput) (*tenantBody, error) {
		t, err := s.deps.Tenants.Create(ctx, tenant.New{
			Name: in.Body.Name, Country: in.Body.Country, ContactEmail: in.Body.ContactEmail, Timezone: in.Body.Timezone,
		})
		if err != nil {
			return nil, err
		}
		return &tenantBody{Body: s.tenantOut(t)}, nil
	})

	register(s, huma.Operation{
		OperationID: "listTenants",
		Method:      http.MethodGet,
		Path:        "/v1/tenants",
		Summary:     "List tenants",
		Description: "Lists tenants in creation order, a page at a time. Pages are stable: tenants created while paging never cause duplicates or gaps.",
		Tags:        []string{"Tenants"},
	}, policy.PermTenantList, platformScope, func(ctx context.Context, in *listTenantsInput) (*tenantList, error) {
		page, err := s.deps.Tenants.List(ctx, tenant.Filter{Status: tenant.Status(in.Status), Cursor: in.Cursor, Limit: in.Limit})
		if err != nil {
			return nil, err
		}
		out := &tenantList{}
		out.Body.Items = make([]Tenant, 0, len(page.Tenants))
		for _, t := range page.Tenants {
			out.Body.Items = append(out.Body.Items, s.tenantOut(t))
		}
		out.Body.NextCursor = page.Next
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "getTenant",
		Method:      http.MethodGet,
		Path:        "/v1/tenants/{tenant_id}",
		Summary:     "Get a tenant",
		Tags:        []string{"Tenants"},
	}, policy.PermTenantRead, tenantScope, func(ctx context.Context, in *tenantPath) (*tenantBody, error) {
		t, err := s.deps.Tenants.Get(ctx, in.TenantID)
		if err != nil {
			return nil, err
		}
		return &tenantBody{Body: s.tenantOut(t)}, nil
	})

	register(s, huma.Operation{
		OperationID:  "terminateTenant",
		Method:       http.MethodPost,
		Path:         "/v1/tenants/{tenant_id}/termination",
		Summary:      "Terminate a tenant's contract",
		Description:  "Records the notice of termination of the customer's contract. A notice is not the end: the customer is terminating and its data is processed as before through contract_end, the contract's last day in the customer's time zone; from the first instant after it (contract_ends_at) the status is ended, every processing decision is denied (contract_terminated) and all of its data is deleted within 30 days (see purge_due), unless a statutory retention period applies. A contract can be terminated once.",
		Tags:         []string{"Tenants"},
		MaxBodyBytes: 4 << 10,
		Errors:       []int{http.StatusConflict, http.StatusRequestEntityTooLarge},
	}, policy.PermTenantTerminate, tenantScope, func(ctx context.Context, in *terminateInput) (*tenantBody, error) {
		t, err := s.deps.Tenants.Terminate(ctx, in.TenantID, tenant.Termination{ContractEnd: in.Body.ContractEnd, Reason: tenant.Reason(in.Body.Reason)})
		if err != nil {
			return nil, err
		}
		return &tenantBody{Body: s.tenantOut(t)}, nil
	})
}

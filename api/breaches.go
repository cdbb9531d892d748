package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/breach"
	"github.com/verwerker/verwerker/policy"
)

// BreachReport is a reported incident: what is known now. What is not
// known yet can be added later (POST /v1/breaches/{incident_id}/facts).
type BreachReport struct {
	Title         string     `json:"title" maxLength:"200" doc:"Short description, without personal data."`
	Description   string     `json:"description,omitempty" maxLength:"10000" doc:"What happened."`
	Kinds         []string   `json:"kinds,omitempty" maxItems:"3" doc:"Security properties breached: confidentiality, integrity, availability."`
	StartedAt     *time.Time `json:"started_at,omitempty" doc:"When it started; absent if unknown (the impact is then an estimate)."`
	EndedAt       *time.Time `json:"ended_at,omitempty" doc:"When it ended; absent while ongoing."`
	DiscoveredAt  time.Time  `json:"discovered_at" doc:"When the processor became aware: the 48-hour clock runs from it, in exact elapsed time."`
	DiscoveredHow string     `json:"discovered_how,omitempty" maxLength:"2000"`
	Systems       []string   `json:"systems,omitempty" maxItems:"10" doc:"chat, admin; absent: all."`
	Categories    []string   `json:"categories,omitempty" maxItems:"100" doc:"Data categories involved; absent: all."`
	Regions       []string   `json:"regions,omitempty" maxItems:"100" doc:"Regions involved; absent: all."`
	Tenants       []string   `json:"tenants,omitempty" maxItems:"10000" doc:"Customers involved; absent: every customer with data in scope."`
	Consequences  string     `json:"consequences,omitempty" maxLength:"5000" doc:"Likely consequences (GDPR Art. 33(3)(c))."`
	Measures      string     `json:"measures,omitempty" maxLength:"5000" doc:"Measures taken or proposed (Art. 33(3)(d))."`
	Contact       string     `json:"contact,omitempty" maxLength:"500" doc:"Contact point for more information (Art. 33(3)(b))."`
}

func (r BreachReport) domain() breach.Report {
	return breach.Report{Title: r.Title, Description: r.Description, Kinds: r.Kinds, StartedAt: r.StartedAt, EndedAt: r.EndedAt,
		DiscoveredAt: r.DiscoveredAt, DiscoveredHow: r.DiscoveredHow, Systems: r.Systems, Categories: r.Categories, Regions: r.Regions,
		Tenants: r.Tenants, Consequences: r.Consequences, Measures: r.Measures, Contact: r.Contact}
}

type reportBreachInput struct {
	Body BreachReport
}

type breachBody struct {
	Body breach.Incident
}

type breachList struct {
	Body struct {
		Items []breach.Incident `json:"items" nullable:"false"`
	}
}

type breachPath struct {
	IncidentID string `path:"incident_id" maxLength:"64" doc:"Incident id."`
}

type triageInput struct {
	IncidentID string `path:"incident_id" maxLength:"64" doc:"Incident id."`
	Body       struct {
		Actual       bool     `json:"actual" doc:"Personal data was actually destroyed, lost, altered, disclosed or accessed (or that cannot be excluded); false for a weakness nobody used."`
		PersonalData bool     `json:"personal_data" doc:"The incident involves personal data."`
		Kinds        []string `json:"kinds,omitempty" maxItems:"3" doc:"Security properties breached; absent keeps the incident's."`
		Reason       string   `json:"reason,omitempty" maxLength:"2000" doc:"Required to revise an earlier triage or dismissal."`
	}
}

type reasonInput struct {
	IncidentID string `path:"incident_id" maxLength:"64" doc:"Incident id."`
	Body       struct {
		Reason string `json:"reason" maxLength:"2000" doc:"Why; kept in the incident's history, never in audit events."`
	}
}

type reviseInput struct {
	IncidentID string `path:"incident_id" maxLength:"64" doc:"Incident id."`
	Body       struct {
		Facts  breach.Facts `json:"facts"`
		Reason string       `json:"reason" maxLength:"2000"`
	}
}

type updateInput struct {
	IncidentID string `path:"incident_id" maxLength:"64" doc:"Incident id."`
	Body       struct {
		Update string `json:"update" maxLength:"5000" doc:"What is new (GDPR Art. 33(4)), without personal data of subjects."`
	}
}

type historyList struct {
	Body struct {
		Items []breach.Revision `json:"items" nullable:"false"`
	}
}

type breachNoticeList struct {
	Body struct {
		Items []breach.Notice `json:"items" nullable:"false"`
	}
}

type breachNoticeBody struct {
	Body breach.Notice
}

type breachClockList struct {
	Body struct {
		Items []breach.Clock            `json:"items" nullable:"false"`
		Times []breach.NotificationTime `json:"notification_times" nullable:"false" doc:"Delivery of each first notice after discovery, against the 48-hour line."`
	}
}

type registerInput struct {
	Format string `query:"format" enum:"json,html" default:"json" doc:"json, or html: a printable document (print it or save it as PDF)."`
}

type tenantRegisterInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Format   string `query:"format" enum:"json,html" default:"json" doc:"json, or html: a printable document (print it or save it as PDF)."`
}

type registerOutput struct {
	ContentType string `header:"Content-Type"`
	Body        []byte
}

type ackInput struct {
	TenantID   string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	IncidentID string `path:"incident_id" maxLength:"64" doc:"Incident id."`
	Phase      int    `path:"phase" minimum:"0" maximum:"1000" doc:"0 for the first notice, 1 and on for updates."`
}

type ackLinkInput struct {
	Token string `path:"token" maxLength:"100" doc:"The secret of the link in the notice's e-mail."`
}

func registerOut(reg breach.Register, format string) (*registerOutput, error) {
	if format == "html" {
		page, err := reg.HTML()
		if err != nil {
			return nil, verwerker.Internal("breach: register html", err)
		}
		return &registerOutput{ContentType: "text/html; charset=utf-8", Body: page}, nil
	}
	raw, err := json.Marshal(reg)
	if err != nil {
		return nil, verwerker.Internal("breach: register json", err)
	}
	return &registerOutput{ContentType: "application/json", Body: raw}, nil
}

func (s *Server) registerBreaches() {
	const tag = "Breaches"
	svc := func() *breach.Service { return s.deps.Breaches }
	incident := func(f func(ctx context.Context, id string) (breach.Incident, error)) func(context.Context, *breachPath) (*breachBody, error) {
		return func(ctx context.Context, in *breachPath) (*breachBody, error) {
			i, err := f(ctx, in.IncidentID)
			if err != nil {
				return nil, err
			}
			return &breachBody{Body: i}, nil
		}
	}

	register(s, huma.Operation{OperationID: "reportBreach", Method: http.MethodPost, Path: "/v1/breaches", Summary: "Report a security incident",
		Tags: []string{tag}, MaxBodyBytes: 64 << 10, DefaultStatus: http.StatusCreated,
		Description: "Staff (DPO, platform admin) or a detection hook's API key (role detection_hook) report an incident. Its 48-hour clock runs from discovered_at and never moves. It is not notified until triaged as a breach."},
		policy.PermBreachReport, platformScope, func(ctx context.Context, in *reportBreachInput) (*breachBody, error) {
			via := breach.ViaStaff
			if p, _ := verwerker.PrincipalFrom(ctx); p.Role == policy.RoleDetectionHook {
				via = breach.ViaDetection
			}
			i, err := svc().Report(ctx, in.Body.domain(), via)
			if err != nil {
				return nil, err
			}
			return &breachBody{Body: i}, nil
		})
	register(s, huma.Operation{OperationID: "listBreaches", Method: http.MethodGet, Path: "/v1/breaches", Summary: "List incidents",
		Tags: []string{tag}, Description: "Every incident, breaches, vulnerabilities and dismissals alike, newest discovery first."},
		policy.PermBreachManage, platformScope, func(ctx context.Context, _ *struct{}) (*breachList, error) {
			list, err := svc().List(ctx)
			if err != nil {
				return nil, err
			}
			out := &breachList{}
			out.Body.Items = list
			return out, nil
		})
	register(s, huma.Operation{OperationID: "getBreach", Method: http.MethodGet, Path: "/v1/breaches/{incident_id}", Summary: "Get an incident",
		Tags: []string{tag}, Errors: []int{http.StatusNotFound}},
		policy.PermBreachManage, platformScope, incident(func(ctx context.Context, id string) (breach.Incident, error) { return svc().Get(ctx, id) }))
	register(s, huma.Operation{OperationID: "getBreachHistory", Method: http.MethodGet, Path: "/v1/breaches/{incident_id}/history",
		Summary: "Get an incident's history", Tags: []string{tag}, Errors: []int{http.StatusNotFound},
		Description: "Every report, triage, revision, dismissal, impact count, notice round and closure, with who and why."},
		policy.PermBreachManage, platformScope, func(ctx context.Context, in *breachPath) (*historyList, error) {
			list, err := svc().History(ctx, in.IncidentID)
			if err != nil {
				return nil, err
			}
			out := &historyList{}
			out.Body.Items = list
			return out, nil
		})
	register(s, huma.Operation{OperationID: "triageBreach", Method: http.MethodPost, Path: "/v1/breaches/{incident_id}/triage",
		Summary: "Triage an incident", Tags: []string{tag}, MaxBodyBytes: 16 << 10, Errors: []int{http.StatusNotFound, http.StatusConflict},
		Description: "The triage policy (Rego, GDPR Art. 4(12); seed 001 art. 12.16) decides with reasons: an actual breach of confidentiality, integrity or availability of personal data is a breach and is notified; a theoretical vulnerability is recorded, not notified. Revising an earlier triage needs a reason."},
		policy.PermBreachManage, platformScope, func(ctx context.Context, in *triageInput) (*breachBody, error) {
			i, err := svc().Triage(ctx, in.IncidentID, breach.Assessment{Actual: in.Body.Actual, PersonalData: in.Body.PersonalData,
				Kinds: in.Body.Kinds, Reason: in.Body.Reason})
			if err != nil {
				return nil, err
			}
			return &breachBody{Body: i}, nil
		})
	for _, op := range []struct {
		id, path, summary, desc string
		f                       func(context.Context, string, string) (breach.Incident, error)
	}{
		{"dismissBreach", "dismissal", "Dismiss an incident", "Not a security incident at all (a false alarm): needs a reason; the incident stays in the register.",
			func(ctx context.Context, id, reason string) (breach.Incident, error) {
				return svc().Dismiss(ctx, id, reason)
			}},
		{"closeBreach", "closure", "Close a breach", "Handling complete: needs a reason. Refused (409) while an affected customer's first notice is not delivered.",
			func(ctx context.Context, id, reason string) (breach.Incident, error) {
				return svc().Close(ctx, id, reason)
			}},
	} {
		register(s, huma.Operation{OperationID: op.id, Method: http.MethodPost, Path: "/v1/breaches/{incident_id}/" + op.path,
			Summary: op.summary, Description: op.desc, Tags: []string{tag}, MaxBodyBytes: 16 << 10, Errors: []int{http.StatusNotFound, http.StatusConflict}},
			policy.PermBreachManage, platformScope, func(ctx context.Context, in *reasonInput) (*breachBody, error) {
				i, err := op.f(ctx, in.IncidentID, in.Body.Reason)
				if err != nil {
					return nil, err
				}
				return &breachBody{Body: i}, nil
			})
	}
	register(s, huma.Operation{OperationID: "reviseBreach", Method: http.MethodPost, Path: "/v1/breaches/{incident_id}/facts",
		Summary: "Revise an incident's facts", Tags: []string{tag}, MaxBodyBytes: 64 << 10, Errors: []int{http.StatusNotFound},
		Description: "Add or correct facts as they become known, with a reason. The discovery time and the clock do not move. Send an update to tell the customers."},
		policy.PermBreachManage, platformScope, func(ctx context.Context, in *reviseInput) (*breachBody, error) {
			i, err := svc().Revise(ctx, in.IncidentID, in.Body.Facts, in.Body.Reason)
			if err != nil {
				return nil, err
			}
			return &breachBody{Body: i}, nil
		})
	register(s, huma.Operation{OperationID: "scopeBreach", Method: http.MethodPost, Path: "/v1/breaches/{incident_id}/impact",
		Summary: "Count an incident's impact", Tags: []string{tag}, Errors: []int{http.StatusNotFound},
		Description: "Counts, from the records store, the affected customers and, per customer and data category, the exact numbers of data subjects and records created in the incident's window, and how they were encrypted (Art. 34(3)(a)). Estimates are flagged with their basis (start unknown, ongoing)."},
		policy.PermBreachManage, platformScope, incident(func(ctx context.Context, id string) (breach.Incident, error) { return svc().Scope(ctx, id) }))
	register(s, huma.Operation{OperationID: "notifyBreach", Method: http.MethodPost, Path: "/v1/breaches/{incident_id}/notices",
		Summary: "Notify the affected customers", Tags: []string{tag}, Errors: []int{http.StatusNotFound, http.StatusConflict},
		Description: "Counts the impact again and sends each affected customer that has not had one its own first notice, by signed webhook and e-mail, Dutch and English, with the content of GDPR Art. 33(3), missing facts marked to follow, its 72-hour clock and a draft answer sheet for the Dutch authority's form. A notice counts as sent only when a channel delivered it. Only a breach is notified (409 otherwise)."},
		policy.PermBreachManage, platformScope, func(ctx context.Context, in *breachPath) (*breachNoticeList, error) {
			list, err := svc().Notify(ctx, in.IncidentID)
			if err != nil {
				return nil, err
			}
			out := &breachNoticeList{}
			out.Body.Items = list
			if out.Body.Items == nil {
				out.Body.Items = []breach.Notice{}
			}
			return out, nil
		})
	register(s, huma.Operation{OperationID: "updateBreach", Method: http.MethodPost, Path: "/v1/breaches/{incident_id}/updates",
		Summary: "Send an update to the notified customers", Tags: []string{tag}, MaxBodyBytes: 16 << 10, Errors: []int{http.StatusNotFound, http.StatusConflict},
		Description: "A phased update (GDPR Art. 33(4)) to every customer that had the first notice, with the facts and its counts as they are now."},
		policy.PermBreachManage, platformScope, func(ctx context.Context, in *updateInput) (*breachNoticeList, error) {
			list, err := svc().Update(ctx, in.IncidentID, in.Body.Update)
			if err != nil {
				return nil, err
			}
			out := &breachNoticeList{}
			out.Body.Items = list
			return out, nil
		})
	register(s, huma.Operation{OperationID: "listBreachNotices", Method: http.MethodGet, Path: "/v1/breaches/{incident_id}/notices",
		Summary: "List an incident's notices", Tags: []string{tag},
		Description: "Every customer's notices of the incident with delivery per channel and acknowledgement."},
		policy.PermBreachManage, platformScope, func(ctx context.Context, in *breachPath) (*breachNoticeList, error) {
			list, err := svc().Notices(ctx, in.IncidentID)
			if err != nil {
				return nil, err
			}
			out := &breachNoticeList{}
			out.Body.Items = list
			return out, nil
		})
	register(s, huma.Operation{OperationID: "listBreachClocks", Method: http.MethodGet, Path: "/v1/breach-clocks",
		Summary: "List the running breach clocks", Tags: []string{tag},
		Description: "Each breach's 48-hour clock with the time left, its level (ok, near, overdue) and its customers' deliveries and acknowledgements; and the delivery time of every first notice, for the chart against the 48-hour line."},
		policy.PermBreachManage, platformScope, func(ctx context.Context, _ *struct{}) (*breachClockList, error) {
			clocks, err := svc().Clocks(ctx)
			if err != nil {
				return nil, err
			}
			times, err := svc().NotificationTimes(ctx)
			if err != nil {
				return nil, err
			}
			out := &breachClockList{}
			out.Body.Items, out.Body.Times = clocks, times
			return out, nil
		})
	register(s, huma.Operation{OperationID: "getBreachRegister", Method: http.MethodGet, Path: "/v1/breach-register",
		Summary: "Export the register of breaches", Tags: []string{tag},
		Description: "The register of GDPR Art. 33(5): every incident with its facts, effects, remedial action, history, notices and acknowledgements, as JSON or printable HTML."},
		policy.PermBreachManage, platformScope, func(ctx context.Context, in *registerInput) (*registerOutput, error) {
			reg, err := svc().FullRegister(ctx)
			if err != nil {
				return nil, err
			}
			return registerOut(reg, in.Format)
		})

	register(s, huma.Operation{OperationID: "listTenantBreachNotices", Method: http.MethodGet, Path: "/v1/tenants/{tenant_id}/breach-notices",
		Summary: "List the customer's breach notices", Tags: []string{tag},
		Description: "The customer's own notices, newest first, with delivery, its 72-hour clock (authority_deadline) and acknowledgement. Nothing of any other customer."},
		policy.PermBreachNoticeRead, tenantScope, func(ctx context.Context, in *tenantPath) (*breachNoticeList, error) {
			list, err := svc().CustomerNotices(ctx, in.TenantID)
			if err != nil {
				return nil, err
			}
			out := &breachNoticeList{}
			out.Body.Items = list
			return out, nil
		})
	register(s, huma.Operation{OperationID: "acknowledgeBreachNotice", Method: http.MethodPost,
		Path:    "/v1/tenants/{tenant_id}/breach-notices/{incident_id}/{phase}/acknowledgement",
		Summary: "Acknowledge a breach notice", Tags: []string{tag}, Errors: []int{http.StatusNotFound},
		Description: "The controller confirms it received the notice. Acknowledging again changes nothing."},
		policy.PermBreachAcknowledge, tenantScope, func(ctx context.Context, in *ackInput) (*breachNoticeBody, error) {
			n, err := svc().Acknowledge(ctx, in.TenantID, in.IncidentID, in.Phase)
			if err != nil {
				return nil, err
			}
			return &breachNoticeBody{Body: n}, nil
		})
	register(s, huma.Operation{OperationID: "getTenantBreachRegister", Method: http.MethodGet, Path: "/v1/tenants/{tenant_id}/breach-register",
		Summary: "Export the customer's register of breaches", Tags: []string{tag},
		Description: "The breaches the customer was notified of, with its own counts, notices and acknowledgements only, as JSON or a printable HTML document to attach to its own report."},
		policy.PermBreachNoticeRead, tenantScope, func(ctx context.Context, in *tenantRegisterInput) (*registerOutput, error) {
			reg, err := svc().CustomerRegister(ctx, in.TenantID)
			if err != nil {
				return nil, err
			}
			return registerOut(reg, in.Format)
		})
	register(s, huma.Operation{OperationID: "acknowledgeBreachNoticeLink", Method: http.MethodPost, Path: "/v1/breach-acknowledgements/{token}",
		Summary: "Acknowledge a breach notice by its link", Tags: []string{tag}, Errors: []int{http.StatusNotFound},
		Description: "The link in a notice's e-mail: its secret names one notice of one customer. No credentials needed; an unknown secret is 404."},
		Public, platformScope, func(ctx context.Context, in *ackLinkInput) (*breachNoticeBody, error) {
			n, err := svc().AcknowledgeLink(ctx, in.Token)
			if err != nil {
				return nil, err
			}
			n.Content = breach.Content{IncidentID: n.IncidentID, Phase: n.Phase}
			return &breachNoticeBody{Body: n}, nil
		})
}

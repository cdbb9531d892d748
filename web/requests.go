package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/dsr"
	"github.com/verwerker/verwerker/policy"
)

// The data-subject request pages (GDPR Art. 12(3), 15-22, 28(3)(e)): the
// requests by deadline (overdue red, due within a week amber), a request's
// timeline with the controller's instructions, the export's download, and
// the requests per week by type with how their deadlines went.

// dueSoon is how close a deadline is shown amber.
const dueSoon = 7 * 24 * time.Hour

type requestRow struct {
	dsr.Request
	Name string
	// Level is "overdue" (red), "soon" (amber), "failed" (red) or "".
	Level string
}

type requestsData struct {
	TenantID string
	Rows     []requestRow
	ByType   chart
	Deadline chart
}

// requestRows marks each request's deadline level for the viewer at now.
func requestRows(list []dsr.Request, now time.Time, name func(string) string) []requestRow {
	out := make([]requestRow, 0, len(list))
	for _, r := range list {
		row := requestRow{Request: r, Name: name(r.TenantID)}
		switch {
		case r.Failure != "":
			row.Level = "failed"
		case r.Overdue(now):
			row.Level = "overdue"
		case r.State.Open() && r.PausedAt == nil && r.Due.Due.Sub(now) < dueSoon:
			row.Level = "soon"
		}
		out = append(out, row)
	}
	return out
}

func (s *Server) requestsPage() Page {
	return Page{Method: http.MethodGet, Path: "requests", Permission: policy.PermRequestRead, Scope: Platform,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			return s.showRequests(w, r, v, "*")
		}}
}

func (s *Server) customerRequestsPage() Page {
	return Page{Method: http.MethodGet, Path: "customers/{tenant_id}/requests", Permission: policy.PermRequestRead, Scope: Tenant,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			return s.showRequests(w, r, v, r.PathValue("tenant_id"))
		}}
}

// showRequests renders the requests of a tenant, or every tenant's for
// "*", soonest deadline first, with the weekly charts.
func (s *Server) showRequests(w http.ResponseWriter, r *http.Request, v *view, tenantID string) error {
	ctx := r.Context()
	list, err := s.deps.Requests.List(ctx, tenantID, false, 500)
	if err != nil {
		return err
	}
	names := s.tenantNames(r)
	d := requestsData{TenantID: tenantID, Rows: requestRows(list, v.Now, names)}
	if d.ByType, d.Deadline, err = s.requestCharts(r, v, tenantID, 12); err != nil {
		return err
	}
	return s.show(w, v, "requests", "requests.title", d)
}

// tenantNames returns a lookup of customers' names, cached per request;
// an unknown id is shown as itself.
func (s *Server) tenantNames(r *http.Request) func(string) string {
	cache := map[string]string{}
	return func(id string) string {
		if n, ok := cache[id]; ok {
			return n
		}
		n := id
		if t, err := s.deps.Tenants.Get(r.Context(), id); err == nil {
			n = t.Name
		}
		cache[id] = n
		return n
	}
}

// requestCharts draw the requests of the last weeks per week: by type,
// and by how their deadlines went (in time, late, open).
func (s *Server) requestCharts(r *http.Request, v *view, tenantID string, weeks int) (chart, chart, error) {
	today := v.Now.UTC()
	monday := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	monday = monday.AddDate(0, 0, -((int(monday.Weekday())+6)%7)-7*(weeks-1))
	counts, err := s.deps.Requests.Weekly(r.Context(), tenantID, monday)
	if err != nil {
		return chart{}, chart{}, err
	}
	labels := make([]string, weeks)
	for i := range weeks {
		labels[i] = monday.AddDate(0, 0, 7*i).Format("01-02")
	}
	byType := make([]series, len(dsr.Types))
	for i, t := range dsr.Types {
		byType[i] = series{Name: translate(v.Lang, "request.type."+string(t)), Color: purposeColors[i%len(purposeColors)], Values: make([]uint64, weeks)}
	}
	inTime := series{Name: translate(v.Lang, "requests.intime"), Color: colorGreen, Values: make([]uint64, weeks)}
	late := series{Name: translate(v.Lang, "requests.late"), Color: colorRed, Values: make([]uint64, weeks)}
	open := series{Name: translate(v.Lang, "requests.open"), Color: colorBlue, Values: make([]uint64, weeks)}
	for _, c := range counts {
		i := int(c.Start.Sub(monday).Hours()+12) / (24 * 7)
		if i < 0 || i >= weeks {
			continue
		}
		for k, t := range dsr.Types {
			if t == c.Type {
				byType[k].Values[i] += uint64(c.Received)
			}
		}
		inTime.Values[i] += uint64(c.InTime)
		late.Values[i] += uint64(c.Late)
		open.Values[i] += uint64(c.Open)
	}
	return stackedBars("requests-by-type", translate(v.Lang, "requests.bytype"), labels, byType),
		stackedBars("requests-deadlines", translate(v.Lang, "requests.deadlines"), labels, []series{inTime, late, open}), nil
}

type requestData struct {
	Row          requestRow
	Steps        []dsr.Step
	Actions      []dsr.Action
	CanInstruct  bool
	CanRetry     bool
	CanDownload  bool
	AwaitsAction bool
}

func (s *Server) requestPage() Page {
	return Page{Method: http.MethodGet, Path: "customers/{tenant_id}/requests/{request_id}", Permission: policy.PermRequestRead, Scope: Tenant,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			ctx := r.Context()
			tid := r.PathValue("tenant_id")
			req, steps, err := s.deps.Requests.Get(ctx, tid, r.PathValue("request_id"))
			if err != nil {
				return err
			}
			d := requestData{Row: requestRows([]dsr.Request{req}, v.Now, s.tenantNames(r))[0], Steps: steps,
				Actions: []dsr.Action{dsr.ActionExport, dsr.ActionErase, dsr.ActionRestrict, dsr.ActionLiftRestriction, dsr.ActionReject}}
			d.CanInstruct, _ = s.deps.Authz.Allowed(ctx, v.principal, policy.PermRequestInstruct, tid)
			d.CanRetry, _ = s.deps.Authz.Allowed(ctx, v.principal, policy.PermRequestRetry, tid)
			d.CanRetry = d.CanRetry && req.Failure != ""
			d.CanDownload = d.CanInstruct && (req.Type == dsr.TypeAccess || req.Type == dsr.TypePortability) && req.State == dsr.StateCompleted
			d.AwaitsAction = req.State.Open() && req.State != dsr.StateInProgress
			if f := r.URL.Query().Get("done"); f != "" {
				v.Flash = "requests.done." + flashKey(f, "instructed", "extended", "paused", "resumed", "retried")
			}
			return s.show(w, v, "request", "requests.request", d)
		}}
}

// instructSubmit records the controller's instruction (dsr.Service.Instruct).
func (s *Server) instructSubmit() Page {
	return s.requestAction("instructions", "instructed", policy.PermRequestInstruct, func(r *http.Request, tid, id string) error {
		var valid func(string) bool
		if s.deps.Decisions != nil {
			valid = s.deps.Decisions.ValidPurpose
		}
		_, err := s.deps.Requests.Instruct(r.Context(), tid, id, dsr.Instruction{Action: dsr.Action(r.PostFormValue("action")),
			Reason: r.PostFormValue("reason")}, valid)
		return err
	})
}

// extendSubmit extends the deadline by one or two months with a reason.
func (s *Server) extendSubmit() Page {
	return s.requestAction("extension", "extended", policy.PermRequestInstruct, func(r *http.Request, tid, id string) error {
		months, err := strconv.Atoi(r.PostFormValue("months"))
		if err != nil {
			return verwerker.Invalid("the form is not valid", verwerker.FieldError{Field: "months", Message: "must be 1 or 2"})
		}
		_, err = s.deps.Requests.Extend(r.Context(), tid, id, months, r.PostFormValue("reason"))
		return err
	})
}

// pauseSubmit stops the clock while waiting on the subject.
func (s *Server) pauseSubmit() Page {
	return s.requestAction("pause", "paused", policy.PermRequestInstruct, func(r *http.Request, tid, id string) error {
		_, err := s.deps.Requests.Pause(r.Context(), tid, id)
		return err
	})
}

// resumeSubmit starts the clock again.
func (s *Server) resumeSubmit() Page {
	return s.requestAction("resume", "resumed", policy.PermRequestInstruct, func(r *http.Request, tid, id string) error {
		_, err := s.deps.Requests.Resume(r.Context(), tid, id)
		return err
	})
}

// requestRetrySubmit retries what failed on a request: the operators'.
func (s *Server) requestRetrySubmit() Page {
	return s.requestAction("retry", "retried", policy.PermRequestRetry, func(r *http.Request, tid, id string) error {
		_, err := s.deps.Requests.Retry(r.Context(), tid, id)
		return err
	})
}

// requestAction is a form on a request's page: it runs do and goes back
// to the request with the flash done.
func (s *Server) requestAction(path, done, perm string, do func(r *http.Request, tenantID, id string) error) Page {
	return Page{Method: http.MethodPost, Path: "customers/{tenant_id}/requests/{request_id}/" + path, Permission: perm, Scope: Tenant,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			tid, id := r.PathValue("tenant_id"), r.PathValue("request_id")
			if err := do(r, tid, id); err != nil {
				return err
			}
			http.Redirect(w, r, Prefix+"customers/"+tid+"/requests/"+id+"?done="+done, http.StatusSeeOther)
			return nil
		}}
}

// exportDownload sends an access or portability request's ZIP while its
// link lasts (dsr.Service.Download, audited there).
func (s *Server) exportDownload() Page {
	return Page{Method: http.MethodGet, Path: "customers/{tenant_id}/requests/{request_id}/export", Permission: policy.PermRequestInstruct, Scope: Tenant,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			id := r.PathValue("request_id")
			zip, err := s.deps.Requests.Download(r.Context(), r.PathValue("tenant_id"), id)
			if err != nil {
				return err
			}
			w.Header().Set("Content-Type", "application/zip")
			w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.zip"`)
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(zip)
			return nil
		}}
}

func init() {
	addMessages(map[string]map[string]string{
		"en": {
			"requests.title": "Data-subject requests", "requests.request": "Request", "requests.type": "Right", "requests.state": "State",
			"requests.received": "Received", "requests.due": "Last day", "requests.paused": "paused: waiting on the subject",
			"requests.none": "No requests.", "requests.weekly": "Requests per week (last 12 weeks)",
			"requests.bytype": "Requests per week by type", "requests.deadlines": "Requests per week by deadline",
			"requests.intime": "in time", "requests.late": "late", "requests.open": "open", "requests.all": "All requests by deadline",
			"requests.subject": "Data subject (pseudonymous)", "requests.unmatched": "no matching subject",
			"requests.extended": "extended by %d months", "requests.export": "Export", "requests.exportdone": "%d of %d records",
			"requests.instruction": "Instruction", "requests.kept": "Kept:",
			"requests.download": "Download the export (ZIP)", "requests.instruct": "Instruct", "requests.f.action": "Instruction",
			"requests.f.reason": "Reason (required to reject; passed to the data subject)", "requests.f.months": "Extend by (months)",
			"requests.f.extreason": "Reason for the extension (passed to the data subject)", "requests.extend": "Extend the deadline",
			"requests.pause": "Pause: waiting on the subject", "requests.resume": "Resume", "requests.timeline": "Timeline",
			"requests.done.instructed": "The instruction is recorded.", "requests.done.extended": "The deadline is extended.",
			"requests.done.paused": "The clock is paused.", "requests.done.resumed": "The clock runs again.",
			"requests.done.retried": "What failed runs again.",
			"request.type.access":   "access (Art. 15)", "request.type.rectification": "rectification (Art. 16)", "request.type.erasure": "erasure (Art. 17)",
			"request.type.restriction": "restriction (Art. 18)", "request.type.portability": "portability (Art. 20)", "request.type.objection": "objection (Art. 21)",
			"request.state.received": "received", "request.state.forwarded": "forwarded", "request.state.awaiting_instruction": "awaiting the controller's instruction",
			"request.state.in_progress": "in progress", "request.state.waiting_on_subject": "waiting on the subject", "request.state.completed": "completed",
			"request.state.rejected": "rejected", "request.state.duplicate": "duplicate", "request.state.failed": "FAILED",
			"request.action.export": "approve: export the data", "request.action.erase": "approve: erase the data", "request.action.rectify": "rectify",
			"request.action.restrict": "restrict processing", "request.action.lift_restriction": "lift the restriction", "request.action.object": "object",
			"request.action.reject": "reject with a reason",
			"alarm.request.overdue": "Request %s of %s is overdue: its last day was %s.",
			"alarm.request.failed":  "Request %s of %s failed (last day %s): retry it.",
		},
		"nl": {
			"requests.title": "Verzoeken van betrokkenen", "requests.request": "Verzoek", "requests.type": "Recht", "requests.state": "Stand",
			"requests.received": "Ontvangen", "requests.due": "Laatste dag", "requests.paused": "gepauzeerd: wacht op de betrokkene",
			"requests.none": "Geen verzoeken.", "requests.weekly": "Verzoeken per week (laatste 12 weken)",
			"requests.bytype": "Verzoeken per week per soort", "requests.deadlines": "Verzoeken per week naar termijn",
			"requests.intime": "op tijd", "requests.late": "te laat", "requests.open": "open", "requests.all": "Alle verzoeken op termijn",
			"requests.subject": "Betrokkene (pseudoniem)", "requests.unmatched": "geen bijpassende betrokkene",
			"requests.extended": "verlengd met %d maanden", "requests.export": "Export", "requests.exportdone": "%d van %d gegevens",
			"requests.instruction": "Instructie", "requests.kept": "Bewaard:",
			"requests.download": "Export downloaden (ZIP)", "requests.instruct": "Instrueren", "requests.f.action": "Instructie",
			"requests.f.reason": "Reden (verplicht bij afwijzen; gaat naar de betrokkene)", "requests.f.months": "Verlengen met (maanden)",
			"requests.f.extreason": "Reden van de verlenging (gaat naar de betrokkene)", "requests.extend": "Termijn verlengen",
			"requests.pause": "Pauzeren: wacht op de betrokkene", "requests.resume": "Hervatten", "requests.timeline": "Tijdlijn",
			"requests.done.instructed": "De instructie is vastgelegd.", "requests.done.extended": "De termijn is verlengd.",
			"requests.done.paused": "De klok staat stil.", "requests.done.resumed": "De klok loopt weer.",
			"requests.done.retried": "Wat mislukte wordt opnieuw uitgevoerd.",
			"request.type.access":   "inzage (art. 15)", "request.type.rectification": "rectificatie (art. 16)", "request.type.erasure": "wissen (art. 17)",
			"request.type.restriction": "beperking (art. 18)", "request.type.portability": "overdraagbaarheid (art. 20)", "request.type.objection": "bezwaar (art. 21)",
			"request.state.received": "ontvangen", "request.state.forwarded": "doorgestuurd", "request.state.awaiting_instruction": "wacht op instructie van de verwerkingsverantwoordelijke",
			"request.state.in_progress": "in uitvoering", "request.state.waiting_on_subject": "wacht op de betrokkene", "request.state.completed": "afgerond",
			"request.state.rejected": "afgewezen", "request.state.duplicate": "dubbel", "request.state.failed": "MISLUKT",
			"request.action.export": "goedkeuren: gegevens exporteren", "request.action.erase": "goedkeuren: gegevens wissen", "request.action.rectify": "rectificeren",
			"request.action.restrict": "verwerking beperken", "request.action.lift_restriction": "beperking opheffen", "request.action.object": "bezwaar",
			"request.action.reject": "afwijzen met reden",
			"alarm.request.overdue": "Verzoek %s van %s is te laat: de laatste dag was %s.",
			"alarm.request.failed":  "Verzoek %s van %s is mislukt (laatste dag %s): probeer het opnieuw.",
		},
	})
}

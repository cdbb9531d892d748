package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/breach"
	"github.com/verwerker/verwerker/policy"
)

// The breach pages (GDPR Art. 33(2)-(5)): the DPO's running 48-hour
// clocks, every incident with its triage, impact, notices and history, and
// the forms to report, triage and notify; a customer's own notices with
// the acknowledge button. Everything is breach.Service's.

type breachesData struct {
	Clocks    []breach.Clock
	Incidents []breach.Incident
	Times     chart
	Kinds     []string
	CanReport bool
}

func (s *Server) breachesPage() Page {
	return Page{Method: http.MethodGet, Path: "breaches", Permission: policy.PermBreachManage, Scope: Platform,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			ctx := r.Context()
			d := breachesData{Kinds: breach.Kinds}
			var err error
			if d.Clocks, err = s.deps.Breaches.Clocks(ctx); err != nil {
				return err
			}
			if d.Incidents, err = s.deps.Breaches.List(ctx); err != nil {
				return err
			}
			if d.Times, err = s.notificationChart(r, v); err != nil {
				return err
			}
			d.CanReport, _ = s.deps.Authz.Allowed(ctx, v.principal, policy.PermBreachReport, verwerker.PlatformDomain)
			return s.show(w, v, "breaches", "breaches.title", d)
		}}
}

// notificationChart draws how long after discovery each customer's first
// notice was delivered, against the 48-hour line: the latest 40.
func (s *Server) notificationChart(r *http.Request, v *view) (chart, error) {
	times, err := s.deps.Breaches.NotificationTimes(r.Context())
	if err != nil {
		return chart{}, err
	}
	const most = 40 // the latest notices: the chart stays readable
	if len(times) > most {
		times = times[len(times)-most:]
	}
	name := s.tenantNames(r)
	bars := make([]durationBar, 0, len(times))
	late := 0
	for _, t := range times {
		label := []rune(name(t.TenantID))
		if len(label) > 18 {
			label = append(label[:17], '…')
		}
		bars = append(bars, durationBar{Label: string(label) + " " + t.IncidentID[len(t.IncidentID)-4:], Value: t.Elapsed, Late: !t.OnTime})
		if !t.OnTime {
			late++
		}
	}
	summary := translate(v.Lang, "breaches.times.summary", len(times), len(times)-late, late)
	return lineBars("breach-times", translate(v.Lang, "breaches.times"), translate(v.Lang, "breaches.line"), summary, bars, breach.Window), nil
}

// reportSubmit records a reported incident (breach.Service.Report); the
// clock runs from the discovery time given in the viewer's time zone.
func (s *Server) reportSubmit() Page {
	return Page{Method: http.MethodPost, Path: "breaches", Permission: policy.PermBreachReport, Scope: Platform,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			discovered, err := formTime(r, v, "discovered_at", true)
			if err != nil {
				return err
			}
			started, err := formTime(r, v, "started_at", false)
			if err != nil {
				return err
			}
			rep := breach.Report{Title: r.PostFormValue("title"), Description: r.PostFormValue("description"),
				Kinds: r.PostForm["kinds"], DiscoveredHow: r.PostFormValue("discovered_how"), Systems: formList(r, "systems"),
				Tenants: formList(r, "tenants"), Consequences: r.PostFormValue("consequences"), Measures: r.PostFormValue("measures"),
				Contact: r.PostFormValue("contact")}
			if discovered != nil {
				rep.DiscoveredAt = *discovered
			}
			rep.StartedAt = started
			i, err := s.deps.Breaches.Report(r.Context(), rep, breach.ViaStaff)
			if err != nil {
				return err
			}
			http.Redirect(w, r, Prefix+"breaches/"+i.ID+"?done=reported", http.StatusSeeOther)
			return nil
		}}
}

type incidentData struct {
	Incident  breach.Incident
	History   []breach.Revision
	Notices   []breach.Notice
	Names     map[string]string
	Kinds     []string
	Left      time.Duration
	Near      bool
	CanNotify bool
}

func (s *Server) incidentPage() Page {
	return Page{Method: http.MethodGet, Path: "breaches/{incident_id}", Permission: policy.PermBreachManage, Scope: Platform,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			ctx := r.Context()
			d := incidentData{Names: map[string]string{}, Kinds: breach.Kinds}
			var err error
			if d.Incident, err = s.deps.Breaches.Get(ctx, r.PathValue("incident_id")); err != nil {
				return err
			}
			if d.History, err = s.deps.Breaches.History(ctx, d.Incident.ID); err != nil {
				return err
			}
			if d.Notices, err = s.deps.Breaches.Notices(ctx, d.Incident.ID); err != nil {
				return err
			}
			ids := []string{}
			for _, n := range d.Notices {
				ids = append(ids, n.TenantID)
			}
			if d.Incident.Impact != nil {
				for _, c := range d.Incident.Impact.Customers {
					ids = append(ids, c.TenantID)
				}
			}
			for _, id := range ids {
				if _, ok := d.Names[id]; ok {
					continue
				}
				if t, err := s.deps.Tenants.Get(ctx, id); err == nil {
					d.Names[id] = t.Name
				} else {
					d.Names[id] = id
				}
			}
			d.Left = d.Incident.DeadlineAt.Sub(v.Now)
			d.Near = d.Left <= 12*time.Hour
			d.CanNotify = d.Incident.Status == breach.StatusBreach
			if f := r.URL.Query().Get("done"); f != "" {
				v.Flash = "breaches.done." + flashKey(f, "reported", "triaged", "scoped", "notified", "updated")
			}
			return s.show(w, v, "incident", "breaches.incident", d)
		}}
}

// triageSubmit runs the triage policy on the DPO's assessment.
func (s *Server) triageSubmit() Page {
	return s.incidentAction("triage", "triaged", func(r *http.Request, id string) error {
		a := breach.Assessment{Actual: r.PostFormValue("actual") == "yes", PersonalData: r.PostFormValue("personal_data") == "yes",
			Reason: r.PostFormValue("reason")}
		if k := r.PostForm["kinds"]; len(k) > 0 {
			a.Kinds = k
		}
		_, err := s.deps.Breaches.Triage(r.Context(), id, a)
		return err
	})
}

// scopeSubmit counts the impact from the records again.
func (s *Server) scopeSubmit() Page {
	return s.incidentAction("impact", "scoped", func(r *http.Request, id string) error {
		_, err := s.deps.Breaches.Scope(r.Context(), id)
		return err
	})
}

// notifySubmit sends each affected customer without one its first notice.
func (s *Server) notifySubmit() Page {
	return s.incidentAction("notices", "notified", func(r *http.Request, id string) error {
		_, err := s.deps.Breaches.Notify(r.Context(), id)
		return err
	})
}

// updateSubmit sends a phased update (Art. 33(4)) to the notified customers.
func (s *Server) updateSubmit() Page {
	return s.incidentAction("updates", "updated", func(r *http.Request, id string) error {
		_, err := s.deps.Breaches.Update(r.Context(), id, r.PostFormValue("update"))
		return err
	})
}

// incidentAction is a DPO's form on an incident page: it runs do and
// goes back to the incident with the flash done.
func (s *Server) incidentAction(path, done string, do func(r *http.Request, id string) error) Page {
	return Page{Method: http.MethodPost, Path: "breaches/{incident_id}/" + path, Permission: policy.PermBreachManage, Scope: Platform,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			id := r.PathValue("incident_id")
			if err := do(r, id); err != nil {
				return err
			}
			http.Redirect(w, r, Prefix+"breaches/"+id+"?done="+done, http.StatusSeeOther)
			return nil
		}}
}

// registerPage downloads the whole register (Art. 33(5)) as a printable
// document; the customer's is customerRegisterPage.
func (s *Server) registerPage() Page {
	return Page{Method: http.MethodGet, Path: "breaches/register", Permission: policy.PermBreachManage, Scope: Platform,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			reg, err := s.deps.Breaches.FullRegister(r.Context())
			if err != nil {
				return err
			}
			return download(w, reg, "breach-register.html")
		}}
}

type customerBreachesData struct {
	TenantID       string
	Notices        []breach.Notice
	CanAcknowledge bool
}

// customerBreachesPage is a customer's own breach notices: no other
// customer's (tenant scope, row-level security in breach).
func (s *Server) customerBreachesPage() Page {
	return Page{Method: http.MethodGet, Path: "customers/{tenant_id}/breaches", Permission: policy.PermBreachNoticeRead, Scope: Tenant,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			ctx := r.Context()
			d := customerBreachesData{TenantID: r.PathValue("tenant_id")}
			var err error
			if d.Notices, err = s.deps.Breaches.CustomerNotices(ctx, d.TenantID); err != nil {
				return err
			}
			d.CanAcknowledge, _ = s.deps.Authz.Allowed(ctx, v.principal, policy.PermBreachAcknowledge, d.TenantID)
			if r.URL.Query().Get("done") == "acknowledged" {
				v.Flash = "breaches.done.acknowledged"
			}
			return s.show(w, v, "customer_breaches", "breaches.notices", d)
		}}
}

// acknowledgeSubmit records the controller's acknowledgement of a notice.
func (s *Server) acknowledgeSubmit() Page {
	return Page{Method: http.MethodPost, Path: "customers/{tenant_id}/breaches/{incident_id}/{phase}/acknowledge",
		Permission: policy.PermBreachAcknowledge, Scope: Tenant,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			tid := r.PathValue("tenant_id")
			phase, err := strconv.Atoi(r.PathValue("phase"))
			if err != nil || phase < 0 {
				return verwerker.Errorf(verwerker.ENOTFOUND, "no such notice")
			}
			if _, err := s.deps.Breaches.Acknowledge(r.Context(), tid, r.PathValue("incident_id"), phase); err != nil {
				return err
			}
			http.Redirect(w, r, Prefix+"customers/"+tid+"/breaches?done=acknowledged", http.StatusSeeOther)
			return nil
		}}
}

// customerRegisterPage downloads the customer's part of the register.
func (s *Server) customerRegisterPage() Page {
	return Page{Method: http.MethodGet, Path: "customers/{tenant_id}/breaches/register", Permission: policy.PermBreachNoticeRead, Scope: Tenant,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			reg, err := s.deps.Breaches.CustomerRegister(r.Context(), r.PathValue("tenant_id"))
			if err != nil {
				return err
			}
			return download(w, reg, "breach-register.html")
		}}
}

// download sends the register as an HTML file to save or print: an
// attachment, so its own inline style does not meet the dashboard's CSP.
func download(w http.ResponseWriter, reg breach.Register, name string) error {
	b, err := reg.HTML()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
	return nil
}

// formTime reads a datetime-local field in the viewer's time zone; an
// empty optional field is nil.
func formTime(r *http.Request, v *view, field string, required bool) (*time.Time, error) {
	s := strings.TrimSpace(r.PostFormValue(field))
	if s == "" {
		if required {
			return nil, verwerker.Invalid("the form is not valid", verwerker.FieldError{Field: field, Message: "is required"})
		}
		return nil, nil
	}
	t, err := time.ParseInLocation("2006-01-02T15:04", s, v.Loc)
	if err != nil {
		return nil, verwerker.Invalid("the form is not valid", verwerker.FieldError{Field: field, Message: "must be a date and time"})
	}
	t = t.UTC()
	return &t, nil
}

// formList splits a comma-separated field into its trimmed items.
func formList(r *http.Request, field string) []string {
	var out []string
	for _, x := range strings.Split(r.PostFormValue(field), ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// flashKey returns f if it is one of known, else the first: a flash names
// only our own messages.
func flashKey(f string, known ...string) string {
	for _, k := range known {
		if f == k {
			return f
		}
	}
	return known[0]
}

func init() {
	addMessages(map[string]map[string]string{
		"en": {
			"breaches.title": "Breaches", "breaches.clocks": "Breach clocks (48 hours from discovery)",
			"breaches.incident": "Incident", "breaches.discovered": "Discovered", "breaches.deadline": "Notices due",
			"breaches.customers": "Affected customers", "breaches.delivered": "delivered", "breaches.acknowledged": "acknowledged",
			"breaches.stopped": "every customer notified", "breaches.pending": "not delivered",
			"breaches.noclocks": "No breach clock is running.", "breaches.register": "Download the register (Art. 33(5))",
			"breaches.times": "Notice delivery after discovery, in hours", "breaches.line": "48 hours",
			"breaches.times.summary": "%d first notices: %d within 48 hours, %d later", "breaches.reason": "Reason",
			"breaches.incidents": "Incidents", "breaches.status": "Status", "breaches.via": "Reported by",
			"breach.status.reported": "reported, not triaged", "breach.status.breach": "breach", "breach.status.vulnerability": "vulnerability (not notified)",
			"breach.status.dismissed": "dismissed", "breach.status.closed": "closed",
			"breaches.report": "Report an incident", "breaches.f.title": "Title (no personal data)", "breaches.f.description": "What happened",
			"breaches.f.discovered": "Discovered at (the clock runs from here)", "breaches.f.how": "How it was discovered",
			"breaches.f.started": "Started at (if known)", "breaches.f.ended": "Ended at", "breaches.f.kinds": "Security properties breached",
			"breaches.f.systems": "Systems (comma-separated: chat, admin; empty: all)", "breaches.f.tenants": "Customer ids (comma-separated; empty: all in scope)",
			"breaches.f.consequences": "Likely consequences", "breaches.f.measures": "Measures taken or proposed", "breaches.f.contact": "Contact point",
			"breaches.f.actual":   "Was personal data actually destroyed, lost, altered, disclosed or accessed (or can that not be excluded)?",
			"breaches.f.personal": "Does the incident involve personal data?", "breaches.f.reason": "Reason (required when revising)",
			"breaches.f.update":           "What is new (sent to every notified customer)",
			"breach.kind.confidentiality": "confidentiality", "breach.kind.integrity": "integrity", "breach.kind.availability": "availability",
			"breaches.facts": "Facts", "breaches.triage": "Triage", "breaches.untriaged": "Not triaged yet.",
			"breaches.impact": "Impact per customer and category", "breaches.totals": "%d data subjects, %d records",
			"breaches.estimated": "estimate", "breaches.category": "Category", "breaches.subjects": "Data subjects", "breaches.records": "Records",
			"breaches.encryption": "Encryption", "breaches.all": "all categories", "breaches.noimpact": "Not counted yet.",
			"breaches.recount": "Count the impact from the records", "breaches.notices": "Breach notices",
			"breaches.phase": "Notice", "breaches.delivery": "Delivery", "breaches.authority": "Controller's 72 hours end",
			"breaches.update": "update", "breaches.first": "first notice",
			"breach.delivery.sending": "sending", "breach.delivery.delivered": "delivered", "breach.delivery.undelivered": "NOT delivered",
			"breaches.nonotices": "No notices yet.", "breaches.notify": "Send notices to the affected customers",
			"breaches.sendupdate": "Send update", "breaches.history": "History", "breaches.when": "When", "breaches.action": "Action",
			"breaches.who": "By", "breaches.affected": "Your affected data", "breaches.acknowledge": "Acknowledge receipt",
			"breaches.done.reported": "The incident is reported: triage it.", "breaches.done.triaged": "The triage is recorded.",
			"breaches.done.scoped": "The impact is counted.", "breaches.done.notified": "The notices are on their way.",
			"breaches.done.updated": "The update is on its way.", "breaches.done.acknowledged": "Your acknowledgement is recorded.",
			"alarm.breach": "Breach \"%s\": notices due %s (%s), %d customers not notified.",
		},
		"nl": {
			"breaches.title": "Datalekken", "breaches.clocks": "Datalekklokken (48 uur na ontdekking)",
			"breaches.incident": "Incident", "breaches.discovered": "Ontdekt", "breaches.deadline": "Meldingen uiterlijk",
			"breaches.customers": "Getroffen klanten", "breaches.delivered": "afgeleverd", "breaches.acknowledged": "bevestigd",
			"breaches.stopped": "elke klant gemeld", "breaches.pending": "niet afgeleverd",
			"breaches.noclocks": "Er loopt geen datalekklok.", "breaches.register": "Register downloaden (art. 33 lid 5)",
			"breaches.times": "Aflevering van meldingen na ontdekking, in uren", "breaches.line": "48 uur",
			"breaches.times.summary": "%d eerste meldingen: %d binnen 48 uur, %d later", "breaches.reason": "Reden",
			"breaches.incidents": "Incidenten", "breaches.status": "Status", "breaches.via": "Gemeld door",
			"breach.status.reported": "gemeld, niet beoordeeld", "breach.status.breach": "datalek", "breach.status.vulnerability": "kwetsbaarheid (niet gemeld)",
			"breach.status.dismissed": "afgewezen", "breach.status.closed": "gesloten",
			"breaches.report": "Incident melden", "breaches.f.title": "Titel (geen persoonsgegevens)", "breaches.f.description": "Wat er gebeurde",
			"breaches.f.discovered": "Ontdekt op (de klok loopt vanaf hier)", "breaches.f.how": "Hoe het ontdekt is",
			"breaches.f.started": "Begonnen op (indien bekend)", "breaches.f.ended": "Geëindigd op", "breaches.f.kinds": "Geschonden beveiligingseigenschappen",
			"breaches.f.systems": "Systemen (kommagescheiden: chat, admin; leeg: alle)", "breaches.f.tenants": "Klant-id's (kommagescheiden; leeg: alle binnen bereik)",
			"breaches.f.consequences": "Waarschijnlijke gevolgen", "breaches.f.measures": "Genomen of voorgestelde maatregelen", "breaches.f.contact": "Contactpunt",
			"breaches.f.actual":   "Zijn persoonsgegevens werkelijk vernietigd, verloren, gewijzigd, verstrekt of ingezien (of valt dat niet uit te sluiten)?",
			"breaches.f.personal": "Gaat het incident over persoonsgegevens?", "breaches.f.reason": "Reden (verplicht bij herziening)",
			"breaches.f.update":           "Wat er nieuw is (naar elke gemelde klant)",
			"breach.kind.confidentiality": "vertrouwelijkheid", "breach.kind.integrity": "integriteit", "breach.kind.availability": "beschikbaarheid",
			"breaches.facts": "Feiten", "breaches.triage": "Beoordeling", "breaches.untriaged": "Nog niet beoordeeld.",
			"breaches.impact": "Gevolgen per klant en categorie", "breaches.totals": "%d betrokkenen, %d records",
			"breaches.estimated": "schatting", "breaches.category": "Categorie", "breaches.subjects": "Betrokkenen", "breaches.records": "Records",
			"breaches.encryption": "Versleuteling", "breaches.all": "alle categorieën", "breaches.noimpact": "Nog niet geteld.",
			"breaches.recount": "Gevolgen tellen uit de records", "breaches.notices": "Datalekmeldingen",
			"breaches.phase": "Melding", "breaches.delivery": "Aflevering", "breaches.authority": "Einde 72 uur van de verwerkingsverantwoordelijke",
			"breaches.update": "aanvulling", "breaches.first": "eerste melding",
			"breach.delivery.sending": "wordt verstuurd", "breach.delivery.delivered": "afgeleverd", "breach.delivery.undelivered": "NIET afgeleverd",
			"breaches.nonotices": "Nog geen meldingen.", "breaches.notify": "Meldingen sturen aan de getroffen klanten",
			"breaches.sendupdate": "Aanvulling sturen", "breaches.history": "Geschiedenis", "breaches.when": "Wanneer", "breaches.action": "Actie",
			"breaches.who": "Door", "breaches.affected": "Jouw getroffen gegevens", "breaches.acknowledge": "Ontvangst bevestigen",
			"breaches.done.reported": "Het incident is gemeld: beoordeel het.", "breaches.done.triaged": "De beoordeling is vastgelegd.",
			"breaches.done.scoped": "De gevolgen zijn geteld.", "breaches.done.notified": "De meldingen zijn onderweg.",
			"breaches.done.updated": "De aanvulling is onderweg.", "breaches.done.acknowledged": "Je bevestiging is vastgelegd.",
			"alarm.breach": "Datalek \"%s\": meldingen uiterlijk %s (%s), %d klanten niet gemeld.",
		},
	})
}

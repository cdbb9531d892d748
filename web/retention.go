package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/records"
	"github.com/verwerker/verwerker/retention"
)

// A customer's retention (GDPR Art. 5(1)(e), 17, 28(3)(g)): the rules with
// their legal ground, what will be deleted in 7, 30 and 90 days, the last
// sweeps with their certificates, what is overdue, and the legal holds
// with the place, review and lift forms.

type retentionData struct {
	TenantID string
	Rules    []retention.Rule
	Forecast retention.Forecast
	Chart    chart
	Sweeps   []retention.Sweep
	Overdue  *records.Overdue
	Holds    []retention.Hold
	Scopes   []string
	CanHold  bool
	// Tomorrow is the earliest review day a hold may take.
	Tomorrow deadline.Date
}

func (s *Server) retentionPage() Page {
	return Page{Method: http.MethodGet, Path: "customers/{tenant_id}/retention", Permission: policy.PermRetentionRead, Scope: Tenant,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			ctx := r.Context()
			tid := r.PathValue("tenant_id")
			d := retentionData{TenantID: tid, Scopes: []string{retention.ScopeSubject, retention.ScopeCategory, retention.ScopeTenant},
				Tomorrow: deadline.DateOf(v.Now.UTC()).AddDays(1)}
			var err error
			if d.Rules, err = s.deps.Retention.Rules(ctx, tid); err != nil {
				return err
			}
			if d.Forecast, err = s.deps.Retention.Forecast(ctx, tid); err != nil {
				return err
			}
			d.Chart = forecastChart(v, d.Forecast)
			if d.Sweeps, err = s.deps.Retention.Sweeps(ctx, tid, "", 10); err != nil {
				return err
			}
			overdue, err := s.deps.Retention.Overdue(ctx)
			if err != nil {
				return err
			}
			for i := range overdue {
				if overdue[i].TenantID == tid {
					d.Overdue = &overdue[i]
				}
			}
			if d.Holds, err = s.deps.Retention.Holds(ctx, tid, true); err != nil {
				return err
			}
			d.CanHold, _ = s.deps.Authz.Allowed(ctx, v.principal, policy.PermHoldManage, tid)
			if f := r.URL.Query().Get("done"); f != "" {
				v.Flash = "retention.done." + flashKey(f, "placed", "reviewed", "lifted")
			}
			return s.show(w, v, "retention", "retention.title", d)
		}}
}

type platformRetentionData struct {
	Forecast retention.PlatformForecast
	Chart    chart
	Overdue  []records.Overdue
	Name     func(string) string
}

// platformRetentionPage is the DPO's view over every customer: what will be
// deleted in the next 7, 30 and 90 days per category, the customers with
// the most due, and every customer with overdue deletions.
func (s *Server) platformRetentionPage() Page {
	return Page{Method: http.MethodGet, Path: "retention", Permission: policy.PermRetentionRead, Scope: Platform,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			ctx := r.Context()
			f, err := s.deps.Retention.PlatformForecast(ctx, 20)
			if err != nil {
				return err
			}
			d := platformRetentionData{Forecast: f, Name: s.tenantNames(r)}
			d.Chart = forecastChart(v, retention.Forecast{Horizons: f.Horizons, Categories: f.Categories})
			if d.Overdue, err = s.deps.Retention.Overdue(ctx); err != nil {
				return err
			}
			return s.show(w, v, "retention_platform", "retention.platform", d)
		}}
}

// forecastChart stacks the categories' due records per horizon.
func forecastChart(v *view, f retention.Forecast) chart {
	labels := make([]string, len(f.Horizons))
	for i, h := range f.Horizons {
		labels[i] = translate(v.Lang, "retention.within", h)
	}
	ss := make([]series, len(f.Categories))
	for k, c := range f.Categories {
		ss[k] = series{Name: c.Category, Color: purposeColors[k%len(purposeColors)], Values: make([]uint64, len(f.Horizons))}
		for i := range f.Horizons {
			if i < len(c.Due) && c.Due[i] > 0 {
				ss[k].Values[i] = uint64(c.Due[i])
			}
		}
	}
	return stackedBars("forecast", translate(v.Lang, "retention.forecast"), labels, ss)
}

// sweepPage is one sweep's deletion certificate.
func (s *Server) sweepPage() Page {
	return Page{Method: http.MethodGet, Path: "customers/{tenant_id}/retention/sweeps/{sweep_id}", Permission: policy.PermCertificateRead, Scope: Tenant,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			sw, err := s.deps.Retention.Certificate(r.Context(), r.PathValue("tenant_id"), r.PathValue("sweep_id"))
			if err != nil {
				return err
			}
			return s.show(w, v, "sweep", "retention.certificate", sw)
		}}
}

// placeSubmit places a legal hold (retention.Service.Place).
func (s *Server) placeSubmit() Page {
	return s.holdAction("holds", "placed", func(r *http.Request, tid string) error {
		review, err := formDate(r, "review_on")
		if err != nil {
			return err
		}
		_, err = s.deps.Retention.Place(r.Context(), tid, retention.Placement{Scope: r.PostFormValue("scope"),
			SubjectID: r.PostFormValue("subject_id"), Category: r.PostFormValue("category"), Reason: r.PostFormValue("reason"),
			Owner: r.PostFormValue("owner"), ReviewOn: review})
		return err
	})
}

// reviewSubmit records a hold's review with its next review day.
func (s *Server) reviewSubmit() Page {
	return s.holdAction("holds/{hold_id}/review", "reviewed", func(r *http.Request, tid string) error {
		next, err := formDate(r, "review_on")
		if err != nil {
			return err
		}
		_, err = s.deps.Retention.Review(r.Context(), tid, r.PathValue("hold_id"), next)
		return err
	})
}

// liftSubmit lifts a hold with a reason.
func (s *Server) liftSubmit() Page {
	return s.holdAction("holds/{hold_id}/lift", "lifted", func(r *http.Request, tid string) error {
		_, err := s.deps.Retention.Lift(r.Context(), tid, r.PathValue("hold_id"), r.PostFormValue("reason"))
		return err
	})
}

// holdAction is a hold form on the retention page: it runs do and goes
// back to the holds with the flash done.
func (s *Server) holdAction(path, done string, do func(r *http.Request, tenantID string) error) Page {
	return Page{Method: http.MethodPost, Path: "customers/{tenant_id}/retention/" + path, Permission: policy.PermHoldManage, Scope: Tenant,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			tid := r.PathValue("tenant_id")
			if err := do(r, tid); err != nil {
				return err
			}
			http.Redirect(w, r, Prefix+"customers/"+tid+"/retention?done="+done+"#holds", http.StatusSeeOther)
			return nil
		}}
}

// formDate reads a date field (YYYY-MM-DD).
func formDate(r *http.Request, field string) (deadline.Date, error) {
	d, err := deadline.ParseDate(r.PostFormValue(field))
	if err != nil {
		return d, verwerker.Invalid("the form is not valid", verwerker.FieldError{Field: field, Message: "must be a date"})
	}
	return d, nil
}

// overdueDays says how long ago the oldest overdue record's deadline was.
func overdueDays(now, oldest time.Time) string {
	return strconv.Itoa(int(now.Sub(oldest).Hours() / 24))
}

func init() {
	addMessages(map[string]map[string]string{
		"en": {
			"retention.title": "Retention", "retention.rules": "Retention rules", "retention.category": "Category",
			"retention.trigger": "Trigger", "retention.period": "Period", "retention.action": "Action", "retention.ground": "Legal ground",
			"retention.source": "Source", "retention.forecast": "Records to be deleted, by category", "retention.within": "within %d days",
			"retention.countdown": "Contract ended %s: everything but statutory records is purged by %s (%d days).",
			"retention.sweeps":    "Last sweeps and their deletion certificates", "retention.sweep": "Sweep", "retention.started": "Started",
			"retention.status": "Status", "retention.deleted": "Deleted records", "retention.subjects": "Subjects shredded",
			"retention.heldback": "Held back", "retention.nosweeps": "No sweeps yet.",
			"retention.overdue": "Overdue deletions", "retention.overdue.n": "%d records past their deadline, the oldest since %s: the sweep is behind.",
			"retention.nooverdue": "Nothing is overdue.", "retention.holds": "Legal holds", "retention.nohold": "No legal holds.",
			"retention.scope": "Scope", "retention.target": "What it holds", "retention.reason": "Reason", "retention.owner": "Owner (role or team)",
			"retention.review": "Review by", "retention.placed": "Placed", "retention.lifted": "Lifted", "retention.pastreview": "review overdue",
			"retention.place": "Place a legal hold", "retention.f.subject": "Subject id (subject scope)", "retention.f.category": "Category (category scope)",
			"retention.reviewed": "Reviewed: hold until", "retention.doreview": "Record review", "retention.lift": "Lift", "retention.liftreason": "Reason to lift",
			"retention.scope.subject": "one data subject", "retention.scope.category": "one data category", "retention.scope.tenant": "the whole customer",
			"retention.done.placed": "The hold is placed: nothing it covers is deleted.", "retention.done.reviewed": "The review is recorded.",
			"retention.done.lifted": "The hold is lifted: deletion resumes at the next sweep.", "retention.certificate": "Deletion certificate",
			"retention.cutoff": "Deadline cutoff", "retention.completed": "Completed", "retention.keys": "Key versions destroyed",
			"retention.deadlines": "Deadlines of the deleted records", "retention.purge": "contract-end purge",
			"retention.platform": "Retention, every customer", "retention.computed": "Counted %s (every 15 minutes), before legal holds.",
			"retention.notcounted": "Not counted yet: the forecast job runs every 15 minutes.", "retention.customer": "Customer",
			"retention.total": "All categories", "retention.mostdue": "Customers with the most records due",
			"alarm.retention.overdue": "%s: %d records past their deletion deadline (the oldest %s days).",
			"alarm.hold.review":       "%s: legal hold %s was due for review on %s.",
		},
		"nl": {
			"retention.title": "Bewaartermijnen", "retention.rules": "Bewaarregels", "retention.category": "Categorie",
			"retention.trigger": "Aanleiding", "retention.period": "Termijn", "retention.action": "Actie", "retention.ground": "Grondslag",
			"retention.source": "Bron", "retention.forecast": "Te verwijderen records, per categorie", "retention.within": "binnen %d dagen",
			"retention.countdown": "Contract beëindigd %s: alles behalve wettelijk te bewaren records wordt verwijderd uiterlijk %s (%d dagen).",
			"retention.sweeps":    "Laatste verwijderrondes en hun certificaten", "retention.sweep": "Ronde", "retention.started": "Begonnen",
			"retention.status": "Status", "retention.deleted": "Verwijderde records", "retention.subjects": "Betrokkenen vernietigd",
			"retention.heldback": "Tegengehouden", "retention.nosweeps": "Nog geen verwijderrondes.",
			"retention.overdue": "Achterstallige verwijderingen", "retention.overdue.n": "%d records over hun termijn, de oudste sinds %s: de verwijderronde loopt achter.",
			"retention.nooverdue": "Niets is achterstallig.", "retention.holds": "Bewaarplichten (legal holds)", "retention.nohold": "Geen bewaarplichten.",
			"retention.scope": "Reikwijdte", "retention.target": "Wat bewaard blijft", "retention.reason": "Reden", "retention.owner": "Eigenaar (rol of team)",
			"retention.review": "Herzien uiterlijk", "retention.placed": "Geplaatst", "retention.lifted": "Opgeheven", "retention.pastreview": "herziening te laat",
			"retention.place": "Bewaarplicht plaatsen", "retention.f.subject": "Id van de betrokkene (reikwijdte betrokkene)", "retention.f.category": "Categorie (reikwijdte categorie)",
			"retention.reviewed": "Herzien: bewaren tot", "retention.doreview": "Herziening vastleggen", "retention.lift": "Opheffen", "retention.liftreason": "Reden van opheffen",
			"retention.scope.subject": "één betrokkene", "retention.scope.category": "één gegevenscategorie", "retention.scope.tenant": "de hele klant",
			"retention.done.placed": "De bewaarplicht staat: niets daarvan wordt verwijderd.", "retention.done.reviewed": "De herziening is vastgelegd.",
			"retention.done.lifted": "De bewaarplicht is opgeheven: verwijderen gaat verder bij de volgende ronde.", "retention.certificate": "Verwijderingscertificaat",
			"retention.cutoff": "Termijngrens", "retention.completed": "Voltooid", "retention.keys": "Vernietigde sleutelversies",
			"retention.deadlines": "Termijnen van de verwijderde records", "retention.purge": "verwijdering na contracteinde",
			"retention.platform": "Bewaartermijnen, alle klanten", "retention.computed": "Geteld %s (elk kwartier), vóór bewaarplichten.",
			"retention.notcounted": "Nog niet geteld: de prognose wordt elk kwartier bijgewerkt.", "retention.customer": "Klant",
			"retention.total": "Alle categorieën", "retention.mostdue": "Klanten met de meeste te verwijderen records",
			"alarm.retention.overdue": "%s: %d records over hun verwijdertermijn (de oudste %s dagen).",
			"alarm.hold.review":       "%s: bewaarplicht %s had herzien moeten worden op %s.",
		},
	})
}

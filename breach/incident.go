package breach

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/dpa"
)

// Status is where an incident stands.
type Status string

// Statuses of an incident.
const (
	StatusReported      Status = "reported"      // not yet triaged
	StatusBreach        Status = "breach"        // an actual personal data breach: notified
	StatusVulnerability Status = "vulnerability" // recorded, not notified (seed 001 art. 12.16)
	StatusDismissed     Status = "dismissed"     // not a security incident at all; the reason is kept
	StatusClosed        Status = "closed"        // a breach whose handling is complete
)

// Kinds of breach: the security property of personal data that was
// breached (EDPB Guidelines 9/2022).
var Kinds = []string{"confidentiality", "integrity", "availability"}

// Systems are the parts of the service an incident can touch; each
// covers the records of a kind prefix ("chat" covers chat.conversation
// and chat.message).
var Systems = []string{"chat", "admin"}

// Ways an incident is reported.
const (
	ViaStaff     = "staff"     // the DPO or a platform admin
	ViaDetection = "detection" // a detection hook's API key
)

// Window is the breach deadline: a notice to every affected controller
// within 48 hours of discovery, counted in exact elapsed time (seed 001
// art. 12.15; no weekend or holiday rule).
const Window = 48 * time.Hour

// AuthorityWindow is the controller's own period to notify the supervisory
// authority from the moment it is aware (GDPR Art. 33(1)).
const AuthorityWindow = 72 * time.Hour

// Report is what a reporter knows of an incident. Only the title and the
// discovery time are required: what is not known yet is "to follow" in the
// notices and can be added later (Revise).
type Report struct {
	// Title is a short description, without personal data.
	Title string `json:"title"`
	// Description says what happened.
	Description string `json:"description"`
	// Kinds are the security properties breached (Kinds); may be empty
	// until known.
	Kinds []string `json:"kinds"`
	// StartedAt and EndedAt bound the incident; nil when unknown, EndedAt
	// nil while ongoing.
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	// DiscoveredAt is when the company became aware: the 48-hour clock
	// runs from it.
	DiscoveredAt time.Time `json:"discovered_at"`
	// DiscoveredHow says how it was discovered.
	DiscoveredHow string `json:"discovered_how"`
	// Systems, Categories and Regions scope the data involved; empty means
	// all.
	Systems    []string `json:"systems"`
	Categories []string `json:"categories"`
	Regions    []string `json:"regions"`
	// Tenants limits the incident to some customers; empty means every
	// customer whose data is in scope.
	Tenants []string `json:"tenants"`
	// Consequences are the likely consequences (Art. 33(3)(c)).
	Consequences string `json:"consequences"`
	// Measures are the measures taken or proposed (Art. 33(3)(d)).
	Measures string `json:"measures"`
	// Contact is the contact point for more information (Art. 33(3)(b)).
	Contact string `json:"contact"`
}

// Incident is a reported security incident with its triage and impact.
type Incident struct {
	ID string `json:"id"`
	Report
	ReportedBy  string    `json:"reported_by"`
	ReportedVia string    `json:"reported_via"`
	Status      Status    `json:"status"`
	Triage      *Triage   `json:"triage,omitempty"`
	Impact      *Impact   `json:"impact,omitempty"`
	DeadlineAt  time.Time `json:"deadline_at"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Revision is one entry of an incident's history.
type Revision struct {
	Seq    int            `json:"seq"`
	At     time.Time      `json:"at"`
	Actor  string         `json:"actor"`
	Action string         `json:"action"`
	Status Status         `json:"status"`
	Reason string         `json:"reason,omitempty"`
	Detail map[string]any `json:"detail,omitempty"`
}

func checkText(field, s string, max int, required bool) *verwerker.FieldError {
	switch {
	case required && strings.TrimSpace(s) == "":
		return &verwerker.FieldError{Field: field, Message: "is required"}
	case !utf8.ValidString(s):
		return &verwerker.FieldError{Field: field, Message: "must be UTF-8 text"}
	case utf8.RuneCountInString(s) > max:
		return &verwerker.FieldError{Field: field, Message: fmt.Sprintf("must be at most %d characters", max)}
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
			return &verwerker.FieldError{Field: field, Message: "must not contain control characters"}
		}
	}
	return nil
}

// normalize trims r and checks every rule, naming each offending field.
func (r *Report) normalize(now time.Time) error {
	var fields []verwerker.FieldError
	bad := func(f, msg string) { fields = append(fields, verwerker.FieldError{Field: f, Message: msg}) }
	for _, f := range []struct {
		name     string
		v        *string
		max      int
		required bool
	}{{"title", &r.Title, 200, true}, {"description", &r.Description, 10000, false}, {"discovered_how", &r.DiscoveredHow, 2000, false},
		{"consequences", &r.Consequences, 5000, false}, {"measures", &r.Measures, 5000, false}, {"contact", &r.Contact, 500, false}} {
		*f.v = strings.TrimSpace(*f.v)
		if fe := checkText(f.name, *f.v, f.max, f.required); fe != nil {
			fields = append(fields, *fe)
		}
	}
	list := func(name string, v []string, ok func(string) bool) []string {
		seen := map[string]bool{}
		out := []string{}
		for i, x := range v {
			switch {
			case !ok(x):
				bad(fmt.Sprintf("%s[%d]", name, i), "is not a known value")
			case seen[x]:
				bad(fmt.Sprintf("%s[%d]", name, i), "is listed twice")
			default:
				out = append(out, x)
			}
			seen[x] = true
		}
		slices.Sort(out)
		return out
	}
	r.Kinds = list("kinds", r.Kinds, func(s string) bool { return slices.Contains(Kinds, s) })
	r.Systems = list("systems", r.Systems, func(s string) bool { return slices.Contains(Systems, s) })
	r.Categories = list("categories", r.Categories, func(s string) bool { _, ok := dpa.CategoryByID(s); return ok })
	r.Regions = list("regions", r.Regions, func(s string) bool { _, ok := dpa.RegionByID(s); return ok })
	r.Tenants = list("tenants", r.Tenants, func(s string) bool { return s != "" && len(s) <= 64 })
	if r.DiscoveredAt.IsZero() {
		bad("discovered_at", "is required")
	} else if r.DiscoveredAt.After(now) {
		bad("discovered_at", "must not be in the future")
	}
	if r.StartedAt != nil && !r.DiscoveredAt.IsZero() && r.StartedAt.After(r.DiscoveredAt) {
		bad("started_at", "must not be after the discovery")
	}
	if r.StartedAt != nil && r.EndedAt != nil && r.EndedAt.Before(*r.StartedAt) {
		bad("ended_at", "must not be before the start")
	}
	if r.EndedAt != nil && r.EndedAt.After(now) {
		bad("ended_at", "must not be in the future")
	}
	if len(fields) > 0 {
		return verwerker.Invalid("the incident is not valid", fields...)
	}
	r.DiscoveredAt = r.DiscoveredAt.UTC().Truncate(time.Second)
	for _, t := range []**time.Time{&r.StartedAt, &r.EndedAt} {
		if *t != nil {
			u := (*t).UTC().Truncate(time.Second)
			*t = &u
		}
	}
	return nil
}

const incidentColumns = `id, title, description, kinds, started_at, ended_at, discovered_at, discovered_how, systems, categories, regions,
	tenants, consequences, measures, contact, reported_by, reported_via, status, triage, impact, deadline_at, created_at, updated_at`

func scanIncident(row pgx.Row) (Incident, error) {
	var i Incident
	var triage, impact []byte
	err := row.Scan(&i.ID, &i.Title, &i.Description, &i.Kinds, &i.StartedAt, &i.EndedAt, &i.DiscoveredAt, &i.DiscoveredHow,
		&i.Systems, &i.Categories, &i.Regions, &i.Tenants, &i.Consequences, &i.Measures, &i.Contact, &i.ReportedBy, &i.ReportedVia,
		&i.Status, &triage, &impact, &i.DeadlineAt, &i.CreatedAt, &i.UpdatedAt)
	if err != nil {
		return i, err
	}
	if triage != nil {
		i.Triage = &Triage{}
		if err := json.Unmarshal(triage, i.Triage); err != nil {
			return i, err
		}
	}
	if impact != nil {
		i.Impact = &Impact{}
		if err := json.Unmarshal(impact, i.Impact); err != nil {
			return i, err
		}
	}
	for _, t := range []*time.Time{&i.DiscoveredAt, &i.DeadlineAt, &i.CreatedAt, &i.UpdatedAt} {
		*t = t.UTC()
	}
	for _, t := range []**time.Time{&i.StartedAt, &i.EndedAt} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
	}
	return i, nil
}

// Report records an incident reported via ViaStaff or ViaDetection by the
// principal of ctx. Its 48-hour clock starts at DiscoveredAt and never
// moves. It is not notified until triaged as a breach.
func (s *Service) Report(ctx context.Context, r Report, via string) (Incident, error) {
	now := s.clock.Now().UTC()
	if err := r.normalize(now); err != nil {
		return Incident{}, err
	}
	if via != ViaStaff && via != ViaDetection {
		return Incident{}, verwerker.Errorf(verwerker.EINVALID, "unknown reporting channel")
	}
	var out Incident
	err := s.tx(ctx, "report", func(tx pgx.Tx) error {
		var err error
		out, err = scanIncident(tx.QueryRow(ctx, `INSERT INTO breach_incidents (id, title, description, kinds, started_at, ended_at,
				discovered_at, discovered_how, systems, categories, regions, tenants, consequences, measures, contact,
				reported_by, reported_via, deadline_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19)
			RETURNING `+incidentColumns,
			verwerker.NewID(PrefixIncident, now), r.Title, r.Description, r.Kinds, r.StartedAt, r.EndedAt, r.DiscoveredAt,
			r.DiscoveredHow, r.Systems, r.Categories, r.Regions, r.Tenants, r.Consequences, r.Measures, r.Contact,
			audit.Actor(ctx), via, r.DiscoveredAt.Add(Window), now))
		if err != nil {
			return err
		}
		return s.revise(ctx, tx, out, now, "report", "", map[string]any{"via": via})
	})
	return out, err
}

// revise appends a revision of incident i and its audit event (ids and
// codes only: the reason stays in the revision).
func (s *Service) revise(ctx context.Context, tx pgx.Tx, i Incident, now time.Time, action, reason string, detail any) error {
	var d []byte
	if detail != nil {
		var err error
		if d, err = json.Marshal(detail); err != nil {
			return err
		}
	}
	var seq int
	if err := tx.QueryRow(ctx, `INSERT INTO breach_revisions (incident_id, seq, at, actor, action, status, reason, detail)
		SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5, $6, $7 FROM breach_revisions WHERE incident_id = $1
		RETURNING seq`, i.ID, now, audit.Actor(ctx), action, i.Status, reason, d).Scan(&seq); err != nil {
		return err
	}
	return s.audit.Record(ctx, tx, audit.PlatformChain, "breach."+action, i.ID, fmt.Sprintf("status=%s revision=%d", i.Status, seq))
}

// lock reads incident id for update.
func lock(ctx context.Context, tx pgx.Tx, id string) (Incident, error) {
	i, err := scanIncident(tx.QueryRow(ctx, `SELECT `+incidentColumns+` FROM breach_incidents WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return i, errNotFound
	}
	return i, err
}

// Get returns an incident.
func (s *Service) Get(ctx context.Context, id string) (Incident, error) {
	var i Incident
	err := s.tx(ctx, "get", func(tx pgx.Tx) error {
		var err error
		i, err = scanIncident(tx.QueryRow(ctx, `SELECT `+incidentColumns+` FROM breach_incidents WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		return err
	})
	return i, err
}

// List returns every incident, newest discovery first.
func (s *Service) List(ctx context.Context) ([]Incident, error) {
	out := []Incident{}
	err := s.tx(ctx, "list", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+incidentColumns+` FROM breach_incidents ORDER BY discovered_at DESC, id`)
		if err != nil {
			return err
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Incident, error) { return scanIncident(r) })
		if list != nil {
			out = list
		}
		return err
	})
	return out, err
}

// History returns the revisions of an incident, oldest first.
func (s *Service) History(ctx context.Context, id string) ([]Revision, error) {
	out := []Revision{}
	err := s.tx(ctx, "history", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT seq, at, actor, action, status, reason, detail FROM breach_revisions WHERE incident_id = $1 ORDER BY seq`, id)
		if err != nil {
			return err
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Revision, error) {
			var v Revision
			err := r.Scan(&v.Seq, &v.At, &v.Actor, &v.Action, &v.Status, &v.Reason, &v.Detail)
			v.At = v.At.UTC()
			return v, err
		})
		if len(list) == 0 {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM breach_incidents WHERE id = $1`, id).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return errNotFound
			}
		}
		if list != nil {
			out = list
		}
		return err
	})
	return out, err
}

// Facts are the facts of an incident that can be revised as they become
// known (nil leaves a fact as it is).
type Facts struct {
	Description   *string    `json:"description,omitempty"`
	Kinds         []string   `json:"kinds,omitempty"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	EndedAt       *time.Time `json:"ended_at,omitempty"`
	DiscoveredHow *string    `json:"discovered_how,omitempty"`
	Consequences  *string    `json:"consequences,omitempty"`
	Measures      *string    `json:"measures,omitempty"`
	Contact       *string    `json:"contact,omitempty"`
}

// Revise updates the facts of an incident with a reason (required); the
// discovery time and so the clock do not move. Notices already sent are
// not changed: send an update (Update) to tell the controllers.
func (s *Service) Revise(ctx context.Context, id string, f Facts, reason string) (Incident, error) {
	reason = strings.TrimSpace(reason)
	if fe := checkText("reason", reason, 2000, true); fe != nil {
		return Incident{}, verwerker.Invalid("the revision is not valid", *fe)
	}
	now := s.clock.Now().UTC()
	var out Incident
	err := s.tx(ctx, "revise", func(tx pgx.Tx) error {
		cur, err := lock(ctx, tx, id)
		if err != nil {
			return err
		}
		r := cur.Report
		changed := []string{}
		set := func(name string, dst *string, v *string) {
			if v != nil {
				*dst = *v
				changed = append(changed, name)
			}
		}
		set("description", &r.Description, f.Description)
		set("discovered_how", &r.DiscoveredHow, f.DiscoveredHow)
		set("consequences", &r.Consequences, f.Consequences)
		set("measures", &r.Measures, f.Measures)
		set("contact", &r.Contact, f.Contact)
		if f.Kinds != nil {
			r.Kinds, changed = f.Kinds, append(changed, "kinds")
		}
		if f.StartedAt != nil {
			r.StartedAt, changed = f.StartedAt, append(changed, "started_at")
		}
		if f.EndedAt != nil {
			r.EndedAt, changed = f.EndedAt, append(changed, "ended_at")
		}
		if len(changed) == 0 {
			return verwerker.Invalid("the revision is not valid", verwerker.FieldError{Field: "facts", Message: "must change at least one fact"})
		}
		if err := r.normalize(now); err != nil {
			return err
		}
		out, err = scanIncident(tx.QueryRow(ctx, `UPDATE breach_incidents SET description = $2, kinds = $3, started_at = $4, ended_at = $5,
				discovered_how = $6, consequences = $7, measures = $8, contact = $9, updated_at = $10
			WHERE id = $1 RETURNING `+incidentColumns, id, r.Description, r.Kinds, r.StartedAt, r.EndedAt, r.DiscoveredHow,
			r.Consequences, r.Measures, r.Contact, now))
		if err != nil {
			return err
		}
		return s.revise(ctx, tx, out, now, "revise", reason, map[string]any{"changed": changed})
	})
	return out, err
}

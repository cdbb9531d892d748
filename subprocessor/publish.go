package subprocessor

import (
	"bytes"
	"context"
	"encoding/xml"
	"html/template"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/tenant"
)

// Public is what anyone may read about a customer's subprocessors (seed
// 000 art. 10.2): the current list and the announced changes with their
// dates. It never shows objections: whether and why a customer objected is
// between the customer and the company.
type Public struct {
	// TenantID is the customer's id, for the server only: the public page
	// is addressed by Slug and never shows the id.
	TenantID string `json:"-"`
	// Slug names the customer's public page (PublicPage).
	Slug           string         `json:"-"`
	ControllerName string         `json:"controller_name"`
	Current        []Current      `json:"current"`
	Changes        []PublicChange `json:"changes"`
	// Updated is the time of the latest change to the list or its
	// announcements, for the feed.
	Updated time.Time `json:"updated"`
}

// PublicChange is an announced change as the public sees it.
type PublicChange struct {
	ID              string    `json:"id"`
	Kind            string    `json:"kind"`
	Description     string    `json:"description"`
	NewSubprocessor *Entry    `json:"new_subprocessor,omitempty"`
	OldSubprocessor *Entry    `json:"old_subprocessor,omitempty"`
	AnnouncedAt     time.Time `json:"announced_at"`
	// EffectiveAt is when the change takes effect for the customer, if it
	// goes ahead; nil while the customer has not been told (it takes
	// effect no earlier than the end of the objection window that starts
	// then).
	EffectiveAt *time.Time `json:"effective_at,omitempty"`
	// Status is "announced", "effective" or "withdrawn". A change held by an
	// objection shows as announced; one that does not apply shows as
	// withdrawn.
	Status string `json:"status"`
	// WithdrawnAt is when it stopped concerning the customer, for a
	// withdrawn change.
	WithdrawnAt *time.Time `json:"withdrawn_at,omitempty"`
}

// PublicListing returns the public view of the customer's subprocessors, or
// ENOTFOUND for an unknown customer. The public reach it by the page's slug
// (PublicListingBySlug), never by the customer's id.
func (r *Registry) PublicListing(ctx context.Context, tenantID string) (Public, error) {
	l, err := r.ForTenant(ctx, tenantID)
	if err != nil {
		return Public{}, err
	}
	p := Public{TenantID: tenantID, Current: l.Current, Changes: []PublicChange{}}
	err = r.tenantTx(ctx, "public", tenantID, func(tx pgx.Tx) error {
		t, err := tenant.Read(ctx, tx, tenantID, r.clock.Now(), false)
		p.ControllerName, p.Updated = t.Name, t.UpdatedAt
		return err
	})
	if err != nil {
		return Public{}, err
	}
	p.Updated = p.Updated.UTC()
	for _, c := range l.Current {
		if c.Since.After(p.Updated) {
			p.Updated = c.Since
		}
	}
	for _, tc := range l.Changes {
		status := "announced"
		switch tc.Notice.Status {
		case NoticeEffective:
			status = "effective"
		case NoticeWithdrawn, NoticeNotApplied:
			status = "withdrawn"
		}
		announced := tc.Change.CreatedAt
		if tc.Notice.NotifiedAt != nil {
			announced = *tc.Notice.NotifiedAt
		}
		pc := PublicChange{ID: tc.Change.ID, Kind: tc.Change.Kind, Description: tc.Change.Description,
			NewSubprocessor: tc.NewSubprocessor, OldSubprocessor: tc.OldSubprocessor,
			AnnouncedAt: announced, EffectiveAt: tc.Notice.EffectiveAt, Status: status}
		if status == "withdrawn" {
			pc.WithdrawnAt = tc.Change.WithdrawnAt
			if tc.Notice.Status == NoticeNotApplied {
				pc.WithdrawnAt = tc.Notice.ResolvedAt
			}
		}
		p.Changes = append(p.Changes, pc)
		for _, t := range []*time.Time{&announced, tc.Notice.AppliedAt, tc.Change.WithdrawnAt} {
			if t != nil && t.After(p.Updated) {
				p.Updated = t.UTC()
			}
		}
	}
	return p, nil
}

type publicText struct {
	Lang, Title, Intro, Current, None, Name, Service, Locations, Transfer, Categories, Contract, Since,
	Changes, NoChanges, Kind, Effective, Status, Feed string
	Kinds    map[string]string
	Statuses map[string]string
}

var publicTexts = map[string]publicText{
	dpa.LangNL: {Lang: "nl", Title: "Subverwerkers", Intro: "Derden die persoonsgegevens verwerken in opdracht van de verwerker, voor",
		Current: "Huidige subverwerkers", None: "Geen.", Name: "Naam", Service: "Dienst", Locations: "Locaties", Transfer: "Doorgifte",
		Categories: "Gegevens", Contract: "Overeenkomst", Since: "Sinds", Changes: "Aangekondigde wijzigingen", NoChanges: "Geen.",
		Kind: "Wijziging", Effective: "Ingang", Status: "Status", Feed: "Volg wijzigingen via de Atom-feed",
		Kinds:    map[string]string{ChangeAdd: "toevoegen", ChangeReplace: "vervangen", ChangeRemove: "beëindigen"},
		Statuses: map[string]string{"announced": "aangekondigd", "effective": "van kracht", "withdrawn": "ingetrokken"}},
	dpa.LangEN: {Lang: "en", Title: "Subprocessors", Intro: "Third parties that process personal data on the processor's behalf, for",
		Current: "Current subprocessors", None: "None.", Name: "Name", Service: "Service", Locations: "Locations", Transfer: "Transfer",
		Categories: "Data", Contract: "Contract", Since: "Since", Changes: "Announced changes", NoChanges: "None.",
		Kind: "Change", Effective: "Effective", Status: "Status", Feed: "Follow changes with the Atom feed",
		Kinds:    map[string]string{ChangeAdd: "add", ChangeReplace: "replace", ChangeRemove: "remove"},
		Statuses: map[string]string{"announced": "announced", "effective": "effective", "withdrawn": "withdrawn"}},
}

// RenderPublic returns the public page of a customer's subprocessors in
// lang (dpa.LangNL or dpa.LangEN); feedURL is the address of its Atom feed.
func RenderPublic(p Public, lang, feedURL string) ([]byte, error) {
	t, ok := publicTexts[lang]
	if !ok {
		return nil, verwerker.Invalid("unknown language", verwerker.FieldError{Field: "lang", Message: "must be nl or en"})
	}
	labels := func(ids []string, lookup func(string) (dpa.Term, bool)) string {
		var out []string
		for _, id := range ids {
			if term, ok := lookup(id); ok {
				out = append(out, dpa.Label(term, lang))
			}
		}
		return strings.Join(out, ", ")
	}
	regionTerm := func(id string) (dpa.Term, bool) { r, ok := dpa.RegionByID(id); return r.Term, ok }
	categoryTerm := func(id string) (dpa.Term, bool) { c, ok := dpa.CategoryByID(id); return c.Term, ok }
	transfer := func(m string) string {
		if b, ok := dpa.TermByID(dpa.TransferBases, m); ok {
			return dpa.Label(b, lang)
		}
		return "—"
	}
	type row struct{ Name, ID, Service, Locations, Transfer, Categories, Contract, Since string }
	type change struct{ Kind, Who, Description, Effective, Status string }
	data := struct {
		T       publicText
		P       Public
		Rows    []row
		Changes []change
		FeedURL string
	}{T: t, P: p, FeedURL: feedURL}
	for _, c := range p.Current {
		data.Rows = append(data.Rows, row{c.Name, c.ID, c.Service, labels(c.Locations, regionTerm), transfer(c.TransferMechanism),
			labels(c.Categories, categoryTerm), c.ContractDate, c.Since.Format(time.DateOnly)})
	}
	for _, c := range p.Changes {
		var who []string
		for _, s := range []*Entry{c.OldSubprocessor, c.NewSubprocessor} {
			if s != nil {
				who = append(who, s.Name+" ("+s.ID+")")
			}
		}
		effective := "—"
		if c.EffectiveAt != nil {
			effective = c.EffectiveAt.Format(time.DateOnly)
		}
		data.Changes = append(data.Changes, change{t.Kinds[c.Kind], strings.Join(who, " → "), c.Description,
			effective, t.Statuses[c.Status]})
	}
	var b bytes.Buffer
	if err := publicTemplate.Execute(&b, data); err != nil {
		return nil, verwerker.Internal("subprocessor: render public page", err)
	}
	return b.Bytes(), nil
}

var publicTemplate = template.Must(template.New("public").Parse(`<!DOCTYPE html>
<html lang="{{.T.Lang}}">
<head><meta charset="utf-8"><title>{{.T.Title}} — {{.P.ControllerName}}</title>
<link rel="alternate" type="application/atom+xml" href="{{.FeedURL}}">
` + dpa.PageStyle + `</head>
<body>
<h1>{{.T.Title}}</h1>
<p>{{.T.Intro}} {{.P.ControllerName}}.</p>
<h2>{{.T.Current}}</h2>
{{if .Rows}}<table><thead><tr><th>{{.T.Name}}</th><th>{{.T.Service}}</th><th>{{.T.Locations}}</th><th>{{.T.Transfer}}</th><th>{{.T.Categories}}</th><th>{{.T.Contract}}</th><th>{{.T.Since}}</th></tr></thead>
<tbody>{{range .Rows}}<tr><td>{{.Name}} <small>({{.ID}})</small></td><td>{{.Service}}</td><td>{{.Locations}}</td><td>{{.Transfer}}</td><td>{{.Categories}}</td><td>{{.Contract}}</td><td>{{.Since}}</td></tr>{{end}}</tbody></table>{{else}}<p>{{.T.None}}</p>{{end}}
<h2>{{.T.Changes}}</h2>
{{if .Changes}}<table><thead><tr><th>{{.T.Kind}}</th><th>{{.T.Name}}</th><th>{{.T.Service}}</th><th>{{.T.Effective}}</th><th>{{.T.Status}}</th></tr></thead>
<tbody>{{range .Changes}}<tr><td>{{.Kind}}</td><td>{{.Who}}</td><td>{{.Description}}</td><td>{{.Effective}}</td><td>{{.Status}}</td></tr>{{end}}</tbody></table>{{else}}<p>{{.T.NoChanges}}</p>{{end}}
<p><a href="{{.FeedURL}}">{{.T.Feed}}</a></p>
</body>
</html>
`))

// Atom returns the customer's subprocessor changes as an Atom feed (RFC
// 4287): one entry per announced change, updated when it takes effect or
// is withdrawn. selfURL is the feed's own address; pageURL the public page.
func Atom(p Public, selfURL, pageURL string) ([]byte, error) {
	type link struct {
		Rel  string `xml:"rel,attr,omitempty"`
		Type string `xml:"type,attr,omitempty"`
		Href string `xml:"href,attr"`
	}
	type text struct {
		Type string `xml:"type,attr,omitempty"`
		Body string `xml:",chardata"`
	}
	type entry struct {
		ID        string `xml:"id"`
		Title     string `xml:"title"`
		Updated   string `xml:"updated"`
		Published string `xml:"published"`
		Link      link   `xml:"link"`
		Summary   text   `xml:"summary"`
	}
	type author struct {
		Name string `xml:"name"`
	}
	type feed struct {
		XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
		ID      string   `xml:"id"`
		Title   string   `xml:"title"`
		Updated string   `xml:"updated"`
		Author  author   `xml:"author"`
		Links   []link   `xml:"link"`
		Entries []entry  `xml:"entry"`
	}
	// Ids name the page, not the customer: a rotated address is a new feed.
	f := feed{ID: "urn:verwerker:subprocessors:" + p.Slug, Title: "Subprocessors — " + p.ControllerName,
		Updated: p.Updated.Format(time.RFC3339), Author: author{Name: "verwerker"},
		Links: []link{{Rel: "self", Type: "application/atom+xml", Href: selfURL}, {Rel: "alternate", Type: "text/html", Href: pageURL}}}
	for _, c := range p.Changes {
		var who []string
		for _, s := range []*Entry{c.OldSubprocessor, c.NewSubprocessor} {
			if s != nil {
				who = append(who, s.Name)
			}
		}
		updated := c.AnnouncedAt
		effective := "not yet scheduled"
		if c.EffectiveAt != nil {
			effective = c.EffectiveAt.Format(time.RFC3339)
		}
		switch {
		case c.Status == "effective" && c.EffectiveAt != nil:
			updated = *c.EffectiveAt
		case c.WithdrawnAt != nil:
			updated = *c.WithdrawnAt
		}
		summary := c.Description + " — " + c.Kind + ": " + strings.Join(who, " → ") + "; effective " + effective + " (" + c.Status + ")"
		f.Entries = append(f.Entries, entry{ID: "urn:verwerker:subprocessor-change:" + c.ID + ":" + p.Slug,
			Title: strings.ToUpper(c.Kind[:1]) + c.Kind[1:] + ": " + strings.Join(who, " → "), Updated: updated.Format(time.RFC3339),
			Published: c.AnnouncedAt.Format(time.RFC3339), Link: link{Rel: "alternate", Type: "text/html", Href: pageURL},
			Summary: text{Type: "text", Body: summary}})
	}
	out, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, verwerker.Internal("subprocessor: atom", err)
	}
	return append([]byte(xml.Header), out...), nil
}

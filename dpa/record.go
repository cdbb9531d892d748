package dpa

import (
	"bytes"
	"context"
	"html/template"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/tenant"
)

// Record is the processor's record of processing activities carried out on
// behalf of one controller (GDPR Art. 30(2)), generated from the
// controller's active DPA version: (a) the processor, the controller and its
// DPO; (b) the categories of processing; (c) transfers to third countries
// with their safeguards; (d) the security measures.
type Record struct {
	TenantID       string
	ControllerName string
	Processor      Processor
	// Active is false when the controller has no active version: then no
	// processing on its behalf is allowed and the lists are empty.
	Active        bool
	DPAVersion    int
	DPAVersionID  string
	ActiveSince   *time.Time
	ControllerDPO Contact
	Processing    []Processing
	Regions       []string
	Transfers     []Transfer
	// Subprocessors are the ids of the subprocessors that touch the
	// controller's data now (its effective list), and
	// SubprocessorDetails their registry entries: service, locations and
	// transfer mechanism (Art. 30(2)(c) with 28(2)).
	Subprocessors       []string
	SubprocessorDetails []SubprocessorEntry
	Security            []Term
	GeneratedAt         time.Time
}

// Processing is one category of processing: a data category, the purposes
// it serves and its retention rule.
type Processing struct {
	Category  string
	Special   bool
	Purposes  []string
	Retention string
}

// Record generates the record of processing for the customer from its
// active version.
func (s *Service) Record(ctx context.Context, tenantID string) (Record, error) {
	rec := Record{TenantID: tenantID, Processor: s.Processor, GeneratedAt: s.clock.Now().UTC(),
		Processing: []Processing{}, Regions: []string{}, Transfers: []Transfer{}, Subprocessors: []string{}, SubprocessorDetails: []SubprocessorEntry{}, Security: SecurityMeasures}
	v, err := s.Active(ctx, tenantID)
	if verwerker.ErrorCode(err) == verwerker.ENOTFOUND {
		err = s.tx(ctx, "record", tenantID, func(tx pgx.Tx) error {
			t, err := tenant.Read(ctx, tx, tenantID, rec.GeneratedAt, false)
			rec.ControllerName = t.Name
			return err
		})
		return rec, err
	}
	if err != nil {
		return Record{}, err
	}
	rec.Active, rec.DPAVersion, rec.DPAVersionID, rec.ActiveSince = true, v.Number, v.ID, v.ActivatedAt
	rec.ControllerName, rec.ControllerDPO = v.ControllerName, v.Scope.DPOContact
	for _, c := range v.Scope.Categories {
		rec.Processing = append(rec.Processing, Processing{Category: c.ID, Special: c.Special, Purposes: v.Scope.Purposes, Retention: c.Retention})
	}
	rec.Regions = append(rec.Regions, v.Scope.Regions...)
	rec.Transfers = append(rec.Transfers, v.Scope.Transfers...)
	err = s.tx(ctx, "record", tenantID, func(tx pgx.Tx) error {
		var err error
		rec.SubprocessorDetails, err = s.subs.Details(ctx, tx, tenantID)
		return err
	})
	if rec.SubprocessorDetails == nil {
		rec.SubprocessorDetails = []SubprocessorEntry{}
	}
	for _, d := range rec.SubprocessorDetails {
		rec.Subprocessors = append(rec.Subprocessors, d.ID)
	}
	return rec, err
}

// RenderRecord returns the record as an HTML page in lang (LangNL or
// LangEN).
func RenderRecord(rec Record, lang string) ([]byte, error) {
	t, ok := texts[lang]
	if !ok {
		return nil, verwerker.Invalid("unknown language", verwerker.FieldError{Field: "lang", Message: "must be nl or en"})
	}
	type proc struct {
		Category, Special, Retention string
		Purposes                     []string
	}
	data := struct {
		T                       text
		Rec                     Record
		Processing              []proc
		Regions, Security, Subs []string
		Transfers               []pair
	}{T: t, Rec: rec}
	for _, d := range rec.SubprocessorDetails {
		var locs []string
		for _, id := range d.Locations {
			r, _ := region(id)
			locs = append(locs, label(r.Term, lang))
		}
		transfer := ""
		if b, ok := term(TransferBases, d.TransferMechanism); ok {
			transfer = "; " + label(b, lang)
		}
		data.Subs = append(data.Subs, d.Name+" ("+d.ID+"): "+d.Service+" — "+strings.Join(locs, ", ")+transfer)
	}
	for _, p := range rec.Processing {
		c, _ := category(p.Category)
		r, _ := term(RetentionRules, p.Retention)
		sp := t.No
		if p.Special {
			sp = t.Yes
		}
		pr := proc{Category: label(c.Term, lang) + " (" + p.Category + ")", Special: sp, Retention: label(r, lang)}
		for _, id := range p.Purposes {
			pu, _ := purpose(id)
			pr.Purposes = append(pr.Purposes, label(pu.Term, lang))
		}
		data.Processing = append(data.Processing, pr)
	}
	for _, id := range rec.Regions {
		r, _ := region(id)
		data.Regions = append(data.Regions, label(r.Term, lang))
	}
	for _, tr := range rec.Transfers {
		r, _ := region(tr.Region)
		b, _ := term(TransferBases, tr.Basis)
		data.Transfers = append(data.Transfers, pair{Label: label(r.Term, lang), Value: label(b, lang)})
	}
	for _, m := range rec.Security {
		data.Security = append(data.Security, label(m, lang))
	}
	var b bytes.Buffer
	if err := recordTemplate.Execute(&b, data); err != nil {
		return nil, verwerker.Internal("dpa: render record", err)
	}
	return b.Bytes(), nil
}

var recordTemplate = template.Must(template.New("record").Parse(`<!DOCTYPE html>
<html lang="{{.T.Lang}}">
<head><meta charset="utf-8"><title>{{.T.RecordTitle}} — {{.Rec.ControllerName}}</title>
` + style + `</head>
<body>
<h1>{{.T.RecordTitle}}</h1>
<p>{{.T.RecordIntro}}</p>
<dl>
<dt>{{.T.Processor}}</dt><dd>{{.Rec.Processor.Name}} ({{.Rec.Processor.Contact}})</dd>
<dt>{{.T.Controller}}</dt><dd>{{.Rec.ControllerName}} ({{.T.TenantID}} {{.Rec.TenantID}})</dd>
{{if .Rec.Active}}<dt>{{.T.DPOH}}</dt><dd>{{with .Rec.ControllerDPO}}{{if .Name}}{{.Name}}, {{end}}{{.Email}}{{end}}</dd>{{end}}
</dl>
{{if not .Rec.Active}}<p>{{.T.RecordNone}}</p>{{else}}
<p>{{.T.RecordDPA}} {{.Rec.DPAVersion}} ({{.Rec.DPAVersionID}})</p>
<h2>{{.T.ProcessingH}}</h2>
<table><thead><tr><th>{{.T.Category}}</th><th>{{.T.Special}}</th><th>{{.T.Purposes}}</th><th>{{.T.Retention}}</th></tr></thead>
<tbody>{{range .Processing}}<tr><td>{{.Category}}</td><td>{{.Special}}</td><td>{{range $i, $p := .Purposes}}{{if $i}}; {{end}}{{$p}}{{end}}</td><td>{{.Retention}}</td></tr>{{end}}</tbody></table>
<h2>{{.T.RegionsH}}</h2>
<ul>{{range .Regions}}<li>{{.}}</li>{{end}}</ul>
<h3>{{.T.TransfersH}}</h3>
{{if .Transfers}}<table><thead><tr><th>{{.T.Region}}</th><th>{{.T.Basis}}</th></tr></thead>
<tbody>{{range .Transfers}}<tr><td>{{.Label}}</td><td>{{.Value}}</td></tr>{{end}}</tbody></table>{{else}}<p>{{.T.NoTransfers}}</p>{{end}}
<h2>{{.T.Subprocessors}}</h2>
{{if .Subs}}<ul>{{range .Subs}}<li>{{.}}</li>{{end}}</ul>{{else}}<p>{{.T.NoSubprocessors}}</p>{{end}}
{{end}}
<h2>{{.T.SecurityH}}</h2>
<ul>{{range .Security}}<li>{{.}}</li>{{end}}</ul>
</body>
</html>
`))

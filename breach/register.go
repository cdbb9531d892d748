package breach

import (
	"bytes"
	"context"
	"html/template"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker/tenant"
)

// Entry is one incident in the register (GDPR Art. 33(5)): the facts, the
// effects, the remedial action, and the notices with their delivery and
// acknowledgement.
type Entry struct {
	Incident Incident   `json:"incident"`
	History  []Revision `json:"history"`
	Notices  []Notice   `json:"notices"`
}

// Register is the register of breaches, the whole one (the DPO's) or one
// customer's (the part it can attach to its own report).
type Register struct {
	// TenantID is the customer whose register this is; empty for the
	// whole register.
	TenantID    string    `json:"tenant_id,omitempty"`
	TenantName  string    `json:"tenant_name,omitempty"`
	GeneratedAt time.Time `json:"generated_at"`
	Entries     []Entry   `json:"entries"`
}

// FullRegister returns every incident, breaches, vulnerabilities and
// dismissals alike, with its history and notices: the DPO's register.
func (s *Service) FullRegister(ctx context.Context) (Register, error) {
	reg := Register{GeneratedAt: s.clock.Now().UTC(), Entries: []Entry{}}
	list, err := s.List(ctx)
	if err != nil {
		return reg, err
	}
	for _, i := range list {
		h, err := s.History(ctx, i.ID)
		if err != nil {
			return reg, err
		}
		n, err := s.Notices(ctx, i.ID)
		if err != nil {
			return reg, err
		}
		reg.Entries = append(reg.Entries, Entry{Incident: i, History: h, Notices: n})
	}
	return reg, nil
}

// CustomerRegister returns the breaches a customer was notified of, each
// with the customer's own notices and counts only: no other customer's
// ids or numbers. The incident's impact is cut down to the customer.
func (s *Service) CustomerRegister(ctx context.Context, tenantID string) (Register, error) {
	reg := Register{TenantID: tenantID, GeneratedAt: s.clock.Now().UTC(), Entries: []Entry{}}
	notices, err := s.CustomerNotices(ctx, tenantID)
	if err != nil {
		return reg, err
	}
	err = s.tx(ctx, "customer register", func(tx pgx.Tx) error {
		t, err := tenant.Read(ctx, tx, tenantID, reg.GeneratedAt, false)
		if err != nil {
			return err
		}
		reg.TenantName = t.Name
		byIncident := map[string][]Notice{}
		var order []string
		for i := len(notices) - 1; i >= 0; i-- {
			n := notices[i]
			if _, ok := byIncident[n.IncidentID]; !ok {
				order = append(order, n.IncidentID)
			}
			byIncident[n.IncidentID] = append(byIncident[n.IncidentID], n)
		}
		for _, id := range order {
			i, err := scanIncident(tx.QueryRow(ctx, `SELECT `+incidentColumns+` FROM breach_incidents WHERE id = $1`, id))
			if err != nil {
				return err
			}
			if i.Impact != nil {
				imp := *i.Impact
				imp.Customers, imp.Subjects, imp.Records = []CustomerImpact{}, 0, 0
				for _, c := range i.Impact.Customers {
					if c.TenantID == tenantID {
						imp.Customers = append(imp.Customers, c)
						imp.Subjects, imp.Records = c.Subjects, c.Records
					}
				}
				i.Impact = &imp
			}
			i.Tenants = nil
			reg.Entries = append(reg.Entries, Entry{Incident: i, History: []Revision{}, Notices: byIncident[id]})
		}
		return nil
	})
	return reg, err
}

var registerHTML = template.Must(template.New("register").Funcs(template.FuncMap{
	"at": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if v == nil {
				return "to follow / volgt"
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		}
		return ""
	},
	"or": or,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Register of personal data breaches{{if .TenantName}}: {{.TenantName}}{{end}}</title>
<style>
body{font-family:serif;max-width:60em;margin:2em auto;color:#000}
h1{font-size:1.4em}h2{font-size:1.15em;border-top:1px solid #000;padding-top:.5em;page-break-before:auto}
table{border-collapse:collapse;width:100%;margin:.5em 0}td,th{border:1px solid #999;padding:.2em .4em;text-align:left;vertical-align:top}
.missing{color:#a00}@media print{h2{page-break-inside:avoid}}
</style></head><body>
<h1>Register of personal data breaches (GDPR Art. 33(5)){{if .TenantName}} — {{.TenantName}} ({{.TenantID}}){{end}}</h1>
<p>Generated {{at .GeneratedAt}} by the processor. {{len .Entries}} entries.</p>
{{range .Entries}}{{with .Incident}}
<h2>{{.Title}} <small>({{.ID}}, {{.Status}})</small></h2>
<table>
<tr><th>Discovered</th><td>{{at .DiscoveredAt}} ({{or .DiscoveredHow}})</td></tr>
<tr><th>Start / end</th><td>{{at .StartedAt}} — {{if .EndedAt}}{{at .EndedAt}}{{else}}ongoing{{end}}</td></tr>
<tr><th>Processor deadline (discovery + 48 h)</th><td>{{at .DeadlineAt}}</td></tr>
<tr><th>Nature</th><td>{{range .Kinds}}{{.}} {{else}}<span class="missing">to follow</span>{{end}}<br>{{or .Description}}</td></tr>
{{with .Triage}}<tr><th>Triage</th><td>{{.Outcome}}{{range .Reasons}}<br>{{.Text}} ({{.Article}}){{end}}{{if .Assessment.Reason}}<br>Reason: {{.Assessment.Reason}}{{end}}</td></tr>{{end}}
{{with .Impact}}<tr><th>Effects</th><td>{{.Subjects}} data subjects, {{.Records}} records{{if .Estimated}} (estimate: {{range .Basis}}{{.}} {{end}}){{else}} (exact){{end}}, window {{at .From}} — {{at .To}}
{{range .Customers}}<br>{{.TenantID}}: {{range .Categories}}{{.Category}} {{.Subjects}}/{{.Records}}; {{end}} encrypted {{.Encryption.Algorithm}}, key versions {{.Encryption.KeyVersions}}{{end}}</td></tr>{{end}}
<tr><th>Likely consequences</th><td>{{or .Consequences}}</td></tr>
<tr><th>Remedial action</th><td>{{or .Measures}}</td></tr>
<tr><th>Contact</th><td>{{or .Contact}}</td></tr>
</table>{{end}}
{{if .Notices}}<table><tr><th>Customer</th><th>Notice</th><th>Sent</th><th>Delivered</th><th>Acknowledged</th></tr>
{{range .Notices}}<tr><td>{{.TenantID}}</td><td>{{if .Phase}}update {{.Phase}}{{else}}first{{end}}</td><td>{{at .CreatedAt}}</td>
<td>{{.Delivery.State}}{{if .Delivery.DeliveredAt}} {{at .Delivery.DeliveredAt}} via {{.Delivery.Via}}{{end}}</td>
<td>{{with .Acknowledgement}}{{at .At}} ({{.Via}}){{else}}not yet{{end}}</td></tr>{{end}}</table>{{end}}
{{if .History}}<table><tr><th>#</th><th>When</th><th>Who</th><th>What</th><th>Reason</th></tr>
{{range .History}}<tr><td>{{.Seq}}</td><td>{{at .At}}</td><td>{{.Actor}}</td><td>{{.Action}} → {{.Status}}</td><td>{{.Reason}}</td></tr>{{end}}</table>{{end}}
{{end}}
</body></html>
`))

// HTML renders the register as a printable HTML document (print it, or
// save it as PDF from the browser).
func (r Register) HTML() ([]byte, error) {
	var b bytes.Buffer
	if err := registerHTML.Execute(&b, r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

package dpa

import (
	"bytes"
	"html/template"
	"strconv"

	"github.com/verwerker/verwerker"
)

// SecurityMeasures are the technical and organisational measures (GDPR Art.
// 32(1)) the documents and the record of processing describe; they restate
// the company terms (000 art. 9.1, 003 art. 7.2, 004 art. 15.7).
var SecurityMeasures = []Term{
	{"encryption", "Versleuteling van gegevens bij opslag (AES-256-GCM) en tijdens transport (TLS)", "Encryption of data at rest (AES-256-GCM) and in transit (TLS)"},
	{"access_control", "Toegang alleen voor geautoriseerde medewerkers, per rol en per klant beperkt; tweestapsverificatie", "Access only for authorised staff, limited by role and customer; two-factor authentication"},
	{"tenant_isolation", "Scheiding van klantgegevens in de database (row-level security)", "Separation of customers' data in the database (row-level security)"},
	{"credentials", "Persoonlijke, direct intrekbare inloggegevens en API-sleutels", "Personal credentials and API keys that can be revoked at once"},
	{"audit_log", "Manipulatiebestendig, ondertekend auditlogboek en monitoring op verdachte toegang", "Tamper-evident, signed audit log and monitoring for suspicious access"},
	{"deletion", "Tijdige verwijdering volgens de bewaartermijnen, ook uit back-ups (crypto-shredding)", "Timely deletion per retention rule, also from backups (crypto-shredding)"},
}

// text holds the fixed sentences of a document in one language.
type text struct {
	Lang, Title, Draft, Version, Processor, Controller, TenantID                          string
	PurposesH, PurposesP, CategoriesH, Category, Special, Retention, Yes, No              string
	RegionsH, RegionsP, TransfersH, Region, Basis, NoTransfers                            string
	SubprocessorsH, SubprocessorsP, NoSubprocessors, ObjectionP                           string
	BreachH, BreachP, DPOH, SecurityH, EndH, EndP, Name, Email, Phone                     string
	RecordTitle, RecordIntro, RecordDPA, RecordNone, ProcessingH, Purposes, Subprocessors string
}

var texts = map[string]text{
	LangNL: {
		Lang: "nl", Title: "Verwerkersovereenkomst", Draft: "CONCEPT — nog niet aangeboden", Version: "Versie",
		Processor: "Verwerker", Controller: "Verwerkingsverantwoordelijke", TenantID: "klantnummer",
		PurposesH:   "1. Doeleinden",
		PurposesP:   "De verwerker verwerkt persoonsgegevens uitsluitend op basis van schriftelijke instructies van de verwerkingsverantwoordelijke en alleen voor de doeleinden hieronder (art. 28 lid 3 onder a en art. 29 AVG). Geen doel omvat een ander doel; marketing valt er alleen onder als het hieronder uitdrukkelijk staat.",
		CategoriesH: "2. Categorieën persoonsgegevens en bewaartermijnen", Category: "Categorie", Special: "Bijzonder persoonsgegeven (art. 9 AVG)",
		Retention: "Bewaartermijn", Yes: "ja", No: "nee",
		RegionsH: "3. Locaties van verwerking", RegionsP: "Persoonsgegevens worden alleen in de volgende gebieden verwerkt:",
		TransfersH: "Doorgifte buiten de EER (art. 44-46 AVG)", Region: "Gebied", Basis: "Grondslag", NoTransfers: "Er worden geen persoonsgegevens buiten de Europese Economische Ruimte verwerkt.",
		SubprocessorsH: "4. Subverwerkers", SubprocessorsP: "De verwerkingsverantwoordelijke geeft toestemming voor de volgende subverwerkers (art. 28 lid 2 en 4 AVG):",
		NoSubprocessors: "Geen.", ObjectionP: "Voorgenomen wijzigingen van subverwerkers worden vooraf gemeld; de verwerkingsverantwoordelijke kan binnen %d dagen bezwaar maken.",
		BreachH: "5. Inbreuken in verband met persoonsgegevens",
		BreachP: "De verwerker informeert de verwerkingsverantwoordelijke zonder onredelijke vertraging en uiterlijk 48 uur na ontdekking van een inbreuk, met alle informatie waarover hij beschikt (art. 33 AVG). Meldingen gaan naar:",
		DPOH:    "6. Functionaris voor gegevensbescherming van de verwerkingsverantwoordelijke", SecurityH: "7. Beveiligingsmaatregelen (art. 32 AVG)",
		EndH: "8. Einde van de verwerking", EndP: "Binnen 30 dagen na het einde van de overeenkomst worden alle persoonsgegevens van de verwerkingsverantwoordelijke verwijderd, tenzij een wettelijke bewaarplicht geldt; op verzoek worden ze vooraf teruggegeven (art. 28 lid 3 onder g AVG).",
		Name: "Naam", Email: "E-mail", Phone: "Telefoon",
		RecordTitle: "Register van verwerkingsactiviteiten van de verwerker", RecordIntro: "Artikel 30 lid 2 AVG: verwerkingen ten behoeve van één verwerkingsverantwoordelijke.",
		RecordDPA: "Op grond van verwerkersovereenkomst versie", RecordNone: "Er is geen actieve verwerkersovereenkomst: er worden geen persoonsgegevens voor deze verwerkingsverantwoordelijke verwerkt.",
		ProcessingH: "Categorieën van verwerkingen", Purposes: "Doeleinden", Subprocessors: "Subverwerkers",
	},
	LangEN: {
		Lang: "en", Title: "Data processing agreement", Draft: "DRAFT — not offered yet", Version: "Version",
		Processor: "Processor", Controller: "Controller", TenantID: "customer id",
		PurposesH:   "1. Purposes",
		PurposesP:   "The processor processes personal data only on documented instructions from the controller and only for the purposes below (GDPR Art. 28(3)(a) and 29). No purpose includes another; marketing is included only if listed below explicitly.",
		CategoriesH: "2. Categories of personal data and retention", Category: "Category", Special: "Special category (GDPR Art. 9)",
		Retention: "Retention", Yes: "yes", No: "no",
		RegionsH: "3. Locations of processing", RegionsP: "Personal data is processed only in the following regions:",
		TransfersH: "Transfers outside the EEA (GDPR Art. 44-46)", Region: "Region", Basis: "Basis", NoTransfers: "No personal data is processed outside the European Economic Area.",
		SubprocessorsH: "4. Subprocessors", SubprocessorsP: "The controller authorises the following subprocessors (GDPR Art. 28(2) and (4)):",
		NoSubprocessors: "None.", ObjectionP: "Intended changes of subprocessors are announced in advance; the controller may object within %d days.",
		BreachH: "5. Personal data breaches",
		BreachP: "The processor informs the controller without undue delay and at the latest 48 hours after discovering a breach, with all information it has (GDPR Art. 33). Notices go to:",
		DPOH:    "6. The controller's data protection officer", SecurityH: "7. Security measures (GDPR Art. 32)",
		EndH: "8. End of processing", EndP: "Within 30 days after the end of the contract all of the controller's personal data is deleted, unless a statutory retention period applies; on request it is returned first (GDPR Art. 28(3)(g)).",
		Name: "Name", Email: "E-mail", Phone: "Telephone",
		RecordTitle: "Processor's record of processing activities", RecordIntro: "GDPR Article 30(2): processing carried out on behalf of one controller.",
		RecordDPA: "Under data processing agreement version", RecordNone: "There is no active data processing agreement: no personal data is processed on behalf of this controller.",
		ProcessingH: "Categories of processing", Purposes: "Purposes", Subprocessors: "Subprocessors",
	},
}

// row is one rendered category.
type row struct{ Label, Retention, Special string }

// pair is a rendered label with its value.
type pair struct{ Label, Value string }

// view is what the templates render: every string already in the document's
// language.
type view struct {
	T                  text
	Draft              bool
	Number             int
	Processor          Processor
	ControllerName     string
	TenantID           string
	Purposes, Regions  []string
	Categories         []row
	Transfers          []pair
	Subprocessors      []string
	Objection          string
	BreachContact, DPO Contact
	Security           []string
	HasActive          bool
}

func (s *Service) view(v Version, lang string, draft bool) view {
	t := texts[lang]
	out := view{T: t, Draft: draft, Number: v.Number, Processor: s.Processor, ControllerName: v.ControllerName, TenantID: v.TenantID,
		Subprocessors: v.Scope.Subprocessors, BreachContact: v.Scope.BreachContact, DPO: v.Scope.DPOContact, HasActive: true}
	for _, id := range v.Scope.Purposes {
		p, _ := purpose(id)
		out.Purposes = append(out.Purposes, label(p.Term, lang))
	}
	for _, c := range v.Scope.Categories {
		info, _ := category(c.ID)
		r, _ := term(RetentionRules, c.Retention)
		sp := t.No
		if info.Special {
			sp = t.Yes
		}
		out.Categories = append(out.Categories, row{Label: label(info.Term, lang) + " (" + c.ID + ")", Retention: label(r, lang), Special: sp})
	}
	for _, id := range v.Scope.Regions {
		r, _ := region(id)
		out.Regions = append(out.Regions, label(r.Term, lang))
	}
	for _, tr := range v.Scope.Transfers {
		r, _ := region(tr.Region)
		b, _ := term(TransferBases, tr.Basis)
		out.Transfers = append(out.Transfers, pair{Label: label(r.Term, lang), Value: label(b, lang)})
	}
	out.Objection = sprintfInt(t.ObjectionP, v.Scope.ObjectionWindowDays)
	for _, m := range SecurityMeasures {
		out.Security = append(out.Security, label(m, lang))
	}
	return out
}

func sprintfInt(format string, n int) string {
	var b bytes.Buffer
	for i := 0; i < len(format); i++ {
		if format[i] == '%' && i+1 < len(format) && format[i+1] == 'd' {
			b.WriteString(strconv.Itoa(n))
			i++
			continue
		}
		b.WriteByte(format[i])
	}
	return b.String()
}

// render returns the version's document in lang. It depends on the version's
// structured data only, so the same version always renders the same bytes.
func (s *Service) render(v Version, lang string, draft bool) ([]byte, error) {
	var b bytes.Buffer
	if err := documentTemplate.Execute(&b, s.view(v, lang, draft)); err != nil {
		return nil, verwerker.Internal("dpa: render", err)
	}
	return b.Bytes(), nil
}

// PageStyle is the style sheet of every page verwerker renders for people:
// the agreements, the record of processing and the public subprocessor
// pages.
const PageStyle = style

const style = `<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#111}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;padding:.3rem .5rem;text-align:left;vertical-align:top}
.draft{color:#a00;font-weight:bold;border:2px solid #a00;padding:.5rem}</style>`

// contact renders a Contact inside a template whose data is a view.
func contact(field string) string {
	return `<dl>{{with .` + field + `}}{{if .Name}}<dt>{{$.T.Name}}</dt><dd>{{.Name}}</dd>{{end}}<dt>{{$.T.Email}}</dt><dd>{{.Email}}</dd>{{if .Phone}}<dt>{{$.T.Phone}}</dt><dd>{{.Phone}}</dd>{{end}}{{end}}</dl>`
}

var documentTemplate = template.Must(template.New("document").Parse(`<!DOCTYPE html>
<html lang="{{.T.Lang}}">
<head><meta charset="utf-8"><title>{{.T.Title}} — {{.ControllerName}} — {{.T.Version}} {{.Number}}</title>
` + style + `</head>
<body>
{{if .Draft}}<p class="draft">{{.T.Draft}}</p>{{end}}
<h1>{{.T.Title}}</h1>
<p>{{.T.Version}} {{.Number}}</p>
<dl>
<dt>{{.T.Processor}}</dt><dd>{{.Processor.Name}} ({{.Processor.Contact}})</dd>
<dt>{{.T.Controller}}</dt><dd>{{.ControllerName}} ({{.T.TenantID}} {{.TenantID}})</dd>
</dl>
<h2>{{.T.PurposesH}}</h2>
<p>{{.T.PurposesP}}</p>
<ul>{{range .Purposes}}<li>{{.}}</li>{{end}}</ul>
<h2>{{.T.CategoriesH}}</h2>
<table><thead><tr><th>{{.T.Category}}</th><th>{{.T.Special}}</th><th>{{.T.Retention}}</th></tr></thead>
<tbody>{{range .Categories}}<tr><td>{{.Label}}</td><td>{{.Special}}</td><td>{{.Retention}}</td></tr>{{end}}</tbody></table>
<h2>{{.T.RegionsH}}</h2>
<p>{{.T.RegionsP}}</p>
<ul>{{range .Regions}}<li>{{.}}</li>{{end}}</ul>
<h3>{{.T.TransfersH}}</h3>
{{if .Transfers}}<table><thead><tr><th>{{.T.Region}}</th><th>{{.T.Basis}}</th></tr></thead>
<tbody>{{range .Transfers}}<tr><td>{{.Label}}</td><td>{{.Value}}</td></tr>{{end}}</tbody></table>{{else}}<p>{{.T.NoTransfers}}</p>{{end}}
<h2>{{.T.SubprocessorsH}}</h2>
<p>{{.T.SubprocessorsP}}</p>
{{if .Subprocessors}}<ul>{{range .Subprocessors}}<li>{{.}}</li>{{end}}</ul>{{else}}<p>{{.T.NoSubprocessors}}</p>{{end}}
<p>{{.Objection}}</p>
<h2>{{.T.BreachH}}</h2>
<p>{{.T.BreachP}}</p>
` + contact("BreachContact") + `
<h2>{{.T.DPOH}}</h2>
` + contact("DPO") + `
<h2>{{.T.SecurityH}}</h2>
<ul>{{range .Security}}<li>{{.}}</li>{{end}}</ul>
<h2>{{.T.EndH}}</h2>
<p>{{.T.EndP}}</p>
</body>
</html>
`))

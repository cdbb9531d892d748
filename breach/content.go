package breach

import (
	"fmt"
	"strings"
	"time"

	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/tenant"
)

// Sources of an answer on the answer sheet.
const (
	SourceRecorded = "recorded" // a fact recorded in the incident
	SourceDerived  = "derived"  // computed by verwerker (counts, times, encryption)
	SourceMissing  = "missing"  // not known to the processor: the controller fills it in, or it follows
)

// Answer is one answer of the draft answer sheet: a question of the Dutch
// authority's breach form (Autoriteit Persoonsgegevens, "meldformulier
// datalekken"), in the form's order.
type Answer struct {
	// Question is the form's section (1 to 10) and its item.
	Question string `json:"question"`
	Topic    string `json:"topic"`
	Answer   string `json:"answer"`
	// Source is SourceRecorded, SourceDerived or SourceMissing.
	Source string `json:"source"`
}

// contentFor fixes what customer r's notice of phase says now.
func contentFor(i Incident, r recipient, phase int, update string, now time.Time) Content {
	c := Content{IncidentID: i.ID, Phase: phase, Update: update, Title: i.Title, Description: i.Description, Kinds: i.Kinds,
		StartedAt: i.StartedAt, EndedAt: i.EndedAt, Ongoing: i.EndedAt == nil, DiscoveredAt: i.DiscoveredAt, DiscoveredHow: i.DiscoveredHow,
		Subjects: r.impact.Subjects, Records: r.impact.Records, Categories: r.impact.Categories, Encryption: r.impact.Encryption,
		Contact: i.Contact, Consequences: i.Consequences, Measures: i.Measures, ToFollow: []string{},
		ProcessorDeadline: i.DeadlineAt, AuthorityDeadlineIfDeliveredNow: now.Add(AuthorityWindow),
		TimeZone: tenant.Location(r.t.Timezone).String()}
	if c.Kinds == nil {
		c.Kinds = []string{}
	}
	if c.Categories == nil {
		c.Categories = []CategoryCount{}
	}
	c.Basis = []string{}
	if i.Impact != nil {
		c.Estimated, c.Basis = i.Impact.Estimated, i.Impact.Basis
	}
	for _, f := range []struct {
		name string
		v    string
	}{{"description", c.Description}, {"discovered_how", c.DiscoveredHow}, {"contact", c.Contact},
		{"consequences", c.Consequences}, {"measures", c.Measures}} {
		if f.v == "" {
			c.ToFollow = append(c.ToFollow, f.name)
		}
	}
	if len(c.Kinds) == 0 {
		c.ToFollow = append(c.ToFollow, "kinds")
	}
	if c.StartedAt == nil {
		c.ToFollow = append(c.ToFollow, "started_at")
	}
	if c.Records == 0 {
		c.ToFollow = append(c.ToFollow, "numbers")
	}
	c.AnswerSheet = answerSheet(c, r.t)
	return c
}

// or is v, or "to follow" when v is empty.
func or(v string) string {
	if strings.TrimSpace(v) == "" {
		return toFollow
	}
	return v
}

func answered(v string, src string) (string, string) {
	if strings.TrimSpace(v) == "" {
		return toFollow, SourceMissing
	}
	return v, src
}

// answerSheet drafts the authority's form for the controller of t.
func answerSheet(c Content, t tenant.Tenant) []Answer {
	loc := tenant.Location(t.Timezone)
	at := func(x time.Time) string { return x.In(loc).Format("2006-01-02 15:04 MST") }
	var out []Answer
	add := func(q, topic, answer, source string) {
		out = append(out, Answer{Question: q, Topic: topic, Answer: answer, Source: source})
	}
	kind := "New notification (the first notice of the processor)"
	if c.Phase > 0 {
		kind = "Follow-up notification (update " + fmt.Sprint(c.Phase) + " of the processor)"
	}
	add("1", "Kind of notification", kind, SourceDerived)
	add("2", "Cross-border processing; other authorities informed", toFollow+" (the controller decides)", SourceMissing)
	add("3a", "Organisation: name", t.Name, SourceRecorded)
	add("3b", "Organisation: address, Chamber of Commerce number, sector, DPO registration, contact person", toFollow+" (the controller's own details)", SourceMissing)
	if c.StartedAt != nil {
		add("4a", "Start of the breach", at(*c.StartedAt), SourceRecorded)
	} else {
		add("4a", "Start of the breach", toFollow, SourceMissing)
	}
	if c.EndedAt != nil {
		add("4b", "End of the breach", at(*c.EndedAt), SourceRecorded)
	} else {
		add("4b", "End of the breach", "Ongoing (not ended when this notice was sent)", SourceDerived)
	}
	add("4c", "Discovery", "Discovered by the processor at "+at(c.DiscoveredAt)+"; the controller became aware when this notice was delivered", SourceDerived)
	v, src := answered(c.DiscoveredHow, SourceRecorded)
	add("4d", "How the breach was discovered", v, src)
	add("4e", "Reason if notified later than 72 hours", "Not needed if filed by "+at(c.AuthorityDeadlineIfDeliveredNow)+" (72 hours after delivery of this notice)", SourceDerived)
	v, src = answered(strings.Join(c.Kinds, ", "), SourceRecorded)
	add("5a", "Nature of the breach (confidentiality, integrity, availability)", v, src)
	add("5b", "Summary", c.Title+". "+or(c.Description), SourceRecorded)
	var cats, special []string
	for _, cc := range c.Categories {
		label := cc.Category
		if cat, ok := dpa.CategoryByID(cc.Category); ok {
			label = cat.EN + " (" + cc.Category + ")"
			if cat.Special {
				special = append(special, label)
			}
		}
		cats = append(cats, label)
	}
	if len(cats) == 0 {
		add("6a", "Categories of personal data", "None of your records are in the window counted so far", SourceDerived)
	} else {
		add("6a", "Categories of personal data", strings.Join(cats, "; "), SourceDerived)
	}
	if len(special) == 0 {
		add("6b", "Special categories of personal data", "None", SourceDerived)
	} else {
		add("6b", "Special categories of personal data", strings.Join(special, "; "), SourceDerived)
	}
	qualifier := "exact"
	if c.Estimated {
		qualifier = "at most (estimate: " + strings.Join(c.Basis, ", ") + ")"
	}
	add("6c", "Number of records", fmt.Sprintf("%d records, %s", c.Records, qualifier), SourceDerived)
	add("7a", "Groups of people affected", "Data subjects of your service (chat visitors and/or your staff), by category above", SourceDerived)
	add("7b", "Number of people affected", fmt.Sprintf("%d data subjects, %s", c.Subjects, qualifier), SourceDerived)
	enc := "No"
	if c.Encryption.Encrypted {
		enc = fmt.Sprintf("Yes: each record sealed with %s under its subject's data key, wrapped by your key", c.Encryption.Algorithm)
		if c.Encryption.KeyName != "" {
			enc += fmt.Sprintf(" %s (%s, versions %v)", c.Encryption.KeyName, c.Encryption.Keyring, c.Encryption.KeyVersions)
		}
		enc += ". Whether the keys were compromised too is part of the nature above."
	}
	add("8", "Were the data encrypted or otherwise unintelligible (Art. 34(3)(a))", enc, SourceDerived)
	v, src = answered(c.Consequences, SourceRecorded)
	add("9a", "Likely consequences for the people", v, src)
	add("9b", "Severity of the consequences", toFollow+" (the controller assesses the risk)", SourceMissing)
	add("10a", "People informed, how, how many (Art. 34)", toFollow+" (the controller decides)", SourceMissing)
	v, src = answered(c.Measures, SourceRecorded)
	add("10b", "Measures taken or proposed", v, src)
	return out
}

// noticeText is the e-mail of a notice to the controller of t, Dutch then
// English, with the acknowledgement link (absolute under the public URL)
// and its token for the API.
func noticeText(c Content, t tenant.Tenant, link, token string) (string, string) {
	loc := tenant.Location(t.Timezone)
	at := func(x time.Time) string {
		return x.In(loc).Format("2006-01-02 15:04 MST") + " (" + x.UTC().Format("2006-01-02 15:04 UTC") + ")"
	}
	when := func(x *time.Time) string {
		if x == nil {
			return toFollow
		}
		return at(*x)
	}
	end := "ongoing / voortdurend"
	if c.EndedAt != nil {
		end = at(*c.EndedAt)
	}
	var cats strings.Builder
	for _, cc := range c.Categories {
		fmt.Fprintf(&cats, "  - %s: %d subjects / betrokkenen, %d records\n", cc.Category, cc.Subjects, cc.Records)
	}
	if cats.Len() == 0 {
		cats.WriteString("  - " + toFollow + "\n")
	}
	estimate := "exact"
	if c.Estimated {
		estimate = "estimate, at most / schatting, ten hoogste (" + strings.Join(c.Basis, ", ") + ")"
	}
	label := "Melding datalek / Personal data breach notice"
	if c.Phase > 0 {
		label = fmt.Sprintf("Aanvulling %d op melding datalek / Update %d to breach notice", c.Phase, c.Phase)
	}
	subject := fmt.Sprintf("%s (%s)", label, c.IncidentID)
	var sheet strings.Builder
	for _, a := range c.AnswerSheet {
		fmt.Fprintf(&sheet, "  %-4s %s: %s [%s]\n", a.Question, a.Topic, a.Answer, a.Source)
	}
	update := ""
	if c.Update != "" {
		update = "Nieuw / New:\n" + c.Update + "\n\n"
	}
	body := fmt.Sprintf(`%s

%sWij melden u een inbreuk in verband met persoonsgegevens die wij voor u verwerken
(AVG art. 33 lid 2). Ontbrekende gegevens volgen zodra wij ze hebben ("%s").
U bent op de hoogte vanaf de ontvangst van dit bericht: uw termijn van 72 uur voor
een melding aan de Autoriteit Persoonsgegevens (art. 33 lid 1) loopt dan, bij
ontvangst nu tot %s.

We notify you of a personal data breach concerning data we process for you
(GDPR Art. 33(2)). Missing information follows as soon as we have it ("%s").
You are aware from the receipt of this message: your own 72 hours to notify the
supervisory authority (Art. 33(1)) run from then; if received now, until %s.

(a) Aard / Nature: %s
    Inbreuk op / Breach of: %s
    Omschrijving / Description: %s
    Begin / Start: %s
    Einde / End: %s
    Ontdekt / Discovered: %s, %s
    Uw gegevens / Your data (%s):
      %d betrokkenen / data subjects, %d records
%s    Versleuteling / Encryption (Art. 34(3)(a)): %s, key versions %v
(b) Contactpunt / Contact point: %s
(c) Waarschijnlijke gevolgen / Likely consequences: %s
(d) Maatregelen / Measures taken or proposed: %s

Uiterste meldtermijn verwerker / Processor's deadline: %s

Concept-antwoorden voor het meldformulier van de AP / Draft answers for the
Dutch authority's form (recorded = vastgelegd, derived = afgeleid, missing = ontbreekt):
%s
Ontvangst bevestigen / Acknowledge receipt:
  %s
  API: POST /v1/breach-acknowledgements/%s
  or / of: POST /v1/tenants/%s/breach-notices/%s/%d/acknowledgement
`, c.Title, update, toFollow, at(c.AuthorityDeadlineIfDeliveredNow), toFollow, at(c.AuthorityDeadlineIfDeliveredNow),
		c.Title, or(strings.Join(c.Kinds, ", ")), or(c.Description), when(c.StartedAt), end, at(c.DiscoveredAt), or(c.DiscoveredHow),
		estimate, c.Subjects, c.Records, cats.String(), c.Encryption.Algorithm, c.Encryption.KeyVersions,
		or(c.Contact), or(c.Consequences), or(c.Measures), at(c.ProcessorDeadline), sheet.String(), link, token, t.ID, c.IncidentID, c.Phase)
	return subject, body
}

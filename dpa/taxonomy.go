package dpa

// The taxonomy is fixed: a DPA's scope can only name the categories,
// purposes, regions, retention rules and transfer bases listed here, so that
// the decision engine can compare a store request with the scope exactly.
// Each entry has its Dutch and English label for the rendered documents.

// Term is one entry of the taxonomy.
type Term struct {
	// ID is the identifier used in the API and stored in the scope.
	ID string
	// NL and EN are the labels in the rendered documents.
	NL, EN string
}

// Category is a data category of the taxonomy.
type Category struct {
	Term
	// Special marks special categories of personal data (GDPR Art. 9):
	// they are only in scope when the scope flags them as special.
	Special bool
}

// Categories lists every data category a scope may name.
var Categories = []Category{
	{Term: Term{"chat.message", "Chatberichten van bezoekers", "Visitors' chat messages"}},
	{Term: Term{"chat.metadata", "Metagegevens van chats (tijdstippen, pagina, technische kenmerken)", "Chat metadata (times, page, technical characteristics)"}},
	{Term: Term{"contact.email", "E-mailadressen", "E-mail addresses"}},
	{Term: Term{"contact.phone", "Telefoonnummers", "Telephone numbers"}},
	{Term: Term{"account.profile", "Accountgegevens van medewerkers van de klant", "Account profiles of the customer's staff"}},
	{Term: Term{"billing.invoice", "Factuurgegevens", "Invoice data"}},
	{Term: Term{"special.health", "Gegevens over gezondheid (bijzonder persoonsgegeven)", "Data concerning health (special category)"}, Special: true},
	{Term: Term{"special.religion", "Religieuze of levensbeschouwelijke overtuigingen (bijzonder persoonsgegeven)", "Religious or philosophical beliefs (special category)"}, Special: true},
	{Term: Term{"special.ethnic_origin", "Ras of etnische afkomst (bijzonder persoonsgegeven)", "Racial or ethnic origin (special category)"}, Special: true},
}

// Purpose is a processing purpose of the taxonomy.
type Purpose struct {
	Term
	// OptIn marks purposes that are never implied: no other purpose covers
	// them and they are in scope only when listed explicitly.
	OptIn bool
}

// Purposes lists every purpose a scope may name. No purpose implies another;
// marketing in particular is only in scope when the controller chose it
// explicitly, and is never a default.
var Purposes = []Purpose{
	{Term: Term{"service.delivery", "Levering van de chatdienst", "Delivery of the chat service"}},
	{Term: Term{"service.improvement", "Verbetering van de dienst", "Improvement of the service"}},
	{Term: Term{"security", "Beveiliging en misbruikbestrijding", "Security and abuse prevention"}},
	{Term: Term{"billing", "Facturering", "Billing"}},
	{Term: Term{"support", "Klantondersteuning", "Customer support"}},
	{Term: Term{"marketing", "Marketing (uitdrukkelijk gekozen door de klant)", "Marketing (explicitly chosen by the customer)"}, OptIn: true},
}

// Region is a processing location of the taxonomy.
type Region struct {
	Term
	// EEA marks regions inside the European Economic Area. Any other region
	// needs a transfer basis in the scope (GDPR Art. 44-46).
	EEA bool
	// Adequacy marks third countries with an adequacy decision of the
	// European Commission (Art. 45); only they may use the adequacy basis.
	Adequacy bool
}

// DefaultRegion is the region of a scope that names none.
const DefaultRegion = "eea"

// Regions lists every region a scope may name.
var Regions = []Region{
	{Term: Term{"eea", "Europese Economische Ruimte", "European Economic Area"}, EEA: true},
	{Term: Term{"nl", "Nederland", "Netherlands"}, EEA: true},
	{Term: Term{"be", "België", "Belgium"}, EEA: true},
	{Term: Term{"de", "Duitsland", "Germany"}, EEA: true},
	{Term: Term{"fr", "Frankrijk", "France"}, EEA: true},
	{Term: Term{"ie", "Ierland", "Ireland"}, EEA: true},
	{Term: Term{"fi", "Finland", "Finland"}, EEA: true},
	{Term: Term{"se", "Zweden", "Sweden"}, EEA: true},
	{Term: Term{"uk", "Verenigd Koninkrijk", "United Kingdom"}, Adequacy: true},
	{Term: Term{"ch", "Zwitserland", "Switzerland"}, Adequacy: true},
	{Term: Term{"us", "Verenigde Staten", "United States"}, Adequacy: true},
	{Term: Term{"ca", "Canada", "Canada"}, Adequacy: true},
	{Term: Term{"jp", "Japan", "Japan"}, Adequacy: true},
	{Term: Term{"in", "India", "India"}},
}

// Retention rules.
const (
	Retention30DaysAfterLastInteraction = "30d_after_last_interaction"
	RetentionContractEndPlus30Days      = "contract_end+30d"
	RetentionStatutory7Years            = "statutory_7y"
)

// RetentionRules lists every retention rule a category may have.
var RetentionRules = []Term{
	{Retention30DaysAfterLastInteraction, "Verwijderd binnen 30 dagen na de laatste interactie", "Deleted within 30 days after the last interaction"},
	{RetentionContractEndPlus30Days, "Verwijderd binnen 30 dagen na het einde van de overeenkomst", "Deleted within 30 days after the end of the contract"},
	{RetentionStatutory7Years, "Wettelijke bewaarplicht van 7 jaar (fiscaal)", "Statutory retention of 7 years (tax law)"},
}

// Transfer bases.
const (
	BasisAdequacy = "adequacy"
	BasisSCCs     = "sccs"
)

// TransferBases lists the bases a transfer outside the EEA may rest on.
var TransferBases = []Term{
	{BasisAdequacy, "Adequaatheidsbesluit van de Europese Commissie (art. 45 AVG)", "Adequacy decision of the European Commission (GDPR Art. 45)"},
	{BasisSCCs, "Modelcontractbepalingen van de Europese Commissie (art. 46 lid 2 onder c AVG)", "Standard contractual clauses of the European Commission (GDPR Art. 46(2)(c))"},
}

func category(id string) (Category, bool) {
	for _, c := range Categories {
		if c.ID == id {
			return c, true
		}
	}
	return Category{}, false
}

func purpose(id string) (Purpose, bool) {
	for _, p := range Purposes {
		if p.ID == id {
			return p, true
		}
	}
	return Purpose{}, false
}

func region(id string) (Region, bool) {
	for _, r := range Regions {
		if r.ID == id {
			return r, true
		}
	}
	return Region{}, false
}

func term(list []Term, id string) (Term, bool) {
	for _, t := range list {
		if t.ID == id {
			return t, true
		}
	}
	return Term{}, false
}

// label returns the label of id in lang from the terms of a taxonomy list,
// or id itself if unknown.
func label(t Term, lang string) string {
	if lang == LangNL {
		return t.NL
	}
	return t.EN
}

// RegionByID returns the taxonomy's region with id, for the packages that
// check locations against the taxonomy (the subprocessor registry).
func RegionByID(id string) (Region, bool) { return region(id) }

// CategoryByID returns the taxonomy's data category with id.
func CategoryByID(id string) (Category, bool) { return category(id) }

// TermByID returns the term with id in list.
func TermByID(list []Term, id string) (Term, bool) { return term(list, id) }

// Label returns t's label in lang (LangNL or LangEN).
func Label(t Term, lang string) string { return label(t, lang) }

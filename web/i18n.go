package web

import (
	"fmt"
	"net/http"
	"time"
)

// langCookie remembers the viewer's language.
const langCookie = "verwerker_lang"

// language returns the viewer's language: the cookie, else the browser's
// first preference among ours, else English.
func language(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && messages[c.Value] != nil {
		return c.Value
	}
	if al := r.Header.Get("Accept-Language"); len(al) >= 2 && al[:2] == "nl" {
		return "nl"
	}
	return "en"
}

// translate returns the message key in lang, the English text when lang
// lacks it, or the key itself.
func translate(lang, key string, args ...any) string {
	s, ok := messages[lang][key]
	if !ok {
		if s, ok = messages["en"][key]; !ok {
			s = key
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// timeLeft says how long until t from now, in whole days when a day or
// more ("3 days left", "nog 3 dagen"), else hours; past instants say how
// long ago.
func timeLeft(lang string, now, t time.Time) string {
	d := t.Sub(now)
	past := d < 0
	if past {
		d = -d
	}
	var n int
	var unit string
	switch {
	case d >= 48*time.Hour:
		n, unit = int(d/(24*time.Hour)), "days"
	case d >= 24*time.Hour:
		n, unit = 1, "day"
	case d >= 2*time.Hour:
		n, unit = int(d/time.Hour), "hours"
	default:
		n, unit = int(d/time.Minute), "minutes"
	}
	if past {
		return translate(lang, "ago."+unit, n)
	}
	return translate(lang, "left."+unit, n)
}

// formatTime shows t in loc as a date and time with the zone's name.
func formatTime(lang string, t time.Time, loc *time.Location) string {
	t = t.In(loc)
	if lang == "nl" {
		return fmt.Sprintf("%d %s %d %s %s", t.Day(), monthsNL[t.Month()-1], t.Year(), t.Format("15:04"), t.Format("MST"))
	}
	return t.Format("2 Jan 2006 15:04 MST")
}

var monthsNL = []string{"jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"}

// messages are the dashboard's texts by language and key.
var messages = map[string]map[string]string{
	"en": {
		"app": "verwerker dashboard", "skip": "Skip to content", "nav": "Main", "signout": "Sign out",
		"lang.switch": "Nederlands", "lang.other": "nl",
		"left.days": "%d days left", "left.day": "1 day left", "left.hours": "%d hours left", "left.minutes": "%d minutes left",
		"ago.days": "%d days ago", "ago.day": "1 day ago", "ago.hours": "%d hours ago", "ago.minutes": "%d minutes ago",
		"signin.title": "Sign in", "signin.email": "E-mail address", "signin.password": "Password",
		"signin.otp": "Code from your authenticator app", "signin.submit": "Sign in",
		"signin.failed": "The e-mail address, password or code is not right, or too many attempts were made. Try again in a while.",
		"signin.setup":  "New account? Set your password",
		"setup.title":   "Set up your account", "setup.token": "Set-up token (from your invitation)",
		"setup.password": "New password (12 to 256 characters)", "setup.submit": "Set password",
		"setup.failed": "The token is not valid (it works once, for 72 hours) or the password is too short.",
		"setup.done":   "Your password is set. Sign in to enrol your second factor.",
		"totp.title":   "Enrol two-factor authentication", "totp.scan": "Scan this code with your authenticator app, or type in the secret.",
		"totp.secret": "Secret", "totp.code": "Code the app shows now", "totp.submit": "Confirm",
		"totp.failed":    "That code does not match. Check your phone's clock and try the next code.",
		"totp.qr":        "QR code of the enrolment link for an authenticator app",
		"overview.title": "Overview", "overview.today": "Needs action today", "overview.nothing": "Nothing needs action today.",
		"overview.contracts": "Customers by contract state", "overview.offered": "Agreements offered but not accepted",
		"overview.changes": "Subprocessor changes in their objection windows", "overview.undelivered": "Notices no channel delivered",
		"overview.dead": "Dead letters", "overview.inwindow": "Customers in their window", "agreement.offered": "Offered", "overview.audit": "Audit chain", "overview.decisions": "Decisions, last 30 days",
		"alarm.undelivered": "Notice of change %s to %s not delivered: its objection window has not started.",
		"alarm.dead":        "Message %s (%s) to %s gave up after %d attempts: %s",
		"alarm.objection":   "%s objects to change %s: resolve it.",
		"alarm.terminating": "%s: contract ends %s (%s).",
		"status.active":     "active", "status.terminating": "terminating", "status.ended": "ended",
		"customers.title": "Customers", "customer.name": "Name", "customer.country": "Country", "customer.status": "Contract",
		"customer.tz": "Time zone", "customer.contract_end": "Contract ends", "customer.agreements": "Agreement versions",
		"customer.people": "People", "customer.keys": "API keys", "customer.record": "Record of processing (Art. 30(2))",
		"customer.certificates": "Erasure certificates", "customer.decisions": "Decisions, last 30 days",
		"agreement.version": "Version", "agreement.status": "Status", "agreement.accepted": "Accepted", "agreement.by": "by",
		"agreement.text": "Text", "agreement.sha": "Text SHA-256", "agreement.scope": "Scope", "agreement.open": "Read",
		"people.email": "E-mail", "people.role": "Role", "people.totp": "Second factor", "yes": "yes", "no": "no",
		"keys.label": "Label", "keys.role": "Role", "keys.expires": "Expires", "keys.revoked": "Revoked", "never": "never",
		"subprocessors.title": "Subprocessors", "subprocessors.registry": "Registry", "subprocessors.changes": "Changes",
		"subprocessors.objections": "Open objections", "subprocessors.none": "No open objections.",
		"sp.id": "Id", "sp.name": "Name", "sp.service": "Service", "sp.location": "Location", "sp.transfer": "Transfer basis",
		"change.kind": "Change", "change.effective": "Effective on", "change.status": "Status", "change.description": "Why",
		"objection.customer": "Customer", "objection.change": "Change", "objection.reason": "Reason", "objection.window": "Window ends",
		"objection.resolution": "Resolution", "objection.note": "Note (optional)", "objection.resolve": "Resolve",
		"resolution.objection_withdrawn": "Objection withdrawn: the change goes ahead",
		"resolution.change_not_applied":  "Change not applied for this customer",
		"resolved":                       "The objection is resolved.",
		"notices.title":                  "Notices", "notices.undelivered": "Undelivered subprocessor notices", "notices.dead": "Dead letters",
		"notices.chart": "Notices delivered and failed", "notices.retry": "Retry", "notices.retried": "The message is queued again.",
		"notice.id": "Message", "notice.kind": "Channel", "notice.event": "About", "notice.attempts": "Attempts", "notice.error": "Last error",
		"audit.title": "Audit trail", "audit.chain": "Chain", "audit.checkpoint": "Last signed checkpoint", "audit.none": "none yet",
		"audit.verify": "Verify now", "audit.last": "Last verification", "audit.ok": "The chain verifies: %d events, %d checkpoints.",
		"audit.bad": "The chain does NOT verify at event %d: %s", "audit.events": "Events",
		"audit.verification": "Verification of every chain", "audit.queued": "The verification is waiting to start.",
		"audit.running": "Verifying: %d of %d events, %d of %d chains done.", "audit.progress": "Progress",
		"audit.refresh":     "This page reloads itself every few seconds until the verification ends.",
		"audit.refresh.off": "Stop reloading", "audit.refresh.on": "Reload (and keep reloading)",
		"audit.passed": "Every chain verifies: %d chains, %d events.", "audit.failed": "%d of %d chains do NOT verify: see below.",
		"audit.state": "State", "audit.cause": "Cause", "audit.state.queued": "waiting", "audit.state.waiting": "waiting",
		"audit.state.running": "running", "audit.state.passed": "passed", "audit.state.failed": "failed",
		"alarm.audit":        "Audit chain %s does NOT verify at event %d: %s",
		"certificates.title": "Erasure certificates", "cert.id": "Certificate", "cert.scope": "Scope", "cert.records": "Records",
		"cert.created": "Issued", "cert.none": "No erasures yet.",
		"chart.allowed": "allowed", "chart.denied": "denied", "chart.delivered": "delivered", "chart.failed": "failed",
		"chart.purpose": "Decisions per day by purpose", "chart.denials": "Denials per day by purpose", "chart.reasons": "Denials per day by reason",
		"reason.contract_terminated": "contract ended", "reason.customer_data_erased": "customer's data erased",
		"reason.no_active_dpa": "no active agreement", "reason.category_not_in_scope": "category not in agreement",
		"reason.special_category_not_allowed": "special category not allowed", "reason.purpose_not_in_scope": "purpose not in agreement",
		"reason.region_not_in_scope": "region not in agreement", "reason.transfer_basis_missing": "no transfer basis",
		"reason.subprocessor_objection": "subprocessor objected to", "reason.subprocessor_not_authorised": "subprocessor not authorised",
		"reason.subject_restricted": "processing restricted", "reason.subject_objected": "subject objected",
		"reason.minor_service_improvement": "minor's data for service improvement", "chart.empty": "No data yet.",
		"error.403": "You do not have the permission for this page.", "error.404": "There is no such page.",
		"error.csrf": "The form was refused: it did not come from this dashboard. Reload the page and try again.",
		"error.500":  "Something went wrong on our side. It has been logged.", "error.400": "The form is not valid.",
		"back":           "Back",
		"sessions.title": "My sessions", "sessions.intro": "Where you are signed in now. End a session you do not recognise, or one on a lost or shared device: it stops at once, on every replica.",
		"sessions.id": "Session", "sessions.started": "Signed in", "sessions.seen": "Last active", "sessions.expires": "Expires", "sessions.mfa": "Second factor",
		"sessions.action": "Action", "sessions.end": "End session", "sessions.this": "this one", "sessions.ended": "The session is ended.",
	},
	"nl": {
		"app": "verwerker-dashboard", "skip": "Naar de inhoud", "nav": "Hoofdmenu", "signout": "Afmelden",
		"lang.switch": "English", "lang.other": "en",
		"left.days": "nog %d dagen", "left.day": "nog 1 dag", "left.hours": "nog %d uur", "left.minutes": "nog %d minuten",
		"ago.days": "%d dagen geleden", "ago.day": "1 dag geleden", "ago.hours": "%d uur geleden", "ago.minutes": "%d minuten geleden",
		"signin.title": "Aanmelden", "signin.email": "E-mailadres", "signin.password": "Wachtwoord",
		"signin.otp": "Code uit je authenticator-app", "signin.submit": "Aanmelden",
		"signin.failed": "Het e-mailadres, wachtwoord of de code klopt niet, of er is te vaak geprobeerd. Probeer het straks opnieuw.",
		"signin.setup":  "Nieuw account? Kies je wachtwoord",
		"setup.title":   "Account instellen", "setup.token": "Instellingscode (uit je uitnodiging)",
		"setup.password": "Nieuw wachtwoord (12 tot 256 tekens)", "setup.submit": "Wachtwoord instellen",
		"setup.failed": "De code is niet geldig (eenmalig, 72 uur) of het wachtwoord is te kort.",
		"setup.done":   "Je wachtwoord is ingesteld. Meld je aan om je tweede factor in te stellen.",
		"totp.title":   "Tweestapsverificatie instellen", "totp.scan": "Scan deze code met je authenticator-app, of typ het geheim over.",
		"totp.secret": "Geheim", "totp.code": "Code die de app nu toont", "totp.submit": "Bevestigen",
		"totp.failed":    "Die code klopt niet. Controleer de klok van je telefoon en probeer de volgende code.",
		"totp.qr":        "QR-code van de instellink voor een authenticator-app",
		"overview.title": "Overzicht", "overview.today": "Vandaag te doen", "overview.nothing": "Vandaag is er niets te doen.",
		"overview.contracts": "Klanten per contractstatus", "overview.offered": "Aangeboden, niet aanvaarde overeenkomsten",
		"overview.changes": "Subverwerkerwijzigingen in hun bezwaartermijn", "overview.undelivered": "Niet afgeleverde kennisgevingen",
		"overview.dead": "Onbestelbare berichten", "overview.inwindow": "Klanten in hun termijn", "agreement.offered": "Aangeboden", "overview.audit": "Auditketen", "overview.decisions": "Beslissingen, laatste 30 dagen",
		"alarm.undelivered": "Kennisgeving van wijziging %s aan %s niet afgeleverd: de bezwaartermijn is niet begonnen.",
		"alarm.dead":        "Bericht %s (%s) aan %s opgegeven na %d pogingen: %s",
		"alarm.objection":   "%s maakt bezwaar tegen wijziging %s: handel het af.",
		"alarm.terminating": "%s: contract eindigt %s (%s).",
		"status.active":     "actief", "status.terminating": "opgezegd", "status.ended": "beëindigd",
		"customers.title": "Klanten", "customer.name": "Naam", "customer.country": "Land", "customer.status": "Contract",
		"customer.tz": "Tijdzone", "customer.contract_end": "Contract eindigt", "customer.agreements": "Versies van de verwerkersovereenkomst",
		"customer.people": "Personen", "customer.keys": "API-sleutels", "customer.record": "Register van verwerkingen (art. 30 lid 2)",
		"customer.certificates": "Verwijderingscertificaten", "customer.decisions": "Beslissingen, laatste 30 dagen",
		"agreement.version": "Versie", "agreement.status": "Status", "agreement.accepted": "Aanvaard", "agreement.by": "door",
		"agreement.text": "Tekst", "agreement.sha": "SHA-256 van de tekst", "agreement.scope": "Reikwijdte", "agreement.open": "Lezen",
		"people.email": "E-mail", "people.role": "Rol", "people.totp": "Tweede factor", "yes": "ja", "no": "nee",
		"keys.label": "Label", "keys.role": "Rol", "keys.expires": "Verloopt", "keys.revoked": "Ingetrokken", "never": "nooit",
		"subprocessors.title": "Subverwerkers", "subprocessors.registry": "Register", "subprocessors.changes": "Wijzigingen",
		"subprocessors.objections": "Openstaande bezwaren", "subprocessors.none": "Geen openstaande bezwaren.",
		"sp.id": "Id", "sp.name": "Naam", "sp.service": "Dienst", "sp.location": "Locatie", "sp.transfer": "Doorgiftegrondslag",
		"change.kind": "Wijziging", "change.effective": "Ingangsdatum", "change.status": "Status", "change.description": "Waarom",
		"objection.customer": "Klant", "objection.change": "Wijziging", "objection.reason": "Reden", "objection.window": "Termijn eindigt",
		"objection.resolution": "Afhandeling", "objection.note": "Toelichting (optioneel)", "objection.resolve": "Afhandelen",
		"resolution.objection_withdrawn": "Bezwaar ingetrokken: de wijziging gaat door",
		"resolution.change_not_applied":  "Wijziging niet doorgevoerd voor deze klant",
		"resolved":                       "Het bezwaar is afgehandeld.",
		"notices.title":                  "Kennisgevingen", "notices.undelivered": "Niet afgeleverde subverwerkerkennisgevingen", "notices.dead": "Onbestelbare berichten",
		"notices.chart": "Kennisgevingen afgeleverd en mislukt", "notices.retry": "Opnieuw", "notices.retried": "Het bericht staat weer in de wachtrij.",
		"notice.id": "Bericht", "notice.kind": "Kanaal", "notice.event": "Over", "notice.attempts": "Pogingen", "notice.error": "Laatste fout",
		"audit.title": "Audittrail", "audit.chain": "Keten", "audit.checkpoint": "Laatste ondertekende checkpoint", "audit.none": "nog geen",
		"audit.verify": "Nu controleren", "audit.last": "Laatste controle", "audit.ok": "De keten klopt: %d gebeurtenissen, %d checkpoints.",
		"audit.bad": "De keten klopt NIET bij gebeurtenis %d: %s", "audit.events": "Gebeurtenissen",
		"audit.verification": "Controle van alle ketens", "audit.queued": "De controle wacht op haar start.",
		"audit.running": "Bezig: %d van %d gebeurtenissen, %d van %d ketens klaar.", "audit.progress": "Voortgang",
		"audit.refresh":     "Deze pagina ververst zich om de paar seconden tot de controle klaar is.",
		"audit.refresh.off": "Stop met verversen", "audit.refresh.on": "Verversen (en blijven verversen)",
		"audit.passed": "Alle ketens kloppen: %d ketens, %d gebeurtenissen.", "audit.failed": "%d van %d ketens kloppen NIET: zie hieronder.",
		"audit.state": "Stand", "audit.cause": "Oorzaak", "audit.state.queued": "wacht", "audit.state.waiting": "wacht",
		"audit.state.running": "bezig", "audit.state.passed": "klopt", "audit.state.failed": "klopt niet",
		"alarm.audit":        "Auditketen %s klopt NIET bij gebeurtenis %d: %s",
		"certificates.title": "Verwijderingscertificaten", "cert.id": "Certificaat", "cert.scope": "Omvang", "cert.records": "Records",
		"cert.created": "Uitgegeven", "cert.none": "Nog geen verwijderingen.",
		"chart.allowed": "toegestaan", "chart.denied": "geweigerd", "chart.delivered": "afgeleverd", "chart.failed": "mislukt",
		"chart.purpose": "Beslissingen per dag per doel", "chart.denials": "Weigeringen per dag per doel", "chart.reasons": "Weigeringen per dag per reden",
		"reason.contract_terminated": "contract beëindigd", "reason.customer_data_erased": "gegevens klant gewist",
		"reason.no_active_dpa": "geen actieve overeenkomst", "reason.category_not_in_scope": "categorie niet in overeenkomst",
		"reason.special_category_not_allowed": "bijzondere categorie niet toegestaan", "reason.purpose_not_in_scope": "doel niet in overeenkomst",
		"reason.region_not_in_scope": "regio niet in overeenkomst", "reason.transfer_basis_missing": "geen grondslag doorgifte",
		"reason.subprocessor_objection": "bezwaar tegen subverwerker", "reason.subprocessor_not_authorised": "subverwerker niet toegestaan",
		"reason.subject_restricted": "verwerking beperkt", "reason.subject_objected": "betrokkene maakt bezwaar",
		"reason.minor_service_improvement": "gegevens minderjarige voor verbetering", "chart.empty": "Nog geen gegevens.",
		"error.403": "Je hebt geen toestemming voor deze pagina.", "error.404": "Deze pagina bestaat niet.",
		"error.csrf": "Het formulier is geweigerd: het kwam niet van dit dashboard. Laad de pagina opnieuw en probeer het nog eens.",
		"error.500":  "Er ging aan onze kant iets mis. Dit is gelogd.", "error.400": "Het formulier is niet geldig.",
		"back":           "Terug",
		"sessions.title": "Mijn sessies", "sessions.intro": "Waar je nu bent aangemeld. Beëindig een sessie die je niet herkent, of een op een verloren of gedeeld apparaat: die stopt meteen, op elke replica.",
		"sessions.id": "Sessie", "sessions.started": "Aangemeld", "sessions.seen": "Laatst actief", "sessions.expires": "Verloopt", "sessions.mfa": "Tweede factor",
		"sessions.action": "Actie", "sessions.end": "Sessie beëindigen", "sessions.this": "deze", "sessions.ended": "De sessie is beëindigd.",
	},
}

// addMessages adds a feature's texts to messages: the breach, request and
// retention pages keep theirs next to their handlers.
func addMessages(m map[string]map[string]string) {
	for lang, texts := range m {
		for k, s := range texts {
			if _, dup := messages[lang][k]; dup {
				panic("web: message " + lang + " " + k + " defined twice")
			}
			messages[lang][k] = s
		}
	}
}

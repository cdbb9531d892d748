// Package breach handles personal data breaches as a processor must (GDPR
// Art. 33(2), 33(3), 33(4), 33(5) and 34(3)(a); Art. 28(3)(f); seed 001 art.
// 12.15 and 12.16).
//
// An incident is reported by staff or by a detection hook (Report). Triage
// runs the embedded Rego policy rego/triage.rego, which answers with reasons:
// an actual breach of confidentiality, integrity or availability of personal
// data is a breach and is notified; a theoretical vulnerability is recorded
// and not notified (seed 001 art. 12.16). A dismissal needs a reason, and a
// triage can be revised with a reason; every change is a revision in the
// incident's history and an audit event.
//
// The impact of an incident is counted from the records store (Scope): the
// customers whose records of the affected systems, categories and regions
// were created in the incident's window, with the exact number of subjects
// and records per customer and category, and how the records were encrypted
// (Art. 34(3)(a)). Each affected customer gets its own notice (Notify) by
// signed webhook and e-mail through the outbox, in Dutch and English, with
// the content of Art. 33(3), missing facts marked "to follow", the customer's
// own 72-hour clock and a draft answer sheet in the order of the Dutch
// authority's breach form; updates (Art. 33(4)) go to the same customers.
// The 48-hour clock runs from discovery in exact elapsed time; a periodic
// job escalates at 24, 36 and 44 hours while a first notice is not
// delivered, and raises the overdue alarm at 48 (Tick). Customers
// acknowledge through the API or the link in their e-mail. The register
// (Art. 33(5)) exports as JSON and as printable HTML per customer.
//
// The package owns the tables breach_incidents, breach_revisions,
// breach_notices and breach_escalations and the index records_breach_window;
// it reads records, subject_keys and tenant_keys for the impact, customers
// through tenant, contacts through dpa.ActiveScopes and webhook endpoints
// through notify, in its own transactions.
package breach

// Package dpa holds the data processing agreements (DPAs) between the
// company, as processor, and each customer, as controller (GDPR Art. 28(3)).
//
// An agreement is versioned per customer: draft → offered → accepted → active
// → superseded or terminated. The scope of a version — data categories,
// purposes, regions, retention per category, authorised subprocessors, the
// objection window for subprocessor changes and the contacts — is the
// controller's documented instruction (Art. 28(3)(a), 29): processing outside
// the active version's scope is not allowed. Regions outside the EEA need a
// recorded transfer basis, an adequacy decision (Art. 45) or standard
// contractual clauses (Art. 46(2)(c)); see Art. 44-46. Special categories of
// personal data (Art. 9) are only in scope when flagged as such.
//
// The text offered to the controller is rendered from the structured scope in
// Dutch and English and fixed at the offer with its SHA-256; the controller
// accepts one of those texts by its hash, and an offered or accepted version
// never changes again (the database refuses it). The processor's record of
// processing per controller (Art. 30(2)) is generated from the active version.
//
// Active is the entry point of the decision engine. The subprocessor
// registry is package subprocessor; agreements reach it through
// Subprocessors.
package dpa

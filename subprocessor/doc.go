// Package subprocessor keeps the company's registry of subprocessors and
// the customers' say over them (GDPR Art. 28(2) and (4); seed 001 art.
// 12.10, seed 000 art. 10.2).
//
// Entries of the registry are added by the DPO; a change (add, replace,
// remove) is proposed and announced to every customer it concerns as a
// notice, delivered by signed webhook and e-mail through the outbox or
// recorded by the DPO as delivered out of band. A customer's objection
// window (its DPA's, default 30 days) runs from the delivery, counted by
// Regulation 1182/71 in its calendar; an objection holds the change and
// blocks processing through the subprocessor for the customer until the DPO
// resolves it; a periodic job applies the changes whose time has come to
// each customer's effective list. Each customer has a public page and Atom
// feed of its subprocessors, addressed by a rotatable slug.
//
// The package owns the tables subprocessors, subprocessor_changes,
// subprocessor_notices, tenant_subprocessors and subprocessor_pages, and
// the view subprocessor_blocks. It reads customers through tenant, agreement scopes
// through dpa.ActiveScopes and webhook endpoints through notify, each in
// the caller's transaction; dpa reaches the registry through
// dpa.Subprocessors, which Lists implements.
package subprocessor

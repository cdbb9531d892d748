// Package policy decides what may happen.
//
// Who may call which operation in which tenant's domain: role-based access
// control (Casbin, compiled into a version-checked table). It serves GDPR
// Art. 32(1)(b) and (4) (access restricted to authorised staff; company
// terms 000 art. 9.1) and Art. 28(3)(b) (persons authorised to process are
// bound to it).
//
// Whether a processing operation is inside the customer's processing
// agreement: the decision policy (rego/decision.rego, Rego v1, with its
// unit tests in rego/decision_test.rego), compiled per tenant state into an
// immutable answer table by the Compiler (the decision package keeps the
// tables per tenant). It enforces GDPR Art. 28(3)(a) and 29 (processing only on the
// controller's documented instructions, for the agreed categories and
// purposes), 44-46 (transfers outside the EEA only with a recorded basis),
// 9 (special categories only where explicitly allowed), 18 (restriction of
// processing), 21 (objection), 28(2) and (4) (subprocessors and objections
// to them), and company terms seed 000 art. 9.1 (EEA only), 9.5 (minors)
// and 8.3 (contract end), seed 001 art. 12.2-12.3, 12.9 and 12.10.
package policy

// Package verwerker holds the shared vocabulary of the verwerker platform:
// identifiers, the error type with its codes, the principal making a call and
// the injected clock.
//
// verwerker is the processor-operations platform of a Dutch chat-assistant
// company: it makes the promises of its processing agreements true in
// software. The packages below it serve these parts of the GDPR:
//
//   - Art. 28(3)(a) and 29: processing only on the controller's documented
//     instructions (dpa for the agreements, policy and decision for the
//     answer the chat service asks for before it stores anything, client
//     for the chat service's side)
//   - Art. 28(2) and (4): subprocessors and the controller's objections
//     to their changes (subprocessor)
//   - Art. 30(2): the processor's record of processing (dpa)
//   - Art. 5(1)(e), 17 and 28(3)(g): retention and erasure (records,
//     subject, keys, tenant); deadlines counted as EU law counts them
//     (deadline)
//   - Art. 15, 18, 20 and 21: export, restriction and objection for a data
//     subject (records, subject)
//   - Art. 28(3)(e) and (f): notices that reliably reach the controller
//     (notify)
//   - Art. 32: security of processing (keys, records, identity, policy,
//     audit)
//   - Art. 5(2) and 28(3)(h): accountability, a tamper-evident audit trail
//     the controller can verify itself (audit)
//
// The HTTP interface is api; store holds the PostgreSQL plumbing, and each
// domain package owns its own tables. cmd/verwerker is the server and its
// operator tools.
//
// This package imports nothing from the rest of the module, so every other
// package may import it.
package verwerker

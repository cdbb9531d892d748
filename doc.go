// Package verwerker holds the shared vocabulary of the verwerker platform:
// identifiers, the error type with its codes, the principal making a call and
// the injected clock.
//
// verwerker is the processor-operations platform of a Dutch chat-assistant
// company: it makes the promises of its processing agreements true in
// software. The packages below it serve these parts of the GDPR:
//
//   - Art. 5(1)(e), 17 and 28(3)(g): retention and deletion (retention, records)
//   - Art. 28 and 29: processing only on the controller's instructions (dpa, policy)
//   - Art. 30(2): the processor's record of processing (dpa)
//   - Art. 32: security of processing (keys, records, identity, audit)
//   - Art. 33(2): notifying controllers of breaches without undue delay (breach)
//
// This package imports nothing from the rest of the module, so every other
// package may import it.
package verwerker

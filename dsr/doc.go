// Package dsr handles data-subject requests as a processor must (seed 001
// art. 12.14; GDPR Art. 12(3), 15-22, 28(3)(e)): intake from the subject
// (verified by a one-time e-mail code, rate-limited, nothing kept for
// unverified requests beyond what verification needs) and from the
// controller (with the actual date of receipt); forwarding to the controller
// through the outbox with the matched subject's pseudonymous id, the data
// categories held (counts only) and the deadline; the controller's
// instructions (export per Art. 15 and 20, erasure per Art. 17 respecting
// holds, restriction per Art. 18, objection per Art. 21, rejection with a
// reason) executed by River jobs that retry and, when they cannot succeed,
// raise an alarm with a one-call retry; and the statutory deadline of one
// month from receipt, extendable by two months with reasons (Art. 12(3)),
// counted by Regulation 1182/71 in the customer's calendar, shifted by time
// spent waiting on the subject, with reminders and overdue alarms.
//
// The package owns the tables dsr_verifications, dsr_requests, dsr_steps
// and dsr_exports. Audit events and timeline steps carry ids only, never the
// requester's address or the subject's reference.
package dsr

// Package notify is verwerker's outbox: every webhook and e-mail to a
// controller or a data subject is written as a row in the same transaction
// as the state change that causes it (Enqueue), and delivered afterwards by
// a River job that carries only the row's id. Nothing is sent for a change
// that rolled back, and nothing is lost when a receiver is down.
//
// Delivery is at least once, with stable identities: the bytes to send are
// fixed at enqueue time, a webhook keeps its webhook-id and an e-mail its
// Message-ID on every retry, and an idempotency key per tenant makes a
// repeated request return the first message instead of a second one.
// Failed attempts are retried with backoff (MaxAttempts), each attempt is
// logged (Attempts), and a message that exhausts its attempts is dead: it is
// listed for the DPO (DeadLetters) and can be sent again (Retry).
//
// Webhooks follow the Standard Webhooks scheme: HMAC-SHA256 over
// "id.timestamp.body" with a per-tenant secret, in the headers webhook-id,
// webhook-timestamp and webhook-signature ("v1,<base64>"). During a secret
// rotation every message is signed with both secrets.
//
// It serves these parts of the GDPR:
//
//   - Art. 28(3)(e) and (f): assisting the controller with data-subject
//     requests and with its obligations under Art. 32 to 36, which needs
//     notices that reliably arrive
//   - Art. 33(2): notifying the controller of a personal data breach without
//     undue delay, with a delivery log as evidence
//   - Art. 28(2): informing the controller of intended subprocessor changes
//   - Art. 32: signed webhooks, so a controller can tell a notice from
//     verwerker from a forgery
//
// Personal data (e-mail recipients and message content) lives only in the
// outbox row: never in job arguments, logs, errors or audit events, which
// carry message ids and error codes.
package notify

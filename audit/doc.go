// Package audit is verwerker's append-only, tamper-evident audit trail: every
// state change and every denial, with time, actor, action, tenant, resource,
// outcome and reason. Events hold pseudonymous ids only, never personal data,
// so erasing a data subject never deletes audit history.
//
// Events form one hash chain per tenant and one for the platform: each event
// stores SHA-256 over the previous event's hash and the event's canonical
// encoding. The database refuses UPDATE, DELETE and TRUNCATE on the audit
// tables. Appends are group-committed: many concurrent writers share few
// transactions, and each Append returns only once its event is durable.
// Verify recomputes a chain and names the first event that does not match.
//
// A Checkpointer periodically signs the head of every chain that moved
// (through keys.Signer) and stores the checkpoint. Verify checks every
// checkpoint's signature and that the chain still holds the hash it
// signed, so even an attacker who recomputes every hash after changing an
// event, or who cuts a chain short, is caught at the first checkpoint
// after the change. Checkpoint.Message is a plain byte string, so a
// controller can check its chain and checkpoints with SHA-256 and Ed25519
// alone.
//
// It serves GDPR Art. 5(2) (accountability), Art. 28(3)(h) (making available
// the information needed to demonstrate compliance and allowing audits;
// company terms 001 art. 12.17) and Art. 32(1)(d) (regularly testing the
// effectiveness of measures), and company terms 000 art. 9.1 (logging and
// monitoring).
package audit

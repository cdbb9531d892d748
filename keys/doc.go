// Package keys is verwerker's key management: encryption keys for personal
// data, and signing keys for the audit trail.
//
// # Encryption: envelope encryption with crypto-shredding
//
// A Keyring holds one key-encryption key per tenant and never reveals it.
// Transit (HashiCorp Vault's Transit engine) is the production keyring; it
// logs in with a token, AppRole or Kubernetes and keeps its token renewed.
// LocalKeyring (a master key in a 0600 file) is the embedded default of
// `verwerker dev` and logs that it is not for production.
//
// The Manager ties the keyring to the tenant_keys table and is what the
// rest of verwerker uses:
//
//   - CreateTenantKey makes a tenant's key explicitly. No keyring operation
//     ever creates a key implicitly, and Vault's policy for verwerker has no
//     "create" capability, so a deleted key name is never quietly re-created.
//   - NewDataKey gives a new subject its data key from the keyring
//     (transit/datakey); only the wrapped form is stored, by the caller.
//   - Records are sealed locally with AES-256-GCM (Seal, Open), bound to
//     tenant, subject and record kind as additional data.
//   - Keys and Key lend unwrapped data keys from a bounded Cache (size and
//     TTL), unwrapping misses in batches; key bytes are zeroed when they
//     leave the cache.
//   - ShredTenant records a tombstone, then deletes the tenant key in the
//     keyring: every wrapped data key of the tenant, in the database and in
//     every backup, becomes useless, and the tenant never gets a key again.
//     Erasing a subject is deleting its wrapped key (the caller's table)
//     and calling Forget.
//   - RotateTenant (and RotateDue, the periodic job) rotates a tenant key,
//     rewraps every stored wrapped key through a WrappedKeyStore, then
//     raises the minimum decryption version and trims older versions, so a
//     database backup older than one cycle cannot decrypt subjects erased
//     since.
//
// When the keyring does not answer, every operation fails closed with an
// EUNAVAILABLE error carrying RetryAfter (HTTP 503).
//
// # Signing: audit checkpoints
//
// Audit checkpoints are signed through the Signer interface, with a local
// Ed25519 key (LocalSigner, a 32-byte seed in a file readable only by its
// owner) until Vault Transit signing arrives behind the same interface. A
// KeySet holds the public keys verification trusts, by key id, so
// checkpoints signed by an earlier key stay verifiable after a rotation.
//
// Private keys never leave this package: callers get signatures, public keys
// and data keys lent for sealing, never a key-encryption key.
//
// # GDPR
//
// It serves Art. 32(1)(a) (encryption of personal data as a security
// measure) and 32(1)(b) (confidentiality: keys per tenant and per subject,
// held in Vault); Art. 17 (right to erasure: destroying a subject's wrapped
// key or a tenant's key erases the data everywhere, backups included, and
// rotation bounds how long a backup can still reveal erased subjects);
// Art. 5(1)(e) (storage limitation: data that must go becomes unreadable at
// once, before the rows are purged); Art. 5(1)(f) (integrity and
// confidentiality: authenticated encryption binds each record to its
// tenant, subject and kind, and a signed checkpoint makes a rewritten audit
// chain detectable); and Art. 5(2) (accountability: a controller can check
// the processor's audit trail itself, with SHA-256 and Ed25519 only).
package keys

// Package keys is verwerker's key management. Today it signs: audit
// checkpoints are signed through the Signer interface, with a local Ed25519
// key (LocalSigner, a 32-byte seed in a file readable only by its owner)
// until Vault Transit signing arrives behind the same interface. A KeySet
// holds the public keys verification trusts, by key id, so checkpoints
// signed by an earlier key stay verifiable after a rotation.
//
// Private keys never leave this package: callers get signatures and public
// keys only.
//
// It serves GDPR Art. 32(1) (security of processing: keys protect the
// integrity of the audit trail), Art. 5(1)(f) (integrity: a signed
// checkpoint makes a rewritten audit chain detectable) and Art. 5(2)
// (accountability: a controller can check the processor's audit trail
// itself, with SHA-256 and Ed25519 only).
package keys

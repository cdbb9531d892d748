// Package identity authenticates callers and keeps their credentials.
// Machine principals (the chat service, integrations) and people's personal
// keys are API keys: random, shown once, stored only as a hash, scoped to one
// tenant or to the platform, with an optional expiry. People sign in with a
// password (argon2id) and a TOTP second factor (RFC 6238) and then hold a
// session; their roles are grants per tenant or on the platform.
//
// A revoked key, a disabled person or a changed grant fails on the very next
// request on every replica (company terms 004 art. 15.7: lost credentials
// are blocked at once). A presented key is checked against its row in the
// database, with the lookups of concurrent requests batched into one query,
// or, on a replica that watches the database (Keys.Watch), against a
// credential cache that is trusted only while the replica's change watcher
// is fresh and only for rows read at the newest policy version heard of:
// every change that could make a row wrong raises that version, and every
// replica hears of it before the change is acknowledged.
//
// It serves GDPR Art. 32(1)(b) (confidentiality of processing systems) and
// company terms 000 art. 9.1 (access restricted to authorised persons, with
// a second factor for every person).
package identity

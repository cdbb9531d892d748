// Package identity authenticates callers. Machine principals (the chat
// service, integrations) and people calling the API use API keys: random,
// shown once, stored only as a hash, scoped to one tenant or to the
// platform, with an optional expiry. A revoked key fails on the very next
// request on every replica, because every request checks the database
// (company terms 004 art. 15.7: lost credentials are blocked at once).
//
// It serves GDPR Art. 32(1)(b) (confidentiality of processing systems) and
// company terms 000 art. 9.1 (access restricted to authorised persons).
package identity

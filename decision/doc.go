// Package decision answers the chat service's question before it stores
// anything: may this data category be stored for this purpose in this
// region for this customer? (MISSION promises 1-3; GDPR Art. 28(3)(a), 29,
// 44-46, 9, 18, 21, 28(2) and (4); company terms seed 000 art. 9.1 and 9.5,
// seed 001 art. 12.2-12.3, 12.9 and 12.10.)
//
// The policy package compiles a tenant's state into an answer table
// (Rego is the source of truth); this package keeps the one per-tenant
// cache of those tables, current through the replica's watcher, validates
// requests, looks up the subjects they name, computes
// the obligations' deadlines from the injected clock with the deadline
// package, records minors' flags and notices, audits every denial (group
// commit) and counts decisions per tenant, category, purpose and outcome:
// per customer and day in decision_counts (Stats), summed over customers as
// Prometheus counters, and allows as a periodic aggregate audit event per
// tenant, so the audit log does not grow with every stored message.
package decision

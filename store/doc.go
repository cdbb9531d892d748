// Package store owns verwerker's connection to PostgreSQL: the pgx pool, the
// embedded schema migrations (run under an advisory lock so that several
// replicas may start at once), the transaction helper, and a throwaway
// PostgreSQL cluster for the embedded development default.
//
// Postgres is verwerker's one store. Keeping every record in one transactional
// database is what lets the platform show, for GDPR Art. 5(2) (accountability)
// and Art. 30(2) (records of processing), that a state change, its audit event
// and its outbound notices happened together or not at all. Domain packages
// own their SQL; this package only provides the plumbing.
package store

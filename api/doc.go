// Package api is verwerker's HTTP interface: Huma operations on net/http,
// their request and response types, authentication and authorization
// middleware, and the mapping of verwerker errors to RFC 9457 problem
// responses. It holds no SQL and no business rules; those live in the domain
// packages.
//
// It serves GDPR Art. 28(3)(a) and 29 (the controller's instructions reach
// the processor through it), Art. 32 (access control: every operation
// declares the permission it needs and is denied by default) and Art. 5(1)(f)
// (problem responses never echo submitted personal data or internal error
// text, and logs never hold request bodies).
package api

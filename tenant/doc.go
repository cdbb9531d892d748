// Package tenant manages verwerker's customers: the controllers (GDPR Art.
// 4(7)) for whom the company processes chat data as a processor. A tenant's
// contract lifecycle (active, then terminated with a contract end date)
// drives the deletion of all its data within 30 days after the contract ends
// (GDPR Art. 28(3)(g); company terms 000 art. 8.3 and 3.4).
//
// Every other table is keyed by the tenant id first, and the tenant is the
// domain of every tenant-scoped permission.
package tenant

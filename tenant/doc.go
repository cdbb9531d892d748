// Package tenant manages verwerker's customers: the controllers (GDPR Art.
// 4(7)) for whom the company processes chat data as a processor.
//
// A tenant's contract lifecycle is active, then terminating once its notice
// of termination is recorded, then ended after the contract's last day. A
// notice is not the end of the contract: processing continues through the
// last day, in the customer's own time zone (seed 000 art. 8.3). The status
// is computed from the recorded contract end at every read, so the end
// takes effect at its instant without a job. After the end all of the
// tenant's data is deleted within 30 days (GDPR Art. 28(3)(g); company terms
// 000 art. 8.3 and 3.4); before it only on the customer's explicit
// instruction.
//
// Every other table is keyed by the tenant id first, and the tenant is the
// domain of every tenant-scoped permission.
package tenant

// Package records is verwerker's store of the personal data it governs: the
// chat service's conversations and messages and the company's admin data
// (customer accounts, users, login events, invoices), encrypted so that
// erasure is instant and reaches backups (MISSION promises 4 and 9).
//
// Every record is sealed locally with AES-256-GCM under its subject's data
// key (one per subject, made by the keyring under the tenant's key; only the
// wrapped form is stored in subject_keys) and bound to tenant, subject and
// kind (keys.AAD). Each record carries the category, purpose and region it
// was stored for, the agreement version and decision that allowed it, and
// its retention rule and deadline.
//
// The legal grounds it serves:
//
//   - GDPR Art. 5(1)(e), storage limitation: each record keeps its retention
//     rule and deletion deadline from the decision that allowed it
//     (Recompute applies a changed rule); the table is partitioned by
//     deadline month, so a month past its deadlines is purged by dropping
//     its partition (DropPartition).
//   - Art. 17, right to erasure: EraseSubject destroys the subject's wrapped
//     data key in the transaction that marks it erased, so its records are
//     unreadable at once; a background job deletes the rows; the next
//     rotation cycle makes copies of the key in backups useless.
//   - Art. 18, restriction: writes are decided with the subject's
//     restriction and objections, in the same decision the API makes.
//   - Art. 20, portability: Export streams all of a subject's records,
//     decrypted, as one JSON document.
//   - Art. 28(3)(g), deletion at the end of the contract: EraseTenant
//     destroys a terminated customer's tenant key and certifies it.
//   - Art. 32, security of processing: encryption at rest with keys held in
//     Vault Transit, fail-closed when Vault is unavailable.
//
// No bypass: Write asks decision.Service.Decide, the same decision the
// decision API makes, and commits only if the customer's decision state and
// the subject's instructions it was made on are still current inside the
// writing transaction (they stay locked until it commits). A denied write
// stores nothing; Decide audits the denial.
package records

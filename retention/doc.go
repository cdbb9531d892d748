// Package retention deletes personal data on time and proves it (MISSION
// promise 4): retention rules per data category with their legal ground,
// legal holds, sweeps that crypto-shred and purge what is due, the purge of
// a customer's data after its contract ends, deletion certificates per
// sweep, and a forecast of what will be deleted.
//
// The legal grounds it serves:
//
//   - GDPR Art. 5(1)(e), storage limitation, and company terms seed 000
//     art. 9.3: chat data is deleted 30 days after the subject's last
//     interaction; an interaction postpones the deadline of everything the
//     subject said before (records.Store.Write recomputes it).
//   - Seed 000 art. 9.5: a suspected minor's data is deleted as soon as
//     possible, 24 hours after it was written (decision.MinorDeletionPeriod).
//   - GDPR Art. 17(3)(b) and AWR art. 52(4): fiscal records (invoices) are
//     kept seven years; the statutory rule beats a shorter contractual one
//     and is never deleted early.
//   - GDPR Art. 28(3)(g), seed 000 art. 3.4 and 8.3, seed 004 art. 17.3:
//     after the contract's last day everything but statutory records is
//     deleted within 30 days (Regulation 1182/71), then the tenant key is
//     destroyed once no statutory record remains.
//   - Art. 5(2), accountability: every hold placed or lifted and every sweep
//     is an audit event; a sweep's certificate counts only what was verified
//     deleted and names the audit event that closes it.
//
// Sweeps are River jobs (SweepArgs), one per customer, joined by every
// replica that picks one up: rows are taken with FOR UPDATE SKIP LOCKED in
// batches of SweepBatch, holds are re-read inside each deleting transaction
// (which holds a shared per-customer lock that placing a hold takes
// exclusively), and each batch writes its ledger line in the transaction
// that deletes it, so a sweep killed at any point resumes and deletes
// everything exactly once.
//
// Before the sweeps, the schedule job drops each month partition of the
// records table whose deadlines all passed, when no hold covers any of its
// records and it holds no statutory record (PurgePartitions), with a
// ledger line per customer in the dropping transaction. When a customer's
// agreement changes a category's retention rule, the sweep job first
// recomputes the stored deadlines (Recompute, audited; Art. 5(1)(e)). The
// DPO's platform-wide forecast is counted by a job (RefreshForecast).
package retention

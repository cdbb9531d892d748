package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	tenants "github.com/verwerker/verwerker/tenant"
)

// Certificate scopes.
const (
	ScopeSubject = "subject"
	ScopeTenant  = "tenant"
)

// Certificate is a deletion certificate: what was erased, how many records
// and subjects, when, which key versions were destroyed, and the hash of the
// audit event written in the same transaction (verifiable with the audit
// chain). It holds ids and counts only.
type Certificate struct {
	ID       string
	TenantID string
	// Scope is ScopeSubject or ScopeTenant.
	Scope string
	// SubjectID is the erased subject (ScopeSubject only).
	SubjectID string
	// What counts the erased records per kind.
	What map[string]int64
	// Records and Subjects count what was erased.
	Records, Subjects int64
	// KeyVersionsDestroyed are the tenant key versions of the destroyed
	// keys: for a subject, the version its data key was wrapped under; for
	// a tenant, every version the tenant key still had.
	KeyVersionsDestroyed []int
	// KeyName is the destroyed tenant key (ScopeTenant only).
	KeyName string
	// ErasedAt is when the data became unreadable.
	ErasedAt time.Time
	// AuditSeq and AuditHash name the audit event of the erasure in the
	// tenant's chain.
	AuditSeq  int64
	AuditHash []byte
	// RowsPurgedAt is when the background purge deleted the last sealed
	// row; nil while it runs.
	RowsPurgedAt *time.Time
	CreatedAt    time.Time
}

const certificateColumns = `tenant_id, id, scope, coalesce(subject_id, ''), what, records_count, subjects_count, key_versions_destroyed,
	coalesce(key_name, ''), erased_at, audit_seq, audit_hash, rows_purged_at, created_at`

func scanCertificate(row pgx.Row) (Certificate, error) {
	var c Certificate
	var what []byte
	var versions []int32
	err := row.Scan(&c.TenantID, &c.ID, &c.Scope, &c.SubjectID, &what, &c.Records, &c.Subjects, &versions, &c.KeyName,
		&c.ErasedAt, &c.AuditSeq, &c.AuditHash, &c.RowsPurgedAt, &c.CreatedAt)
	if err != nil {
		return c, err
	}
	c.What = map[string]int64{}
	if err := json.Unmarshal(what, &c.What); err != nil {
		return c, err
	}
	c.KeyVersionsDestroyed = make([]int, len(versions))
	for i, v := range versions {
		c.KeyVersionsDestroyed[i] = int(v)
	}
	return c, nil
}

// countKinds counts per kind the records of tenant (of one subject when
// subjectID is not empty) that are still readable, that is whose subject
// still has its data key: the records of a subject erased before, whose
// rows may wait for their purge, were certified with that subject.
func countKinds(ctx context.Context, tx pgx.Tx, tenant, subjectID string) (map[string]int64, int64, error) {
	rows, err := tx.Query(ctx, `SELECT r.kind, count(*) FROM records r
		WHERE r.tenant_id = $1 AND ($2 = '' OR r.subject_id = $2)
			AND EXISTS (SELECT 1 FROM subject_keys k WHERE k.tenant_id = r.tenant_id AND k.subject_id = r.subject_id)
		GROUP BY r.kind`, tenant, subjectID)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	what := map[string]int64{}
	var total int64
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, 0, err
		}
		what[k], total = n, total+n
	}
	return what, total, rows.Err()
}

// certify appends the audit event of an erasure and inserts its
// certificate, in tx. extra is appended to the event's reason (codes only).
func (s *Store) certify(ctx context.Context, tx pgx.Tx, c *Certificate, action, extra string) error {
	kinds := make([]string, 0, len(c.What))
	for k := range c.What {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = k + "=" + strconv.FormatInt(c.What[k], 10)
	}
	versions := make([]string, len(c.KeyVersionsDestroyed))
	for i, v := range c.KeyVersionsDestroyed {
		versions[i] = strconv.Itoa(v)
	}
	reason := fmt.Sprintf("certificate=%s%s records=%d subjects=%d key_versions=%s kinds=%s", c.ID, extra, c.Records, c.Subjects,
		strings.Join(versions, ","), strings.Join(parts, ","))
	if len(reason) > 300 {
		reason = reason[:300]
	}
	resource := c.SubjectID
	if c.Scope == ScopeTenant {
		resource = c.TenantID
	}
	ev, err := s.audit.AppendTx(ctx, tx, audit.Event{Chain: c.TenantID, Actor: audit.Actor(ctx), Action: action, Resource: resource,
		Outcome: audit.Success, Reason: reason})
	if err != nil {
		return err
	}
	c.AuditSeq, c.AuditHash = ev.Seq, ev.Hash
	what, err := json.Marshal(c.What)
	if err != nil {
		return err
	}
	var subjectID, keyName *string
	if c.SubjectID != "" {
		subjectID = &c.SubjectID
	}
	if c.KeyName != "" {
		keyName = &c.KeyName
	}
	_, err = tx.Exec(ctx, `INSERT INTO deletion_certificates (tenant_id, id, scope, subject_id, what, records_count, subjects_count,
			key_versions_destroyed, key_name, erased_at, audit_seq, audit_hash, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $10)`,
		c.TenantID, c.ID, c.Scope, subjectID, what, c.Records, c.Subjects, c.KeyVersionsDestroyed, keyName, c.ErasedAt, c.AuditSeq, c.AuditHash)
	if err != nil {
		return err
	}
	c.CreatedAt = c.ErasedAt
	return s.enqueuePurge(ctx, tx, c)
}

// EraseSubject crypto-shreds the subject of ref (GDPR Art. 17): in one
// transaction it deletes the subject's wrapped data key (its records are
// unreadable from that moment), marks the subject erased and unlinks its
// reference, appends the audit event and writes the deletion certificate.
// The sealed rows are deleted afterwards by the purge job. The key is
// dropped from this replica's cache at once; other replicas' caches forget
// it within the cache TTL. ENOTFOUND when no subject has that reference.
func (s *Store) EraseSubject(ctx context.Context, tenant, ref string) (Certificate, error) {
	now := s.clock.Now().UTC()
	c := Certificate{ID: verwerker.NewID(verwerker.PrefixDeletionCertificate, now), TenantID: tenant, Scope: ScopeSubject, ErasedAt: now, Subjects: 1}
	var wrapped []byte
	err := s.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		st, err := s.subjects.Find(ctx, tx, tenant, ref)
		if err != nil {
			return err
		}
		c.SubjectID = st.ID
		if c.What, c.Records, err = countKinds(ctx, tx, tenant, st.ID); err != nil {
			return err
		}
		c.KeyVersionsDestroyed = []int{}
		var w string
		var v int
		err = tx.QueryRow(ctx, `DELETE FROM subject_keys WHERE tenant_id = $1 AND subject_id = $2 RETURNING wrapped, key_version`, tenant, st.ID).Scan(&w, &v)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			wrapped, c.KeyVersionsDestroyed = []byte(w), []int{v}
		}
		if err := s.subjects.MarkErased(ctx, tx, tenant, st.ID, now); err != nil {
			return err
		}
		return s.certify(ctx, tx, &c, "subject.erase", "")
	})
	if err != nil {
		return Certificate{}, verwerker.Wrap("records: erase subject", err)
	}
	if wrapped != nil {
		s.keys.Forget(tenant, wrapped)
	}
	return c, nil
}

// ConfirmEraseBeforeContractEnd is the confirmation that makes a tenant
// erasure before the contract's end the customer's explicit instruction: it
// names the consequence (TenantErasure.Confirm).
const ConfirmEraseBeforeContractEnd = "erase_before_contract_end"

// TenantErasure is how a customer's erasure was asked for.
type TenantErasure struct {
	// Confirm is ConfirmEraseBeforeContractEnd when the customer's
	// controller_admin instructs the erasure before its contract's end (the
	// caller has checked that the instruction comes from one); otherwise
	// empty. After the end it is not needed.
	Confirm string
}

// EraseTenant crypto-shreds a customer's data (GDPR Art. 28(3)(g)): the
// tenant key is destroyed in the keyring (keys.Manager.ShredTenant:
// tombstone first, then deletion in Vault), so every wrapped data key of the
// tenant, live or in any backup, is useless; then one transaction deletes
// the wrapped keys, marks the tenant erased (tenant.MarkErased: decisions
// for it stop), appends the audit event and writes the certificate, and the
// purge job deletes the rows.
//
// A notice of termination is not the end of the contract: the data can be
// erased once the contract has ended, or before that only on the explicit
// instruction of the customer (req.Confirm), which is audited
// (tenant.erase_instruction) before anything is destroyed. Without it, a
// terminating customer is an ECONFLICT naming the contract's last day, and
// so is a customer whose contract was never terminated. Erasing again
// returns the first certificate; an erasure interrupted by an unavailable
// keyring (EUNAVAILABLE) completes when run again.
func (s *Store) EraseTenant(ctx context.Context, tenant string, req TenantErasure) (Certificate, error) {
	op := "records: erase tenant"
	var existing *Certificate
	var early bool
	err := s.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		now := s.clock.Now()
		t, err := tenants.Read(ctx, tx, tenant, now, true)
		if err != nil {
			return err
		}
		c, err := scanCertificate(tx.QueryRow(ctx, `SELECT `+certificateColumns+` FROM deletion_certificates WHERE tenant_id = $1 AND scope = 'tenant'`, tenant))
		if err == nil {
			existing = &c
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		switch t.Status {
		case tenants.StatusEnded:
			return nil
		case tenants.StatusTerminating:
			if req.Confirm != ConfirmEraseBeforeContractEnd {
				return &verwerker.Error{Code: verwerker.ECONFLICT,
					Message: fmt.Sprintf("the customer's contract runs until %s (its last day, %s): its data can be erased after that day, "+
						"or before it only on the instruction of the customer's controller_admin with confirm %s", t.ContractEnd, t.Timezone, ConfirmEraseBeforeContractEnd),
					Fields: []verwerker.FieldError{{Field: "confirm", Message: "must be " + ConfirmEraseBeforeContractEnd +
						" to erase before the contract ends (the customer's controller_admin only)"}}}
			}
			early = true
			// The instruction is on record before anything is destroyed.
			return s.audit.Record(ctx, tx, tenant, "tenant.erase_instruction", tenant,
				"confirm="+ConfirmEraseBeforeContractEnd+" contract_end="+t.ContractEnd.String())
		default:
			return verwerker.Errorf(verwerker.ECONFLICT, "only a terminated customer's data can be erased; terminate the contract first")
		}
	})
	if err != nil {
		return Certificate{}, verwerker.Wrap(op, err)
	}
	if existing != nil {
		return *existing, nil
	}
	tk, err := s.keys.ShredTenant(ctx, tenant)
	if err != nil {
		return Certificate{}, err
	}
	s.ready.Delete(tenant)
	now := s.clock.Now().UTC()
	c := Certificate{ID: verwerker.NewID(verwerker.PrefixDeletionCertificate, now), TenantID: tenant, Scope: ScopeTenant, ErasedAt: now,
		KeyName: tk.Name, KeyVersionsDestroyed: []int{}}
	if tk.Name != "" {
		for v := max(1, tk.MinDecryptionVersion); v <= tk.LatestVersion; v++ {
			c.KeyVersionsDestroyed = append(c.KeyVersionsDestroyed, v)
		}
	}
	err = s.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		// Concurrent erasures of one customer certify once: the tenant row
		// is locked, and whoever comes second returns the first certificate.
		if _, err := tenants.Read(ctx, tx, tenant, now, true); err != nil {
			return err
		}
		prev, err := scanCertificate(tx.QueryRow(ctx, `SELECT `+certificateColumns+` FROM deletion_certificates WHERE tenant_id = $1 AND scope = 'tenant'`, tenant))
		if err == nil {
			c = prev
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if c.What, c.Records, err = countKinds(ctx, tx, tenant, ""); err != nil {
			return err
		}
		// Subjects are unlinked from their references (the HMACs are
		// replaced by random bytes), so nothing of the customer's visitors
		// can be matched any more, flags included. Every subject not erased
		// before counts, with records or without (only a restriction, an
		// objection or a minor's flag).
		if c.Subjects, err = s.subjects.MarkAllErased(ctx, tx, tenant, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM subject_keys WHERE tenant_id = $1`, tenant); err != nil {
			return err
		}
		if err := tenants.MarkErased(ctx, tx, tenant, now); err != nil {
			return err
		}
		extra := ""
		if early {
			extra = " before_contract_end=true"
		}
		return s.certify(ctx, tx, &c, "tenant.erase", extra)
	})
	if err != nil {
		return Certificate{}, verwerker.Wrap(op, err)
	}
	return c, nil
}

// Certificates lists the tenant's deletion certificates, newest first, up
// to limit, starting after the certificate id before ("" for the first
// page).
func (s *Store) Certificates(ctx context.Context, tenant, before string, limit int) ([]Certificate, error) {
	var out []Certificate
	err := s.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+certificateColumns+` FROM deletion_certificates
			WHERE tenant_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3`, tenant, before, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanCertificate(rows)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, verwerker.Wrap("records: certificates", err)
}

// Certificate returns one certificate; ENOTFOUND if the tenant has none of
// that id.
func (s *Store) Certificate(ctx context.Context, tenant, id string) (Certificate, error) {
	var c Certificate
	err := s.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		c, err = scanCertificate(tx.QueryRow(ctx, `SELECT `+certificateColumns+` FROM deletion_certificates WHERE tenant_id = $1 AND id = $2`, tenant, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return c, verwerker.Errorf(verwerker.ENOTFOUND, "certificate not found")
	}
	return c, verwerker.Wrap("records: certificate", err)
}

// PurgeBatch is how many sealed rows one purge transaction deletes.
const PurgeBatch = 5000

// Purge deletes the sealed rows a certificate's erasure made unreadable, in
// batches of PurgeBatch rows per transaction, and records when the last
// went. It is idempotent and resumable; it returns how many rows it deleted.
func (s *Store) Purge(ctx context.Context, tenant, certificateID string) (int64, error) {
	c, err := s.Certificate(ctx, tenant, certificateID)
	if err != nil {
		return 0, err
	}
	var total int64
	for {
		var n int64
		err := s.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `DELETE FROM records WHERE tenant_id = $1 AND id IN (
				SELECT id FROM records WHERE tenant_id = $1 AND ($2 = '' OR subject_id = $2) LIMIT $3)`, tenant, c.SubjectID, PurgeBatch)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return total, verwerker.Wrap("records: purge", err)
		}
		total += n
		if n < PurgeBatch {
			break
		}
	}
	err = s.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE deletion_certificates SET rows_purged_at = coalesce(rows_purged_at, $3) WHERE tenant_id = $1 AND id = $2`,
			tenant, certificateID, s.clock.Now().UTC())
		return err
	})
	if err != nil {
		return total, verwerker.Wrap("records: purge", err)
	}
	s.log.Info("records: purged erased rows", "tenant", tenant, "certificate", certificateID, "rows", total)
	return total, nil
}

// PurgePending purges every certificate whose rows are not yet deleted:
// the periodic safety net behind the job each erasure enqueues.
func (s *Store) PurgePending(ctx context.Context) error {
	type pending struct{ tenant, id string }
	var list []pending
	err := s.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tenant_id, id FROM deletion_certificates WHERE rows_purged_at IS NULL ORDER BY id LIMIT 1000`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p pending
			if err := rows.Scan(&p.tenant, &p.id); err != nil {
				return err
			}
			list = append(list, p)
		}
		return rows.Err()
	})
	if err != nil {
		return verwerker.Wrap("records: purge pending", err)
	}
	var first error
	for _, p := range list {
		if _, err := s.Purge(ctx, p.tenant, p.id); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// PurgeArgs is the job that deletes the rows of one erasure. Ids only.
type PurgeArgs struct {
	TenantID      string `json:"tenant_id"`
	CertificateID string `json:"certificate_id"`
}

// Kind names the job.
func (PurgeArgs) Kind() string { return "records.purge" }

// PurgePendingArgs is the periodic sweep over unfinished purges.
type PurgePendingArgs struct{}

// Kind names the job.
func (PurgePendingArgs) Kind() string { return "records.purge_pending" }

// PurgeInterval is how often the periodic sweep runs.
const PurgeInterval = 10 * time.Minute

type purgeWorker struct {
	river.WorkerDefaults[PurgeArgs]
	s *Store
}

func (w *purgeWorker) Work(ctx context.Context, job *river.Job[PurgeArgs]) error {
	_, err := w.s.Purge(ctx, job.Args.TenantID, job.Args.CertificateID)
	return err
}

type purgePendingWorker struct {
	river.WorkerDefaults[PurgePendingArgs]
	s *Store
}

func (w *purgePendingWorker) Work(ctx context.Context, _ *river.Job[PurgePendingArgs]) error {
	return w.s.PurgePending(ctx)
}

// Register adds the store's workers.
func (s *Store) Register(workers *river.Workers) {
	river.AddWorker(workers, &purgeWorker{s: s})
	river.AddWorker(workers, &purgePendingWorker{s: s})
}

// PeriodicJobs returns the periodic purge sweep.
func (s *Store) PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(PurgeInterval),
		func() (river.JobArgs, *river.InsertOpts) {
			return PurgePendingArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: PurgeInterval}}
		}, &river.PeriodicJobOpts{RunOnStart: true})}
}

// UseClient sets the River client erasures enqueue their purge job with,
// in their own transaction. Without one the periodic sweep purges.
func (s *Store) UseClient(c *river.Client[pgx.Tx]) { s.jobs.Store(c) }

func (s *Store) enqueuePurge(ctx context.Context, tx pgx.Tx, c *Certificate) error {
	client := s.jobs.Load()
	if client == nil {
		return nil
	}
	_, err := client.InsertTx(ctx, tx, PurgeArgs{TenantID: c.TenantID, CertificateID: c.ID}, nil)
	return err
}

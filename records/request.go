package records

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
)

// Functions for data-subject requests (package dsr), which know a subject by
// its pseudonymous id (subjects.id) rather than by the chat service's
// reference: the reference itself is never stored.

// OpenExportOf is OpenExport for the subject with the pseudonymous id
// subjectID: ENOTFOUND when the tenant has no such subject.
func (s *Store) OpenExportOf(ctx context.Context, tenant, subjectID string) (*Export, error) {
	e := &Export{s: s, tenant: tenant, subjectID: subjectID}
	err := s.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM subjects WHERE tenant_id = $1 AND id = $2`, tenant, subjectID).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
			return verwerker.Errorf(verwerker.ENOTFOUND, "no such subject")
		} else if err != nil {
			return err
		}
		var w string
		err := tx.QueryRow(ctx, `SELECT wrapped FROM subject_keys WHERE tenant_id = $1 AND subject_id = $2`, tenant, subjectID).Scan(&w)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		e.wrapped = []byte(w)
		return err
	})
	if err != nil {
		return nil, verwerker.Wrap("records: export", err)
	}
	if e.wrapped != nil {
		if e.key, err = s.keys.Key(ctx, tenant, e.wrapped); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Holdings counts the subject's readable records per data category
// (counts, never content): what a forwarded request tells the controller
// verwerker holds.
func (s *Store) Holdings(ctx context.Context, tx pgx.Tx, tenant, subjectID string) (map[string]int64, error) {
	rows, err := tx.Query(ctx, `SELECT r.category, count(*) FROM records r
		WHERE r.tenant_id = $1 AND r.subject_id = $2
			AND EXISTS (SELECT 1 FROM subject_keys k WHERE k.tenant_id = r.tenant_id AND k.subject_id = r.subject_id)
		GROUP BY r.category`, tenant, subjectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var c string
		var n int64
		if err := rows.Scan(&c, &n); err != nil {
			return nil, err
		}
		out[c] = n
	}
	return out, rows.Err()
}

// Erasure is the outcome of EraseHeld.
type Erasure struct {
	// Certificate is the deletion certificate; its ID is empty when
	// nothing could be erased (every category held).
	Certificate Certificate
	// Kept counts the records kept per data category, and Why says why
	// (the hold's reason or the statutory ground).
	Kept map[string]int64
	Why  map[string]string
}

// EraseHeld erases the subject with the pseudonymous id subjectID for a
// data-subject request (GDPR Art. 17), respecting holds: data category ->
// reason, "*" meaning every category. Without holds the subject is
// crypto-shredded as EraseSubject does. With some categories held the
// subject's key must stay for them, so the records of every other category
// are deleted at once in the same transaction, and the certificate (with
// no destroyed key) and its audit event say what was kept. With "*" nothing
// is erased.
func (s *Store) EraseHeld(ctx context.Context, tenant, subjectID string, held map[string]string) (Erasure, error) {
	if len(held) == 0 {
		return s.eraseByID(ctx, tenant, subjectID)
	}
	now := s.clock.Now().UTC()
	out := Erasure{Kept: map[string]int64{}, Why: map[string]string{}}
	err := s.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		have, err := s.Holdings(ctx, tx, tenant, subjectID)
		if err != nil {
			return err
		}
		var erase []string
		for cat, n := range have {
			why, ok := held[cat]
			if all, star := held["*"]; star {
				why, ok = all, true
			}
			if ok {
				out.Kept[cat], out.Why[cat] = n, why
			} else {
				erase = append(erase, cat)
			}
		}
		if len(erase) == 0 {
			return nil
		}
		sort.Strings(erase)
		c := Certificate{ID: verwerker.NewID(verwerker.PrefixDeletionCertificate, now), TenantID: tenant, Scope: ScopeSubject,
			SubjectID: subjectID, ErasedAt: now, Subjects: 1, What: map[string]int64{}, KeyVersionsDestroyed: []int{}}
		rows, err := tx.Query(ctx, `DELETE FROM records WHERE tenant_id = $1 AND subject_id = $2 AND category = ANY($3) RETURNING kind`, tenant, subjectID, erase)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return err
			}
			c.What[k]++
			c.Records++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		keptCats := make([]string, 0, len(out.Kept))
		for cat := range out.Kept {
			keptCats = append(keptCats, cat)
		}
		sort.Strings(keptCats)
		ev, err := s.audit.AppendTx(ctx, tx, audit.Event{Chain: tenant, Actor: audit.Actor(ctx), Action: "subject.erase_partial", Resource: subjectID,
			Outcome: audit.Success, Reason: truncate("certificate="+c.ID+" records="+itoa(c.Records)+" kept="+strings.Join(keptCats, ","), 300)})
		if err != nil {
			return err
		}
		c.AuditSeq, c.AuditHash = ev.Seq, ev.Hash
		what, err := json.Marshal(c.What)
		if err != nil {
			return err
		}
		// The rows are gone already: rows_purged_at is set, so no purge
		// runs (a purge deletes every row of the subject).
		if _, err := tx.Exec(ctx, `INSERT INTO deletion_certificates (tenant_id, id, scope, subject_id, what, records_count, subjects_count,
				key_versions_destroyed, erased_at, audit_seq, audit_hash, rows_purged_at, created_at)
			VALUES ($1, $2, 'subject', $3, $4, $5, 1, '{}', $6, $7, $8, $6, $6)`,
			tenant, c.ID, subjectID, what, c.Records, now, c.AuditSeq, c.AuditHash); err != nil {
			return err
		}
		c.CreatedAt, c.RowsPurgedAt = now, &now
		out.Certificate = c
		return nil
	})
	if err != nil {
		return Erasure{}, verwerker.Wrap("records: erase held", err)
	}
	return out, nil
}

// eraseByID crypto-shreds the subject as EraseSubject does, by its id.
func (s *Store) eraseByID(ctx context.Context, tenant, subjectID string) (Erasure, error) {
	now := s.clock.Now().UTC()
	c := Certificate{ID: verwerker.NewID(verwerker.PrefixDeletionCertificate, now), TenantID: tenant, Scope: ScopeSubject, ErasedAt: now,
		Subjects: 1, SubjectID: subjectID, KeyVersionsDestroyed: []int{}}
	var wrapped []byte
	err := s.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		if c.What, c.Records, err = countKinds(ctx, tx, tenant, subjectID); err != nil {
			return err
		}
		var w string
		var v int
		err = tx.QueryRow(ctx, `DELETE FROM subject_keys WHERE tenant_id = $1 AND subject_id = $2 RETURNING wrapped, key_version`, tenant, subjectID).Scan(&w, &v)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			wrapped, c.KeyVersionsDestroyed = []byte(w), []int{v}
		}
		if err := s.subjects.MarkErased(ctx, tx, tenant, subjectID, now); err != nil {
			return err
		}
		return s.certify(ctx, tx, &c, "subject.erase", "")
	})
	if err != nil {
		return Erasure{}, verwerker.Wrap("records: erase subject", err)
	}
	if wrapped != nil {
		s.keys.Forget(tenant, wrapped)
	}
	return Erasure{Certificate: c, Kept: map[string]int64{}, Why: map[string]string{}}, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Package subject keeps what verwerker knows of data subjects (chat
// visitors) for decisions: a pseudonymous reference from the chat service,
// stored only as an HMAC-SHA256 under a server key, and the controller's
// instructions about the subject: restriction of processing (GDPR Art. 18)
// and objection to purposes (Art. 21); and whether the subject's data was
// recognised as a minor's (company terms seed 000 art. 9.5), which is told
// to the controller once.
//
// A subject's row exists only once something is recorded about it; most
// subjects never have one. Raw references are never stored, logged or
// audited: audit events carry the subject's id (sub_...) only.
package subject

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/store"
)

// KeySize is the size of the reference key in bytes.
const KeySize = 32

// MaxRefLength is the longest reference accepted, in characters.
const MaxRefLength = 128

// EventMinorSuspected is the webhook event type of the notice to the
// controller that a subject's data was recognised as a minor's.
const EventMinorSuspected = "subject.minor_suspected"

// State is what is recorded about one subject.
type State struct {
	// ID is the subject's pseudonymous id ("sub_01J...").
	ID string
	// Restricted: the controller restricted processing (GDPR Art. 18).
	Restricted bool
	// ObjectedPurposes are the purposes the subject objected to (Art. 21).
	ObjectedPurposes []string
	// MinorFlaggedAt is when its data was first recognised as a minor's.
	MinorFlaggedAt *time.Time
	UpdatedAt      time.Time
}

// Notifier enqueues a notice to a controller in the caller's transaction;
// *notify.Outbox is one.
type Notifier interface {
	Enqueue(ctx context.Context, tx pgx.Tx, m notify.Message) (string, error)
}

// Service keeps subjects. It owns the subjects table.
type Service struct {
	db     *store.DB
	clock  verwerker.Clock
	audit  *audit.Log
	key    []byte
	notify Notifier
}

// NewService returns a Service on db; references are keyed with key
// (KeySize bytes). Changes are audited in log.
func NewService(db *store.DB, clock verwerker.Clock, log *audit.Log, key []byte) (*Service, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("subject: the reference key must be %d bytes", KeySize)
	}
	return &Service{db: db, clock: clock, audit: log, key: append([]byte(nil), key...)}, nil
}

// UseNotifier sets where notices to controllers go; without one (tests of
// the decision engine alone) none is sent.
func (s *Service) UseNotifier(n Notifier) { s.notify = n }

// CheckRef reports what is wrong with a raw reference, or "".
func CheckRef(ref string) string {
	switch {
	case ref == "":
		return "is required"
	case !utf8.ValidString(ref):
		return "must be UTF-8 text"
	case utf8.RuneCountInString(ref) > MaxRefLength:
		return fmt.Sprintf("must be at most %d characters", MaxRefLength)
	}
	return ""
}

// hash is the stored form of a reference: HMAC-SHA256 over the tenant id,
// a zero byte and the reference, so equal references of two tenants differ.
func (s *Service) hash(tenantID, ref string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(tenantID))
	m.Write([]byte{0})
	m.Write([]byte(ref))
	return m.Sum(nil)
}

// Digest is the keyed hash (HMAC-SHA256 with the reference key) of value
// in scope: a pseudonym other packages store instead of a personal value
// they only need to compare (an e-mail address, a client address).
func (s *Service) Digest(scope, value string) []byte { return s.hash(scope, value) }

// Lookup returns the recorded state of each of the raw references that has
// any, in one query. The lookup reads outside a tenant-scoped transaction
// (it is on the decision hot path) and filters by tenant explicitly.
func (s *Service) Lookup(ctx context.Context, tenantID string, refs []string) (map[string]State, error) {
	out := make(map[string]State, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	hashes := make([][]byte, len(refs))
	byHash := make(map[string]string, len(refs))
	for i, r := range refs {
		hashes[i] = s.hash(tenantID, r)
		byHash[string(hashes[i])] = r
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT ref, id, restricted, objected_purposes, minor_flagged_at, updated_at
		FROM subjects WHERE tenant_id = $1 AND ref = ANY($2)`, tenantID, hashes)
	if err != nil {
		return nil, &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "decisions cannot be made now", Err: err}
	}
	defer rows.Close()
	for rows.Next() {
		var h []byte
		var st State
		if err := rows.Scan(&h, &st.ID, &st.Restricted, &st.ObjectedPurposes, &st.MinorFlaggedAt, &st.UpdatedAt); err != nil {
			return nil, verwerker.Internal("subject: lookup", err)
		}
		out[byHash[string(h)]] = st
	}
	if err := rows.Err(); err != nil {
		return nil, &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "decisions cannot be made now", Err: err}
	}
	return out, nil
}

// upsert finds or creates the subject of ref inside tx and locks its row.
func (s *Service) upsert(ctx context.Context, tx pgx.Tx, tenantID, ref string, now time.Time) (State, error) {
	var st State
	_, err := tx.Exec(ctx, `INSERT INTO subjects (tenant_id, id, ref, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
		ON CONFLICT (tenant_id, ref) DO NOTHING`, tenantID, verwerker.NewID(verwerker.PrefixSubject, now), s.hash(tenantID, ref), now)
	if err != nil {
		return st, err
	}
	return s.lock(ctx, tx, tenantID, ref)
}

// lock reads the subject of ref inside tx and locks its row until tx ends;
// pgx.ErrNoRows when there is none.
func (s *Service) lock(ctx context.Context, tx pgx.Tx, tenantID, ref string) (State, error) {
	var st State
	err := tx.QueryRow(ctx, `SELECT id, restricted, objected_purposes, minor_flagged_at, updated_at FROM subjects
		WHERE tenant_id = $1 AND ref = $2 FOR UPDATE`, tenantID, s.hash(tenantID, ref)).
		Scan(&st.ID, &st.Restricted, &st.ObjectedPurposes, &st.MinorFlaggedAt, &st.UpdatedAt)
	return st, err
}

// Instruction is a controller's instruction about one subject: restrict
// its processing (GDPR Art. 18) and the purposes it objected to (Art. 21).
// It replaces the previous instruction; false and no purposes clear it.
type Instruction struct {
	Restricted       bool
	ObjectedPurposes []string
}

// Instruct records the controller's instruction about the subject of ref.
// validPurpose says which purposes exist (the taxonomy). The audit event
// carries the subject's id only.
func (s *Service) Instruct(ctx context.Context, tenantID, ref string, in Instruction, validPurpose func(string) bool) (State, error) {
	var fields []verwerker.FieldError
	if msg := CheckRef(ref); msg != "" {
		fields = append(fields, verwerker.FieldError{Field: "subject_ref", Message: msg})
	}
	purposes := []string{}
	for i, p := range in.ObjectedPurposes {
		switch {
		case !validPurpose(p):
			fields = append(fields, verwerker.FieldError{Field: fmt.Sprintf("objected_purposes[%d]", i), Message: "is not a purpose of the taxonomy"})
		case slices.Contains(purposes, p):
			fields = append(fields, verwerker.FieldError{Field: fmt.Sprintf("objected_purposes[%d]", i), Message: "is listed twice"})
		default:
			purposes = append(purposes, p)
		}
	}
	if len(fields) > 0 {
		return State{}, verwerker.Invalid("the instruction is not valid", fields...)
	}
	slices.Sort(purposes)
	now := s.clock.Now().UTC()
	var st State
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		if st, err = s.upsert(ctx, tx, tenantID, ref, now); err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `UPDATE subjects SET restricted = $3, objected_purposes = $4, updated_at = $5
			WHERE tenant_id = $1 AND id = $2 RETURNING restricted, objected_purposes, updated_at`, tenantID, st.ID, in.Restricted, purposes, now).
			Scan(&st.Restricted, &st.ObjectedPurposes, &st.UpdatedAt)
		if err != nil {
			return err
		}
		reason := fmt.Sprintf("restricted=%t objected=%s", st.Restricted, joinOr(st.ObjectedPurposes, "none"))
		return s.audit.Record(ctx, tx, tenantID, "subject.instruct", st.ID, reason)
	})
	return st, verwerker.Wrap("subject: instruct", err)
}

func joinOr(list []string, empty string) string {
	if len(list) == 0 {
		return empty
	}
	out := list[0]
	for _, x := range list[1:] {
		out += "," + x
	}
	return out
}

// FlagMinor records that data of the subject of ref (or of an
// unreferenced subject when ref is empty) was recognised as a minor's, and
// enqueues the notice to the controller in the same transaction. The notice
// is sent once per subject (once a day for unreferenced subjects); flagging
// again changes nothing. It returns the subject's id ("" when unreferenced).
func (s *Service) FlagMinor(ctx context.Context, tenantID, ref string) (string, error) {
	now := s.clock.Now().UTC()
	var id string
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		key := "minor/unreferenced/" + now.Format(time.DateOnly)
		payload := map[string]any{"tenant_id": tenantID, "date": now.Format(time.DateOnly)}
		if ref != "" {
			st, err := s.upsert(ctx, tx, tenantID, ref, now)
			if err != nil {
				return err
			}
			id = st.ID
			if st.MinorFlaggedAt != nil {
				return nil
			}
			if _, err := tx.Exec(ctx, `UPDATE subjects SET minor_flagged_at = $3, updated_at = $3 WHERE tenant_id = $1 AND id = $2`,
				tenantID, id, now); err != nil {
				return err
			}
			if err := s.audit.Record(ctx, tx, tenantID, "subject.minor_flag", id, "seed-000-art-9.5"); err != nil {
				return err
			}
			key = "minor/" + id
			payload = map[string]any{"tenant_id": tenantID, "subject_id": id, "flagged_at": now.Format(time.RFC3339)}
		}
		if s.notify == nil {
			return nil
		}
		b, err := json.Marshal(payload)
		if err != nil {
			return err
		}
		_, err = s.notify.Enqueue(ctx, tx, notify.Message{TenantID: tenantID, Kind: notify.KindWebhook, IdempotencyKey: key,
			EventType: EventMinorSuspected, Payload: b})
		return err
	})
	return id, verwerker.Wrap("subject: flag minor", err)
}

// Touch finds or creates the subject of ref inside tx for a write of its
// data (package records), records now as its last interaction and locks its
// row until tx ends, so no instruction about the subject changes while the
// write commits. It returns the subject's state.
func (s *Service) Touch(ctx context.Context, tx pgx.Tx, tenantID, ref string, now time.Time) (State, error) {
	var st State
	err := tx.QueryRow(ctx, `INSERT INTO subjects (tenant_id, id, ref, last_interaction_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $4, $4)
		ON CONFLICT (tenant_id, ref) DO UPDATE SET last_interaction_at = greatest(subjects.last_interaction_at, excluded.last_interaction_at)
		RETURNING id, restricted, objected_purposes, minor_flagged_at, updated_at`,
		tenantID, verwerker.NewID(verwerker.PrefixSubject, now), s.hash(tenantID, ref), now).
		Scan(&st.ID, &st.Restricted, &st.ObjectedPurposes, &st.MinorFlaggedAt, &st.UpdatedAt)
	return st, err
}

// Find returns the subject of ref inside tx and locks its row until tx
// ends; ENOTFOUND when the reference names no subject on record (never
// seen, or erased: erasure unlinks the reference).
func (s *Service) Find(ctx context.Context, tx pgx.Tx, tenantID, ref string) (State, error) {
	if msg := CheckRef(ref); msg != "" {
		return State{}, verwerker.Invalid("the subject reference is not valid", verwerker.FieldError{Field: "subject_ref", Message: msg})
	}
	st, err := s.lock(ctx, tx, tenantID, ref)
	if errors.Is(err, pgx.ErrNoRows) {
		return State{}, verwerker.Errorf(verwerker.ENOTFOUND, "no data about this subject is on record")
	}
	return st, err
}

// MarkAllErased records inside tx that every subject of the tenant not yet
// erased was erased at now and unlinks their references, for the erasure of
// the whole customer. It returns how many subjects it erased: those erased
// before (each with its own certificate) keep their time and are not
// counted again.
func (s *Service) MarkAllErased(ctx context.Context, tx pgx.Tx, tenantID string, now time.Time) (int64, error) {
	tag, err := tx.Exec(ctx, `UPDATE subjects SET ref = sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')),
		erased_at = $2, updated_at = $2 WHERE tenant_id = $1 AND erased_at IS NULL`, tenantID, now)
	return tag.RowsAffected(), err
}

// MarkErased records inside tx that the subject was erased at now and
// unlinks its reference (the HMAC is replaced by random bytes), so the
// reference names no subject any more; a returning visitor with the same
// reference becomes a new subject. The row and its pseudonymous id stay for
// the audit trail and the deletion certificate.
func (s *Service) MarkErased(ctx context.Context, tx pgx.Tx, tenantID, subjectID string, now time.Time) error {
	unlinked := make([]byte, sha256.Size)
	if _, err := rand.Read(unlinked); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE subjects SET erased_at = coalesce(erased_at, $3), ref = $4, updated_at = $3
		WHERE tenant_id = $1 AND id = $2`, tenantID, subjectID, now, unlinked)
	return err
}

// MarkErasedMany is MarkErased for many subjects at once (retention
// sweeps): each reference is replaced by random bytes.
func (s *Service) MarkErasedMany(ctx context.Context, tx pgx.Tx, tenantID string, subjectIDs []string, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE subjects SET ref = sha256(convert_to(gen_random_uuid()::text || id, 'UTF8')),
		erased_at = coalesce(erased_at, $3), updated_at = $3 WHERE tenant_id = $1 AND id = ANY($2)`, tenantID, subjectIDs, now)
	return err
}

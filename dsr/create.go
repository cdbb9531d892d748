package dsr

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/subject"
)

// MaxDetails is the longest free text a request may carry, in bytes.
const MaxDetails = 4000

// Intake is a request from the controller: one it received directly (with
// the actual date of receipt) or its own.
type Intake struct {
	Type Type
	// SubjectRef is the chat service's reference of the subject, when the
	// controller knows it; it is matched, never stored.
	SubjectRef string
	// ReceivedAt is when the request reached the controller: it starts the
	// clock. Zero means now; it may not be in the future.
	ReceivedAt time.Time
	// Email is where the subject can be told, when verwerker should tell
	// it; optional.
	Email    string
	Language string
}

// CheckType reports what is wrong with a type, or "".
func CheckType(t Type) string {
	if !slices.Contains(Types, t) {
		return "must be one of access, rectification, erasure, restriction, portability, objection"
	}
	return ""
}

// CheckLanguage reports what is wrong with a language, or "".
func CheckLanguage(l string) string {
	if l != "nl" && l != "en" {
		return "must be nl or en"
	}
	return ""
}

// Create records a request from the controller and forwards it (the
// controller is told through the outbox like any other request, so its own
// systems see every request in one place).
func (s *Service) Create(ctx context.Context, tenantID string, in Intake) (Request, error) {
	now := s.clock.Now().UTC()
	if in.Language == "" {
		in.Language = "en"
	}
	var fields []verwerker.FieldError
	if msg := CheckType(in.Type); msg != "" {
		fields = append(fields, verwerker.FieldError{Field: "type", Message: msg})
	}
	if in.SubjectRef != "" {
		if msg := subject.CheckRef(in.SubjectRef); msg != "" {
			fields = append(fields, verwerker.FieldError{Field: "subject_ref", Message: msg})
		}
	}
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = now
	} else if in.ReceivedAt.After(now) {
		fields = append(fields, verwerker.FieldError{Field: "received_at", Message: "may not be in the future"})
	}
	if in.Email != "" {
		if msg := verwerker.CheckEmail(in.Email); msg != "" {
			fields = append(fields, verwerker.FieldError{Field: "email", Message: msg})
		}
	}
	if msg := CheckLanguage(in.Language); msg != "" {
		fields = append(fields, verwerker.FieldError{Field: "language", Message: msg})
	}
	if len(fields) > 0 {
		return Request{}, verwerker.Invalid("the request is not valid", fields...)
	}
	var r Request
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		r, err = s.insert(ctx, tx, tenantID, SourceController, in, Contact{Email: strings.ToLower(strings.TrimSpace(in.Email))}, "")
		return err
	})
	return r, verwerker.Wrap("dsr: create", err)
}

// insert records a request in tx with the requester's contact c (sealed
// with the data key wrapped, or a new one), links it to an open duplicate,
// and forwards it unless it is one.
func (s *Service) insert(ctx context.Context, tx pgx.Tx, tenantID, source string, in Intake, c Contact, wrapped string) (Request, error) {
	now := s.clock.Now().UTC()
	t, cal, err := s.tenantOf(ctx, tx, tenantID)
	if err != nil {
		return Request{}, err
	}
	var subjectID *string
	if in.SubjectRef != "" {
		st, err := s.subjects.Find(ctx, tx, tenantID, in.SubjectRef)
		switch {
		case err == nil:
			subjectID = &st.ID
		case verwerker.ErrorCode(err) != verwerker.ENOTFOUND:
			return Request{}, err
		}
	}
	digest := s.emailDigest(tenantID, c.Email)
	// A duplicate: an open request of the same type for the same subject
	// (or, unmatched, from the same address).
	var dup string
	err = tx.QueryRow(ctx, `SELECT id FROM dsr_requests WHERE tenant_id = $1 AND type = $2
			AND state NOT IN ('completed', 'rejected', 'duplicate')
			AND (($3::text IS NOT NULL AND subject_id = $3) OR ($3::text IS NULL AND subject_id IS NULL AND $4::bytea IS NOT NULL AND email_digest = $4))
		ORDER BY received_at LIMIT 1`, tenantID, string(in.Type), subjectID, digest).Scan(&dup)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Request{}, err
	}
	d := due(cal, in.ReceivedAt, 0, 0)
	state := StateReceived
	var dupOf *string
	if dup != "" {
		state, dupOf = StateDuplicate, &dup
	}
	id := verwerker.NewID(PrefixRequest, now)
	var sc sealedContact
	if !c.empty() {
		if sc, err = s.seal(ctx, tenantID, id, c, wrapped); err != nil {
			return Request{}, err
		}
	}
	var contactKey *string
	if sc.key != "" {
		contactKey = &sc.key
	}
	r, err := scanRequest(tx.QueryRow(ctx, `INSERT INTO dsr_requests (tenant_id, id, type, state, source, subject_id, contact_key, contact, email_digest, language,
			received_at, due_last_day, due_at, forward_due_at, duplicate_of, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) RETURNING `+requestColumns,
		tenantID, id, string(in.Type), string(state), source, subjectID, contactKey, sc.sealed, digest, in.Language, in.ReceivedAt.UTC(), d.LastDay.String(), d.Due,
		forwardDue(cal, in.ReceivedAt, s.opts.ForwardWithin), dupOf, now))
	if err != nil {
		return Request{}, err
	}
	matched := "unmatched"
	if subjectID != nil {
		matched = "subject=" + *subjectID
	}
	if err := s.step(ctx, tx, &r, "", "receive", "source="+source+" "+matched+" due="+r.Due.LastDay.String()); err != nil {
		return Request{}, err
	}
	if dupOf != nil {
		return r, s.step(ctx, tx, &r, "verwerker", "duplicate", "of="+dup)
	}
	return r, s.forward(ctx, tx, &r, t, c)
}

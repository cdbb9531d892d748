package dsr

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/subject"
	"github.com/verwerker/verwerker/tenant"
)

// Submission is a request filed by a data subject through the public
// intake (page or API).
type Submission struct {
	// TenantID names the customer (website) the subject chatted with.
	TenantID string
	Type     Type
	// Email is where the verification code goes.
	Email string
	// SubjectRef is the visitor reference the chat showed, if the subject
	// has it; optional.
	SubjectRef string
	Language   string
	// Details is anything else the controller should know; Incorrect and
	// Correct are required for a rectification (what is wrong, the correct
	// value), Grounds for an objection (GDPR Art. 21(1)). They are sealed
	// (see Contact) and ignored for other rights.
	Details, Incorrect, Correct, Grounds string
	// ClientAddr is the submitter's address, for the rate limit only.
	ClientAddr string
}

// Pending is a submission waiting for its code.
type Pending struct {
	VerificationID string
	ExpiresAt      time.Time
}

var errUnknownCustomer = verwerker.Invalid("the request is not valid", verwerker.FieldError{Field: "tenant_id", Message: "is not a customer of verwerker"})

// Submit checks a public submission, applies the rate limits and e-mails a
// one-time code to the address given. Nothing but what verification needs
// is stored, and that only until the code is used or expires. Whether the
// subject is known is not looked at (and so never disclosed) before
// verification.
func (s *Service) Submit(ctx context.Context, in Submission) (Pending, error) {
	if in.Language == "" {
		in.Language = "en"
	}
	in.Email = strings.ToLower(strings.TrimSpace(in.Email))
	var fields []verwerker.FieldError
	if !verwerker.ValidID(verwerker.PrefixTenant, in.TenantID) {
		fields = append(fields, verwerker.FieldError{Field: "tenant_id", Message: "is not a customer of verwerker"})
	}
	if msg := CheckType(in.Type); msg != "" {
		fields = append(fields, verwerker.FieldError{Field: "type", Message: msg})
	}
	if msg := verwerker.CheckEmail(in.Email); msg != "" {
		fields = append(fields, verwerker.FieldError{Field: "email", Message: msg})
	}
	if in.SubjectRef != "" {
		if msg := subject.CheckRef(in.SubjectRef); msg != "" {
			fields = append(fields, verwerker.FieldError{Field: "subject_ref", Message: msg})
		}
	}
	if msg := CheckLanguage(in.Language); msg != "" {
		fields = append(fields, verwerker.FieldError{Field: "language", Message: msg})
	}
	fields = append(fields, checkParticulars(in.Type, &in.Details, &in.Incorrect, &in.Correct, &in.Grounds)...)
	if len(fields) > 0 {
		return Pending{}, verwerker.Invalid("the request is not valid", fields...)
	}
	if err := s.allow(ctx, in.ClientAddr, in.Email); err != nil {
		return Pending{}, err
	}
	if s.outbox == nil || !s.outbox.Email() {
		return Pending{}, verwerker.Errorf(verwerker.EUNAVAILABLE, "requests cannot be verified now: e-mail is not configured")
	}
	now := s.clock.Now().UTC()
	code := newCode()
	p := Pending{VerificationID: verwerker.NewID(PrefixVerification, now), ExpiresAt: now.Add(s.opts.CodeLifetime)}
	// The customer is checked before anything is sealed: an unknown one
	// gets no key.
	var t tenant.Tenant
	err := s.db.InTenantTx(ctx, in.TenantID, func(tx pgx.Tx) error {
		var err error
		t, err = tenant.Read(ctx, tx, in.TenantID, now, false)
		if verwerker.ErrorCode(err) == verwerker.ENOTFOUND {
			return errUnknownCustomer
		}
		return err
	})
	if err != nil {
		return Pending{}, verwerker.Wrap("dsr: submit", err)
	}
	sc, err := s.seal(ctx, in.TenantID, p.VerificationID, Contact{Email: in.Email, Details: in.Details, Incorrect: in.Incorrect, Correct: in.Correct, Grounds: in.Grounds}, "")
	if err != nil {
		return Pending{}, verwerker.Wrap("dsr: submit", err)
	}
	err = s.db.InTenantTx(ctx, in.TenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO dsr_verifications (id, tenant_id, type, contact_key, contact, subject_ref, language, code_hash, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, p.VerificationID, in.TenantID, string(in.Type), sc.key, sc.sealed, in.SubjectRef, in.Language,
			codeHash(p.VerificationID, code), now, p.ExpiresAt); err != nil {
			return err
		}
		_, err = s.outbox.Enqueue(ctx, tx, notify.Message{TenantID: in.TenantID, Kind: notify.KindEmail, EventType: EventSubject,
			IdempotencyKey: "dsr-verify/" + p.VerificationID, To: []string{in.Email},
			Subject: subjectText(in.Language, "code_subject", t.Name),
			Body:    subjectText(in.Language, "code_body", code, int(s.opts.CodeLifetime/time.Minute))})
		return err
	})
	return p, verwerker.Wrap("dsr: submit", err)
}

// checkParticulars checks a request's free text for its type and empties
// what the type does not ask for (nothing is kept that is not needed).
func checkParticulars(t Type, details, incorrect, correct, grounds *string) []verwerker.FieldError {
	if t != TypeRectification {
		*incorrect, *correct = "", ""
	}
	if t != TypeObjection {
		*grounds = ""
	}
	var fields []verwerker.FieldError
	for _, f := range []struct {
		name     string
		v        *string
		required bool
	}{{"details", details, false}, {"incorrect", incorrect, t == TypeRectification}, {"correct", correct, t == TypeRectification},
		{"grounds", grounds, t == TypeObjection}} {
		switch {
		case len(*f.v) > MaxDetails || !utf8.ValidString(*f.v):
			fields = append(fields, verwerker.FieldError{Field: f.name, Message: fmt.Sprintf("must be UTF-8 text of at most %d bytes", MaxDetails)})
		case f.required && strings.TrimSpace(*f.v) == "":
			fields = append(fields, verwerker.FieldError{Field: f.name, Message: "is required for a " + string(t) + " request"})
		}
	}
	return fields
}

// errCode is the one answer to a wrong, used-up, expired or unknown code:
// the caller learns nothing else.
var errCode = verwerker.Invalid("the code is not valid", verwerker.FieldError{Field: "code", Message: "is wrong or has expired; file the request again for a new code"})

// Verify checks the code of a pending submission. The right code turns it
// into a request (received at submission) that is forwarded at once; the
// verification row is deleted. A wrong code counts an attempt; the last
// allowed attempt deletes the row. The answer is the same whether or not
// verwerker holds data about the requester.
func (s *Service) Verify(ctx context.Context, verificationID, code string) (Request, error) {
	if !verwerker.ValidID(PrefixVerification, verificationID) || len(code) != codeLength {
		return Request{}, errCode
	}
	now := s.clock.Now().UTC()
	var tenantID string
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT tenant_id FROM dsr_verifications WHERE id = $1`, verificationID).Scan(&tenantID)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Request{}, errCode
	}
	if err != nil {
		return Request{}, verwerker.Wrap("dsr: verify", err)
	}
	var r Request
	wrong := false
	err = s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		var in Intake
		var sc sealedContact
		var hash []byte
		var attempts int
		var created, expires time.Time
		err := tx.QueryRow(ctx, `SELECT type, contact_key, contact, subject_ref, language, code_hash, attempts, created_at, expires_at
			FROM dsr_verifications WHERE id = $1 FOR UPDATE`, verificationID).
			Scan(&in.Type, &sc.key, &sc.sealed, &in.SubjectRef, &in.Language, &hash, &attempts, &created, &expires)
		if errors.Is(err, pgx.ErrNoRows) {
			return errCode
		}
		if err != nil {
			return err
		}
		if !now.Before(expires) {
			_, err := tx.Exec(ctx, `DELETE FROM dsr_verifications WHERE id = $1`, verificationID)
			wrong = err == nil
			return err
		}
		if subtle.ConstantTimeCompare(hash, codeHash(verificationID, code)) != 1 {
			if attempts+1 >= s.opts.CodeAttempts {
				_, err = tx.Exec(ctx, `DELETE FROM dsr_verifications WHERE id = $1`, verificationID)
			} else {
				_, err = tx.Exec(ctx, `UPDATE dsr_verifications SET attempts = attempts + 1 WHERE id = $1`, verificationID)
			}
			wrong = err == nil
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM dsr_verifications WHERE id = $1`, verificationID); err != nil {
			return err
		}
		c, err := s.unseal(ctx, tenantID, verificationID, sc)
		if err != nil {
			return err
		}
		in.ReceivedAt, in.Email = created.UTC(), c.Email
		r, err = s.insert(ctx, tx, tenantID, SourceSubject, in, c, sc.key)
		return err
	})
	if wrong {
		return Request{}, errCode
	}
	return r, verwerker.Wrap("dsr: verify", err)
}

// ExpireVerifications deletes every verification whose code expired, with
// what it held.
func (s *Service) ExpireVerifications(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM dsr_verifications WHERE expires_at <= $1`, s.clock.Now().UTC())
		n = tag.RowsAffected()
		return err
	})
	return n, verwerker.Wrap("dsr: expire verifications", err)
}

const codeLength = 6

func newCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("%06d", n.Int64())
}

func codeHash(id, code string) []byte {
	h := sha256.Sum256([]byte(id + "\x00" + code))
	return h[:]
}

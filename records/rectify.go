package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/keys"
)

// Correction is the new content of one record (GDPR Art. 16).
type Correction struct {
	RecordID string
	// Content replaces the record's content: a JSON object or string, at
	// most MaxContentBytes.
	Content json.RawMessage
}

// Rectify re-seals records of the subject with the pseudonymous id
// subjectID with corrected content, all in one transaction: ENOTFOUND when
// a record is not the subject's (or the subject was erased), EINVALID for
// bad content. The record keeps its id, kind, metadata and decision; the
// audit event names the record ids only.
func (s *Store) Rectify(ctx context.Context, tenant, subjectID string, corrections []Correction) error {
	var fields []verwerker.FieldError
	for i, c := range corrections {
		switch {
		case len(c.Content) == 0 || !json.Valid(c.Content) || (c.Content[0] != '{' && c.Content[0] != '"'):
			fields = append(fields, verwerker.FieldError{Field: fmt.Sprintf("corrections[%d].content", i), Message: "must be a JSON object or string"})
		case len(c.Content) > MaxContentBytes:
			fields = append(fields, verwerker.FieldError{Field: fmt.Sprintf("corrections[%d].content", i), Message: fmt.Sprintf("must be at most %d bytes of JSON", MaxContentBytes)})
		}
	}
	if len(corrections) == 0 {
		fields = append(fields, verwerker.FieldError{Field: "corrections", Message: "is required"})
	}
	if len(fields) > 0 {
		return verwerker.Invalid("the corrections are not valid", fields...)
	}
	var wrapped []byte
	err := s.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		var w string
		err := tx.QueryRow(ctx, `SELECT wrapped FROM subject_keys WHERE tenant_id = $1 AND subject_id = $2 FOR SHARE`, tenant, subjectID).Scan(&w)
		if errors.Is(err, pgx.ErrNoRows) {
			return verwerker.Errorf(verwerker.ENOTFOUND, "the subject has no readable records")
		}
		wrapped = []byte(w)
		return err
	})
	if err != nil {
		return verwerker.Wrap("records: rectify", err)
	}
	key, err := s.keys.Key(ctx, tenant, wrapped)
	if err != nil {
		return err
	}
	defer key.Release()
	err = s.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		ids := ""
		for i, c := range corrections {
			var kind string
			err := tx.QueryRow(ctx, `SELECT kind FROM records WHERE tenant_id = $1 AND id = $2 AND subject_id = $3 FOR UPDATE`, tenant, c.RecordID, subjectID).Scan(&kind)
			if errors.Is(err, pgx.ErrNoRows) {
				return verwerker.Invalid("the corrections are not valid", verwerker.FieldError{Field: fmt.Sprintf("corrections[%d].record_id", i), Message: "is not a record of this subject"})
			}
			if err != nil {
				return err
			}
			sealed, err := key.Seal(keys.AAD{Tenant: tenant, Subject: subjectID, Kind: kind}, c.Content)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE records SET sealed = $3 WHERE tenant_id = $1 AND id = $2`, tenant, c.RecordID, sealed); err != nil {
				return err
			}
			if len(ids) < 200 {
				ids += " " + c.RecordID
			}
		}
		return s.audit.Record(ctx, tx, tenant, "records.rectify", subjectID, truncate("records="+strconv.Itoa(len(corrections))+ids, 300))
	})
	return verwerker.Wrap("records: rectify", err)
}

package records

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/internal/jsonstr"
	"github.com/verwerker/verwerker/keys"
)

// ExportFormat names the layout of an export document.
const ExportFormat = "verwerker.subject-export/v1"

// Export is an export of one subject's records, prepared by OpenExport: the
// subject is known and its data key is unwrapped, so writing it needs no
// keyring request. Close it.
type Export struct {
	s         *Store
	tenant    string
	subjectID string
	wrapped   []byte
	key       *keys.Key
}

// ExportStats reports what an export wrote.
type ExportStats struct {
	// Records is the number of records written.
	Records int
	// Bytes is the size of the document.
	Bytes int64
}

// OpenExport prepares the export of every record of the subject of ref:
// ENOTFOUND when no subject has that reference, EUNAVAILABLE (with
// RetryAfter) when its data key cannot be unwrapped now. The keyring sees at
// most one request per export (none when the key is cached), however many
// records the subject has.
func (s *Store) OpenExport(ctx context.Context, tenant, ref string) (*Export, error) {
	e := &Export{s: s, tenant: tenant}
	err := s.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		st, err := s.subjects.Find(ctx, tx, tenant, ref)
		if err != nil {
			return err
		}
		e.subjectID = st.ID
		var w string
		err = tx.QueryRow(ctx, `SELECT wrapped FROM subject_keys WHERE tenant_id = $1 AND subject_id = $2`, tenant, st.ID).Scan(&w)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // a subject without records
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

// SubjectID returns the exported subject's pseudonymous id.
func (e *Export) SubjectID() string { return e.subjectID }

// Close releases the data key.
func (e *Export) Close() {
	if e.key != nil {
		e.key.Release()
		e.key = nil
	}
}

// WriteTo streams the export as one JSON document: the subject, the time,
// and every record in creation order with its metadata and its content
// decrypted. Nothing is buffered beyond one write buffer. start is called
// once, just before the first byte, and returns where to write; if WriteTo
// fails before calling it, nothing was written and the error can still be
// answered. The subject's key row is locked against erasure while the
// export reads.
func (e *Export) WriteTo(ctx context.Context, start func() io.Writer) (ExportStats, error) {
	return e.WriteEach(ctx, start, nil)
}

// ExportRow is one exported record as WriteEach hands it over. Content is
// the decrypted JSON content; it is valid only during the call (the
// export clears it afterwards), as is the row.
type ExportRow struct {
	ID, Kind, ConversationID, Category, Purpose, Region string
	CreatedAt                                           time.Time
	Content                                             []byte
}

// WriteEach is WriteTo that also hands every record, after writing it, to
// each (when not nil): a caller that builds other files from the same
// records (the CSVs of a data-subject request's ZIP) reads and decrypts
// them once. An error from each ends the export with that error.
func (e *Export) WriteEach(ctx context.Context, start func() io.Writer, each func(*ExportRow) error) (ExportStats, error) {
	var stats ExportStats
	err := e.s.db.InTenantTx(ctx, e.tenant, func(tx pgx.Tx) error {
		if e.wrapped != nil {
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM subject_keys WHERE tenant_id = $1 AND subject_id = $2 AND wrapped = $3 FOR SHARE`,
				e.tenant, e.subjectID, string(e.wrapped)).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				return verwerker.Errorf(verwerker.ENOTFOUND, "the subject was erased")
			}
			if err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, `SELECT id, kind, coalesce(conversation_id, ''), category, purpose, region, dpa_version, decision_id,
				retention_rule, nullif(delete_after, 'infinity'), created_at, sealed
			FROM records WHERE tenant_id = $1 AND subject_id = $2 ORDER BY seq`, e.tenant, e.subjectID)
		if err != nil {
			return err
		}
		defer rows.Close()
		// The response starts with the first buffered write: an export that
		// fits the buffer (64 KiB) is answered whole or as a problem, and a
		// larger one fails cleanly until its first 64 KiB are ready.
		cw := &countingWriter{start: start}
		w := bufio.NewWriterSize(cw, 64<<10)
		b := make([]byte, 0, 4096)
		b = append(b, `{"format":"`+ExportFormat+`","tenant_id":`...)
		b = jsonstr.Append(b, e.tenant)
		b = append(b, `,"subject_id":`...)
		b = jsonstr.Append(b, e.subjectID)
		b = append(b, `,"exported_at":"`...)
		b = e.s.clock.Now().UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","records":[`...)
		var (
			id, kind, conv, cat, purpose, region, decisionID, rule string
			dpaVersion                                             int32
			deleteAfter                                            *time.Time
			createdAt                                              time.Time
			sealed                                                 []byte
		)
		aad := keys.AAD{Tenant: e.tenant, Subject: e.subjectID}
		for rows.Next() {
			if err := rows.Scan(&id, &kind, &conv, &cat, &purpose, &region, &dpaVersion, &decisionID, &rule, &deleteAfter, &createdAt, &sealed); err != nil {
				return err
			}
			if e.key == nil {
				return verwerker.Internal("records: export", errors.New("records without a subject key"))
			}
			aad.Kind = kind
			content, err := e.key.Open(aad, sealed)
			if err != nil {
				return err
			}
			if stats.Records > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = jsonstr.Append(b, id)
			b = append(b, `,"kind":`...)
			b = jsonstr.Append(b, kind)
			if conv != "" {
				b = append(b, `,"conversation_id":`...)
				b = jsonstr.Append(b, conv)
			}
			b = append(b, `,"category":`...)
			b = jsonstr.Append(b, cat)
			b = append(b, `,"purpose":`...)
			b = jsonstr.Append(b, purpose)
			b = append(b, `,"region":`...)
			b = jsonstr.Append(b, region)
			b = append(b, `,"dpa_version":`...)
			b = strconv.AppendInt(b, int64(dpaVersion), 10)
			b = append(b, `,"decision_id":`...)
			b = jsonstr.Append(b, decisionID)
			b = append(b, `,"retention":`...)
			b = jsonstr.Append(b, rule)
			if deleteAfter != nil {
				b = append(b, `,"delete_after":"`...)
				b = deleteAfter.UTC().AppendFormat(b, time.RFC3339Nano)
				b = append(b, '"')
			}
			b = append(b, `,"created_at":"`...)
			b = createdAt.UTC().AppendFormat(b, time.RFC3339Nano)
			b = append(b, `","content":`...)
			b = append(b, content...)
			b = append(b, '}')
			if each != nil {
				row := ExportRow{ID: id, Kind: kind, ConversationID: conv, Category: cat, Purpose: purpose, Region: region, CreatedAt: createdAt, Content: content}
				if err := each(&row); err != nil {
					return err
				}
			}
			clear(content)
			stats.Records++
			if len(b) >= 32<<10 {
				if _, err := w.Write(b); err != nil {
					return err
				}
				b = b[:0]
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		// Who exported whose records is audited (ids and a count only) in
		// the export's transaction, before the document is terminated: an
		// export that could not be audited stays incomplete.
		if err := e.s.audit.Record(ctx, tx, e.tenant, "records.export", e.subjectID, "records="+strconv.Itoa(stats.Records)); err != nil {
			return err
		}
		b = append(b, `],"count":`...)
		b = strconv.AppendInt(b, int64(stats.Records), 10)
		b = append(b, "}\n"...)
		if _, err := w.Write(b); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		stats.Bytes = cw.n
		return nil
	})
	return stats, verwerker.Wrap("records: export", err)
}

type countingWriter struct {
	start func() io.Writer
	w     io.Writer
	n     int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.w == nil {
		c.w = c.start()
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

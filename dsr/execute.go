package dsr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/notify"
)

type executeWorker struct {
	river.WorkerDefaults[ExecuteArgs]
	s *Service
}

// Work executes the instruction. A failure is retried with River's backoff;
// the last attempt's failure marks the request failed (an alarm with a
// one-call retry). The execution is idempotent: a job killed halfway runs
// again from the start of its step and writes its result once.
func (w *executeWorker) Work(ctx context.Context, job *river.Job[ExecuteArgs]) error {
	err := w.s.execute(ctx, job.Args.TenantID, job.Args.RequestID)
	if err != nil && job.Attempt >= job.MaxAttempts {
		return w.s.fail(ctx, job.Args.TenantID, job.Args.RequestID, "execute="+verwerker.ErrorCode(err), err)
	}
	return err
}

// fail marks a request failed with its cause (a code, never personal
// data) and keeps err for River's log.
func (s *Service) fail(ctx context.Context, tenantID, id, cause string, cerr error) error {
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		r, err := lock(ctx, tx, tenantID, id)
		if err != nil {
			return err
		}
		now := s.clock.Now().UTC()
		r.State, r.Failure = StateFailed, cause
		if _, err := tx.Exec(ctx, `UPDATE dsr_requests SET state = 'failed', failure = $3, failed_at = $4, updated_at = $4 WHERE tenant_id = $1 AND id = $2`,
			tenantID, id, cause, now); err != nil {
			return err
		}
		return s.step(ctx, tx, &r, "verwerker", "fail", "cause="+cause)
	})
	return errors.Join(cerr, err)
}

// execute carries out a request's export or erasure instruction.
func (s *Service) execute(ctx context.Context, tenantID, id string) error {
	r, _, err := s.Get(ctx, tenantID, id)
	if err != nil {
		return err
	}
	if r.State != StateInProgress || r.Instruction == nil {
		return nil // done already, or retried by hand meanwhile
	}
	switch r.Instruction.Action {
	case ActionExport:
		return s.executeExport(ctx, r)
	case ActionErase:
		return s.executeErase(ctx, r)
	}
	return nil
}

func (s *Service) executeExport(ctx context.Context, r Request) error {
	now := s.clock.Now().UTC()
	total, err := s.startExport(ctx, r)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	st, err := BuildExport(ctx, s.records, r.TenantID, r.SubjectID, r.Language, now, &buf, func(done int) { s.exportProgress(ctx, r, done, total) })
	if err != nil {
		return err
	}
	return s.db.InTenantTx(ctx, r.TenantID, func(tx pgx.Tx) error {
		cur, err := lock(ctx, tx, r.TenantID, r.ID)
		if err != nil || cur.State != StateInProgress {
			return err
		}
		expires := now.Add(s.opts.ExportLifetime)
		if _, err := tx.Exec(ctx, `INSERT INTO dsr_exports (tenant_id, request_id, zip, records, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (tenant_id, request_id) DO UPDATE SET zip = EXCLUDED.zip, records = EXCLUDED.records, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at`,
			r.TenantID, r.ID, buf.Bytes(), st.Records, now, expires); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE dsr_requests SET state = 'completed', progress = 100, export_done = $4, export_total = $4, completed_at = $3,
				updated_at = $3, failure = '', failed_at = NULL
			WHERE tenant_id = $1 AND id = $2`, r.TenantID, r.ID, now, st.Records); err != nil {
			return err
		}
		cur.State = StateCompleted
		if err := s.step(ctx, tx, &cur, "verwerker", "export_ready", fmt.Sprintf("records=%d bytes=%d", st.Records, buf.Len())); err != nil {
			return err
		}
		return s.update(ctx, tx, &cur, "export_ready", map[string]any{"records": st.Records, "expires_at": expires,
			"download": "/v1/tenants/" + r.TenantID + "/requests/" + r.ID + "/export"})
	})
}

// startExport counts the records an export will write and shows it on the
// request with none done yet: a run that starts again after a killed one
// starts from zero, as it builds the ZIP again from the start.
func (s *Service) startExport(ctx context.Context, r Request) (int, error) {
	total := 0
	err := s.db.InTenantTx(ctx, r.TenantID, func(tx pgx.Tx) error {
		h, err := s.records.Holdings(ctx, tx, r.TenantID, r.SubjectID)
		if err != nil {
			return err
		}
		for _, n := range h {
			total += int(n)
		}
		_, err = tx.Exec(ctx, `UPDATE dsr_requests SET progress = 0, export_done = 0, export_total = $3 WHERE tenant_id = $1 AND id = $2 AND state = 'in_progress'`,
			r.TenantID, r.ID, total)
		return err
	})
	return total, verwerker.Wrap("dsr: export", err)
}

// exportProgress records how many of total records the running export has
// written. It is best effort: a failed update only leaves the figure behind
// until the next one.
func (s *Service) exportProgress(ctx context.Context, r Request, done, total int) {
	pct := 99
	if total > 0 {
		pct = min(99, done*100/total)
	}
	_ = s.db.InTenantTx(ctx, r.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE dsr_requests SET progress = $3, export_done = $4, export_total = greatest(export_total, $4)
			WHERE tenant_id = $1 AND id = $2 AND state = 'in_progress'`, r.TenantID, r.ID, pct, done)
		return err
	})
}

func (s *Service) executeErase(ctx context.Context, r Request) error {
	var held map[string]string
	if h := s.heldBy(); h != nil {
		var err error
		if held, err = h.HeldCategories(ctx, r.TenantID, r.SubjectID); err != nil {
			return err
		}
	}
	er, err := s.records.EraseHeld(ctx, r.TenantID, r.SubjectID, held)
	if err != nil {
		return err
	}
	now := s.clock.Now().UTC()
	kept := map[string]Kept{}
	for cat, n := range er.Kept {
		kept[cat] = Kept{Records: n, Reason: er.Why[cat]}
	}
	raw, err := json.Marshal(kept)
	if err != nil {
		return err
	}
	return s.db.InTenantTx(ctx, r.TenantID, func(tx pgx.Tx) error {
		cur, err := lock(ctx, tx, r.TenantID, r.ID)
		if err != nil || cur.State != StateInProgress {
			return err
		}
		var cert *string
		if er.Certificate.ID != "" {
			cert = &er.Certificate.ID
		}
		if _, err := tx.Exec(ctx, `UPDATE dsr_requests SET state = 'completed', progress = 100, certificate_id = $3, kept = $4, completed_at = $5, updated_at = $5,
				failure = '', failed_at = NULL WHERE tenant_id = $1 AND id = $2`, r.TenantID, r.ID, cert, raw, now); err != nil {
			return err
		}
		cur.State = StateCompleted
		cats := make([]string, 0, len(kept))
		for c := range kept {
			cats = append(cats, c)
		}
		sort.Strings(cats)
		if err := s.step(ctx, tx, &cur, "verwerker", "erased", fmt.Sprintf("certificate=%s records=%d kept=%s", er.Certificate.ID, er.Certificate.Records, strings.Join(cats, ","))); err != nil {
			return err
		}
		return s.update(ctx, tx, &cur, "erased", map[string]any{"certificate_id": er.Certificate.ID, "records": er.Certificate.Records, "kept": kept})
	})
}

// update tells the controller of a step by webhook (if it has an endpoint)
// and e-mail.
func (s *Service) update(ctx context.Context, tx pgx.Tx, r *Request, what string, data map[string]any) error {
	if s.outbox == nil {
		return nil
	}
	data["request_id"], data["type"], data["update"] = r.ID, r.Type, what
	payload, err := json.Marshal(data)
	if err != nil {
		return err
	}
	has, err := notify.HasEndpoint(ctx, tx, r.TenantID)
	if err != nil {
		return err
	}
	if has {
		if _, err := s.outbox.Enqueue(ctx, tx, notify.Message{TenantID: r.TenantID, Kind: notify.KindWebhook, EventType: EventUpdate,
			IdempotencyKey: "dsr/" + r.ID + "/update/" + what, Payload: payload}); err != nil {
			return err
		}
	}
	t, _, err := s.tenantOf(ctx, tx, r.TenantID)
	if err != nil {
		return err
	}
	if s.outbox.Email() && t.ContactEmail != "" {
		pretty, _ := json.MarshalIndent(data, "", "  ")
		_, err = s.outbox.Enqueue(ctx, tx, notify.Message{TenantID: r.TenantID, Kind: notify.KindEmail, EventType: EventUpdate,
			IdempotencyKey: "dsr/" + r.ID + "/update/" + what + "/email", To: []string{t.ContactEmail},
			Subject: fmt.Sprintf("Data-subject request %s: %s", r.ID, strings.ReplaceAll(what, "_", " ")), Body: string(pretty) + "\n"})
	}
	return err
}

// Download returns the ZIP of an access or portability request while its
// link lasts (Options.ExportLifetime): ENOTFOUND when there is none, when
// it is another tenant's, and once it expired. Downloads are audited.
func (s *Service) Download(ctx context.Context, tenantID, id string) ([]byte, error) {
	var zip []byte
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		var expires = s.clock.Now()
		err := tx.QueryRow(ctx, `SELECT zip, expires_at FROM dsr_exports WHERE tenant_id = $1 AND request_id = $2`, tenantID, id).Scan(&zip, &expires)
		if errors.Is(err, pgx.ErrNoRows) {
			return verwerker.Errorf(verwerker.ENOTFOUND, "no export for this request")
		}
		if err != nil {
			return err
		}
		if !s.clock.Now().Before(expires) {
			zip = nil
			return verwerker.Errorf(verwerker.ENOTFOUND, "the export's link expired; instruct the export again")
		}
		return s.audit.Record(ctx, tx, tenantID, "dsr.export_download", id, "")
	})
	return zip, verwerker.Wrap("dsr: download", err)
}

package dsr

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
)

// Failed lists every request with a step that could not succeed, oldest
// failure first: the alarms.
func (s *Service) Failed(ctx context.Context) ([]Request, error) {
	var out []Request
	err := s.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+requestColumns+` FROM dsr_requests WHERE failure <> '' ORDER BY failed_at, id LIMIT 1000`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Request, error) { return scanRequest(row) })
		return err
	})
	return out, verwerker.Wrap("dsr: failed", err)
}

// Overdue lists the open requests past their deadline, most overdue first.
func (s *Service) Overdue(ctx context.Context) ([]Request, error) {
	var out []Request
	err := s.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+requestColumns+` FROM dsr_requests
			WHERE state NOT IN ('completed', 'rejected', 'duplicate') AND paused_at IS NULL AND due_at <= $1 ORDER BY due_at, id LIMIT 1000`, s.clock.Now().UTC())
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Request, error) { return scanRequest(row) })
		return err
	})
	return out, verwerker.Wrap("dsr: overdue", err)
}

// Retry retries what failed on a request: its undelivered notices are sent
// again (fresh attempts) and a failed execution runs again. ECONFLICT when
// nothing failed.
func (s *Service) Retry(ctx context.Context, tenantID, id string) (Request, error) {
	var msgs []string
	var r Request
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		if r, err = lock(ctx, tx, tenantID, id); err != nil {
			return err
		}
		if r.Failure == "" {
			return verwerker.Errorf(verwerker.ECONFLICT, "nothing failed on this request")
		}
		msgs = r.FailedMessages
		now := s.clock.Now().UTC()
		state := r.State
		if r.State == StateFailed {
			switch {
			case r.Instruction != nil && (r.Instruction.Action == ActionExport || r.Instruction.Action == ActionErase):
				c, err := s.client()
				if err != nil {
					return err
				}
				state = StateInProgress
				if _, err := c.InsertTx(ctx, tx, ExecuteArgs{TenantID: tenantID, RequestID: id}, nil); err != nil {
					return err
				}
			case r.ForwardedAt != nil:
				state = StateAwaitingInstruction
			default:
				state = StateReceived
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE dsr_requests SET state = $3, failure = '', failed_at = NULL, failed_messages = '{}', updated_at = $4
			WHERE tenant_id = $1 AND id = $2`, tenantID, id, string(state), now); err != nil {
			return err
		}
		r.State = state
		if state == StateReceived {
			t, _, err := s.tenantOf(ctx, tx, tenantID)
			if err != nil {
				return err
			}
			c, _, err := s.contactOf(ctx, tx, tenantID, id)
			if err != nil {
				return err
			}
			if err := s.forward(ctx, tx, &r, t, c); err != nil {
				return err
			}
		}
		return s.step(ctx, tx, &r, "", "retry", fmt.Sprintf("messages=%d", len(msgs)))
	})
	if err != nil {
		return Request{}, verwerker.Wrap("dsr: retry", err)
	}
	for _, m := range msgs {
		if err := s.outbox.Retry(ctx, m); err != nil && verwerker.ErrorCode(err) != verwerker.ECONFLICT {
			return r, err
		}
	}
	r, _, err = s.Get(ctx, tenantID, id)
	return r, err
}

// RetryFailed retries every failed request (Failed); it returns how many
// it retried and the first error.
func (s *Service) RetryFailed(ctx context.Context) (int, error) {
	list, err := s.Failed(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var first error
	for _, r := range list {
		if _, err := s.Retry(ctx, r.TenantID, r.ID); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		n++
	}
	return n, first
}

// RegisterColumns are the columns of the request register (WriteRegister).
var RegisterColumns = []string{"tenant_id", "request_id", "type", "state", "source", "matched", "received_at", "due_last_day", "due_at",
	"forward_due_at", "forwarded_at", "extension_months", "paused_seconds", "completed_at", "in_time", "failure"}

// WriteRegister writes the register of requests (every tenant's for "*")
// as CSV: ids, types, states and dates, no personal data.
func (s *Service) WriteRegister(ctx context.Context, tenantID string, w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(RegisterColumns); err != nil {
		return err
	}
	ts := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	now := s.clock.Now()
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+requestColumns+` FROM dsr_requests WHERE ($1 = '*' OR tenant_id = $1) ORDER BY received_at, id`, tenantID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRequest(rows)
			if err != nil {
				return err
			}
			inTime := ""
			switch {
			case r.CompletedAt != nil:
				inTime = fmt.Sprint(r.CompletedAt.Before(r.Due.Due))
			case r.Overdue(now):
				inTime = "false"
			}
			due := r.Due.Due
			if err := cw.Write([]string{r.TenantID, r.ID, string(r.Type), string(r.State), r.Source, fmt.Sprint(r.SubjectID != ""),
				ts(&r.ReceivedAt), r.Due.LastDay.String(), ts(&due), ts(&r.ForwardDueAt), ts(r.ForwardedAt), fmt.Sprint(r.ExtensionMonths),
				fmt.Sprint(int64(r.PausedFor / time.Second)), ts(r.CompletedAt), inTime, r.Failure}); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return verwerker.Wrap("dsr: register", err)
	}
	cw.Flush()
	return cw.Error()
}

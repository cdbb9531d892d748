package notify

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/verwerker/verwerker/audit"
)

// DeliverArgs are the arguments of a delivery job: the message id only, so
// that no personal data reaches the job queue.
type DeliverArgs struct {
	// MessageID is the outbox message to deliver.
	MessageID string `json:"message_id"`
}

// Kind is the River job kind.
func (DeliverArgs) Kind() string { return "notify.deliver" }

// InsertOpts sets the attempts of a delivery job.
func (DeliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: MaxAttempts}
}

// result is the outcome of one attempt. code is empty on success and
// otherwise a short, data-free error code ("http_500", "smtp_451",
// "connect_failed"); err is an internal cause for the job's error only.
type result struct {
	code       string
	httpStatus int
	smtpCode   int
	err        error
}

// DeliveryError is the error a failed attempt returns to River. It holds
// only a code, so River's stored job errors carry no personal data.
type DeliveryError struct {
	// MessageID is the message.
	MessageID string
	// Code says what failed.
	Code string
}

// Error implements error.
func (e *DeliveryError) Error() string { return "notify: deliver " + e.MessageID + ": " + e.Code }

type worker struct {
	river.WorkerDefaults[DeliverArgs]
	o *Outbox
}

// Work makes one delivery attempt and logs it.
func (w *worker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	o := w.o
	id := job.Args.MessageID
	var tenantID, kind, status, eventType, key string
	var to []string
	var rendered []byte
	err := o.db.Pool.QueryRow(ctx, `SELECT tenant_id, kind, status, event_type, idempotency_key, recipients, rendered FROM outbox_messages WHERE id = $1`, id).
		Scan(&tenantID, &kind, &status, &eventType, &key, &to, &rendered)
	if errors.Is(err, pgx.ErrNoRows) {
		return river.JobCancel(&DeliveryError{MessageID: id, Code: "no_message"})
	}
	if err != nil {
		return fmt.Errorf("notify: load %s: %w", id, err)
	}
	if status != string(StatusPending) {
		return nil // delivered already (or dead): never send twice
	}
	at := o.clock.Now().UTC()
	start := time.Now()
	var r result
	if Kind(kind) == KindWebhook {
		r = o.sendWebhook(ctx, tenantID, id, rendered)
	} else {
		r = o.sendMail(ctx, id, to, rendered)
	}
	elapsed := time.Since(start)
	final := r.code != "" && job.Attempt >= job.MaxAttempts
	out := Outcome{TenantID: tenantID, MessageID: id, Kind: Kind(kind), EventType: eventType, IdempotencyKey: key, At: at,
		Delivered: r.code == "", ErrorCode: r.code, Dead: final}
	if err := o.db.InTx(ctx, func(tx pgx.Tx) error { return o.logAttempt(ctx, tx, out, elapsed, r) }); err != nil {
		return fmt.Errorf("notify: log attempt of %s: %w", id, err)
	}
	if r.code != "" {
		return &DeliveryError{MessageID: id, Code: r.code}
	}
	return nil
}

// logAttempt records an attempt, moves the message on and tells the
// message's observer.
func (o *Outbox) logAttempt(ctx context.Context, tx pgx.Tx, out Outcome, elapsed time.Duration, r result) error {
	tenantID, id, at := out.TenantID, out.MessageID, out.At
	var attempt int
	status, outcome := StatusPending, "failed"
	switch {
	case r.code == "":
		status, outcome = StatusDelivered, "delivered"
	case out.Dead:
		status = StatusDead
	}
	var errCode *string
	if r.code != "" {
		errCode = &r.code
	}
	err := tx.QueryRow(ctx, `
		UPDATE outbox_messages SET attempts = attempts + 1, status = $2, last_error = $3,
			delivered_at = CASE WHEN $2 = 'delivered' THEN $4::timestamptz END,
			dead_at = CASE WHEN $2 = 'dead' THEN $4::timestamptz END
		WHERE id = $1 RETURNING attempts`, id, string(status), errCode, at).Scan(&attempt)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO outbox_attempts (tenant_id, message_id, attempt, at, outcome, http_status, smtp_code, error_code, duration_ms)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, 0), NULLIF($7, 0), $8, $9)`,
		tenantID, id, attempt, at, outcome, r.httpStatus, r.smtpCode, errCode, elapsed.Milliseconds())
	if err != nil {
		return err
	}
	if status == StatusDead && o.audit != nil {
		if _, err := o.audit.AppendTx(ctx, tx, audit.Event{Chain: tenantID, Actor: "system", Action: "outbox.dead",
			Resource: id, Outcome: audit.Failure, Reason: r.code}); err != nil {
			return err
		}
	}
	if fn := o.observer(out.EventType); fn != nil {
		out.Attempt = attempt
		return fn(ctx, tx, out)
	}
	return nil
}

func parseAddress(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", err
	}
	return a.Address, nil
}

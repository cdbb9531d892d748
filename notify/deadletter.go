package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/verwerker/verwerker"
)

// DeadLetter is a message whose attempts are exhausted, as the DPO sees it:
// ids, kind, event type and error code, never its content or recipients.
type DeadLetter struct {
	// ID is the message id.
	ID string `json:"id"`
	// TenantID is the tenant the message concerns.
	TenantID string `json:"tenant_id"`
	// Kind is webhook or email.
	Kind Kind `json:"kind"`
	// EventType says what the message was about.
	EventType string `json:"event_type"`
	// Attempts is how often it was tried.
	Attempts int `json:"attempts"`
	// LastError is the error code of the last attempt.
	LastError string `json:"last_error"`
	// CreatedAt is when it was enqueued; DeadAt when it gave up.
	CreatedAt time.Time `json:"created_at"`
	DeadAt    time.Time `json:"dead_at"`
}

// Attempt is one entry of a message's delivery log.
type Attempt struct {
	// Attempt numbers the attempts of the message from 1.
	Attempt int `json:"attempt"`
	// At is when it was made.
	At time.Time `json:"at"`
	// Outcome is "delivered" or "failed".
	Outcome string `json:"outcome"`
	// HTTPStatus is the receiver's status code (webhooks), 0 if none.
	HTTPStatus int `json:"http_status,omitempty"`
	// SMTPCode is the relay's reply code (e-mail), 0 if none.
	SMTPCode int `json:"smtp_code,omitempty"`
	// ErrorCode says what failed.
	ErrorCode string `json:"error_code,omitempty"`
	// Duration is how long the attempt took.
	Duration time.Duration `json:"duration_ns"`
}

// DeadLetters lists dead messages of every tenant, most recently dead
// first, at most limit of them (100 if limit <= 0).
func (o *Outbox) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := o.db.Pool.Query(ctx, `
		SELECT id, tenant_id, kind, event_type, attempts, coalesce(last_error, ''), created_at, dead_at
		FROM outbox_messages WHERE status = 'dead' ORDER BY dead_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("notify: dead letters: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeadLetter, error) {
		var d DeadLetter
		err := r.Scan(&d.ID, &d.TenantID, &d.Kind, &d.EventType, &d.Attempts, &d.LastError, &d.CreatedAt, &d.DeadAt)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("notify: dead letters: %w", err)
	}
	return out, nil
}

// Status returns a message's status and the number of attempts made.
func (o *Outbox) Status(ctx context.Context, id string) (Status, int, error) {
	var s Status
	var n int
	err := o.db.Pool.QueryRow(ctx, `SELECT status, attempts FROM outbox_messages WHERE id = $1`, id).Scan(&s, &n)
	if err == pgx.ErrNoRows {
		return "", 0, verwerker.Errorf(verwerker.ENOTFOUND, "no such message")
	}
	if err != nil {
		return "", 0, fmt.Errorf("notify: status: %w", err)
	}
	return s, n, nil
}

// Attempts returns the delivery log of a message, oldest first.
func (o *Outbox) Attempts(ctx context.Context, id string) ([]Attempt, error) {
	rows, err := o.db.Pool.Query(ctx, `
		SELECT attempt, at, outcome, coalesce(http_status, 0), coalesce(smtp_code, 0), coalesce(error_code, ''), duration_ms
		FROM outbox_attempts WHERE message_id = $1 ORDER BY attempt`, id)
	if err != nil {
		return nil, fmt.Errorf("notify: attempts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Attempt, error) {
		var a Attempt
		var ms int64
		err := r.Scan(&a.Attempt, &a.At, &a.Outcome, &a.HTTPStatus, &a.SMTPCode, &a.ErrorCode, &ms)
		a.Duration = time.Duration(ms) * time.Millisecond
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("notify: attempts: %w", err)
	}
	return out, nil
}

// Retry sends a dead message again with a fresh set of attempts: the same
// bytes, webhook-id and Message-ID as before. A message that is not dead is
// an ECONFLICT.
func (o *Outbox) Retry(ctx context.Context, id string) error {
	return o.db.InTx(ctx, func(tx pgx.Tx) error {
		var tenantID string
		err := tx.QueryRow(ctx, `UPDATE outbox_messages SET status = 'pending', dead_at = NULL WHERE id = $1 AND status = 'dead' RETURNING tenant_id`, id).Scan(&tenantID)
		if err == pgx.ErrNoRows {
			return verwerker.Errorf(verwerker.ECONFLICT, "message is not dead")
		}
		if err != nil {
			return fmt.Errorf("notify: retry: %w", err)
		}
		if o.client == nil {
			return verwerker.Internal("notify: retry", errors.New("no River client (UseClient not called)"))
		}
		if _, err := o.client.InsertTx(ctx, tx, DeliverArgs{MessageID: id}, nil); err != nil {
			return fmt.Errorf("notify: retry: %w", err)
		}
		return o.audit.Record(ctx, tx, tenantID, "outbox.retry", id, "")
	})
}

// Summary is a message as its tenant sees it in its delivery log: ids,
// kind, event type and state, never content or recipients.
type Summary struct {
	ID          string     `json:"id"`
	Kind        Kind       `json:"kind"`
	EventType   string     `json:"event_type"`
	Status      Status     `json:"status"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"last_error,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	DeadAt      *time.Time `json:"dead_at,omitempty"`
}

// Messages lists the tenant's messages, newest first, at most limit (100
// if limit <= 0).
func (o *Outbox) Messages(ctx context.Context, tenantID string, limit int) ([]Summary, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var out []Summary
	err := o.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, kind, event_type, status, attempts, coalesce(last_error, ''), created_at, delivered_at, dead_at
			FROM outbox_messages WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, tenantID, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Summary, error) {
			var s Summary
			err := r.Scan(&s.ID, &s.Kind, &s.EventType, &s.Status, &s.Attempts, &s.LastError, &s.CreatedAt, &s.DeliveredAt, &s.DeadAt)
			return s, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("notify: messages: %w", err)
	}
	return out, nil
}

// TenantAttempts returns the delivery log of one of the tenant's messages,
// or ENOTFOUND if the tenant has no such message.
func (o *Outbox) TenantAttempts(ctx context.Context, tenantID, id string) ([]Attempt, error) {
	var found bool
	err := o.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox_messages WHERE tenant_id = $1 AND id = $2)`, tenantID, id).Scan(&found)
	})
	if err != nil {
		return nil, fmt.Errorf("notify: attempts: %w", err)
	}
	if !found {
		return nil, verwerker.Errorf(verwerker.ENOTFOUND, "no such message")
	}
	return o.Attempts(ctx, id)
}

// Metrics returns the gauge verwerker_outbox_dead_letters, the number of
// messages (webhooks and e-mail, of every tenant) whose attempts are
// exhausted now, counted at each scrape. A scrape that cannot count gives
// no sample rather than a wrong one.
func (o *Outbox) Metrics() prometheus.Collector {
	return &deadLetterCollector{o: o, desc: prometheus.NewDesc("verwerker_outbox_dead_letters",
		"Outbox messages (webhooks, e-mail) whose attempts are exhausted and that nobody retried yet; GET /v1/outbox/dead-letters lists them.",
		nil, nil)}
}

type deadLetterCollector struct {
	o    *Outbox
	desc *prometheus.Desc
}

func (c *deadLetterCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *deadLetterCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.o.DeadCount(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n))
}

// DeadCount returns the number of dead-lettered messages of every tenant.
func (o *Outbox) DeadCount(ctx context.Context) (int64, error) {
	var n int64
	if err := o.db.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox_messages WHERE status = 'dead'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("notify: count dead letters: %w", err)
	}
	return n, nil
}

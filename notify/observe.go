package notify

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Outcome is the result of one delivery attempt as an observer sees it:
// ids, kinds and codes, never recipients or content.
type Outcome struct {
	// TenantID and MessageID name the message.
	TenantID, MessageID string
	// Kind is KindWebhook or KindEmail.
	Kind Kind
	// EventType and IdempotencyKey are the message's, as enqueued.
	EventType, IdempotencyKey string
	// At is when the attempt was made (the outbox's clock): for a delivery,
	// the delivery instant.
	At time.Time
	// Attempt numbers the attempts of the message from 1.
	Attempt int
	// Delivered reports whether a receiver accepted the message.
	Delivered bool
	// ErrorCode says what failed ("http_500", "smtp_550",
	// "connect_failed"); empty when delivered.
	ErrorCode string
	// Dead reports that the attempts are exhausted: the message is a dead
	// letter until someone retries it.
	Dead bool
}

// Observer learns the outcome of every delivery attempt of the messages it
// observes, in the transaction that logs the attempt: what it writes commits
// with the outcome or not at all. An error rolls the log back and the
// attempt is retried (delivery is at least once).
type Observer func(ctx context.Context, tx pgx.Tx, o Outcome) error

// Observe calls fn with the outcome of every attempt to deliver a message
// of eventType. One observer per event type: a later call replaces an
// earlier one. It is how a domain package learns that its notice arrived
// (for example a subprocessor change, whose objection window starts at
// delivery).
func (o *Outbox) Observe(eventType string, fn Observer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.observers == nil {
		o.observers = map[string]Observer{}
	}
	o.observers[eventType] = fn
}

func (o *Outbox) observer(eventType string) Observer {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.observers[eventType]
}

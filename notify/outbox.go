package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/store"
)

// PrefixMessage is the id prefix of outbox messages.
const PrefixMessage = "msg"

// Kind says how a message is delivered.
type Kind string

// Kinds of message.
const (
	KindWebhook Kind = "webhook"
	KindEmail   Kind = "email"
)

// Status is where a message stands.
type Status string

// Statuses of a message.
const (
	StatusPending   Status = "pending"   // waiting for (another) attempt
	StatusDelivered Status = "delivered" // a receiver accepted it
	StatusDead      Status = "dead"      // attempts exhausted; listed for the DPO
)

// MaxAttempts is how often a message is attempted before it is dead. With
// River's default backoff (attempt^4 seconds) the last attempt is made about
// 17 hours after the first.
const MaxAttempts = 12

// Message is a notice to enqueue.
type Message struct {
	// TenantID is the controller the notice concerns; webhooks go to its
	// endpoint.
	TenantID string
	// Kind is KindWebhook or KindEmail.
	Kind Kind
	// IdempotencyKey names the notice within the tenant, for example
	// "breach/brc_01J.../initial". Enqueueing the same key again returns the
	// first message and sends nothing new. It must not contain personal data.
	IdempotencyKey string
	// EventType is the webhook's "type" (e.g. "dsr.forwarded"); for e-mail it
	// is recorded to tell notices apart without reading their content.
	EventType string
	// Payload is the webhook's "data" object (JSON). Webhooks only.
	Payload json.RawMessage
	// To lists the e-mail recipients. E-mail only.
	To []string
	// Subject and Body are the e-mail's subject and plain-text body. E-mail only.
	Subject, Body string
}

// Config configures delivery.
type Config struct {
	// SMTPURL is the relay e-mail goes through: smtp://[user:password@]host:port.
	// STARTTLS is used when the server offers it. Empty disables e-mail:
	// Enqueue refuses e-mail messages.
	SMTPURL string
	// MailFrom is the sender address of every e-mail.
	MailFrom string
	// HTTPClient sends webhooks; nil means a client with a 15-second timeout
	// that does not follow redirects and connects to public addresses only.
	HTTPClient *http.Client
	// AllowPrivateNetworks lets webhook endpoints be on loopback, private
	// and link-local addresses. Off in production: a customer's endpoint
	// must not reach verwerker's internal services (SSRF). Development and
	// tests turn it on to deliver to local receivers.
	AllowPrivateNetworks bool
	// Keys seals the webhook signing secrets under each tenant's key
	// (Vault Transit in production). Required to set endpoints.
	Keys *keys.Manager
	// Mailbox, when SMTPURL is empty, receives every e-mail instead of a
	// relay: development only (`verwerker dev`), so that no mail is lost.
	// MailFrom defaults to verwerker@localhost then.
	Mailbox *Mailbox
}

// Outbox enqueues and delivers messages.
type Outbox struct {
	db      *store.DB
	clock   verwerker.Clock
	audit   *audit.Log
	cfg     Config
	smtp    *smtpRelay
	mailbox *Mailbox
	http    *http.Client
	client  *river.Client[pgx.Tx]
	keys    *keys.Manager

	mu        sync.Mutex
	observers map[string]Observer
}

// New returns an Outbox on db. Call Register with the River workers and
// UseClient with the River client built from them before enqueueing.
func New(db *store.DB, clock verwerker.Clock, log *audit.Log, cfg Config) (*Outbox, error) {
	o := &Outbox{db: db, clock: clock, audit: log, cfg: cfg, http: cfg.HTTPClient, keys: cfg.Keys}
	if cfg.SMTPURL != "" {
		r, err := parseSMTPURL(cfg.SMTPURL)
		if err != nil {
			return nil, err
		}
		if _, err := mail.ParseAddress(cfg.MailFrom); err != nil || cfg.MailFrom == "" {
			return nil, verwerker.Errorf(verwerker.EINVALID, "notify: VERWERKER_MAIL_FROM must be an e-mail address when SMTP_URL is set")
		}
		o.smtp = r
	} else if cfg.Mailbox != nil {
		if cfg.MailFrom == "" {
			o.cfg.MailFrom = "verwerker@localhost"
		} else if _, err := mail.ParseAddress(cfg.MailFrom); err != nil {
			return nil, verwerker.Errorf(verwerker.EINVALID, "notify: VERWERKER_MAIL_FROM must be an e-mail address")
		}
		o.mailbox = cfg.Mailbox
	}
	if o.http == nil {
		o.http = publicOnlyClient(cfg.AllowPrivateNetworks)
	}
	return o, nil
}

// Register adds the outbox's delivery worker to workers.
func (o *Outbox) Register(workers *river.Workers) {
	river.AddWorker(workers, &worker{o: o})
}

// UseClient sets the River client that Enqueue inserts jobs with.
func (o *Outbox) UseClient(c *river.Client[pgx.Tx]) { o.client = c }

// Enqueue stores m and its delivery job in tx, the caller's transaction, and
// returns the message id. If the transaction rolls back, nothing is sent.
// If the tenant already has a message with m's idempotency key, Enqueue
// returns that message's id and enqueues nothing; if that message differs
// from m, it returns an ECONFLICT error.
func (o *Outbox) Enqueue(ctx context.Context, tx pgx.Tx, m Message) (string, error) {
	if o.client == nil {
		return "", verwerker.Internal("notify: enqueue", errors.New("no River client (UseClient not called)"))
	}
	if err := o.validate(&m); err != nil {
		return "", err
	}
	hash := m.contentHash()
	now := o.clock.Now().UTC()
	id := verwerker.NewID(PrefixMessage, now)
	var rendered []byte
	var err error
	switch m.Kind {
	case KindWebhook:
		rendered, err = renderWebhook(m, now)
	default:
		rendered, err = o.renderEmail(m, now)
	}
	if err != nil {
		return "", verwerker.Internal("notify: render", err)
	}
	to := m.To
	if to == nil {
		to = []string{}
	}
	var got string
	err = tx.QueryRow(ctx, `
		INSERT INTO outbox_messages (tenant_id, id, kind, idempotency_key, content_hash, event_type, recipients, subject, rendered, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
		RETURNING id`,
		m.TenantID, id, string(m.Kind), m.IdempotencyKey, hash, m.EventType, to, m.Subject, rendered, now).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		var prevHash []byte
		if err := tx.QueryRow(ctx, `SELECT id, content_hash FROM outbox_messages WHERE tenant_id = $1 AND idempotency_key = $2`,
			m.TenantID, m.IdempotencyKey).Scan(&got, &prevHash); err != nil {
			return "", fmt.Errorf("notify: enqueue: %w", err)
		}
		if !bytes.Equal(prevHash, hash) {
			return "", verwerker.Errorf(verwerker.ECONFLICT, "idempotency key already used for a different message")
		}
		return got, nil
	}
	if err != nil {
		return "", fmt.Errorf("notify: enqueue: %w", err)
	}
	if _, err := o.client.InsertTx(ctx, tx, DeliverArgs{MessageID: id}, nil); err != nil {
		return "", fmt.Errorf("notify: enqueue job: %w", err)
	}
	return id, nil
}

// EnqueueAll is Enqueue for many messages in tx, in a constant number of
// statements however many there are (a breach notice to a thousand
// customers): it returns their ids in the order of ms, with the same
// idempotency rules as Enqueue.
func (o *Outbox) EnqueueAll(ctx context.Context, tx pgx.Tx, ms []Message) ([]string, error) {
	if o.client == nil {
		return nil, verwerker.Internal("notify: enqueue", errors.New("no River client (UseClient not called)"))
	}
	now := o.clock.Now().UTC()
	n := len(ms)
	tenants, ids, kinds, keys, types, subjects := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	hashes, rendered, recipients := make([][]byte, n), make([][]byte, n), make([]string, n)
	for i := range ms {
		m := &ms[i]
		if err := o.validate(m); err != nil {
			return nil, err
		}
		var err error
		if m.Kind == KindWebhook {
			rendered[i], err = renderWebhook(*m, now)
		} else {
			rendered[i], err = o.renderEmail(*m, now)
		}
		if err != nil {
			return nil, verwerker.Internal("notify: render", err)
		}
		to := m.To
		if to == nil {
			to = []string{}
		}
		r, err := json.Marshal(to)
		if err != nil {
			return nil, verwerker.Internal("notify: render", err)
		}
		tenants[i], ids[i], kinds[i], keys[i], types[i], subjects[i] = m.TenantID, verwerker.NewID(PrefixMessage, now), string(m.Kind), m.IdempotencyKey, m.EventType, m.Subject
		hashes[i], recipients[i] = m.contentHash(), string(r)
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO outbox_messages (tenant_id, id, kind, idempotency_key, content_hash, event_type, recipients, subject, rendered, created_at)
		SELECT u.t, u.id, u.k, u.key, u.h, u.e, ARRAY(SELECT jsonb_array_elements_text(u.r)), u.s, u.b, $10
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[], $7::jsonb[], $8::text[], $9::bytea[]) AS u(t, id, k, key, h, e, r, s, b)
		ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
		RETURNING id`, tenants, ids, kinds, keys, hashes, types, recipients, subjects, rendered, now)
	if err != nil {
		return nil, fmt.Errorf("notify: enqueue: %w", err)
	}
	inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("notify: enqueue: %w", err)
	}
	fresh := make(map[string]bool, len(inserted))
	params := make([]river.InsertManyParams, 0, len(inserted))
	for _, id := range inserted {
		fresh[id] = true
		params = append(params, river.InsertManyParams{Args: DeliverArgs{MessageID: id}})
	}
	for i := range ms {
		if fresh[ids[i]] {
			continue
		}
		// Enqueued before: the first message, if it says the same.
		var prevHash []byte
		if err := tx.QueryRow(ctx, `SELECT id, content_hash FROM outbox_messages WHERE tenant_id = $1 AND idempotency_key = $2`,
			tenants[i], keys[i]).Scan(&ids[i], &prevHash); err != nil {
			return nil, fmt.Errorf("notify: enqueue: %w", err)
		}
		if !bytes.Equal(prevHash, hashes[i]) {
			return nil, verwerker.Errorf(verwerker.ECONFLICT, "idempotency key already used for a different message")
		}
	}
	if len(params) > 0 {
		if _, err := o.client.InsertManyTx(ctx, tx, params); err != nil {
			return nil, fmt.Errorf("notify: enqueue jobs: %w", err)
		}
	}
	return ids, nil
}

func (o *Outbox) validate(m *Message) error {
	var fields []verwerker.FieldError
	bad := func(f, msg string) { fields = append(fields, verwerker.FieldError{Field: f, Message: msg}) }
	if m.TenantID == "" {
		bad("tenant_id", "is required")
	}
	if m.IdempotencyKey == "" || len(m.IdempotencyKey) > 200 {
		bad("idempotency_key", "must be 1 to 200 characters")
	}
	if m.EventType == "" || len(m.EventType) > 100 || strings.ContainsAny(m.EventType, "\r\n\"\\") {
		bad("event_type", "must be 1 to 100 characters without quotes or line breaks")
	}
	switch m.Kind {
	case KindWebhook:
		if !json.Valid(m.Payload) || !bytes.HasPrefix(bytes.TrimSpace(m.Payload), []byte("{")) {
			bad("payload", "must be a JSON object")
		}
		if len(m.To) > 0 || m.Subject != "" || m.Body != "" {
			bad("kind", "a webhook has no recipients, subject or body")
		}
	case KindEmail:
		if !o.Email() {
			return verwerker.Errorf(verwerker.EUNAVAILABLE, "e-mail is not configured (SMTP_URL)")
		}
		if len(m.To) == 0 {
			bad("to", "needs at least one recipient")
		}
		for i, a := range m.To {
			if p, err := mail.ParseAddress(a); err != nil || p.Address != a {
				bad(fmt.Sprintf("to[%d]", i), "must be a bare e-mail address")
			}
		}
		if m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n") {
			bad("subject", "must be one non-empty line")
		}
		if m.Body == "" {
			bad("body", "is required")
		}
		if len(m.Payload) > 0 {
			bad("kind", "an e-mail has no payload")
		}
	default:
		bad("kind", "must be webhook or email")
	}
	if len(fields) > 0 {
		return verwerker.Invalid("invalid outbox message", fields...)
	}
	return nil
}

// contentHash identifies what m says, independent of when it was enqueued.
func (m Message) contentHash() []byte {
	b, _ := json.Marshal([]any{m.Kind, m.EventType, m.Payload, m.To, m.Subject, m.Body})
	h := sha256.Sum256(b)
	return h[:]
}

// renderWebhook returns the webhook body in the Standard Webhooks payload
// shape: {"type", "timestamp", "data"}.
func renderWebhook(m Message, now time.Time) ([]byte, error) {
	var data bytes.Buffer
	if err := json.Compact(&data, m.Payload); err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}{m.EventType, now.Format(time.RFC3339), data.Bytes()})
}

// MessageID returns the Message-ID header of the e-mail with the given
// idempotency key: derived from the key, so that a duplicate delivery is
// recognisable, and carrying no personal data.
func MessageID(tenantID, idempotencyKey, domain string) string {
	h := sha256.Sum256([]byte(tenantID + "\x00" + idempotencyKey))
	return "<" + hex.EncodeToString(h[:16]) + "@" + domain + ">"
}

// renderEmail returns the whole RFC 5322 message.
func (o *Outbox) renderEmail(m Message, now time.Time) ([]byte, error) {
	domain := o.cfg.MailFrom[strings.LastIndexByte(o.cfg.MailFrom, '@')+1:]
	domain = strings.TrimSuffix(domain, ">")
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", o.cfg.MailFrom)
	hdr("To", strings.Join(m.To, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", MessageID(m.TenantID, m.IdempotencyKey, domain))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `text/plain; charset="utf-8"`)
	hdr("Content-Transfer-Encoding", "quoted-printable")
	hdr("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	w := quotedprintable.NewWriter(&b)
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := w.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Email reports whether e-mail is configured (SMTP_URL, or a development
// Mailbox), that is, whether Enqueue accepts e-mail messages.
func (o *Outbox) Email() bool { return o != nil && (o.smtp != nil || o.mailbox != nil) }

package breach

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/tenant"
)

// Delivery states of a notice: a notice counts as sent only when a channel
// delivered it.
const (
	DeliverySending     = "sending"     // a channel is still making its first attempt
	DeliveryDelivered   = "delivered"   // a channel delivered it
	DeliveryUndelivered = "undelivered" // nothing delivered it and nothing is on its first attempt: an alarm
)

// Channels of a notice.
const (
	ChannelWebhook = "webhook"
	ChannelEmail   = "email"
)

// Notice is one customer's notice of a breach: the first (phase 0) or an
// update (phase 1 and on, GDPR Art. 33(4)).
type Notice struct {
	TenantID   string  `json:"tenant_id"`
	IncidentID string  `json:"incident_id"`
	Phase      int     `json:"phase"`
	Content    Content `json:"content"`
	// Delivery is where its delivery stands.
	Delivery Delivery `json:"delivery"`
	// AuthorityDeadline is when the controller's 72 hours to notify the
	// supervisory authority end, counted from the delivery of its first
	// notice (when it became aware, EDPB Guidelines 9/2022); nil until
	// delivered.
	AuthorityDeadline *time.Time `json:"authority_deadline,omitempty"`
	// Acknowledgement is the controller's, when given.
	Acknowledgement *Acknowledgement `json:"acknowledgement,omitempty"`
	CreatedAt       time.Time        `json:"created_at"`
}

// Delivery is where the delivery of a notice stands.
type Delivery struct {
	State            string                `json:"state"`
	Via              string                `json:"via,omitempty"`
	DeliveredAt      *time.Time            `json:"delivered_at,omitempty"`
	UndeliveredSince *time.Time            `json:"undelivered_since,omitempty"`
	Channels         []notify.ChannelState `json:"channels"`
}

// Acknowledgement is a controller's confirmation that it received a notice.
type Acknowledgement struct {
	At  time.Time `json:"at"`
	By  string    `json:"by"`
	Via string    `json:"via"` // "api" or "link"
}

// Content is what a notice says (GDPR Art. 33(3)), fixed when it is sent.
type Content struct {
	IncidentID string `json:"incident_id"`
	Phase      int    `json:"phase"`
	// Update is what is new in an update (phase >= 1).
	Update string `json:"update,omitempty"`
	// Art. 33(3)(a): the nature of the breach.
	Title         string     `json:"title"`
	Description   string     `json:"description"`
	Kinds         []string   `json:"kinds"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	EndedAt       *time.Time `json:"ended_at,omitempty"`
	Ongoing       bool       `json:"ongoing"`
	DiscoveredAt  time.Time  `json:"discovered_at"`
	DiscoveredHow string     `json:"discovered_how"`
	// The customer's affected data: categories and numbers of subjects and
	// records, with whether they are estimates.
	Subjects   int64           `json:"subjects"`
	Records    int64           `json:"records"`
	Categories []CategoryCount `json:"categories"`
	Estimated  bool            `json:"estimated"`
	Basis      []string        `json:"basis"`
	Encryption Encryption      `json:"encryption"`
	// Art. 33(3)(b), (c), (d).
	Contact      string `json:"contact"`
	Consequences string `json:"consequences"`
	Measures     string `json:"measures"`
	// ToFollow names the facts not known yet: they follow in updates.
	ToFollow []string `json:"to_follow"`
	// ProcessorDeadline is discovery + 48 hours.
	ProcessorDeadline time.Time `json:"processor_deadline"`
	// AuthorityDeadlineIfDeliveredNow is the controller's 72-hour end if
	// the notice is delivered when it is sent; the exact end is 72 hours
	// after the delivery (Notice.AuthorityDeadline).
	AuthorityDeadlineIfDeliveredNow time.Time `json:"authority_deadline_if_delivered_now"`
	TimeZone                        string    `json:"time_zone"`
	// AnswerSheet drafts the Dutch authority's breach form for the
	// controller, in the form's order.
	AnswerSheet []Answer `json:"answer_sheet"`
}

// toFollow is how a missing fact reads in a notice.
const toFollow = "to follow / volgt"

// recipient is an affected customer with what its notice needs.
type recipient struct {
	t        tenant.Tenant
	contacts []string
	impact   CustomerImpact
	webhook  bool // it has a webhook endpoint
}

const noticeColumns = `tenant_id, incident_id, phase, content, delivery, channels, undelivered_since, delivered_at, coalesce(delivered_via, ''),
	acknowledged_at, coalesce(acknowledged_by, ''), coalesce(acknowledged_via, ''), created_at`

func scanNotice(row pgx.Row) (Notice, error) {
	var n Notice
	var content []byte
	var ackAt *time.Time
	var ackBy, ackVia string
	err := row.Scan(&n.TenantID, &n.IncidentID, &n.Phase, &content, &n.Delivery.State, &n.Delivery.Channels, &n.Delivery.UndeliveredSince,
		&n.Delivery.DeliveredAt, &n.Delivery.Via, &ackAt, &ackBy, &ackVia, &n.CreatedAt)
	if err != nil {
		return n, err
	}
	if err := json.Unmarshal(content, &n.Content); err != nil {
		return n, err
	}
	n.CreatedAt = n.CreatedAt.UTC()
	if n.Delivery.Channels == nil {
		n.Delivery.Channels = []notify.ChannelState{}
	}
	for _, t := range []**time.Time{&n.Delivery.UndeliveredSince, &n.Delivery.DeliveredAt} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
	}
	if ackAt != nil {
		n.Acknowledgement = &Acknowledgement{At: ackAt.UTC(), By: ackBy, Via: ackVia}
	}
	return n, nil
}

// authorityDeadlines sets the controller's 72-hour end on each notice:
// 72 hours after the delivery of its first notice.
func authorityDeadlines(list []Notice) {
	first := map[string]time.Time{}
	for _, n := range list {
		if n.Phase == 0 && n.Delivery.DeliveredAt != nil {
			first[n.TenantID+"/"+n.IncidentID] = n.Delivery.DeliveredAt.Add(AuthorityWindow)
		}
	}
	for i := range list {
		if t, ok := first[list[i].TenantID+"/"+list[i].IncidentID]; ok {
			list[i].AuthorityDeadline = &t
		}
	}
}

// Notify sends the first notice to every affected customer that has not
// had one: the impact is counted again now, and each customer with records
// in scope gets its own notice, in its own transaction with the outbox
// rows, by signed webhook (if it has an endpoint) and e-mail to its
// breach and DPO contacts (else its privacy contact). It returns the new
// notices, not yet delivered. Only a breach is notified.
func (s *Service) Notify(ctx context.Context, id string) ([]Notice, error) {
	return s.send(ctx, id, "")
}

// Update sends an update (GDPR Art. 33(4)) to every customer that had the
// first notice, with the facts and counts as they are now and what is new
// (required).
func (s *Service) Update(ctx context.Context, id, update string) ([]Notice, error) {
	update = strings.TrimSpace(update)
	if fe := checkText("update", update, 5000, true); fe != nil {
		return nil, verwerker.Invalid("the update is not valid", *fe)
	}
	return s.send(ctx, id, update)
}

func (s *Service) send(ctx context.Context, id, update string) ([]Notice, error) {
	now := s.clock.Now().UTC()
	var out []Notice
	err := s.tx(ctx, "notify", func(tx pgx.Tx) error {
		i, err := lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if i.Status != StatusBreach {
			return errNotBreach
		}
		imp, err := impactOf(ctx, tx, i, now)
		if err != nil {
			return err
		}
		raw, err := json.Marshal(imp)
		if err != nil {
			return err
		}
		if i, err = scanIncident(tx.QueryRow(ctx, `UPDATE breach_incidents SET impact = $2, updated_at = $3 WHERE id = $1 RETURNING `+incidentColumns, id, raw, now)); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT tenant_id, max(phase) FROM breach_notices WHERE incident_id = $1 GROUP BY tenant_id`, id)
		if err != nil {
			return err
		}
		phases := map[string]int{}
		for rows.Next() {
			var t string
			var p int
			if err := rows.Scan(&t, &p); err != nil {
				rows.Close()
				return err
			}
			phases[t] = p
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var targets []CustomerImpact
		if update == "" {
			for _, c := range imp.Customers {
				if _, told := phases[c.TenantID]; !told {
					targets = append(targets, c)
				}
			}
		} else {
			if len(phases) == 0 {
				return verwerker.Errorf(verwerker.ECONFLICT, "no customer was notified yet: send the first notice")
			}
			// The same customers as the first notice, with their counts now.
			for t := range phases {
				c := CustomerImpact{TenantID: t, Categories: []CategoryCount{}, Encryption: Encryption{Encrypted: true, Algorithm: "AES-256-GCM", KeyVersions: []int{}}}
				if j := slices.IndexFunc(imp.Customers, func(c CustomerImpact) bool { return c.TenantID == t }); j >= 0 {
					c = imp.Customers[j]
				}
				targets = append(targets, c)
			}
			slices.SortFunc(targets, func(a, b CustomerImpact) int { return strings.Compare(a.TenantID, b.TenantID) })
		}
		scopes, err := dpa.ActiveScopes(ctx, tx)
		if err != nil {
			return err
		}
		running, err := tenant.Running(ctx, tx, now)
		if err != nil {
			return err
		}
		customers := make(map[string]tenant.Tenant, len(running))
		for _, t := range running {
			customers[t.ID] = t
		}
		ids := make([]string, len(targets))
		for k, c := range targets {
			ids[k] = c.TenantID
		}
		endpoints, err := notify.WithEndpoints(ctx, tx, ids)
		if err != nil {
			return err
		}
		rs := make([]recipient, 0, len(targets))
		for _, c := range targets {
			t, ok := customers[c.TenantID]
			if !ok { // a customer whose contract ended: its retained data counts too
				if t, err = tenant.Read(ctx, tx, c.TenantID, now, false); err != nil {
					return err
				}
			}
			rs = append(rs, recipient{t: t, contacts: contactsOf(t, scopes[t.ID]), impact: c, webhook: endpoints[t.ID]})
		}
		// The first notice is phase 0; an update is the next phase of
		// each customer, the same for all who had every update.
		byPhase := map[int][]recipient{}
		for _, r := range rs {
			phase := 0
			if update != "" {
				phase = phases[r.t.ID] + 1
			}
			byPhase[phase] = append(byPhase[phase], r)
		}
		for _, phase := range slices.Sorted(maps.Keys(byPhase)) {
			list, err := s.fanOut(ctx, tx, i, byPhase[phase], phase, update, now)
			if err != nil {
				return err
			}
			out = append(out, list...)
		}
		slices.SortFunc(out, func(a, b Notice) int { return strings.Compare(a.TenantID, b.TenantID) })
		action := "notify"
		if update != "" {
			action = "update"
		}
		return s.revise(ctx, tx, i, now, action, "", map[string]any{"customers": len(out)})
	})
	return out, err
}

// contactsOf are the addresses a customer's breach notice goes to: the
// breach and DPO contacts of its active agreement, else its privacy
// contact.
func contactsOf(t tenant.Tenant, sc dpa.Scope) []string {
	var out []string
	for _, e := range []string{sc.BreachContact.Email, sc.DPOContact.Email} {
		if e != "" && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if len(out) == 0 && t.ContactEmail != "" {
		out = append(out, t.ContactEmail)
	}
	return out
}

// plan is one customer's notice before it is written: its content, the
// secret of its acknowledgement link and its outbox messages (indexes
// into the fan-out's messages, -1 for a channel that cannot carry it).
type plan struct {
	r              recipient
	content        Content
	hash           []byte
	webhook, email int
	channels       []notify.ChannelState
}

// fanOut writes the notices of phase to every recipient of incident i
// with their outbox messages, in a constant number of statements, and
// returns them.
func (s *Service) fanOut(ctx context.Context, tx pgx.Tx, i Incident, rs []recipient, phase int, update string, now time.Time) ([]Notice, error) {
	plans := make([]plan, len(rs))
	var msgs []notify.Message
	key := fmt.Sprintf("breach/%s/%d/", i.ID, phase)
	for k, r := range rs {
		p := plan{r: r, content: contentFor(i, r, phase, update, now), webhook: -1, email: -1}
		var token string
		token, p.hash = newAckToken()
		webhook := notify.ChannelState{Channel: ChannelWebhook, State: notify.ChannelNotConfigured, Cause: notify.CauseNoEndpoint, UpdatedAt: now}
		email := notify.ChannelState{Channel: ChannelEmail, State: notify.ChannelNotConfigured, Cause: notify.CauseSMTPNotConfigured, UpdatedAt: now}
		switch {
		case s.outbox == nil:
			webhook.Cause, email.Cause = notify.CauseNoOutbox, notify.CauseNoOutbox
		default:
			if r.webhook {
				payload, err := json.Marshal(struct {
					Content
					Acknowledge string `json:"acknowledge"`
				}{p.content, fmt.Sprintf("POST /v1/tenants/%s/breach-notices/%s/%d/acknowledgement", r.t.ID, i.ID, phase)})
				if err != nil {
					return nil, err
				}
				p.webhook = len(msgs)
				msgs = append(msgs, notify.Message{TenantID: r.t.ID, Kind: notify.KindWebhook, IdempotencyKey: key + ChannelWebhook,
					EventType: EventNotice, Payload: payload})
				webhook = notify.ChannelState{Channel: ChannelWebhook, State: notify.ChannelSending, UpdatedAt: now}
			}
			switch {
			case !s.outbox.Email():
			case len(r.contacts) == 0:
				email.Cause = notify.CauseNoContact
			default:
				subject, body := noticeText(p.content, r.t, s.link(AckPath+token), token)
				p.email = len(msgs)
				msgs = append(msgs, notify.Message{TenantID: r.t.ID, Kind: notify.KindEmail, IdempotencyKey: key + ChannelEmail,
					EventType: EventNotice, To: r.contacts, Subject: subject, Body: body})
				email = notify.ChannelState{Channel: ChannelEmail, State: notify.ChannelSending, UpdatedAt: now}
			}
		}
		p.channels = []notify.ChannelState{webhook, email}
		plans[k] = p
	}
	var ids []string
	if len(msgs) > 0 {
		var err error
		if ids, err = s.outbox.EnqueueAll(ctx, tx, msgs); err != nil {
			return nil, err
		}
	}
	n := len(plans)
	tenants, contents, deliveries, channels := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	since, hashes := make([]*time.Time, n), make([][]byte, n)
	var events []audit.Event
	for k := range plans {
		p := &plans[k]
		if p.webhook >= 0 {
			p.channels[0].MessageID = ids[p.webhook]
		}
		if p.email >= 0 {
			p.channels[1].MessageID = ids[p.email]
		}
		deliveries[k] = DeliveryUndelivered
		if p.webhook >= 0 || p.email >= 0 {
			deliveries[k] = DeliverySending
		} else {
			since[k] = &now
		}
		c, err := json.Marshal(p.content)
		if err != nil {
			return nil, err
		}
		ch, err := json.Marshal(p.channels)
		if err != nil {
			return nil, err
		}
		tenants[k], contents[k], channels[k], hashes[k] = p.r.t.ID, string(c), string(ch), p.hash
		events = append(events, audit.Event{Chain: p.r.t.ID, Action: "breach.notice", Resource: i.ID, Reason: fmt.Sprintf("phase=%d", phase)})
		if deliveries[k] == DeliveryUndelivered {
			events = append(events, audit.Event{Chain: p.r.t.ID, Action: "breach.notice.undelivered", Resource: i.ID, Outcome: audit.Failure,
				Reason: fmt.Sprintf("phase=%d %s", phase, notify.Causes(p.channels))})
		}
	}
	rows, err := tx.Query(ctx, `INSERT INTO breach_notices (tenant_id, incident_id, phase, content, delivery, channels, undelivered_since, ack_token_sha256, created_at)
		SELECT u.t, $2, $3, u.c, u.d, u.ch, u.since, u.h, $4
		FROM unnest($1::text[], $5::jsonb[], $6::text[], $7::jsonb[], $8::timestamptz[], $9::bytea[]) WITH ORDINALITY AS u(t, c, d, ch, since, h, ord)
		ORDER BY u.ord
		RETURNING `+noticeColumns, tenants, i.ID, phase, now, contents, deliveries, channels, since, hashes)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Notice, error) { return scanNotice(r) })
	if err != nil {
		return nil, err
	}
	return out, s.audit.AppendAllTx(ctx, tx, events)
}

// newAckToken returns the secret of an acknowledgement link and its hash.
func newAckToken() (string, []byte) {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	token := "bak_" + base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(token))
	return token, h[:]
}

// noticeKey parses the idempotency key of a notice,
// "breach/<incident id>/<phase>/<channel>".
func noticeKey(key string) (incidentID string, phase int, channel string, ok bool) {
	parts := strings.Split(key, "/")
	if len(parts) != 4 || parts[0] != "breach" || (parts[3] != ChannelWebhook && parts[3] != ChannelEmail) {
		return "", 0, "", false
	}
	if _, err := fmt.Sscanf(parts[2], "%d", &phase); err != nil {
		return "", 0, "", false
	}
	return parts[1], phase, parts[3], true
}

// observe is the outbox's observer of notices: it keeps the channel states
// and marks the notice delivered at the first delivery, or undelivered when
// no channel is left on its first attempt.
func (s *Service) observe(ctx context.Context, tx pgx.Tx, o notify.Outcome) error {
	incidentID, phase, channel, ok := noticeKey(o.IdempotencyKey)
	if !ok {
		return nil
	}
	n, err := scanNotice(tx.QueryRow(ctx, `SELECT `+noticeColumns+` FROM breach_notices WHERE tenant_id = $1 AND incident_id = $2 AND phase = $3 FOR UPDATE`,
		o.TenantID, incidentID, phase))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	channels, delivered, undelivered := notify.Advance(n.Delivery.Channels, channel, o)
	switch {
	case delivered && n.Delivery.State != DeliveryDelivered:
		if _, err := tx.Exec(ctx, `UPDATE breach_notices SET delivery = 'delivered', delivered_via = $4, delivered_at = $5, undelivered_since = NULL, channels = $6
			WHERE tenant_id = $1 AND incident_id = $2 AND phase = $3`, o.TenantID, incidentID, phase, channel, o.At.UTC(), channels); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, o.TenantID, "breach.notice.delivered", incidentID, fmt.Sprintf("phase=%d via=%s", phase, channel))
	case undelivered && n.Delivery.State == DeliverySending:
		if _, err := tx.Exec(ctx, `UPDATE breach_notices SET delivery = 'undelivered', undelivered_since = $4, channels = $5
			WHERE tenant_id = $1 AND incident_id = $2 AND phase = $3`, o.TenantID, incidentID, phase, o.At.UTC(), channels); err != nil {
			return err
		}
		return s.audit.RecordOutcome(ctx, tx, o.TenantID, "breach.notice.undelivered", incidentID, audit.Failure, fmt.Sprintf("phase=%d %s", phase, notify.Causes(channels)))
	}
	_, err = tx.Exec(ctx, `UPDATE breach_notices SET channels = $4 WHERE tenant_id = $1 AND incident_id = $2 AND phase = $3`,
		o.TenantID, incidentID, phase, channels)
	return err
}

// Notices returns the notices of an incident (every customer), by customer
// and phase: the DPO's view.
func (s *Service) Notices(ctx context.Context, incidentID string) ([]Notice, error) {
	return s.notices(ctx, "*", `incident_id = $1 ORDER BY tenant_id, phase`, incidentID)
}

// CustomerNotices returns a customer's notices, newest incident first:
// what its controller sees, and nothing of any other customer.
func (s *Service) CustomerNotices(ctx context.Context, tenantID string) ([]Notice, error) {
	return s.notices(ctx, tenantID, `tenant_id = $1 ORDER BY created_at DESC, incident_id, phase`, tenantID)
}

// notices lists the notices matching where in scope (a tenant, or "*"),
// with the customers' 72-hour ends.
func (s *Service) notices(ctx context.Context, scope, where string, args ...any) ([]Notice, error) {
	out := []Notice{}
	err := s.tenantTx(ctx, "notices", scope, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+noticeColumns+` FROM breach_notices WHERE `+where, args...)
		if err != nil {
			return err
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Notice, error) { return scanNotice(r) })
		if list != nil {
			out = list
		}
		return err
	})
	authorityDeadlines(out)
	return out, err
}

var errNoticeNotFound = verwerker.Errorf(verwerker.ENOTFOUND, "breach notice not found")

// Acknowledge records the controller's acknowledgement of a notice
// through the API, by the principal of ctx. Acknowledging again changes
// nothing.
func (s *Service) Acknowledge(ctx context.Context, tenantID, incidentID string, phase int) (Notice, error) {
	var out Notice
	err := s.tenantTx(ctx, "acknowledge", tenantID, func(tx pgx.Tx) error {
		var err error
		out, err = s.acknowledge(ctx, tx, `tenant_id = $1 AND incident_id = $2 AND phase = $3`, "api", tenantID, incidentID, phase)
		return err
	})
	return out, err
}

// AcknowledgeLink records an acknowledgement through the secret link of a
// notice's e-mail. An unknown token is ENOTFOUND.
func (s *Service) AcknowledgeLink(ctx context.Context, token string) (Notice, error) {
	h := sha256.Sum256([]byte(token))
	var out Notice
	err := s.tx(ctx, "acknowledge link", func(tx pgx.Tx) error {
		var err error
		out, err = s.acknowledge(ctx, tx, `ack_token_sha256 = $1`, "link", h[:])
		return err
	})
	return out, err
}

// LinkNotice returns the notice the secret link token names, without
// acknowledging it: the page the link opens asks to confirm. An unknown
// token is ENOTFOUND.
func (s *Service) LinkNotice(ctx context.Context, token string) (Notice, error) {
	h := sha256.Sum256([]byte(token))
	var out Notice
	err := s.tx(ctx, "link notice", func(tx pgx.Tx) error {
		var err error
		out, err = scanNotice(tx.QueryRow(ctx, `SELECT `+noticeColumns+` FROM breach_notices WHERE ack_token_sha256 = $1`, h[:]))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoticeNotFound
		}
		return err
	})
	return out, err
}

// AckPath is the dashboard path of a notice's acknowledgement link, under
// Options.PublicURL in the e-mail: a public page that names the notice and
// records the acknowledgement when the controller confirms (a mail scanner
// that opens the link acknowledges nothing).
const AckPath = "/dashboard/breach-acknowledgements/"

func (s *Service) acknowledge(ctx context.Context, tx pgx.Tx, where, via string, args ...any) (Notice, error) {
	n, err := scanNotice(tx.QueryRow(ctx, `SELECT `+noticeColumns+` FROM breach_notices WHERE `+where+` FOR UPDATE`, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return n, errNoticeNotFound
	}
	if err != nil || n.Acknowledgement != nil {
		return n, err
	}
	now := s.clock.Now().UTC()
	by := audit.Actor(ctx)
	if via == "link" {
		by = "link"
	}
	n, err = scanNotice(tx.QueryRow(ctx, `UPDATE breach_notices SET acknowledged_at = $4, acknowledged_by = $5, acknowledged_via = $6
		WHERE tenant_id = $1 AND incident_id = $2 AND phase = $3 RETURNING `+noticeColumns, n.TenantID, n.IncidentID, n.Phase, now, by, via))
	if err != nil {
		return n, err
	}
	return n, s.audit.Record(ctx, tx, n.TenantID, "breach.notice.acknowledge", n.IncidentID, fmt.Sprintf("phase=%d via=%s", n.Phase, via))
}

package dpa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/tenant"
)

// PrefixChange is the id prefix of subprocessor changes.
const PrefixChange = "spc"

// Kinds of subprocessor change.
const (
	ChangeAdd     = "add"     // a new subprocessor starts touching customers' data
	ChangeReplace = "replace" // a subprocessor takes over from another
	ChangeRemove  = "remove"  // a subprocessor stops touching customers' data
)

// Notice statuses: where a change stands for one customer.
const (
	NoticePending    = "pending"     // announced; takes effect at EffectiveAt unless the customer objects
	NoticeObjected   = "objected"    // the customer objected; held (and blocking) until the DPO resolves it
	NoticeEffective  = "effective"   // took effect for the customer
	NoticeNotApplied = "not_applied" // resolved: the change does not apply to the customer
	NoticeWithdrawn  = "withdrawn"   // the company withdrew the change before it took effect
)

// Resolutions of an objection.
const (
	// ResolutionObjectionWithdrawn: the customer withdrew its objection; the
	// change takes effect for it when due, and not before its window ended.
	ResolutionObjectionWithdrawn = "objection_withdrawn"
	// ResolutionChangeNotApplied: the change does not apply to the customer;
	// its list stays as it was.
	ResolutionChangeNotApplied = "change_not_applied"
)

// Event types of the notices sent to customers.
const (
	EventChangeAnnounced = "subprocessor.change_announced"
	EventChangeWithdrawn = "subprocessor.change_withdrawn"
)

// Delivery states of a notice: whether the customer has been told. Only a
// delivered notice has an objection window, and a change never takes effect
// for a customer whose notice was not delivered.
const (
	// DeliverySending: a channel is still making its first attempt.
	DeliverySending = "sending"
	// DeliveryDelivered: a channel delivered the notice, or the DPO
	// recorded an out-of-band delivery. The window runs from then.
	DeliveryDelivered = "delivered"
	// DeliveryUndelivered: no channel delivered the notice and none is
	// making its first attempt any more (none configured, or every one
	// failing). An alarm for the DPO; a channel's later success or an
	// out-of-band delivery ends it.
	DeliveryUndelivered = "undelivered"
)

// Channels a notice goes out on, and how a notice was delivered
// (Delivery.Via).
const (
	ChannelWebhook   = "webhook"     // a signed webhook to the customer's endpoint
	ChannelEmail     = "email"       // an e-mail to its DPO and breach contacts
	ChannelOutOfBand = "out_of_band" // recorded by the DPO (RecordDelivery)
)

// States of one channel of a notice.
const (
	ChannelNotConfigured = "not_configured" // the channel cannot carry it; Cause says why
	ChannelSending       = "sending"        // enqueued, not yet attempted
	ChannelFailing       = "failing"        // the last attempt failed; retries continue
	ChannelFailed        = "failed"         // attempts exhausted (a dead letter)
	ChannelDelivered     = "delivered"      // the receiver accepted it
)

// Causes of a channel that is not configured (a failing channel's cause is
// the outbox's error code, such as "http_500" or "smtp_550").
const (
	CauseNoEndpoint        = "no_endpoint"         // the customer has no webhook endpoint
	CauseSMTPNotConfigured = "smtp_not_configured" // no e-mail relay (SMTP_URL)
	CauseNoContact         = "no_contact"          // the agreement names no DPO or breach contact
	CauseNoOutbox          = "no_outbox"           // notices are disabled (a registry without outbox)
)

// OutOfBandChannels are the ways the DPO may record a notice was delivered
// outside verwerker (RecordDelivery).
var OutOfBandChannels = []string{"registered_letter", "letter", "courier", "in_person", "email", "other"}

// Delivery is where the delivery of a notice stands.
type Delivery struct {
	// State is DeliverySending, DeliveryDelivered or DeliveryUndelivered.
	State string `json:"state"`
	// Via is the channel that delivered it first (ChannelWebhook,
	// ChannelEmail or ChannelOutOfBand); empty until delivered.
	Via string `json:"via,omitempty"`
	// UndeliveredSince is when the notice became undelivered: the alarm's
	// start.
	UndeliveredSince *time.Time `json:"undelivered_since,omitempty"`
	// Channels is the state of each electronic channel.
	Channels []ChannelState `json:"channels"`
	// OutOfBand is the DPO's record of a delivery by other means.
	OutOfBand *OutOfBand `json:"out_of_band,omitempty"`
}

// ChannelState is where one channel of a notice stands. It holds codes and
// ids only, never addresses.
type ChannelState struct {
	// Channel is ChannelWebhook or ChannelEmail.
	Channel string `json:"channel"`
	// State is one of the Channel* states.
	State string `json:"state"`
	// Cause says why it is not configured or failing.
	Cause string `json:"cause,omitempty"`
	// MessageID is the outbox message (see the delivery log).
	MessageID string `json:"message_id,omitempty"`
	// Attempts is how many attempts were made.
	Attempts int `json:"attempts"`
	// UpdatedAt is when the state last changed.
	UpdatedAt time.Time `json:"updated_at"`
}

// OutOfBand is a delivery the DPO recorded.
type OutOfBand struct {
	// Channel is one of OutOfBandChannels.
	Channel string `json:"channel"`
	// DeliveredOn is the day the customer received it (YYYY-MM-DD, in
	// the customer's calendar).
	DeliveredOn string `json:"delivered_on"`
	// Reference is the DPO's reference, such as a tracking number.
	Reference  string    `json:"reference,omitempty"`
	RecordedBy string    `json:"recorded_by"`
	RecordedAt time.Time `json:"recorded_at"`
}

// Change is a proposed change of subprocessors.
type Change struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Subprocessor is the id of the subprocessor that starts (add,
	// replace); empty for remove.
	Subprocessor string `json:"subprocessor,omitempty"`
	// Replaces is the id of the subprocessor that stops (replace, remove);
	// empty for add.
	Replaces string `json:"replaces,omitempty"`
	// EffectiveOn is the earliest date (YYYY-MM-DD) the change takes
	// effect; for each customer it takes effect at the later of the start
	// of that date in the customer's calendar and the end of the
	// customer's objection window.
	EffectiveOn string `json:"effective_on"`
	// Description says why, for the customers.
	Description string     `json:"description"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	CreatedBy   string     `json:"created_by"`
	WithdrawnAt *time.Time `json:"withdrawn_at,omitempty"`
}

// Notice is a change as it concerns one customer: whether and when it was
// told, its objection window, when the change takes effect for it, and its
// objection.
type Notice struct {
	TenantID string `json:"tenant_id"`
	ChangeID string `json:"change_id"`
	// WindowDays is the customer's objection window from its DPA.
	WindowDays int `json:"window_days"`
	// NotifiedAt is when the customer was told: the first delivery of the
	// notice, or the day of an out-of-band delivery. Nil until delivered.
	NotifiedAt *time.Time `json:"notified_at,omitempty"`
	// WindowEndsAt is the exclusive end of the objection window: WindowDays
	// from NotifiedAt, counted by Regulation 1182/71 in the customer's
	// calendar (its time zone). Nil until delivered.
	WindowEndsAt *time.Time `json:"window_ends_at,omitempty"`
	// EffectiveAt is when the change takes effect for the customer, unless
	// it objects: never before WindowEndsAt. Nil until delivered: an
	// undelivered notice never takes effect.
	EffectiveAt *time.Time `json:"effective_at,omitempty"`
	// Delivery says whether and how the notice reached the customer.
	Delivery        Delivery   `json:"delivery"`
	Status          string     `json:"status"`
	ObjectedAt      *time.Time `json:"objected_at,omitempty"`
	ObjectedBy      string     `json:"objected_by,omitempty"`
	ObjectionReason string     `json:"objection_reason,omitempty"`
	ResolvedAt      *time.Time `json:"resolved_at,omitempty"`
	ResolvedBy      string     `json:"resolved_by,omitempty"`
	Resolution      string     `json:"resolution,omitempty"`
	ResolutionNote  string     `json:"resolution_note,omitempty"`
	AppliedAt       *time.Time `json:"applied_at,omitempty"`
}

// Proposal is what the DPO submits to propose a change.
type Proposal struct {
	Kind         string
	Subprocessor string
	Replaces     string
	EffectiveOn  string
	Description  string
}

const changeColumns = `id, kind, coalesce(subprocessor, ''), coalesce(replaces, ''), effective_on::text, description, status,
	created_at, created_by, withdrawn_at`

func scanChange(row pgx.Row) (Change, error) {
	var c Change
	err := row.Scan(&c.ID, &c.Kind, &c.Subprocessor, &c.Replaces, &c.EffectiveOn, &c.Description, &c.Status, &c.CreatedAt, &c.CreatedBy, &c.WithdrawnAt)
	c.CreatedAt = c.CreatedAt.UTC()
	return c, err
}

// noticeColumnsOf lists a notice's columns, each prefixed with p (a table
// alias and a dot, or empty), in the order noticeFields scans them.
func noticeColumnsOf(p string) string {
	return p + `tenant_id, ` + p + `change_id, ` + p + `window_days, ` + p + `notified_at, ` + p + `window_ends_at, ` + p + `effective_at, ` + p + `status,
	` + p + `objected_at, coalesce(` + p + `objected_by, ''), coalesce(` + p + `objection_reason, ''), ` + p + `resolved_at, coalesce(` + p + `resolved_by, ''),
	coalesce(` + p + `resolution, ''), coalesce(` + p + `resolution_note, ''), ` + p + `applied_at,
	` + p + `delivery, coalesce(` + p + `delivered_via, ''), ` + p + `undelivered_since, ` + p + `channels, ` + p + `out_of_band`
}

var noticeColumns = noticeColumnsOf("")

// noticeFields returns the scan targets of noticeColumnsOf for n.
func noticeFields(n *Notice) []any {
	return []any{&n.TenantID, &n.ChangeID, &n.WindowDays, &n.NotifiedAt, &n.WindowEndsAt, &n.EffectiveAt, &n.Status,
		&n.ObjectedAt, &n.ObjectedBy, &n.ObjectionReason, &n.ResolvedAt, &n.ResolvedBy, &n.Resolution, &n.ResolutionNote, &n.AppliedAt,
		&n.Delivery.State, &n.Delivery.Via, &n.Delivery.UndeliveredSince, &n.Delivery.Channels, &n.Delivery.OutOfBand}
}

// normalize puts n's instants in UTC and gives it a non-nil channel list.
func (n *Notice) normalize() {
	for _, t := range []*time.Time{n.NotifiedAt, n.WindowEndsAt, n.EffectiveAt, n.Delivery.UndeliveredSince} {
		if t != nil {
			*t = t.UTC()
		}
	}
	if n.Delivery.Channels == nil {
		n.Delivery.Channels = []ChannelState{}
	}
}

func scanNotice(row pgx.Row) (Notice, error) {
	var n Notice
	err := row.Scan(noticeFields(&n)...)
	n.normalize()
	return n, err
}

var (
	errChangeNotFound = verwerker.Errorf(verwerker.ENOTFOUND, "subprocessor change not found")
	errNoticeNotFound = verwerker.Errorf(verwerker.ENOTFOUND, "the change does not concern this customer")
)

func (p *Proposal) check() error {
	var fields []verwerker.FieldError
	bad := func(f, msg string) { fields = append(fields, verwerker.FieldError{Field: f, Message: msg}) }
	switch p.Kind {
	case ChangeAdd:
		if p.Replaces != "" {
			bad("replaces", "must be empty when adding")
		}
	case ChangeReplace:
		if p.Replaces == "" {
			bad("replaces", "is required when replacing")
		} else if p.Replaces == p.Subprocessor {
			bad("replaces", "must differ from subprocessor")
		}
	case ChangeRemove:
		if p.Subprocessor != "" {
			bad("subprocessor", "must be empty when removing; name the one that stops in replaces")
		}
		if p.Replaces == "" {
			bad("replaces", "is required when removing")
		}
	default:
		bad("kind", "must be add, replace or remove")
	}
	if (p.Kind == ChangeAdd || p.Kind == ChangeReplace) && p.Subprocessor == "" {
		bad("subprocessor", "is required when adding or replacing")
	}
	if _, err := time.Parse(time.DateOnly, p.EffectiveOn); err != nil {
		bad("effective_on", "must be a date as YYYY-MM-DD")
	}
	p.Description = strings.TrimSpace(p.Description)
	if fe := checkText("description", p.Description, 2000, true); fe != nil {
		fields = append(fields, *fe)
	}
	if len(fields) > 0 {
		return verwerker.Invalid("the subprocessor change is not valid", fields...)
	}
	return nil
}

// affected is a customer a change concerns, with what its notice needs.
type affected struct {
	tenantID   string
	timezone   string
	windowDays int
	contacts   []string
}

// Propose records a change and announces it, in one transaction: it
// computes the affected customers (add: every customer with an active DPA
// that has a data category the new subprocessor processes; replace and
// remove: every customer the old subprocessor touches now), writes a notice
// for each, and enqueues the notices: a signed webhook when the customer
// has an endpoint and an e-mail to its DPO and breach contacts.
//
// A customer is told only when a channel delivers its notice: its
// objection window (its DPA's, default 30 days) is counted from that
// instant by Regulation 1182/71 in the customer's calendar (its time zone),
// and the change takes effect for it at the later of the start of
// EffectiveOn in that calendar and the end of its window, and not at all
// while it objects. A notice no channel can carry (no endpoint, no e-mail
// relay or contact) or that every channel fails to deliver is undelivered:
// an alarm for the DPO (Undelivered), audited, until a channel succeeds or
// the DPO records a delivery by other means (RecordDelivery). It returns
// the change and its notices, not yet delivered.
func (r *Registry) Propose(ctx context.Context, p Proposal) (Change, []Notice, error) {
	if err := p.check(); err != nil {
		return Change{}, nil, err
	}
	now := r.clock.Now().UTC()
	var c Change
	var notices []Notice
	err := r.platformTx(ctx, "propose", func(tx pgx.Tx) error {
		subs := map[string]Subprocessor{}
		for _, f := range []struct{ field, id string }{{"subprocessor", p.Subprocessor}, {"replaces", p.Replaces}} {
			if f.id == "" {
				continue
			}
			s, err := scanSubprocessor(tx.QueryRow(ctx, `SELECT `+subprocessorColumns+` FROM subprocessors WHERE id = $1`, f.id))
			if errors.Is(err, pgx.ErrNoRows) {
				return verwerker.Invalid("the subprocessor change is not valid", verwerker.FieldError{Field: f.field, Message: "is not in the subprocessor registry"})
			}
			if err != nil {
				return err
			}
			subs[f.id] = s
		}
		var err error
		c, err = scanChange(tx.QueryRow(ctx, `INSERT INTO subprocessor_changes (id, kind, subprocessor, replaces, effective_on, description, created_at, created_by)
			VALUES ($1, $2, nullif($3, ''), nullif($4, ''), $5, $6, $7, $8) RETURNING `+changeColumns,
			verwerker.NewID(PrefixChange, now), p.Kind, p.Subprocessor, p.Replaces, p.EffectiveOn, p.Description, now, audit.Actor(ctx)))
		if err != nil {
			return err
		}
		targets, err := affectedBy(ctx, tx, c, subs, now)
		if err != nil {
			return err
		}
		if err := r.record(ctx, tx, audit.PlatformChain, "subprocessor.change.propose", c.ID,
			fmt.Sprintf("kind=%s affected=%d", c.Kind, len(targets))); err != nil {
			return err
		}
		for _, t := range targets {
			channels, err := r.announce(ctx, tx, c, subs, t, now)
			if err != nil {
				return err
			}
			delivery := DeliveryUndelivered
			var since *time.Time
			for _, ch := range channels {
				if ch.State == ChannelSending {
					delivery = DeliverySending
				}
			}
			if delivery == DeliveryUndelivered {
				since = &now
			}
			n, err := scanNotice(tx.QueryRow(ctx, `INSERT INTO subprocessor_notices (tenant_id, change_id, window_days, delivery, undelivered_since, channels)
				VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+noticeColumns, t.tenantID, c.ID, t.windowDays, delivery, since, channels))
			if err != nil {
				return err
			}
			if err := r.record(ctx, tx, t.tenantID, "subprocessor.change.notify", c.ID, "window_days="+fmt.Sprint(t.windowDays)); err != nil {
				return err
			}
			if delivery == DeliveryUndelivered {
				if err := r.recordUndelivered(ctx, tx, n); err != nil {
					return err
				}
			}
			notices = append(notices, n)
		}
		return nil
	})
	if err != nil {
		return Change{}, nil, err
	}
	return c, notices, nil
}

// affectedBy lists the customers c concerns, in tenant id order: those
// whose contract runs at now (a terminating customer is still processed
// through its contract's last day) and whose data was not erased.
func affectedBy(ctx context.Context, tx pgx.Tx, c Change, subs map[string]Subprocessor, now time.Time) ([]affected, error) {
	var rows pgx.Rows
	var err error
	const base = `SELECT t.id, t.timezone, v.scope FROM tenants t JOIN dpa_versions v ON v.tenant_id = t.id AND v.status = 'active'
		WHERE (t.contract_ends_at IS NULL OR t.contract_ends_at > $2) AND t.erased_at IS NULL`
	if c.Kind == ChangeAdd {
		rows, err = tx.Query(ctx, base+` AND NOT EXISTS (SELECT 1 FROM tenant_subprocessors ts WHERE ts.tenant_id = t.id AND ts.subprocessor_id = $1)
			ORDER BY t.id`, c.Subprocessor, now)
	} else {
		rows, err = tx.Query(ctx, base+` AND EXISTS (SELECT 1 FROM tenant_subprocessors ts WHERE ts.tenant_id = t.id AND ts.subprocessor_id = $1)
			ORDER BY t.id`, c.Replaces, now)
	}
	if err != nil {
		return nil, err
	}
	var out []affected
	defer rows.Close()
	for rows.Next() {
		var id, tz string
		var raw []byte
		if err := rows.Scan(&id, &tz, &raw); err != nil {
			return nil, err
		}
		var sc Scope
		if err := json.Unmarshal(raw, &sc); err != nil {
			return nil, err
		}
		if c.Kind == ChangeAdd && !touches(sc, subs[c.Subprocessor]) {
			continue
		}
		days := sc.ObjectionWindowDays
		if days == 0 {
			days = DefaultObjectionWindowDays
		}
		var contacts []string
		for _, e := range []string{sc.DPOContact.Email, sc.BreachContact.Email} {
			if e != "" && !contains(contacts, e) {
				contacts = append(contacts, e)
			}
		}
		out = append(out, affected{tenantID: id, timezone: tz, windowDays: days, contacts: contacts})
	}
	return out, rows.Err()
}

// touches reports whether s processes a data category in scope sc.
func touches(sc Scope, s Subprocessor) bool {
	for _, c := range sc.Categories {
		if contains(s.Categories, c.ID) {
			return true
		}
	}
	return false
}

// announce enqueues the notices of change c to customer t, announced at
// now, and returns the state of each channel: sending when enqueued, not
// configured (with the cause) when the channel cannot carry it.
func (r *Registry) announce(ctx context.Context, tx pgx.Tx, c Change, subs map[string]Subprocessor, t affected, now time.Time) ([]ChannelState, error) {
	webhook := ChannelState{Channel: ChannelWebhook, State: ChannelNotConfigured, Cause: CauseNoEndpoint, UpdatedAt: now}
	email := ChannelState{Channel: ChannelEmail, State: ChannelNotConfigured, Cause: CauseSMTPNotConfigured, UpdatedAt: now}
	if r.outbox == nil {
		webhook.Cause, email.Cause = CauseNoOutbox, CauseNoOutbox
		return []ChannelState{webhook, email}, nil
	}
	type subJSON struct {
		ID                string   `json:"id"`
		Name              string   `json:"name"`
		Service           string   `json:"service"`
		Locations         []string `json:"locations"`
		TransferMechanism string   `json:"transfer_mechanism"`
		Categories        []string `json:"categories"`
	}
	view := func(id string) *subJSON {
		s, ok := subs[id]
		if !ok {
			return nil
		}
		return &subJSON{s.ID, s.Name, s.Service, s.Locations, s.TransferMechanism, s.Categories}
	}
	cal := tenant.Calendar(r.calendar, t.timezone)
	// The window runs from delivery, which is after this payload is fixed:
	// the receiver reads the exact dates from its notice.
	payload, err := json.Marshal(map[string]any{
		"change_id":     c.ID,
		"kind":          c.Kind,
		"subprocessor":  view(c.Subprocessor),
		"replaces":      view(c.Replaces),
		"description":   c.Description,
		"effective_on":  c.EffectiveOn,
		"window_days":   t.windowDays,
		"window_starts": "on_delivery", // the webhook-timestamp of the delivery
		"time_zone":     cal.Location().String(),
		"notice":        fmt.Sprintf("GET /v1/tenants/%s/subprocessors", t.tenantID),
		"objection":     fmt.Sprintf("POST /v1/tenants/%s/subprocessor-changes/%s/objection", t.tenantID, c.ID),
	})
	if err != nil {
		return nil, err
	}
	key := "subprocessor/" + c.ID + "/announce"
	var hasEndpoint bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE tenant_id = $1)`, t.tenantID).Scan(&hasEndpoint); err != nil {
		return nil, err
	}
	if hasEndpoint {
		id, err := r.outbox.Enqueue(ctx, tx, notify.Message{TenantID: t.tenantID, Kind: notify.KindWebhook,
			IdempotencyKey: key + "/" + ChannelWebhook, EventType: EventChangeAnnounced, Payload: payload})
		if err != nil {
			return nil, err
		}
		webhook = ChannelState{Channel: ChannelWebhook, State: ChannelSending, MessageID: id, UpdatedAt: now}
	}
	switch {
	case !r.outbox.Email():
	case len(t.contacts) == 0:
		email.Cause = CauseNoContact
	default:
		subject, body := announcementText(c, subs, t, cal, now)
		id, err := r.outbox.Enqueue(ctx, tx, notify.Message{TenantID: t.tenantID, Kind: notify.KindEmail,
			IdempotencyKey: key + "/" + ChannelEmail, EventType: EventChangeAnnounced, To: t.contacts, Subject: subject, Body: body})
		if err != nil {
			return nil, err
		}
		email = ChannelState{Channel: ChannelEmail, State: ChannelSending, MessageID: id, UpdatedAt: now}
	}
	return []ChannelState{webhook, email}, nil
}

// announcementText is the e-mail of an announcement to customer t, Dutch
// then English. The window runs from the delivery, which comes after the
// text is fixed: it gives the window's length and its end for a message
// received on the day it was sent, in the customer's calendar cal.
func announcementText(c Change, subs map[string]Subprocessor, t affected, cal *deadline.Calendar, now time.Time) (string, string) {
	describe := func(id string) string {
		s := subs[id]
		return fmt.Sprintf("%s (%s; %s: %s; %s)", s.Name, s.ID, s.Service, strings.Join(s.Locations, ", "), strings.Join(s.Categories, ", "))
	}
	var nl, en string
	switch c.Kind {
	case ChangeAdd:
		nl = "Wij willen een nieuwe subverwerker inschakelen: " + describe(c.Subprocessor)
		en = "We intend to engage a new subprocessor: " + describe(c.Subprocessor)
	case ChangeReplace:
		nl = "Wij willen subverwerker " + describe(c.Replaces) + " vervangen door " + describe(c.Subprocessor)
		en = "We intend to replace subprocessor " + describe(c.Replaces) + " by " + describe(c.Subprocessor)
	default:
		nl = "Wij stoppen met subverwerker " + describe(c.Replaces)
		en = "We intend to stop using subprocessor " + describe(c.Replaces)
	}
	end, eff := schedule(cal, now, t.windowDays, c.EffectiveOn)
	loc := cal.Location()
	today := now.In(loc).Format(time.DateOnly)
	last := end.In(loc).Add(-time.Second).Format(time.DateOnly)
	effective := eff.In(loc).Format("2006-01-02 15:04 MST")
	subject := fmt.Sprintf("Wijziging subverwerkers / Change of subprocessors (%s)", c.ID)
	body := fmt.Sprintf(`%s.

Toelichting: %s

U kunt binnen %d dagen na ontvangst van dit bericht bezwaar maken (AVG art. 28 lid 2),
via de API:
POST /v1/tenants/%s/subprocessor-changes/%s/objection
Ontvangt u dit bericht op %s, dan kunt u tot en met %s bezwaar maken (tijdzone %s);
de termijn en de ingangsdatum voor u staan in GET /v1/tenants/%s/subprocessors.
Zonder bezwaar gaat de wijziging voor u in na afloop van de termijn, op zijn vroegst
%s. Na een bezwaar gaat zij niet in en verwerken wij uw gegevens niet via deze
subverwerker totdat het bezwaar is afgehandeld.

---

%s.

Reason: %s

You may object within %d days of receiving this message (GDPR Art. 28(2)), through
the API:
POST /v1/tenants/%s/subprocessor-changes/%s/objection
If you receive it on %s, you may object until and including %s (time zone %s);
your window and the date the change takes effect for you are in
GET /v1/tenants/%s/subprocessors.
Without an objection the change takes effect for you when the window has ended, at
the earliest at %s. After an objection it does not, and we do not process your data
through this subprocessor until it is resolved.
`, nl, c.Description, t.windowDays, t.tenantID, c.ID, today, last, loc, t.tenantID, effective,
		en, c.Description, t.windowDays, t.tenantID, c.ID, today, last, loc, t.tenantID, effective)
	return subject, body
}

// schedule returns the end of the objection window of a customer told at
// the instant told, days long and counted by Regulation 1182/71 in the
// customer's calendar cal, and when the change takes effect for it: the
// later of that end and the start of effectiveOn (YYYY-MM-DD) in cal.
func schedule(cal *deadline.Calendar, told time.Time, days int, effectiveOn string) (end, effective time.Time) {
	end = cal.Deadline(told, deadline.Days(days)).Due.UTC()
	effective = end
	if d, err := deadline.ParseDate(effectiveOn); err == nil {
		if from := d.In(cal.Location()); from.After(effective) {
			effective = from.UTC()
		}
	}
	return end, effective
}

// Changes lists the changes, newest first.
func (r *Registry) Changes(ctx context.Context) ([]Change, error) {
	var out []Change
	err := r.platformTx(ctx, "changes", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+changeColumns+` FROM subprocessor_changes ORDER BY id DESC`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Change, error) { return scanChange(row) })
		return err
	})
	return out, err
}

// Change returns a change with every customer's notice: the DPO's view of
// who was told, who objected and why, and where each stands.
func (r *Registry) Change(ctx context.Context, id string) (Change, []Notice, error) {
	var c Change
	var notices []Notice
	err := r.platformTx(ctx, "change", func(tx pgx.Tx) error {
		var err error
		c, err = scanChange(tx.QueryRow(ctx, `SELECT `+changeColumns+` FROM subprocessor_changes WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return errChangeNotFound
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+noticeColumns+` FROM subprocessor_notices WHERE change_id = $1 ORDER BY tenant_id`, id)
		if err != nil {
			return err
		}
		notices, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notice, error) { return scanNotice(row) })
		return err
	})
	return c, notices, err
}

// Objections lists the open objections of every customer, oldest first:
// what the DPO must resolve.
func (r *Registry) Objections(ctx context.Context) ([]Notice, error) {
	var out []Notice
	err := r.platformTx(ctx, "objections", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+noticeColumns+` FROM subprocessor_notices WHERE status = 'objected' ORDER BY objected_at, tenant_id`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notice, error) { return scanNotice(row) })
		return err
	})
	return out, err
}

// tenantTx runs fn in tenantID's scope.
func (r *Registry) tenantTx(ctx context.Context, op, tenantID string, fn func(tx pgx.Tx) error) error {
	if !verwerker.ValidID(verwerker.PrefixTenant, tenantID) {
		return errNoticeNotFound
	}
	return verwerker.Wrap("subprocessors: "+op, r.db.InTenantTx(ctx, tenantID, fn))
}

func lockNotice(ctx context.Context, tx pgx.Tx, tenantID, changeID string) (Notice, error) {
	n, err := scanNotice(tx.QueryRow(ctx, `SELECT `+noticeColumns+` FROM subprocessor_notices
		WHERE tenant_id = $1 AND change_id = $2 FOR UPDATE`, tenantID, changeID))
	if errors.Is(err, pgx.ErrNoRows) {
		return n, errNoticeNotFound
	}
	return n, err
}

// Object records the customer's objection to a change, with its reason,
// while the window is open. From then on the change is held for the
// customer and the subprocessor it brings in is blocked for the customer's
// data (Blocks) until the DPO resolves the objection. The reason is the
// controller's text: shown to the DPO, never put in audit events or logs.
func (r *Registry) Object(ctx context.Context, tenantID, changeID, reason string) (Notice, error) {
	reason = strings.TrimSpace(reason)
	if fe := checkText("reason", reason, 4000, true); fe != nil {
		return Notice{}, verwerker.Invalid("the objection is not valid", *fe)
	}
	now := r.clock.Now().UTC()
	var n Notice
	err := r.tenantTx(ctx, "object", tenantID, func(tx pgx.Tx) error {
		cur, err := lockNotice(ctx, tx, tenantID, changeID)
		if err != nil {
			return err
		}
		switch {
		case cur.Status == NoticeObjected:
			return verwerker.Errorf(verwerker.ECONFLICT, "the customer has already objected to this change")
		case cur.Status != NoticePending:
			return verwerker.Errorf(verwerker.ECONFLICT, "the change is %s for this customer; there is nothing to object to", cur.Status)
		case cur.WindowEndsAt != nil && !now.Before(*cur.WindowEndsAt):
			// A customer not yet told may object already: its window has
			// not started.
			return verwerker.Errorf(verwerker.ECONFLICT, "the objection window ended")
		}
		n, err = scanNotice(tx.QueryRow(ctx, `UPDATE subprocessor_notices SET status = 'objected', objected_at = $3, objected_by = $4, objection_reason = $5
			WHERE tenant_id = $1 AND change_id = $2 RETURNING `+noticeColumns, tenantID, changeID, now, audit.Actor(ctx), reason))
		if err != nil {
			return err
		}
		if _, err := store.TouchDecisionState(ctx, tx, tenantID); err != nil {
			return err
		}
		return r.record(ctx, tx, tenantID, "subprocessor.change.object", changeID, "")
	})
	return n, err
}

// Resolve closes a customer's open objection (the DPO's decision after
// talking to the customer). ResolutionObjectionWithdrawn puts the change
// back on course for the customer: it takes effect at its effective time,
// or at once if that has passed. ResolutionChangeNotApplied leaves the
// customer's list as it was. Either lifts the block.
func (r *Registry) Resolve(ctx context.Context, tenantID, changeID, resolution, note string) (Notice, error) {
	note = strings.TrimSpace(note)
	var fields []verwerker.FieldError
	if resolution != ResolutionObjectionWithdrawn && resolution != ResolutionChangeNotApplied {
		fields = append(fields, verwerker.FieldError{Field: "resolution", Message: "must be objection_withdrawn or change_not_applied"})
	}
	if fe := checkText("note", note, 4000, false); fe != nil {
		fields = append(fields, *fe)
	}
	if len(fields) > 0 {
		return Notice{}, verwerker.Invalid("the resolution is not valid", fields...)
	}
	now := r.clock.Now().UTC()
	var n Notice
	err := r.tenantTx(ctx, "resolve", tenantID, func(tx pgx.Tx) error {
		cur, err := lockNotice(ctx, tx, tenantID, changeID)
		if err != nil {
			return err
		}
		if cur.Status != NoticeObjected {
			return verwerker.Errorf(verwerker.ECONFLICT, "the customer has no open objection to this change")
		}
		status := NoticePending
		if resolution == ResolutionChangeNotApplied {
			status = NoticeNotApplied
		}
		n, err = scanNotice(tx.QueryRow(ctx, `UPDATE subprocessor_notices SET status = $3, resolved_at = $4, resolved_by = $5,
				resolution = $6, resolution_note = nullif($7, '')
			WHERE tenant_id = $1 AND change_id = $2 RETURNING `+noticeColumns, tenantID, changeID, status, now, audit.Actor(ctx), resolution, note))
		if err != nil {
			return err
		}
		if _, err := store.TouchDecisionState(ctx, tx, tenantID); err != nil {
			return err
		}
		return r.record(ctx, tx, tenantID, "subprocessor.change.resolve", changeID, "resolution="+resolution)
	})
	if err == nil && n.Status == NoticePending {
		_, err = r.ApplyDue(ctx)
		if err == nil {
			n, err = r.Notice(ctx, tenantID, changeID)
		}
	}
	return n, err
}

// Notice returns the customer's notice of a change.
func (r *Registry) Notice(ctx context.Context, tenantID, changeID string) (Notice, error) {
	var n Notice
	err := r.tenantTx(ctx, "notice", tenantID, func(tx pgx.Tx) error {
		var err error
		n, err = scanNotice(tx.QueryRow(ctx, `SELECT `+noticeColumns+` FROM subprocessor_notices WHERE tenant_id = $1 AND change_id = $2`, tenantID, changeID))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoticeNotFound
		}
		return err
	})
	return n, err
}

// Withdraw withdraws a change for every customer it has not yet taken
// effect for; it lifts their blocks and tells them.
func (r *Registry) Withdraw(ctx context.Context, changeID string) (Change, error) {
	now := r.clock.Now().UTC()
	var c Change
	err := r.platformTx(ctx, "withdraw", func(tx pgx.Tx) error {
		var err error
		c, err = scanChange(tx.QueryRow(ctx, `UPDATE subprocessor_changes SET status = 'withdrawn', withdrawn_at = $2
			WHERE id = $1 AND status = 'announced' RETURNING `+changeColumns, changeID, now))
		if errors.Is(err, pgx.ErrNoRows) {
			if _, err := scanChange(tx.QueryRow(ctx, `SELECT `+changeColumns+` FROM subprocessor_changes WHERE id = $1`, changeID)); errors.Is(err, pgx.ErrNoRows) {
				return errChangeNotFound
			}
			return verwerker.Errorf(verwerker.ECONFLICT, "the change was already withdrawn")
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE subprocessor_notices SET status = 'withdrawn'
			WHERE change_id = $1 AND status IN ('pending', 'objected') RETURNING tenant_id`, changeID)
		if err != nil {
			return err
		}
		tenants, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if err := r.record(ctx, tx, audit.PlatformChain, "subprocessor.change.withdraw", changeID, fmt.Sprintf("customers=%d", len(tenants))); err != nil {
			return err
		}
		for _, t := range tenants {
			if _, err := store.TouchDecisionState(ctx, tx, t); err != nil {
				return err
			}
			if err := r.record(ctx, tx, t, "subprocessor.change.withdraw", changeID, ""); err != nil {
				return err
			}
			if err := r.announceWithdrawal(ctx, tx, c, t); err != nil {
				return err
			}
		}
		return nil
	})
	return c, err
}

func (r *Registry) announceWithdrawal(ctx context.Context, tx pgx.Tx, c Change, tenantID string) error {
	if r.outbox == nil {
		return nil
	}
	var hasEndpoint bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE tenant_id = $1)`, tenantID).Scan(&hasEndpoint); err != nil {
		return err
	}
	if !hasEndpoint {
		return nil
	}
	payload, _ := json.Marshal(map[string]string{"change_id": c.ID})
	_, err := r.outbox.Enqueue(ctx, tx, notify.Message{TenantID: tenantID, Kind: notify.KindWebhook,
		IdempotencyKey: "subprocessor/" + c.ID + "/withdraw/webhook", EventType: EventChangeWithdrawn, Payload: payload})
	return err
}

// ApplyDue applies every pending notice whose effective time has come: the
// change takes effect for that customer (its effective list gains or loses
// the subprocessor). It is idempotent and safe to run on every replica at
// once; it returns how many notices it applied. A periodic job calls it.
func (r *Registry) ApplyDue(ctx context.Context) (int, error) {
	now := r.clock.Now().UTC()
	applied := 0
	err := r.platformTx(ctx, "apply", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT n.tenant_id, c.id, c.kind, coalesce(c.subprocessor, ''), coalesce(c.replaces, '')
			FROM subprocessor_notices n JOIN subprocessor_changes c ON c.id = n.change_id
			WHERE n.status = 'pending' AND n.delivery = 'delivered' AND n.effective_at <= $1 AND c.status = 'announced'
			ORDER BY n.effective_at, n.tenant_id FOR UPDATE OF n SKIP LOCKED`, now)
		if err != nil {
			return err
		}
		type due struct{ tenant, change, kind, sub, replaces string }
		var list []due
		for rows.Next() {
			var d due
			if err := rows.Scan(&d.tenant, &d.change, &d.kind, &d.sub, &d.replaces); err != nil {
				rows.Close()
				return err
			}
			list = append(list, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, d := range list {
			if d.replaces != "" {
				if _, err := tx.Exec(ctx, `DELETE FROM tenant_subprocessors WHERE tenant_id = $1 AND subprocessor_id = $2`, d.tenant, d.replaces); err != nil {
					return err
				}
			}
			if d.sub != "" {
				if _, err := tx.Exec(ctx, `INSERT INTO tenant_subprocessors (tenant_id, subprocessor_id, since, source) VALUES ($1, $2, $3, $4)
					ON CONFLICT (tenant_id, subprocessor_id) DO NOTHING`, d.tenant, d.sub, now, d.change); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE subprocessor_notices SET status = 'effective', applied_at = $3 WHERE tenant_id = $1 AND change_id = $2`,
				d.tenant, d.change, now); err != nil {
				return err
			}
			if _, err := store.TouchDecisionState(ctx, tx, d.tenant); err != nil {
				return err
			}
			if err := r.record(ctx, tx, d.tenant, "subprocessor.change.apply", d.change, "kind="+d.kind); err != nil {
				return err
			}
			applied++
		}
		return nil
	})
	return applied, err
}

// Listing is a customer's view of its subprocessors: who touches its data
// now, what is announced and where each announcement stands, and what is
// blocked.
type Listing struct {
	TenantID string `json:"tenant_id"`
	// Current are the subprocessors that touch the customer's data now.
	Current []Current `json:"current"`
	// Changes are the announced changes that concern the customer, newest
	// first, with their notice.
	Changes []TenantChange `json:"changes"`
	// Blocks are the open objections that block processing.
	Blocks []Block `json:"blocks"`
}

// Current is a subprocessor on a customer's effective list.
type Current struct {
	Subprocessor
	Since time.Time `json:"since"`
}

// TenantChange is a change with the customer's notice of it.
type TenantChange struct {
	Change Change `json:"change"`
	Notice Notice `json:"notice"`
	// Subprocessor and Replaces describe the subprocessors involved.
	NewSubprocessor *Subprocessor `json:"new_subprocessor,omitempty"`
	OldSubprocessor *Subprocessor `json:"old_subprocessor,omitempty"`
}

// ForTenant returns the customer's listing. It is what the customer's
// privacy lead reads, what the public page shows and what the feed is made
// of (seed 000 art. 10.2).
func (r *Registry) ForTenant(ctx context.Context, tenantID string) (Listing, error) {
	l := Listing{TenantID: tenantID, Current: []Current{}, Changes: []TenantChange{}, Blocks: []Block{}}
	err := r.tenantTx(ctx, "listing", tenantID, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)`, tenantID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return verwerker.Errorf(verwerker.ENOTFOUND, "tenant not found")
		}
		all := map[string]Subprocessor{}
		rows, err := tx.Query(ctx, `SELECT `+subprocessorColumns+` FROM subprocessors`)
		if err != nil {
			return err
		}
		subs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Subprocessor, error) { return scanSubprocessor(row) })
		if err != nil {
			return err
		}
		for _, s := range subs {
			all[s.ID] = s
		}
		rows, err = tx.Query(ctx, `SELECT subprocessor_id, since FROM tenant_subprocessors WHERE tenant_id = $1 ORDER BY subprocessor_id`, tenantID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var since time.Time
			if err := rows.Scan(&id, &since); err != nil {
				rows.Close()
				return err
			}
			l.Current = append(l.Current, Current{Subprocessor: all[id], Since: since.UTC()})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// One query for the notices and their changes.
		rows, err = tx.Query(ctx, `SELECT `+noticeColumnsOf("n.")+`,
				c.id, c.kind, coalesce(c.subprocessor, ''), coalesce(c.replaces, ''), c.effective_on::text, c.description, c.status,
				c.created_at, c.created_by, c.withdrawn_at
			FROM subprocessor_notices n JOIN subprocessor_changes c ON c.id = n.change_id
			WHERE n.tenant_id = $1 ORDER BY c.created_at DESC, n.change_id DESC`, tenantID)
		if err != nil {
			return err
		}
		pairs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TenantChange, error) {
			var tc TenantChange
			n, c := &tc.Notice, &tc.Change
			err := row.Scan(append(noticeFields(n), &c.ID, &c.Kind, &c.Subprocessor, &c.Replaces, &c.EffectiveOn, &c.Description, &c.Status,
				&c.CreatedAt, &c.CreatedBy, &c.WithdrawnAt)...)
			n.normalize()
			c.CreatedAt = c.CreatedAt.UTC()
			return tc, err
		})
		if err != nil {
			return err
		}
		for _, tc := range pairs {
			c := tc.Change
			if s, ok := all[c.Subprocessor]; ok {
				tc.NewSubprocessor = &s
			}
			if s, ok := all[c.Replaces]; ok {
				tc.OldSubprocessor = &s
			}
			l.Changes = append(l.Changes, tc)
		}
		l.Blocks, err = Blocks(ctx, tx, tenantID)
		if l.Blocks == nil {
			l.Blocks = []Block{}
		}
		return err
	})
	sort.SliceStable(l.Current, func(i, j int) bool { return l.Current[i].ID < l.Current[j].ID })
	return l, err
}

// Blocks returns the customer's open blocks (see the package function
// Blocks), for the customer and the DPO.
func (r *Registry) Blocks(ctx context.Context, tenantID string) ([]Block, error) {
	out := []Block{}
	err := r.tenantTx(ctx, "blocks", tenantID, func(tx pgx.Tx) error {
		b, err := Blocks(ctx, tx, tenantID)
		if b != nil {
			out = b
		}
		return err
	})
	return out, err
}

// syncEffective sets the customer's effective list to the subprocessors
// authorised by the DPA version being activated (version id source),
// keeping the "since" of those already on it. Every id must be in the
// registry.
func syncEffective(ctx context.Context, tx pgx.Tx, tenantID, source string, ids []string, now time.Time) error {
	if ids == nil {
		ids = []string{}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM tenant_subprocessors WHERE tenant_id = $1 AND NOT (subprocessor_id = ANY($2))`, tenantID, ids); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO tenant_subprocessors (tenant_id, subprocessor_id, since, source)
		SELECT $1, id, $3, $4 FROM unnest($2::text[]) AS id ON CONFLICT (tenant_id, subprocessor_id) DO NOTHING`, tenantID, ids, now, source)
	return err
}

// checkRegistered reports, as field errors, the ids of sc.Subprocessors
// that are not in the registry.
func checkRegistered(ctx context.Context, tx pgx.Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT id FROM subprocessors WHERE id = ANY($1)`, ids)
	if err != nil {
		return err
	}
	known, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	var fields []verwerker.FieldError
	for i, id := range ids {
		if !contains(known, id) {
			fields = append(fields, verwerker.FieldError{Field: fmt.Sprintf("subprocessors[%d]", i), Message: "is not in the subprocessor registry"})
		}
	}
	if len(fields) > 0 {
		return verwerker.Invalid("the processing agreement's scope is not valid", fields...)
	}
	return nil
}

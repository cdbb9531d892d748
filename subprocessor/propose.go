package subprocessor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/tenant"
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
		subs := map[string]Entry{}
		for _, f := range []struct{ field, id string }{{"subprocessor", p.Subprocessor}, {"replaces", p.Replaces}} {
			if f.id == "" {
				continue
			}
			s, err := scanEntry(tx.QueryRow(ctx, `SELECT `+entryColumns+` FROM subprocessors WHERE id = $1`, f.id))
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
		if err := r.audit.Record(ctx, tx, audit.PlatformChain, "subprocessor.change.propose", c.ID,
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
			if err := r.audit.Record(ctx, tx, t.tenantID, "subprocessor.change.notify", c.ID, "window_days="+fmt.Sprint(t.windowDays)); err != nil {
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
func affectedBy(ctx context.Context, tx pgx.Tx, c Change, subs map[string]Entry, now time.Time) ([]affected, error) {
	running, err := tenant.Running(ctx, tx, now)
	if err != nil {
		return nil, err
	}
	scopes, err := dpa.ActiveScopes(ctx, tx)
	if err != nil {
		return nil, err
	}
	// add concerns the customers the subprocessor does not touch yet;
	// replace and remove those it touches now.
	id := c.Replaces
	if c.Kind == ChangeAdd {
		id = c.Subprocessor
	}
	rows, err := tx.Query(ctx, `SELECT tenant_id FROM tenant_subprocessors WHERE subprocessor_id = $1`, id)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	touched := map[string]bool{}
	for _, t := range list {
		touched[t] = true
	}
	var out []affected
	for _, t := range running {
		sc, ok := scopes[t.ID]
		if !ok || touched[t.ID] == (c.Kind == ChangeAdd) {
			continue
		}
		if c.Kind == ChangeAdd && !touches(sc, subs[c.Subprocessor]) {
			continue
		}
		days := sc.ObjectionWindowDays
		if days == 0 {
			days = dpa.DefaultObjectionWindowDays
		}
		var contacts []string
		for _, e := range []string{sc.DPOContact.Email, sc.BreachContact.Email} {
			if e != "" && !slices.Contains(contacts, e) {
				contacts = append(contacts, e)
			}
		}
		out = append(out, affected{tenantID: t.ID, timezone: t.Timezone, windowDays: days, contacts: contacts})
	}
	return out, nil
}

// touches reports whether s processes a data category in scope sc.
func touches(sc dpa.Scope, s Entry) bool {
	for _, c := range sc.Categories {
		if slices.Contains(s.Categories, c.ID) {
			return true
		}
	}
	return false
}

// announce enqueues the notices of change c to customer t, announced at
// now, and returns the state of each channel: sending when enqueued, not
// configured (with the cause) when the channel cannot carry it.
func (r *Registry) announce(ctx context.Context, tx pgx.Tx, c Change, subs map[string]Entry, t affected, now time.Time) ([]ChannelState, error) {
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
	hasEndpoint, err := notify.HasEndpoint(ctx, tx, t.tenantID)
	if err != nil {
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
func announcementText(c Change, subs map[string]Entry, t affected, cal *deadline.Calendar, now time.Time) (string, string) {
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
		if err := r.audit.Record(ctx, tx, audit.PlatformChain, "subprocessor.change.withdraw", changeID, fmt.Sprintf("customers=%d", len(tenants))); err != nil {
			return err
		}
		for _, t := range tenants {
			if _, err := store.TouchDecisionState(ctx, tx, t); err != nil {
				return err
			}
			if err := r.audit.Record(ctx, tx, t, "subprocessor.change.withdraw", changeID, ""); err != nil {
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
	hasEndpoint, err := notify.HasEndpoint(ctx, tx, tenantID)
	if err != nil {
		return err
	}
	if !hasEndpoint {
		return nil
	}
	payload, _ := json.Marshal(map[string]string{"change_id": c.ID})
	_, err = r.outbox.Enqueue(ctx, tx, notify.Message{TenantID: tenantID, Kind: notify.KindWebhook,
		IdempotencyKey: "subprocessor/" + c.ID + "/withdraw/webhook", EventType: EventChangeWithdrawn, Payload: payload})
	return err
}

package subprocessor

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/tenant"
)

// recordUndelivered appends the alarm's audit event: the notice reached
// nobody, and why per channel.
func (r *Registry) recordUndelivered(ctx context.Context, tx pgx.Tx, n Notice) error {
	return r.audit.RecordOutcome(ctx, tx, n.TenantID, "subprocessor.notice.undelivered", n.ChangeID, audit.Failure, notify.Causes(n.Delivery.Channels))
}

// announceKey parses the idempotency key of an announcement,
// "subprocessor/<change id>/announce/<channel>".
func announceKey(key string) (changeID, channel string, ok bool) {
	parts := strings.Split(key, "/")
	if len(parts) != 4 || parts[0] != "subprocessor" || parts[2] != "announce" || (parts[3] != ChannelWebhook && parts[3] != ChannelEmail) {
		return "", "", false
	}
	return parts[1], parts[3], true
}

// lockForDelivery locks a customer's notice with what its schedule needs:
// the customer's time zone and the change's effective date and creation.
func (r *Registry) lockForDelivery(ctx context.Context, tx pgx.Tx, tenantID, changeID string) (n Notice, timezone, effectiveOn string, created time.Time, err error) {
	err = tx.QueryRow(ctx, `SELECT `+noticeColumnsOf("n.")+`, c.effective_on::text, c.created_at
		FROM subprocessor_notices n JOIN subprocessor_changes c ON c.id = n.change_id
		WHERE n.tenant_id = $1 AND n.change_id = $2 FOR UPDATE OF n`, tenantID, changeID).
		Scan(append(noticeFields(&n), &effectiveOn, &created)...)
	n.normalize()
	if errors.Is(err, pgx.ErrNoRows) {
		return n, "", "", time.Time{}, errNoticeNotFound
	}
	if err != nil {
		return n, "", "", time.Time{}, err
	}
	t, err := tenant.Read(ctx, tx, tenantID, r.clock.Now(), false)
	return n, t.Timezone, effectiveOn, created.UTC(), err
}

// observe is the outbox's observer of announcements: it keeps the channel
// states of the notice, starts the customer's objection window at the
// first delivery, and raises the alarm when no channel is left trying.
func (r *Registry) observe(ctx context.Context, tx pgx.Tx, o notify.Outcome) error {
	changeID, channel, ok := announceKey(o.IdempotencyKey)
	if !ok {
		return nil
	}
	n, tz, effectiveOn, _, err := r.lockForDelivery(ctx, tx, o.TenantID, changeID)
	if errors.Is(err, errNoticeNotFound) {
		return nil // not a notice of this registry's
	}
	if err != nil {
		return err
	}
	var undelivered bool
	n.Delivery.Channels, _, undelivered = notify.Advance(n.Delivery.Channels, channel, o)
	switch {
	case o.Delivered && n.Delivery.State != DeliveryDelivered:
		// The customer is told now: its window starts at this instant.
		told := o.At.UTC()
		end, eff := schedule(tenant.Calendar(r.calendar, tz), told, n.WindowDays, effectiveOn)
		if _, err := tx.Exec(ctx, `UPDATE subprocessor_notices SET delivery = 'delivered', delivered_via = $3, undelivered_since = NULL,
				notified_at = $4, window_ends_at = $5, effective_at = $6, channels = $7
			WHERE tenant_id = $1 AND change_id = $2`, n.TenantID, n.ChangeID, channel, told, end, eff, n.Delivery.Channels); err != nil {
			return err
		}
		return r.audit.RecordOutcome(ctx, tx, n.TenantID, "subprocessor.notice.delivered", n.ChangeID, audit.Success,
			"via="+channel+" window_ends_at="+end.Format(time.RFC3339))
	case undelivered && n.Delivery.State == DeliverySending:
		// Nothing delivered and nothing left on its first attempt.
		n.Delivery.State = DeliveryUndelivered
		at := o.At.UTC()
		n.Delivery.UndeliveredSince = &at
		if _, err := tx.Exec(ctx, `UPDATE subprocessor_notices SET delivery = 'undelivered', undelivered_since = $3, channels = $4
			WHERE tenant_id = $1 AND change_id = $2`, n.TenantID, n.ChangeID, at, n.Delivery.Channels); err != nil {
			return err
		}
		return r.recordUndelivered(ctx, tx, n)
	}
	_, err = tx.Exec(ctx, `UPDATE subprocessor_notices SET channels = $3 WHERE tenant_id = $1 AND change_id = $2`,
		n.TenantID, n.ChangeID, n.Delivery.Channels)
	return err
}

// OutOfBandDelivery is the DPO's record that a customer received a notice
// by other means than verwerker's channels.
type OutOfBandDelivery struct {
	// Channel is one of OutOfBandChannels.
	Channel string
	// DeliveredOn is the day the customer received it, YYYY-MM-DD in the
	// customer's calendar: not in the future, not before the change was
	// proposed.
	DeliveredOn string
	// Reference is an optional reference, such as a tracking number (at
	// most 200 characters). It is never put in audit events.
	Reference string
}

// RecordDelivery records that the customer received the notice of a change
// by other means (a registered letter, say) on a given day, when no
// channel delivered it. The customer's objection window starts on that day
// (the day itself does not count, Regulation 1182/71) in its calendar, and
// the change takes effect for it no earlier than the window's end; if that
// has passed, at once. A notice already delivered, or of a change that no
// longer concerns the customer, is an ECONFLICT. It is audited in the
// customer's chain.
func (r *Registry) RecordDelivery(ctx context.Context, tenantID, changeID string, d OutOfBandDelivery) (Notice, error) {
	d.Reference = strings.TrimSpace(d.Reference)
	var fields []verwerker.FieldError
	if !slices.Contains(OutOfBandChannels, d.Channel) {
		fields = append(fields, verwerker.FieldError{Field: "channel", Message: "must be one of " + strings.Join(OutOfBandChannels, ", ")})
	}
	day, err := deadline.ParseDate(d.DeliveredOn)
	if err != nil {
		fields = append(fields, verwerker.FieldError{Field: "delivered_on", Message: "must be a date as YYYY-MM-DD"})
	}
	if fe := checkText("reference", d.Reference, 200, false); fe != nil {
		fields = append(fields, *fe)
	}
	if len(fields) > 0 {
		return Notice{}, verwerker.Invalid("the delivery is not valid", fields...)
	}
	now := r.clock.Now().UTC()
	var n Notice
	err = r.tenantTx(ctx, "record delivery", tenantID, func(tx pgx.Tx) error {
		cur, tz, effectiveOn, created, err := r.lockForDelivery(ctx, tx, tenantID, changeID)
		if err != nil {
			return err
		}
		switch {
		case cur.Status != NoticePending && cur.Status != NoticeObjected:
			return verwerker.Errorf(verwerker.ECONFLICT, "the change is %s for this customer; there is nothing to deliver", cur.Status)
		case cur.Delivery.State == DeliveryDelivered:
			return verwerker.Errorf(verwerker.ECONFLICT, "the notice was already delivered (via %s)", cur.Delivery.Via)
		}
		cal := tenant.Calendar(r.calendar, tz)
		loc := cal.Location()
		switch {
		case day.After(deadline.DateOf(now.In(loc))):
			return verwerker.Invalid("the delivery is not valid", verwerker.FieldError{Field: "delivered_on", Message: "must not be in the future (the customer's calendar)"})
		case day.Before(deadline.DateOf(created.In(loc))):
			return verwerker.Invalid("the delivery is not valid", verwerker.FieldError{Field: "delivered_on", Message: "must not be before the change was proposed"})
		}
		told := day.In(loc).UTC()
		if told.Before(created) {
			told = created // the same day, never before the change existed
		}
		end, eff := schedule(cal, told, cur.WindowDays, effectiveOn)
		oob := OutOfBand{Channel: d.Channel, DeliveredOn: day.String(), Reference: d.Reference, RecordedBy: audit.Actor(ctx), RecordedAt: now}
		n, err = scanNotice(tx.QueryRow(ctx, `UPDATE subprocessor_notices SET delivery = 'delivered', delivered_via = 'out_of_band', undelivered_since = NULL,
				notified_at = $3, window_ends_at = $4, effective_at = $5, out_of_band = $6
			WHERE tenant_id = $1 AND change_id = $2 RETURNING `+noticeColumns, tenantID, changeID, told, end, eff, oob))
		if err != nil {
			return err
		}
		return r.audit.Record(ctx, tx, tenantID, "subprocessor.notice.out_of_band", changeID,
			"channel="+d.Channel+" delivered_on="+day.String()+" window_ends_at="+end.Format(time.RFC3339))
	})
	if err != nil {
		return Notice{}, err
	}
	if n.EffectiveAt != nil && !now.Before(*n.EffectiveAt) && n.Status == NoticePending {
		if _, err := r.ApplyDue(ctx); err != nil {
			return Notice{}, err
		}
		return r.Notice(ctx, tenantID, changeID)
	}
	return n, nil
}

// Undelivered lists the notices no channel delivered, of changes that are
// still to take effect for the customer (pending or held by an objection),
// oldest alarm first: what the DPO must follow up, by fixing a channel or
// recording a delivery by other means (RecordDelivery).
func (r *Registry) Undelivered(ctx context.Context) ([]Notice, error) {
	out := []Notice{}
	err := r.platformTx(ctx, "undelivered", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+noticeColumns+` FROM subprocessor_notices
			WHERE delivery = 'undelivered' AND status IN ('pending', 'objected') ORDER BY undelivered_since, tenant_id, change_id`)
		if err != nil {
			return err
		}
		list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notice, error) { return scanNotice(row) })
		if list != nil {
			out = list
		}
		return err
	})
	return out, err
}

// undeliveredCount counts what Undelivered lists.
func (r *Registry) undeliveredCount(ctx context.Context) (int, error) {
	var n int
	err := r.platformTx(ctx, "undelivered", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM subprocessor_notices WHERE delivery = 'undelivered' AND status IN ('pending', 'objected')`).Scan(&n)
	})
	return n, err
}

// Metrics returns the registry's Prometheus collector: the gauge
// verwerker_notices_undelivered, the number of subprocessor-change notices
// no channel delivered (Undelivered), counted in the database at every
// scrape. It has no labels: which customers is for the API.
func (r *Registry) Metrics() prometheus.Collector {
	return &undeliveredCollector{r: r, desc: prometheus.NewDesc("verwerker_notices_undelivered",
		"Subprocessor change notices that no channel delivered (no channel configured or every channel failing) and that still concern the customer: their objection windows have not started. Listed in GET /v1/alarms.",
		nil, nil)}
}

type undeliveredCollector struct {
	r    *Registry
	desc *prometheus.Desc
}

func (c *undeliveredCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *undeliveredCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.r.undeliveredCount(ctx)
	if err != nil {
		return // no sample rather than a wrong one; the scrape goes on
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n))
}

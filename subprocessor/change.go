package subprocessor

import (
	"github.com/verwerker/verwerker/notify"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
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

// States of one channel of a notice (notify's, shared with breach notices).
const (
	ChannelNotConfigured = notify.ChannelNotConfigured // the channel cannot carry it; Cause says why
	ChannelSending       = notify.ChannelSending       // enqueued, not yet attempted
	ChannelFailing       = notify.ChannelFailing       // the last attempt failed; retries continue
	ChannelFailed        = notify.ChannelFailed        // attempts exhausted (a dead letter)
	ChannelDelivered     = notify.ChannelDelivered     // the receiver accepted it
)

// Causes of a channel that is not configured (a failing channel's cause is
// the outbox's error code, such as "http_500" or "smtp_550").
const (
	CauseNoEndpoint        = notify.CauseNoEndpoint        // the customer has no webhook endpoint
	CauseSMTPNotConfigured = notify.CauseSMTPNotConfigured // no e-mail relay (SMTP_URL)
	CauseNoContact         = notify.CauseNoContact         // the agreement names no DPO or breach contact
	CauseNoOutbox          = notify.CauseNoOutbox          // notices are disabled (a registry without outbox)
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

// ChannelState is where one channel of a notice stands (notify's). It
// holds codes and ids only, never addresses.
type ChannelState = notify.ChannelState

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

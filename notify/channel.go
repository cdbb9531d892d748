package notify

import (
	"slices"
	"strings"
	"time"
)

// States of one channel of a notice that a domain package tracks (a
// subprocessor change, a breach notice): a notice counts as delivered only
// when one of its channels delivered it.
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
	CauseNoContact         = "no_contact"          // the agreement names no contact to write to
	CauseNoOutbox          = "no_outbox"           // notices are disabled (no outbox)
)

// ChannelState is where one channel of a notice stands. It holds codes and
// ids only, never addresses.
type ChannelState struct {
	// Channel is "webhook" or "email".
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

// Advance applies the outcome o of an attempt on channel to channels and
// returns the new states, and whether the notice is now delivered (o
// delivered it) or undelivered: nothing delivered it and no channel is
// still making its first attempt.
func Advance(channels []ChannelState, channel string, o Outcome) (out []ChannelState, delivered, undelivered bool) {
	st := ChannelState{Channel: channel, State: ChannelFailing, Cause: o.ErrorCode, MessageID: o.MessageID, Attempts: o.Attempt, UpdatedAt: o.At.UTC()}
	switch {
	case o.Delivered:
		st.State = ChannelDelivered
	case o.Dead:
		st.State = ChannelFailed
	}
	out = slices.Clone(channels)
	if i := slices.IndexFunc(out, func(c ChannelState) bool { return c.Channel == channel }); i < 0 {
		out = append(out, st)
	} else {
		out[i] = st
	}
	undelivered = !o.Delivered && !slices.ContainsFunc(out, func(c ChannelState) bool {
		return c.State == ChannelSending || c.State == ChannelDelivered
	})
	return out, o.Delivered, undelivered
}

// Causes sums up channels for audit events and alarms:
// "webhook=http_500 email=smtp_not_configured". Codes only.
func Causes(channels []ChannelState) string {
	parts := make([]string, 0, len(channels))
	for _, ch := range channels {
		v := ch.State
		if ch.Cause != "" {
			v = ch.Cause
		}
		parts = append(parts, ch.Channel+"="+v)
	}
	return strings.Join(parts, " ")
}

package dsr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/tenant"
)

// Event types of the notices a request sends.
const (
	// EventForwarded is the notice to the controller of a new request.
	EventForwarded = "dsr.forwarded"
	// EventUpdate is a later notice to the controller: an export ready,
	// an erasure done (and what was kept), a reminder.
	EventUpdate = "dsr.update"
	// EventSubject is an e-mail to the requester.
	EventSubject = "dsr.subject"
)

// Forwarded is the webhook payload of a forwarded request: ids, counts,
// dates and the requester's particulars, never the requester's address or
// the subject's reference.
type Forwarded struct {
	RequestID string `json:"request_id"`
	Type      Type   `json:"type"`
	Source    string `json:"source"`
	// Matched tells whether verwerker found the subject; SubjectID is its
	// pseudonymous id.
	Matched   bool   `json:"matched"`
	SubjectID string `json:"subject_id,omitempty"`
	// Holdings counts the records verwerker holds per data category.
	Holdings     map[string]int64 `json:"holdings"`
	ReceivedAt   time.Time        `json:"received_at"`
	DueLastDay   string           `json:"due_last_day"`
	DueAt        time.Time        `json:"due_at"`
	ForwardDueAt time.Time        `json:"forward_due_at"`
	// Particulars are the requester's own words: details, and what a
	// rectification says is wrong and correct or an objection's grounds.
	// Personal data for the controller, which decides on the request.
	Particulars *Particulars `json:"particulars,omitempty"`
}

// Particulars are the free text of a request, as forwarded.
type Particulars struct {
	Details   string `json:"details,omitempty"`
	Incorrect string `json:"incorrect,omitempty"`
	Correct   string `json:"correct,omitempty"`
	Grounds   string `json:"grounds,omitempty"`
}

// forward tells the controller of r through the outbox (webhook when it has
// an endpoint, e-mail to its privacy contact) and the requester that its
// request was forwarded, in tx.
func (s *Service) forward(ctx context.Context, tx pgx.Tx, r *Request, t tenant.Tenant, c Contact) error {
	if s.outbox == nil {
		return nil
	}
	p := Forwarded{RequestID: r.ID, Type: r.Type, Source: r.Source, Matched: r.SubjectID != "", SubjectID: r.SubjectID, Holdings: map[string]int64{},
		ReceivedAt: r.ReceivedAt, DueLastDay: r.Due.LastDay.String(), DueAt: r.Due.Due, ForwardDueAt: r.ForwardDueAt}
	if pt := (Particulars{Details: c.Details, Incorrect: c.Incorrect, Correct: c.Correct, Grounds: c.Grounds}); pt != (Particulars{}) {
		p.Particulars = &pt
	}
	email := c.Email
	if r.SubjectID != "" && s.records != nil {
		h, err := s.records.Holdings(ctx, tx, r.TenantID, r.SubjectID)
		if err != nil {
			return err
		}
		p.Holdings = h
	}
	payload, err := json.Marshal(p)
	if err != nil {
		return err
	}
	hasEndpoint, err := notify.HasEndpoint(ctx, tx, r.TenantID)
	if err != nil {
		return err
	}
	var channels []string
	if hasEndpoint {
		if _, err := s.outbox.Enqueue(ctx, tx, notify.Message{TenantID: r.TenantID, Kind: notify.KindWebhook, EventType: EventForwarded,
			IdempotencyKey: "dsr/" + r.ID + "/forward/webhook", Payload: payload}); err != nil {
			return err
		}
		channels = append(channels, "webhook")
	}
	if s.outbox.Email() && t.ContactEmail != "" {
		if _, err := s.outbox.Enqueue(ctx, tx, notify.Message{TenantID: r.TenantID, Kind: notify.KindEmail, EventType: EventForwarded,
			IdempotencyKey: "dsr/" + r.ID + "/forward/email", To: []string{t.ContactEmail},
			Subject: fmt.Sprintf("Data-subject request %s (%s): due %s", r.ID, r.Type, p.DueLastDay), Body: forwardMail(p)}); err != nil {
			return err
		}
		channels = append(channels, "email")
	}
	if email != "" && s.outbox.Email() {
		if _, err := s.outbox.Enqueue(ctx, tx, notify.Message{TenantID: r.TenantID, Kind: notify.KindEmail, EventType: EventSubject,
			IdempotencyKey: "dsr/" + r.ID + "/subject/forwarded", To: []string{email},
			Subject: subjectText(r.Language, "forwarded_subject", t.Name), Body: subjectText(r.Language, "forwarded_body", t.Name, r.ID)}); err != nil {
			return err
		}
	}
	now := s.clock.Now().UTC()
	if len(channels) == 0 {
		r.State, r.Failure = StateFailed, "forward=no_channel"
		if _, err := tx.Exec(ctx, `UPDATE dsr_requests SET state = 'failed', failure = $3, failed_at = $4, updated_at = $4 WHERE tenant_id = $1 AND id = $2`,
			r.TenantID, r.ID, r.Failure, now); err != nil {
			return err
		}
		return s.step(ctx, tx, r, "verwerker", "forward_failed", "cause=no_channel")
	}
	r.State = StateForwarded
	if _, err := tx.Exec(ctx, `UPDATE dsr_requests SET state = 'forwarded', updated_at = $3 WHERE tenant_id = $1 AND id = $2`, r.TenantID, r.ID, now); err != nil {
		return err
	}
	return s.step(ctx, tx, r, "verwerker", "forward", "channels="+strings.Join(channels, ","))
}

func forwardMail(p Forwarded) string {
	var b strings.Builder
	fmt.Fprintf(&b, "A data-subject request reached verwerker, your processor, and is forwarded to you as the controller (DPA art. 12.14).\n\n")
	fmt.Fprintf(&b, "Request:      %s\nRight:        %s\nSource:       %s\nReceived:     %s\nDeadline:     %s (GDPR Art. 12(3): one month, Regulation 1182/71)\n",
		p.RequestID, p.Type, p.Source, p.ReceivedAt.Format(time.RFC3339), p.DueLastDay)
	if p.Matched {
		fmt.Fprintf(&b, "Subject:      %s (pseudonymous id)\n", p.SubjectID)
		cats := make([]string, 0, len(p.Holdings))
		for c := range p.Holdings {
			cats = append(cats, c)
		}
		sort.Strings(cats)
		for _, c := range cats {
			fmt.Fprintf(&b, "  %-24s %d records\n", c, p.Holdings[c])
		}
	} else {
		fmt.Fprintf(&b, "Subject:      not matched: verwerker found no data for the reference given (or none was given).\n")
	}
	if pt := p.Particulars; pt != nil {
		fmt.Fprintf(&b, "\nThe requester wrote:\n")
		for _, f := range []struct{ label, text string }{{"What is wrong", pt.Incorrect}, {"Correct value", pt.Correct}, {"Grounds (Art. 21(1))", pt.Grounds}, {"Details", pt.Details}} {
			if f.text != "" {
				fmt.Fprintf(&b, "%s:\n%s\n", f.label, f.text)
			}
		}
	}
	fmt.Fprintf(&b, "\nInstruct verwerker through the API: POST /v1/tenants/{tenant_id}/requests/%s/instructions.\n", p.RequestID)
	return b.String()
}

// observe follows the delivery of forwarding notices: the first delivery
// records that the controller was told; a channel that failed for good is
// a failure shown on the request and an alarm, until retried.
func (s *Service) observe(ctx context.Context, tx pgx.Tx, o notify.Outcome) error {
	parts := strings.Split(o.IdempotencyKey, "/")
	if len(parts) != 4 || parts[0] != "dsr" || parts[2] != "forward" {
		return nil
	}
	r, err := lock(ctx, tx, o.TenantID, parts[1])
	if errors.Is(err, errNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	now := s.clock.Now().UTC()
	switch {
	case o.Delivered:
		failed := slices.DeleteFunc(r.FailedMessages, func(id string) bool { return id == o.MessageID })
		failure := r.Failure
		if len(failed) == 0 && strings.HasPrefix(failure, "forward") {
			failure = ""
		}
		state := r.State
		if state == StateForwarded || (state == StateFailed && failure == "") {
			state = StateAwaitingInstruction
		}
		if _, err := tx.Exec(ctx, `UPDATE dsr_requests SET forwarded_at = coalesce(forwarded_at, $3), state = $4, failure = $5,
				failed_at = CASE WHEN $5 = '' THEN NULL ELSE failed_at END, failed_messages = $6, updated_at = $3
			WHERE tenant_id = $1 AND id = $2`, r.TenantID, r.ID, o.At.UTC(), string(state), failure, failed); err != nil {
			return err
		}
		r.State = state
		return s.step(ctx, tx, &r, "verwerker", "forward_delivered", "via="+parts[3])
	case o.Dead:
		failed := append(slices.DeleteFunc(r.FailedMessages, func(id string) bool { return id == o.MessageID }), o.MessageID)
		failure := "forward " + parts[3] + "=" + o.ErrorCode
		if _, err := tx.Exec(ctx, `UPDATE dsr_requests SET failure = $3, failed_at = $4, failed_messages = $5, updated_at = $4
			WHERE tenant_id = $1 AND id = $2`, r.TenantID, r.ID, failure, now, failed); err != nil {
			return err
		}
		r.Failure = failure
		return s.step(ctx, tx, &r, "verwerker", "forward_undelivered", "via="+parts[3]+" cause="+o.ErrorCode)
	}
	return nil
}

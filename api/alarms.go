package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/policy"
)

// Kinds of alarm.
const (
	alarmEmailNotConfigured = "email_not_configured"
	alarmNoticeUndelivered  = "subprocessor_notice_undelivered"
	alarmRequestFailed      = "request_failed"
	alarmRequestOverdue     = "request_overdue"
	alarmDeletionOverdue    = "retention_deletion_overdue"
	alarmHoldPastReview     = "legal_hold_past_review"
	alarmKeyringUnavailable = "keyring_unavailable"
	alarmAuditChainBroken   = "audit_chain_broken"
)

// Alarm is something that needs the DPO's or the operator's attention now.
type Alarm struct {
	Kind      string     `json:"kind" enum:"email_not_configured,subprocessor_notice_undelivered,request_failed,request_overdue,retention_deletion_overdue,legal_hold_past_review,breach_escalation,breach_overdue,breach_notice_undelivered,keyring_unavailable,audit_chain_broken" doc:"email_not_configured: no e-mail relay (SMTP_URL), so notices reach customers by webhook only. subprocessor_notice_undelivered: no channel delivered a customer's notice of a subprocessor change; its objection window has not started. request_failed: a step of a data-subject request (a notice, an export, an erasure) could not succeed; retry it with POST /v1/tenants/{tenant_id}/requests/{request_id}/retry. request_overdue: an open data-subject request is past its statutory deadline. retention_deletion_overdue: a customer's records are past their deletion deadline by more than an hour and no legal hold keeps them. legal_hold_past_review: a legal hold is still active after its review date. breach_escalation: a breach's clock passed 24, 36 or 44 hours after discovery while first notices are unsent or undelivered. breach_overdue: it passed 48 hours. breach_notice_undelivered: no channel delivered a customer's breach notice. keyring_unavailable: Vault does not answer, so sealed records can be neither written nor read. audit_chain_broken: the last verification of an audit chain failed: an event or a signed checkpoint does not verify (tampering or corruption)."`
	Severity  string     `json:"severity" enum:"warning,critical"`
	Since     *time.Time `json:"since,omitempty"`
	TenantID  string     `json:"tenant_id,omitempty"`
	ChangeID  string     `json:"change_id,omitempty"`
	RequestID string     `json:"request_id,omitempty"`
	HoldID    string     `json:"hold_id,omitempty"`
	// Chain, VerificationID and FirstBad describe a broken audit chain.
	Chain          string `json:"chain,omitempty" doc:"For a broken audit chain: the chain (a tenant id, or platform)."`
	VerificationID string `json:"verification_id,omitempty" doc:"For a broken audit chain: the verification that failed."`
	FirstBad       int64  `json:"first_bad,omitempty" doc:"For a broken audit chain: the first event that does not verify (0 when only a checkpoint's signature is bad)."`
	Records        int64  `json:"records,omitempty" doc:"For an overdue deletion: how many records are overdue."`
	// IncidentID, Hours and Pending describe a breach alarm.
	IncidentID string          `json:"incident_id,omitempty"`
	Hours      int             `json:"hours,omitempty" doc:"For a breach escalation: hours since discovery it fired at."`
	Pending    []string        `json:"pending,omitempty" doc:"For a breach escalation: the customers whose first notice is not delivered."`
	Message    string          `json:"message" doc:"What is wrong and what to do, for people."`
	Channels   []NoticeChannel `json:"channels,omitempty" doc:"For an undelivered notice: the state and cause of each channel."`
}

type alarmList struct {
	Body struct {
		Items []Alarm `json:"items" nullable:"false"`
	}
}

func (s *Server) registerAlarms() {
	register(s, huma.Operation{OperationID: "listAlarms", Method: http.MethodGet, Path: "/v1/alarms",
		Summary: "List alarms", Tags: []string{"Notices"},
		Description: "What needs attention now, across every customer: a missing e-mail relay, breaches whose clock escalated (24, 36, 44 hours after discovery) or is overdue while first notices are undelivered (gauges verwerker_breach_clocks_running and verwerker_breach_overdue), undelivered breach notices, failed and overdue data-subject requests, records past their deletion deadline, legal holds past their review date, audit chains whose last verification failed (gauge verwerker_audit_chains_unverified), and every subprocessor change notice that no channel delivered (oldest first), with the cause per channel. An undelivered notice stays here until a channel delivers it or the DPO records a delivery by other means (POST /v1/subprocessor-changes/{change_id}/notices/{tenant_id}/delivery). The gauge verwerker_notices_undelivered counts them."},
		policy.PermOutboxRead, platformScope, func(ctx context.Context, _ *struct{}) (*alarmList, error) {
			out := &alarmList{}
			out.Body.Items = []Alarm{}
			if !s.deps.Outbox.Email() {
				out.Body.Items = append(out.Body.Items, Alarm{Kind: alarmEmailNotConfigured, Severity: "warning",
					Message: "No e-mail relay is configured (SMTP_URL): notices reach customers by webhook only, and a customer without a webhook endpoint is not told of subprocessor changes, data-subject requests or breaches."})
			}
			if s.deps.Keyring != nil && !s.deps.Keyring.Up() {
				out.Body.Items = append(out.Body.Items, Alarm{Kind: alarmKeyringUnavailable, Severity: "critical",
					Message: "Vault (the keyring) does not answer: storing and reading sealed records, exports and erasures fail closed with 503 and Retry-After until it does; decisions still answer. Check Vault (sealed? Raft quorum? the Kubernetes auth role); verwerker recovers by itself once it answers (gauge verwerker_vault_up)."})
			}
			if err := s.requestAlarms(ctx, &out.Body.Items); err != nil {
				return nil, err
			}
			if err := s.retentionAlarms(ctx, &out.Body.Items); err != nil {
				return nil, err
			}
			if err := s.auditAlarms(ctx, &out.Body.Items); err != nil {
				return nil, err
			}
			if s.deps.Breaches != nil {
				list, err := s.deps.Breaches.Alarms(ctx)
				if err != nil {
					return nil, err
				}
				for _, a := range list {
					al := Alarm{Kind: a.Kind, Severity: a.Severity, Since: &a.Since, IncidentID: a.IncidentID, TenantID: a.TenantID, Hours: a.Hours, Pending: a.Pending}
					switch a.Kind {
					case "breach_notice_undelivered":
						for _, c := range a.Notice.Delivery.Channels {
							al.Channels = append(al.Channels, NoticeChannel(c))
						}
						al.Message = fmt.Sprintf("No channel delivered breach notice %d of incident %s to customer %s (%s). Its deadline is %s. Fix a channel (its webhook endpoint, SMTP_URL, the contacts of its agreement) and retry the dead letter, or reach the customer otherwise.",
							a.Notice.Phase, a.IncidentID, a.TenantID, notify.Causes(a.Notice.Delivery.Channels), a.DeadlineAt.Format(time.RFC3339))
					case "breach_overdue":
						al.Message = fmt.Sprintf("Breach %s is past its 48-hour deadline (%s) and %d affected customers have no delivered notice. Notify them now (POST /v1/breaches/%s/notices) and record why it was late.",
							a.IncidentID, a.DeadlineAt.Format(time.RFC3339), len(a.Pending), a.IncidentID)
					default:
						al.Message = fmt.Sprintf("Breach %s: %d hours since discovery and %d affected customers have no delivered notice (or none was sent). The deadline is %s.",
							a.IncidentID, a.Hours, len(a.Pending), a.DeadlineAt.Format(time.RFC3339))
					}
					out.Body.Items = append(out.Body.Items, al)
				}
			}
			if s.deps.Subprocessors == nil {
				return out, nil
			}
			list, err := s.deps.Subprocessors.Undelivered(ctx)
			if err != nil {
				return nil, err
			}
			for _, n := range list {
				d := deliveryOut(n.Delivery)
				var why []string
				for _, c := range d.Channels {
					why = append(why, c.Channel+" "+strings.ReplaceAll(c.State, "_", " ")+" ("+c.Cause+")")
				}
				out.Body.Items = append(out.Body.Items, Alarm{Kind: alarmNoticeUndelivered, Severity: "critical", Since: n.Delivery.UndeliveredSince,
					TenantID: n.TenantID, ChangeID: n.ChangeID, Channels: d.Channels,
					Message: fmt.Sprintf("No channel delivered the notice of subprocessor change %s to customer %s: %s. Its objection window has not started and the change does not take effect for it. Fix a channel (the customer's webhook endpoint, SMTP_URL, the contacts in its agreement) and retry the dead letter, or tell the customer otherwise and record it: POST /v1/subprocessor-changes/%s/notices/%s/delivery.",
						n.ChangeID, n.TenantID, strings.Join(why, ", "), n.ChangeID, n.TenantID)})
			}
			return out, nil
		})
}

// DevMail is an e-mail in the development mailbox.
type DevMail struct {
	ID        string    `json:"id" doc:"The outbox message id."`
	MessageID string    `json:"message_id"`
	From      string    `json:"from"`
	To        []string  `json:"to" nullable:"false"`
	Subject   string    `json:"subject"`
	Date      time.Time `json:"date"`
	Body      string    `json:"body"`
}

type devMailInput struct {
	Limit int `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"At most this many, newest first."`
}

type devMailList struct {
	Body struct {
		Dir   string    `json:"dir" doc:"The directory the mails are kept in, one .eml file each."`
		Items []DevMail `json:"items" nullable:"false"`
	}
}

// registerDevMailbox serves the development mailbox (Deps.Mailbox); the
// operation exists only when there is one, that is, in `verwerker dev`.
func (s *Server) registerDevMailbox(mb *notify.Mailbox) {
	register(s, huma.Operation{OperationID: "listDevMailbox", Method: http.MethodGet, Path: "/v1/dev/mailbox",
		Summary: "Read the development mailbox", Tags: []string{"Notices"},
		Description: "Development only (`verwerker dev` without SMTP_URL): every e-mail the outbox delivered, kept in a local directory instead of being sent. Never available on a server started with `serve`."},
		policy.PermOutboxRead, platformScope, func(ctx context.Context, in *devMailInput) (*devMailList, error) {
			list, err := mb.List(in.Limit)
			if err != nil {
				return nil, err
			}
			out := &devMailList{}
			out.Body.Dir = mb.Dir()
			out.Body.Items = make([]DevMail, 0, len(list))
			for _, m := range list {
				out.Body.Items = append(out.Body.Items, DevMail(m))
			}
			return out, nil
		})
}

// retentionAlarms appends overdue deletions and holds past their review.
func (s *Server) retentionAlarms(ctx context.Context, items *[]Alarm) error {
	if s.deps.Retention == nil {
		return nil
	}
	over, err := s.deps.Retention.Overdue(ctx)
	if err != nil {
		return err
	}
	for _, o := range over {
		since := o.Oldest
		*items = append(*items, Alarm{Kind: alarmDeletionOverdue, Severity: "critical", Since: &since, TenantID: o.TenantID, Records: o.Records,
			Message: fmt.Sprintf("%d records of customer %s are past their deletion deadline (the oldest since %s) and no legal hold keeps them. Check the retention sweep's failures (verwerker_retention_sweep_failures_total, the logs) and run it: POST /v1/tenants/%s/retention/sweeps.",
				o.Records, o.TenantID, o.Oldest.UTC().Format(time.RFC3339), o.TenantID)})
	}
	holds, err := s.deps.Retention.HoldsPastReview(ctx)
	if err != nil {
		return err
	}
	for _, h := range holds {
		since := h.ReviewOn.In(time.UTC)
		*items = append(*items, Alarm{Kind: alarmHoldPastReview, Severity: "warning", Since: &since, TenantID: h.TenantID, HoldID: h.ID,
			Message: fmt.Sprintf("Legal hold %s of customer %s (owner %s) was due for review on %s and still holds its data back from deletion. Review it and lift it (POST /v1/tenants/%s/legal-holds/%s/lift) or place a new hold with a new review date.",
				h.ID, h.TenantID, h.Owner, h.ReviewOn, h.TenantID, h.ID)})
	}
	return nil
}

// auditAlarms appends the audit chains whose last verification failed.
func (s *Server) auditAlarms(ctx context.Context, items *[]Alarm) error {
	broken, err := s.deps.Audit.Broken(ctx)
	if err != nil {
		return err
	}
	for _, c := range broken {
		al := Alarm{Kind: alarmAuditChainBroken, Severity: "critical", Since: c.FinishedAt, Chain: c.Chain, VerificationID: c.VerificationID, FirstBad: c.FirstBad,
			Message: fmt.Sprintf("Audit chain %s does not verify (verification %s): %s. Keep the database as it is for investigation, run `verwerker audit verify`, and verify again once the cause is known (POST /v1/audit/verifications).",
				c.Chain, c.VerificationID, c.Problem)}
		if c.Chain != "platform" {
			al.TenantID = c.Chain
		}
		*items = append(*items, al)
	}
	return nil
}

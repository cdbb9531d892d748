package breach

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
)

// Assessment is what the assessor established about an incident: the
// facts the triage policy decides on.
type Assessment struct {
	// Actual: personal data was actually destroyed, lost, altered,
	// disclosed or accessed (or that cannot be excluded), as opposed to a
	// weakness that nobody used.
	Actual bool `json:"actual"`
	// PersonalData: the incident involves personal data.
	PersonalData bool `json:"personal_data"`
	// Kinds are the security properties breached (Kinds); nil keeps the
	// incident's.
	Kinds []string `json:"kinds,omitempty"`
	// Reason explains the assessment; required when it revises an earlier
	// triage.
	Reason string `json:"reason,omitempty"`
}

// Reason is one reason of the triage policy, with the article or clause it
// rests on.
type Reason struct {
	Code    string `json:"code"`
	Article string `json:"article"`
	Text    string `json:"explanation"`
}

// Triage is the policy's answer for an incident.
type Triage struct {
	// Outcome is "breach" or "vulnerability" (the policy's), or
	// "dismissed" (a person's, with a reason).
	Outcome string `json:"outcome"`
	// Notify says whether the controllers are notified.
	Notify  bool     `json:"notify"`
	Reasons []Reason `json:"reasons"`
	// Assessment is what the policy decided on.
	Assessment Assessment `json:"assessment"`
	// By and At say who triaged and when.
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// Decide runs the triage policy on an assessment of an incident with the
// given kinds, without recording anything.
func (s *Service) Decide(ctx context.Context, a Assessment, kinds []string) (Triage, error) {
	if kinds == nil {
		kinds = []string{}
	}
	rs, err := s.triage.Eval(ctx, rego.EvalInput(map[string]any{"actual": a.Actual, "personal_data": a.PersonalData, "kinds": kinds}))
	if err != nil {
		return Triage{}, verwerker.Internal("breach: triage", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return Triage{}, verwerker.Internal("breach: triage", fmt.Errorf("the policy gave %d results", len(rs)))
	}
	raw, err := json.Marshal(rs[0].Expressions[0].Value)
	if err != nil {
		return Triage{}, verwerker.Internal("breach: triage", err)
	}
	var t Triage
	if err := json.Unmarshal(raw, &t); err != nil {
		return Triage{}, verwerker.Internal("breach: triage", err)
	}
	a.Kinds = kinds
	t.Assessment = a
	return t, nil
}

// Triage records the policy's answer for an incident: a breach (notified)
// or a vulnerability (recorded, not notified). Revising an earlier triage
// or a dismissal needs a reason. A closed incident cannot be triaged again.
func (s *Service) Triage(ctx context.Context, id string, a Assessment) (Incident, error) {
	a.Reason = strings.TrimSpace(a.Reason)
	if fe := checkText("reason", a.Reason, 2000, false); fe != nil {
		return Incident{}, verwerker.Invalid("the assessment is not valid", *fe)
	}
	if a.Kinds != nil {
		r := Report{Title: "-", DiscoveredAt: time.Unix(0, 0), Kinds: a.Kinds}
		if err := r.normalize(s.clock.Now()); err != nil {
			return Incident{}, err
		}
		a.Kinds = r.Kinds
	}
	now := s.clock.Now().UTC()
	var out Incident
	err := s.tx(ctx, "triage", func(tx pgx.Tx) error {
		cur, err := lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.Status == StatusClosed {
			return verwerker.Errorf(verwerker.ECONFLICT, "the incident is closed")
		}
		action := "triage"
		if cur.Status != StatusReported {
			action = "triage.revise"
			if a.Reason == "" {
				return verwerker.Invalid("the assessment is not valid", verwerker.FieldError{Field: "reason", Message: "is required to revise a triage"})
			}
		}
		kinds := cur.Kinds
		if a.Kinds != nil {
			kinds = a.Kinds
		}
		t, err := s.Decide(ctx, a, kinds)
		if err != nil {
			return err
		}
		t.Assessment.Reason = a.Reason
		t.By, t.At = audit.Actor(ctx), now
		raw, err := json.Marshal(t)
		if err != nil {
			return err
		}
		out, err = scanIncident(tx.QueryRow(ctx, `UPDATE breach_incidents SET status = $2, triage = $3, kinds = $4, updated_at = $5
			WHERE id = $1 RETURNING `+incidentColumns, id, t.Outcome, raw, kinds, now))
		if err != nil {
			return err
		}
		codes := make([]string, 0, len(t.Reasons))
		for _, r := range t.Reasons {
			codes = append(codes, r.Code)
		}
		return s.revise(ctx, tx, out, now, action, a.Reason, map[string]any{"from": cur.Status, "to": out.Status, "reasons": codes})
	})
	return out, err
}

// Dismiss records that an incident is not a security incident at all
// (a false alarm), with a reason (required); the incident and the reason
// stay in the register. A dismissal can be revised by triaging again.
func (s *Service) Dismiss(ctx context.Context, id, reason string) (Incident, error) {
	reason = strings.TrimSpace(reason)
	if fe := checkText("reason", reason, 2000, true); fe != nil {
		return Incident{}, verwerker.Invalid("the dismissal is not valid", *fe)
	}
	now := s.clock.Now().UTC()
	var out Incident
	err := s.tx(ctx, "dismiss", func(tx pgx.Tx) error {
		cur, err := lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.Status == StatusClosed || cur.Status == StatusDismissed {
			return verwerker.Errorf(verwerker.ECONFLICT, "the incident is %s", cur.Status)
		}
		t := Triage{Outcome: string(StatusDismissed), Reasons: []Reason{{Code: "dismissed", Article: "GDPR 33(5)",
			Text: "Dismissed by a person with a reason: not a security incident. Kept in the register."}},
			Assessment: Assessment{Reason: reason}, By: audit.Actor(ctx), At: now}
		raw, err := json.Marshal(t)
		if err != nil {
			return err
		}
		out, err = scanIncident(tx.QueryRow(ctx, `UPDATE breach_incidents SET status = 'dismissed', triage = $2, updated_at = $3
			WHERE id = $1 RETURNING `+incidentColumns, id, raw, now))
		if err != nil {
			return err
		}
		return s.revise(ctx, tx, out, now, "dismiss", reason, map[string]any{"from": cur.Status})
	})
	return out, err
}

// Close closes a breach whose handling is complete, with a reason. Its
// clock stops escalating; the register keeps everything.
func (s *Service) Close(ctx context.Context, id, reason string) (Incident, error) {
	reason = strings.TrimSpace(reason)
	if fe := checkText("reason", reason, 2000, true); fe != nil {
		return Incident{}, verwerker.Invalid("the closure is not valid", *fe)
	}
	now := s.clock.Now().UTC()
	var out Incident
	err := s.tx(ctx, "close", func(tx pgx.Tx) error {
		cur, err := lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.Status == StatusClosed {
			return verwerker.Errorf(verwerker.ECONFLICT, "the incident is closed")
		}
		open, _, err := pending(ctx, tx, now)
		if err != nil {
			return err
		}
		if _, ok := open[id]; ok && cur.Status == StatusBreach {
			return verwerker.Errorf(verwerker.ECONFLICT, "not every affected customer's first notice is delivered: the breach cannot be closed yet")
		}
		out, err = scanIncident(tx.QueryRow(ctx, `UPDATE breach_incidents SET status = 'closed', updated_at = $2
			WHERE id = $1 RETURNING `+incidentColumns, id, now))
		if err != nil {
			return err
		}
		return s.revise(ctx, tx, out, now, "close", reason, map[string]any{"from": cur.Status})
	})
	return out, err
}

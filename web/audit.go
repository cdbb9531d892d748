package web

import (
	"fmt"
	"net/http"

	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/policy"
)

// The audit page: the platform chain's last signed checkpoint and a
// "verify now" that re-hashes the whole chain and checks every checkpoint
// (audit.Log.Verify), the same check `verwerker audit verify` makes.

type auditData struct {
	Chain      string
	Checkpoint *audit.Checkpoint
	// Verified is the last verification asked for (ActionVerify).
	Verified *audit.Event
	Report   *audit.Report
}

func (s *Server) auditPage() Page {
	return Page{Method: http.MethodGet, Path: "audit", Permission: policy.PermAuditRead, Scope: Platform,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			return s.renderAudit(w, r, v, nil)
		}}
}

func (s *Server) renderAudit(w http.ResponseWriter, r *http.Request, v *view, rep *audit.Report) error {
	cp, err := s.deps.Audit.LastCheckpoint(r.Context(), audit.PlatformChain)
	if err != nil {
		return err
	}
	last, err := s.deps.Audit.LastEvent(r.Context(), audit.PlatformChain, audit.ActionVerify)
	if err != nil {
		return err
	}
	v.Title = translate(v.Lang, "audit.title")
	v.Data = auditData{Chain: audit.PlatformChain, Checkpoint: cp, Verified: last, Report: rep}
	s.render(w, v, http.StatusOK, "audit")
	return nil
}

// verifySubmit verifies the platform chain now, records that it did (an
// ActionVerify event with the outcome, the dashboard's "last
// verification") and shows the report.
func (s *Server) verifySubmit() Page {
	return Page{Method: http.MethodPost, Path: "audit/verify", Permission: policy.PermAuditRead, Scope: Platform,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			rep, err := s.deps.Audit.Verify(r.Context(), audit.PlatformChain)
			if err != nil {
				return err
			}
			outcome := audit.Success
			if !rep.OK {
				outcome = audit.Failure
			}
			if _, err := s.deps.Audit.Append(r.Context(), audit.Event{Chain: audit.PlatformChain, Actor: v.principal.ID, Action: audit.ActionVerify,
				Resource: audit.PlatformChain, Outcome: outcome,
				Reason: fmt.Sprintf("events=%d checkpoints=%d first_bad=%d", rep.Events, rep.Checkpoints, rep.FirstBad)}); err != nil {
				return err
			}
			return s.renderAudit(w, r, v, &rep)
		}}
}

package web

import (
	"net/http"

	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/policy"
)

// The audit page: the platform chain's last signed checkpoint and a
// "verify now" that verifies every chain in the background (a River job,
// audit.Log.StartVerification): the same check `verwerker audit verify`
// makes. While it runs the page shows its progress and reloads itself
// (the HTTP Refresh header: no script; a link stops it), then its result,
// which becomes the last verification on the overview.

// refreshSeconds is how often a page showing a running verification
// reloads.
const refreshSeconds = 2

type auditData struct {
	Chain      string
	Checkpoint *audit.Checkpoint
	// Current is the newest verification, running or finished; Last the
	// newest finished one.
	Current, Last *audit.Verification
	// Verified, Total, Done, Chains and Failed are Current's progress.
	Verified, Total      int64
	Done, Chains, Failed int
	// Percent is Verified of Total in percent.
	Percent int64
	// Shown are the chains worth a row: those running or failed.
	Shown []audit.ChainVerification
	// Reloading says the page reloads itself (until the viewer stops it).
	Reloading bool
}

func (s *Server) auditPage() Page {
	return Page{Method: http.MethodGet, Path: "audit", Permission: policy.PermAuditRead, Scope: Platform,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			ctx := r.Context()
			d := auditData{Chain: audit.PlatformChain}
			var err error
			if d.Checkpoint, err = s.deps.Audit.LastCheckpoint(ctx, audit.PlatformChain); err != nil {
				return err
			}
			if d.Current, err = s.deps.Audit.LastVerification(ctx, audit.PlatformChain, false); err != nil {
				return err
			}
			if d.Last, err = s.deps.Audit.LastVerification(ctx, audit.PlatformChain, true); err != nil {
				return err
			}
			if c := d.Current; c != nil {
				d.Verified, d.Total, d.Done, d.Chains, d.Failed = c.Progress()
				if d.Total > 0 {
					d.Percent = d.Verified * 100 / d.Total
				}
				for _, ch := range c.Chains {
					if ch.State == audit.VerificationRunning || ch.State == audit.VerificationFailed {
						d.Shown = append(d.Shown, ch)
					}
				}
				if d.Reloading = !c.Done() && r.URL.Query().Get("refresh") != "off"; d.Reloading {
					v.Refresh, v.RefreshURL = refreshSeconds, r.URL.RequestURI()
				}
			}
			return s.show(w, v, "audit", "audit.title", d)
		}}
}

// verifySubmit starts a verification of every chain (or finds the one
// already running) and shows the audit page with its progress.
func (s *Server) verifySubmit() Page {
	return Page{Method: http.MethodPost, Path: "audit/verify", Permission: policy.PermAuditRead, Scope: Platform,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			if _, err := s.deps.Audit.StartVerification(r.Context(), audit.PlatformChain, v.principal.ID); err != nil {
				return err
			}
			http.Redirect(w, r, Prefix+"audit#verification", http.StatusSeeOther)
			return nil
		}}
}

package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/breach"
)

// SeedBreaches records the demo register: a breach of both demo customers'
// chat data, notified to each (the first customer's notice acknowledged,
// the second's not), and a vulnerability that was dismissed with its
// reason. Notices go out through the service's outbox (the development
// mailbox in `verwerker dev`).
func SeedBreaches(ctx context.Context, clock verwerker.Clock, svc *breach.Service, tenantIDs []string) error {
	ctx = verwerker.WithPrincipal(ctx, verwerker.Principal{ID: "demo-seed", Kind: verwerker.PrincipalAPIKey})
	now := clock.Now().UTC().Truncate(time.Second)
	started, ended := now.Add(-30*time.Hour), now.Add(-26*time.Hour)
	i, err := svc.Report(ctx, breach.Report{Title: "Chat transcripts readable through a misconfigured export link",
		Description:  "An export link of the chat archive did not check the session for four hours.",
		Kinds:        []string{"confidentiality"},
		StartedAt:    &started,
		EndedAt:      &ended,
		DiscoveredAt: now.Add(-6 * time.Hour), DiscoveredHow: "Anomaly alert of the access-log monitor",
		Systems: []string{"chat"}, Tenants: tenantIDs,
		Consequences: "Visitors' chat messages may have been read by an unauthorised party.",
		Measures:     "Links revoked, session check added, access logs under review.",
		Contact:      "security@verwerker.example"}, breach.ViaStaff)
	if err != nil {
		return fmt.Errorf("demo: breach: %w", err)
	}
	if _, err := svc.Triage(ctx, i.ID, breach.Assessment{Actual: true, PersonalData: true}); err != nil {
		return fmt.Errorf("demo: breach triage: %w", err)
	}
	notices, err := svc.Notify(ctx, i.ID)
	if err != nil {
		return fmt.Errorf("demo: breach notices: %w", err)
	}
	if len(notices) > 0 {
		if _, err := svc.Acknowledge(ctx, notices[0].TenantID, i.ID, 0); err != nil {
			return fmt.Errorf("demo: breach acknowledgement: %w", err)
		}
	}

	v, err := svc.Report(ctx, breach.Report{Title: "Outdated TLS library on the chat widget CDN",
		DiscoveredAt: now.Add(-72 * time.Hour), DiscoveredHow: "Weekly dependency scan", Systems: []string{"chat"}}, breach.ViaDetection)
	if err != nil {
		return fmt.Errorf("demo: vulnerability: %w", err)
	}
	if _, err := svc.Triage(ctx, v.ID, breach.Assessment{Actual: false, PersonalData: true, Kinds: []string{"confidentiality"}}); err != nil {
		return fmt.Errorf("demo: vulnerability triage: %w", err)
	}
	if _, err := svc.Dismiss(ctx, v.ID, "The library was patched before any use was possible; the scanner's finding does not apply to our build."); err != nil {
		return fmt.Errorf("demo: vulnerability dismissal: %w", err)
	}
	return nil
}

package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/dsr"
)

// SeedRequests records three data-subject requests the customer received
// itself, in different states of their clock: one overdue (received 40
// days ago), one due within days (received 27 days ago) and one just
// received, awaiting the controller's instruction. None names a subject.
func SeedRequests(ctx context.Context, clock verwerker.Clock, requests *dsr.Service, tenantID string) error {
	ctx = verwerker.WithPrincipal(ctx, verwerker.Principal{ID: "demo-seed", Kind: verwerker.PrincipalAPIKey})
	now := clock.Now()
	for _, r := range []struct {
		t   dsr.Type
		ago time.Duration
	}{{dsr.TypeErasure, 40 * 24 * time.Hour}, {dsr.TypeAccess, 27 * 24 * time.Hour}, {dsr.TypeObjection, time.Hour}} {
		if _, err := requests.Create(ctx, tenantID, dsr.Intake{Type: r.t, ReceivedAt: now.Add(-r.ago), Language: "nl"}); err != nil {
			return fmt.Errorf("demo: request %s: %w", r.t, err)
		}
	}
	return nil
}

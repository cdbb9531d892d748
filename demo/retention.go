package demo

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/records"
	"github.com/verwerker/verwerker/retention"
)

// SeedRetention gives the tenant (with an active agreement, SeedDPA) a few
// chat records of three visitors, a legal hold on one of them placed by the
// DPO, and a completed sweep with its certificate, so that the retention
// rules, holds, forecast and certificates show something.
func SeedRetention(ctx context.Context, clock verwerker.Clock, recs *records.Store, ret *retention.Service, tenantID string) error {
	ctx = verwerker.WithPrincipal(ctx, verwerker.Principal{ID: "demo-seed", Kind: verwerker.PrincipalAPIKey})
	var items []records.Item
	for i, text := range []string{"Hallo, zijn jullie morgen open?", "Hebben jullie glutenvrij brood?", "Kan ik een taart bestellen?"} {
		content, _ := json.Marshal(map[string]string{"text": text})
		items = append(items, records.Item{SubjectRef: fmt.Sprintf("demo-visitor-%d", i+1), Kind: records.KindMessage, Category: "chat.message",
			Purpose: "service.delivery", Region: "nl", Content: content})
	}
	stored, err := recs.Write(ctx, tenantID, -1, items)
	if err != nil {
		return fmt.Errorf("demo: retention: records: %w", err)
	}
	review := deadline.DateOf(clock.Now()).AddDays(60)
	if _, err := ret.Place(ctx, tenantID, retention.Placement{Scope: retention.ScopeSubject, SubjectID: stored[2].SubjectID,
		Reason: "Complaint file 2026-014: keep the conversation until the complaint is settled", Owner: "dpo", ReviewOn: review}); err != nil {
		return fmt.Errorf("demo: retention: hold: %w", err)
	}
	if _, _, err := ret.Run(ctx, tenantID); err != nil {
		return fmt.Errorf("demo: retention: sweep: %w", err)
	}
	return nil
}

package demo

import (
	"context"
	"fmt"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/dpa"
)

// SeedDPA gives the tenant an active processing agreement: chat data in the
// EEA for service delivery, security and support, with one hosting
// subprocessor. It is accepted by the principal "demo-seed" on the
// customer's behalf, which only the demo does.
func SeedDPA(ctx context.Context, svc *dpa.Service, tenantID string) (dpa.Version, error) {
	v, err := ActivateDPA(ctx, svc, tenantID, dpa.Scope{
		Categories: []dpa.CategoryScope{
			{ID: "chat.message", Retention: dpa.Retention30DaysAfterLastInteraction},
			{ID: "chat.metadata", Retention: dpa.Retention30DaysAfterLastInteraction},
			{ID: "contact.email", Retention: dpa.RetentionContractEndPlus30Days},
		},
		Purposes:      []string{"service.delivery", "security", "support"},
		Subprocessors: []string{"hosting-eu"},
		BreachContact: dpa.Contact{Name: "Privacyteam", Email: "privacy@bakkerij-devries.example", Phone: "+31 20 000 0000"},
		DPOContact:    dpa.Contact{Email: "fg@bakkerij-devries.example"},
	})
	if err != nil {
		return dpa.Version{}, fmt.Errorf("demo: dpa: %w", err)
	}
	return v, nil
}

// ActivateDPA drafts sc for the tenant, offers it, accepts the Dutch
// document as the principal "demo-seed" on the customer's behalf (which
// only demo data and tests do) and activates it.
func ActivateDPA(ctx context.Context, svc *dpa.Service, tenantID string, sc dpa.Scope) (dpa.Version, error) {
	ctx = verwerker.WithPrincipal(ctx, verwerker.Principal{ID: "demo-seed", Kind: verwerker.PrincipalAPIKey})
	v, err := svc.Create(ctx, tenantID, sc)
	if err == nil {
		v, err = svc.Offer(ctx, tenantID, v.Number)
	}
	if err == nil {
		v, err = svc.Accept(ctx, tenantID, v.Number, v.SHA256NL)
	}
	if err == nil {
		v, err = svc.Activate(ctx, tenantID, v.Number)
	}
	return v, err
}

package demo

import (
	"context"
	"fmt"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/subprocessor"
	"github.com/verwerker/verwerker/tenant"
)

// DashboardDeps are the services SeedDashboard fills.
type DashboardDeps struct {
	DB        *store.DB
	Clock     verwerker.Clock
	Audit     *audit.Log
	Calendar  *deadline.Calendar
	Tenants   *tenant.Service
	DPA       *dpa.Service
	Decisions *decision.Service
	// Subprocessors is the application's registry (with its outbox).
	Subprocessors *subprocessor.Registry
}

// Dashboard is what SeedDashboard made, for the banner and the tests.
type Dashboard struct {
	// Change is the announced subprocessor change: in its objection window
	// for the first customer (told out of band, and objecting), and not
	// delivered to the second.
	Change subprocessor.Change
	// Terminating and Offered are the customers whose contract ends soon
	// and whose agreement is offered but not accepted.
	Terminating, Offered tenant.Tenant
}

// SeedDashboard gives the dashboard something on every page, after Seed,
// SeedSubprocessors and SeedDPA: an agreement for the second customer, a
// customer whose contract ends in three weeks, one whose agreement waits
// for acceptance, sixty days of decisions, and a subprocessor change that
// the first customer objects to inside its window while no channel reached
// the second (announced as if no e-mail relay or webhook were configured,
// so the alarm shows even where `dev` keeps e-mail in its mailbox).
func SeedDashboard(ctx context.Context, d DashboardDeps, data Data) (Dashboard, error) {
	ctx = verwerker.WithPrincipal(ctx, verwerker.Principal{ID: "demo-seed", Kind: verwerker.PrincipalAPIKey})
	var out Dashboard
	a, b := data.Tenants[0], data.Tenants[1]
	if _, err := ActivateDPA(ctx, d.DPA, b.ID, dpa.Scope{
		Categories: []dpa.CategoryScope{{ID: "chat.message", Retention: dpa.Retention30DaysAfterLastInteraction},
			{ID: "contact.email", Retention: dpa.RetentionContractEndPlus30Days}},
		Purposes:      []string{"service.delivery"},
		Subprocessors: []string{"hosting-eu"},
		BreachContact: dpa.Contact{Name: "Jan Jansen", Email: "dpo@fietsen-jansen.example"},
		DPOContact:    dpa.Contact{Name: "Jan Jansen", Email: "dpo@fietsen-jansen.example"},
	}); err != nil {
		return out, fmt.Errorf("demo: dashboard: agreement: %w", err)
	}
	var err error
	if out.Terminating, err = d.Tenants.Create(ctx, tenant.New{Name: "Reisbureau Zonnestraal", Country: "NL", ContactEmail: "privacy@zonnestraal.example"}); err != nil {
		return out, fmt.Errorf("demo: dashboard: tenant: %w", err)
	}
	end := deadline.DateOf(d.Clock.Now().In(tenant.Location(tenant.DefaultTimezone))).AddDays(21)
	if out.Terminating, err = d.Tenants.Terminate(ctx, out.Terminating.ID, tenant.Termination{ContractEnd: end, Reason: tenant.ReasonCustomerNotice}); err != nil {
		return out, fmt.Errorf("demo: dashboard: terminate: %w", err)
	}
	if out.Offered, err = d.Tenants.Create(ctx, tenant.New{Name: "Tandartspraktijk Smit", Country: "NL", ContactEmail: "praktijk@tandarts-smit.example"}); err != nil {
		return out, fmt.Errorf("demo: dashboard: tenant: %w", err)
	}
	v, err := d.DPA.Create(ctx, out.Offered.ID, dpa.Scope{
		Categories:    []dpa.CategoryScope{{ID: "chat.message", Retention: dpa.Retention30DaysAfterLastInteraction}},
		Purposes:      []string{"service.delivery", "support"},
		Subprocessors: []string{"hosting-eu"},
		BreachContact: dpa.Contact{Name: "Praktijk Smit", Email: "praktijk@tandarts-smit.example"},
		DPOContact:    dpa.Contact{Name: "Praktijk Smit", Email: "praktijk@tandarts-smit.example"},
	})
	if err == nil {
		_, err = d.DPA.Offer(ctx, out.Offered.ID, v.Number)
	}
	if err != nil {
		return out, fmt.Errorf("demo: dashboard: offer: %w", err)
	}

	// Sixty days of decisions for the charts: most allowed, some denied.
	today := deadline.DateOf(d.Clock.Now().In(tenant.Location(tenant.DefaultTimezone)))
	var counts []decision.Count
	for i := range 60 {
		day := today.AddDays(-60 + i)
		for k, t := range []tenant.Tenant{a, b} {
			n := uint64(40 + (i*7+k*13)%35)
			counts = append(counts,
				decision.Count{TenantID: t.ID, Day: day, Category: "chat.message", Purpose: "service.delivery", Allowed: n, Denied: uint64(i % 4),
					Reasons: map[string]uint64{"region_not_in_scope": uint64(i % 4), "transfer_basis_missing": uint64(i % 4 / 2), "subject_objected": uint64((i + k) % 5 / 4)}},
				decision.Count{TenantID: t.ID, Day: day, Category: "chat.message", Purpose: "marketing", Denied: uint64((i + k) % 3),
					Reasons: map[string]uint64{"purpose_not_in_scope": uint64((i + k) % 3)}})
			if k == 0 {
				counts = append(counts, decision.Count{TenantID: t.ID, Day: day, Category: "chat.metadata", Purpose: "security", Allowed: n / 3})
			}
		}
	}
	if err := d.Decisions.ImportCounts(ctx, counts); err != nil {
		return out, fmt.Errorf("demo: dashboard: decisions: %w", err)
	}

	// The change, announced through a registry without channels.
	quiet := subprocessor.NewRegistry(d.DB, d.Clock, d.Audit, nil, d.Calendar)
	effective := today.AddDays(45).String()
	c, _, err := quiet.Propose(ctx, subprocessor.Proposal{Kind: subprocessor.ChangeAdd, Subprocessor: "mail-eu", EffectiveOn: effective,
		Description: "Transactional e-mail for chat transcripts."})
	if err != nil {
		return out, fmt.Errorf("demo: dashboard: change: %w", err)
	}
	out.Change = c
	if _, err := d.Subprocessors.RecordDelivery(ctx, a.ID, c.ID, subprocessor.OutOfBandDelivery{Channel: "letter", DeliveredOn: today.String()}); err != nil {
		return out, fmt.Errorf("demo: dashboard: delivery: %w", err)
	}
	if _, err := d.Subprocessors.Object(ctx, a.ID, c.ID, "Our customers were promised that chat transcripts stay with our hosting provider."); err != nil {
		return out, fmt.Errorf("demo: dashboard: objection: %w", err)
	}
	return out, nil
}

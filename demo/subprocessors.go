package demo

import (
	"context"
	"fmt"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/dpa"
)

// Subprocessors is the demo registry: hosting in the EU, e-mail delivery in
// the EU and an AI model provider in the US under SCCs.
var Subprocessors = []dpa.Subprocessor{
	{ID: "hosting-eu", Name: "Hetzner Online GmbH", Service: "Hosting of the chat service and its database",
		Locations: []string{"de", "fi"}, TransferMechanism: dpa.TransferNone,
		Categories: []string{"chat.message", "chat.metadata", "contact.email", "contact.phone", "account.profile"}, ContractDate: "2024-01-15"},
	{ID: "mail-eu", Name: "Mailjet SAS", Service: "Delivery of transactional e-mail", Locations: []string{"fr"},
		TransferMechanism: dpa.TransferNone, Categories: []string{"contact.email", "account.profile"}, ContractDate: "2024-03-01"},
	{ID: "llm-us", Name: "Example AI Inc.", Service: "Language model that drafts chat answers", Locations: []string{"us"},
		TransferMechanism: dpa.TransferSCCs, Categories: []string{"chat.message"}, ContractDate: "2025-06-01"},
}

// SeedSubprocessors registers the demo registry.
func SeedSubprocessors(ctx context.Context, r *dpa.Registry) error {
	ctx = verwerker.WithPrincipal(ctx, verwerker.Principal{ID: "demo-seed", Kind: verwerker.PrincipalAPIKey})
	for _, s := range Subprocessors {
		if _, err := r.Add(ctx, s); err != nil {
			return fmt.Errorf("demo: subprocessor %s: %w", s.ID, err)
		}
	}
	return nil
}

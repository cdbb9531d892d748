package demo

import (
	"context"
	"fmt"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/subprocessor"
)

// Subprocessors is the demo registry: hosting in the EU, e-mail delivery in
// the EU and an AI model provider in the US under SCCs.
var Subprocessors = []subprocessor.Entry{
	{ID: "hosting-eu", Name: "Hetzner Online GmbH", Service: "Hosting of the chat service and its database",
		Locations: []string{"de", "fi"}, TransferMechanism: subprocessor.TransferNone,
		Categories: []string{"chat.message", "chat.metadata", "contact.email", "contact.phone", "account.profile"}, ContractDate: "2024-01-15"},
	{ID: "mail-eu", Name: "Mailjet SAS", Service: "Delivery of transactional e-mail", Locations: []string{"fr"},
		TransferMechanism: subprocessor.TransferNone, Categories: []string{"contact.email", "account.profile"}, ContractDate: "2024-03-01"},
	{ID: "llm-us", Name: "Example AI Inc.", Service: "Language model that drafts chat answers", Locations: []string{"us"},
		TransferMechanism: subprocessor.TransferSCCs, Categories: []string{"chat.message"}, ContractDate: "2025-06-01"},
}

// SeedSubprocessors registers the demo registry.
func SeedSubprocessors(ctx context.Context, r *subprocessor.Registry) error {
	ctx = verwerker.WithPrincipal(ctx, verwerker.Principal{ID: "demo-seed", Kind: verwerker.PrincipalAPIKey})
	for _, s := range Subprocessors {
		if _, err := r.Add(ctx, s); err != nil {
			return fmt.Errorf("demo: subprocessor %s: %w", s.ID, err)
		}
	}
	return nil
}

// Package demo seeds the demonstration data `verwerker dev` starts with: two
// customers and API keys for the roles that use them, so that every page
// and operation has something to show. Each feature extends it.
//
// The demo data is invented; it contains no real personal data (GDPR Art.
// 25: data protection by default, also in demonstrations).
package demo

import (
	"context"
	"fmt"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/tenant"
)

// Credential is a demo API key with what it may do.
type Credential struct {
	Label  string
	Role   string
	Domain string
	Token  string
}

// Data is what Seed created.
type Data struct {
	Tenants     []tenant.Tenant
	Credentials []Credential
}

// Seed creates the demo customers and keys.
func Seed(ctx context.Context, tenants *tenant.Service, keys *identity.Keys) (Data, error) {
	var d Data
	for _, n := range []tenant.New{
		{Name: "Bakkerij De Vries B.V.", Country: "NL", ContactEmail: "privacy@bakkerij-devries.example"},
		{Name: "Fietsenwinkel Jansen", Country: "BE", ContactEmail: "dpo@fietsen-jansen.example", Timezone: "Europe/Brussels"},
	} {
		t, err := tenants.Create(ctx, n)
		if err != nil {
			return Data{}, fmt.Errorf("demo: tenant: %w", err)
		}
		d.Tenants = append(d.Tenants, t)
	}
	for _, k := range []identity.NewKey{
		{Label: "demo platform admin", Role: policy.RolePlatformAdmin, Domain: verwerker.PlatformDomain},
		{Label: "demo DPO", Role: policy.RoleDPO, Domain: verwerker.PlatformDomain},
		{Label: "demo privacy lead of " + d.Tenants[0].Name, Role: policy.RoleControllerAdmin, Domain: d.Tenants[0].ID},
		{Label: "demo chat service for " + d.Tenants[0].Name, Role: policy.RoleChatService, Domain: d.Tenants[0].ID},
	} {
		_, token, err := keys.Issue(ctx, k)
		if err != nil {
			return Data{}, fmt.Errorf("demo: key: %w", err)
		}
		d.Credentials = append(d.Credentials, Credential{Label: k.Label, Role: k.Role, Domain: k.Domain, Token: token})
	}
	return d, nil
}

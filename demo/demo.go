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
	"time"

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
	// ExpiresAt is when the key stops working (administrative keys expire
	// within identity.MaxAdminKeyLife); nil for never.
	ExpiresAt *time.Time
}

// Person is a demo account with its password and TOTP secret (invented;
// shown by `verwerker dev` so the sign-in flow can be tried).
type Person struct {
	Email      string
	Role       string
	Domain     string
	Password   string
	TOTPSecret string
}

// Data is what Seed created.
type Data struct {
	Tenants     []tenant.Tenant
	Credentials []Credential
	People      []Person
}

// Seed creates the demo customers, keys and people.
func Seed(ctx context.Context, clock verwerker.Clock, tenants *tenant.Service, keys *identity.Keys, people *identity.People) (Data, error) {
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
		key, token, err := keys.Issue(ctx, k)
		if err != nil {
			return Data{}, fmt.Errorf("demo: key: %w", err)
		}
		d.Credentials = append(d.Credentials, Credential{Label: k.Label, Role: k.Role, Domain: k.Domain, Token: token, ExpiresAt: key.ExpiresAt})
	}
	for _, p := range []Person{
		{Email: "dpo@verwerker.example", Role: policy.RoleDPO, Domain: verwerker.PlatformDomain, Password: "demo-dpo-password"},
		{Email: "privacy@bakkerij-devries.example", Role: policy.RoleControllerAdmin, Domain: d.Tenants[0].ID, Password: "demo-bakkerij-password"},
	} {
		u, setup, err := people.Create(ctx, identity.NewUser{Email: p.Email, DisplayName: "Demo " + p.Role, Role: p.Role, Domain: p.Domain})
		if err != nil {
			return Data{}, fmt.Errorf("demo: person: %w", err)
		}
		if err := people.SetUp(ctx, setup, p.Password); err != nil {
			return Data{}, fmt.Errorf("demo: person: %w", err)
		}
		e, err := people.EnrollTOTP(ctx, u.ID)
		if err != nil {
			return Data{}, fmt.Errorf("demo: person: %w", err)
		}
		// Confirmed with the previous step's code, so the current one is
		// still unused for the first sign-in.
		code, err := identity.TOTPCode(e.Secret, clock.Now().Add(-30*time.Second))
		if err != nil {
			return Data{}, err
		}
		if err := people.ConfirmTOTP(ctx, u.ID, "", code); err != nil {
			return Data{}, fmt.Errorf("demo: person: %w", err)
		}
		p.TOTPSecret = e.Secret
		d.People = append(d.People, p)
	}
	return d, nil
}

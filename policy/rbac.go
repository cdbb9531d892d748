package policy

import (
	"context"

	"github.com/verwerker/verwerker"
)

// RBAC answers authorization questions from the role grants. A principal's
// role in the platform domain reaches every tenant; a tenant role reaches
// only its own tenant.
type RBAC struct {
	table map[string]map[string]bool
}

// NewRBAC returns an RBAC over Grants.
func NewRBAC() *RBAC {
	t := map[string]map[string]bool{}
	for role, perms := range Grants {
		t[role] = map[string]bool{}
		for _, p := range perms {
			t[role][p] = true
		}
	}
	return &RBAC{table: t}
}

// Allowed reports whether p holds permission in domain.
func (r *RBAC) Allowed(_ context.Context, p verwerker.Principal, permission, domain string) (bool, error) {
	if p.Domain != verwerker.PlatformDomain && p.Domain != domain {
		return false, nil
	}
	if p.Domain == verwerker.PlatformDomain && !IsPlatformRole(p.Role) {
		return false, nil
	}
	return r.table[p.Role][permission], nil
}

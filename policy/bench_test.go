package policy_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store/storetest"
)

// BenchmarkAuthorize measures one authorization decision at 1,000 tenants,
// each with two people and two machine keys, plus ten platform staff:
// the compiled table verwerker uses on every request (including the
// version check that makes a revoked grant fail at once), against Casbin's
// own enforcer over the same policy.
func BenchmarkAuthorize(b *testing.B) {
	ctx := context.Background()
	db := storetest.New(b)
	const tenants = 1000
	doms := make([]string, tenants)
	require.NoError(b, db.InTx(ctx, func(tx pgx.Tx) error {
		for i := range tenants {
			doms[i] = tenantID(i)
			for j, role := range []string{policy.RoleControllerAdmin, policy.RoleControllerViewer, policy.RoleChatService, policy.RoleAuditor} {
				g := policy.Grant{Subject: fmt.Sprintf("sub_%d_%d", i, j), Role: role, Domain: doms[i]}
				if err := policy.AddGrant(ctx, tx, g); err != nil {
					return err
				}
			}
		}
		for j := range 10 {
			if err := policy.AddGrant(ctx, tx, policy.Grant{Subject: fmt.Sprintf("staff_%d", j), Role: policy.RoleDPO, Domain: verwerker.PlatformDomain}); err != nil {
				return err
			}
		}
		return nil
	}))
	a, err := policy.NewAuthorizer(ctx, db, nil)
	require.NoError(b, err)

	// A fixed mix of questions: own tenant, another tenant, platform staff.
	type question struct {
		p         verwerker.Principal
		perm, dom string
	}
	qs := make([]question, 4096)
	for i := range qs {
		t := (i * 7919) % tenants
		switch i % 4 {
		case 0:
			qs[i] = question{verwerker.Principal{ID: fmt.Sprintf("sub_%d_0", t)}, policy.PermAuditRead, doms[t]}
		case 1:
			qs[i] = question{verwerker.Principal{ID: fmt.Sprintf("sub_%d_1", t)}, policy.PermTenantRead, doms[(t+1)%tenants]}
		case 2:
			qs[i] = question{verwerker.Principal{ID: fmt.Sprintf("staff_%d", i%10)}, policy.PermTenantRead, doms[t]}
		default:
			qs[i] = question{verwerker.Principal{ID: fmt.Sprintf("sub_%d_2", t)}, policy.PermTenantTerminate, doms[t]}
		}
		qs[i].p.PolicyVersion = a.Version()
	}

	b.Run("compiled", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			q := &qs[i&4095]
			if _, err := a.Allowed(ctx, q.p, q.perm, q.dom); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("casbin", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			q := &qs[i&4095]
			if _, err := a.Enforce(q.p.ID, q.perm, q.dom); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRego is one question asked of Rego directly, without the
// compiled table: what every decision would cost without compiling. Its
// "table" sub-benchmark is the same question answered from the table.
func BenchmarkRego(b *testing.B) {
	ctx := context.Background()
	c, err := policy.NewCompiler(ctx, dpa.PolicyTaxonomy(), nil)
	require.NoError(b, err)
	tb, err := c.Compile(ctx, states()[0])
	require.NoError(b, err)
	req := &policy.Request{Category: "chat.message", Purpose: "service.delivery", Region: "nl"}
	b.Run("rego", func(b *testing.B) {
		for b.Loop() {
			if _, err := tb.Eval(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("table", func(b *testing.B) {
		for b.Loop() {
			if tb.Lookup(req) == nil {
				b.Fatal("not in the table")
			}
		}
	})
}

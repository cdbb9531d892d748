package policy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
)

func tenantID(i int) string {
	return verwerker.NewID(verwerker.PrefixTenant, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Millisecond))
}

func grant(t testing.TB, db *store.DB, g policy.Grant) {
	t.Helper()
	require.NoError(t, db.InTx(context.Background(), func(tx pgx.Tx) error { return policy.AddGrant(context.Background(), tx, g) }))
}

func principal(t testing.TB, db *store.DB, id string) verwerker.Principal {
	t.Helper()
	var v int64
	require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT version FROM authz_version`).Scan(&v))
	return verwerker.Principal{ID: id, PolicyVersion: v}
}

func TestAuthorizer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	a, err := policy.NewAuthorizer(ctx, db, nil)
	require.NoError(t, err)
	tA, tB := tenantID(1), tenantID(2)

	grant(t, db, policy.Grant{Subject: "usr_admin", Role: policy.RoleControllerAdmin, Domain: tA})
	grant(t, db, policy.Grant{Subject: "usr_dpo", Role: policy.RoleDPO, Domain: verwerker.PlatformDomain})

	admin := principal(t, db, "usr_admin")
	for _, tc := range []struct {
		sub, perm, dom string
		want           bool
	}{
		{"usr_admin", policy.PermAuditRead, tA, true},
		{"usr_admin", policy.PermAuditRead, tB, false},
		{"usr_admin", policy.PermTenantList, verwerker.PlatformDomain, false},
		{"usr_admin", policy.PermTenantTerminate, tA, false},
		{"usr_dpo", policy.PermAuditRead, tA, true},
		{"usr_dpo", policy.PermAuditRead, tB, true},
		{"usr_dpo", policy.PermTenantList, verwerker.PlatformDomain, true},
		{"usr_dpo", policy.PermTenantCreate, verwerker.PlatformDomain, false},
		{"usr_nobody", policy.PermTenantRead, tA, false},
		{"usr_admin", "no:such", tA, false},
	} {
		p := admin
		p.ID = tc.sub
		got, err := a.Allowed(ctx, p, tc.perm, tc.dom)
		require.NoError(t, err)
		require.Equal(t, tc.want, got, "%s %s in %s", tc.sub, tc.perm, tc.dom)
		ref, err := a.Enforce(tc.sub, tc.perm, tc.dom)
		require.NoError(t, err)
		require.Equal(t, ref, got, "Casbin and the compiled table disagree on %s %s in %s", tc.sub, tc.perm, tc.dom)
	}

	t.Run("GrantsCheckRoleAndDomain", func(t *testing.T) {
		for _, g := range []policy.Grant{
			{Subject: "x", Role: "root", Domain: tA},
			{Subject: "x", Role: policy.RoleDPO, Domain: tA},
			{Subject: "x", Role: policy.RoleControllerAdmin, Domain: verwerker.PlatformDomain},
			{Subject: "x", Role: policy.RoleControllerAdmin, Domain: "acme"},
		} {
			err := db.InTx(ctx, func(tx pgx.Tx) error { return policy.AddGrant(ctx, tx, g) })
			require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err), "%+v", g)
		}
	})
}

// TestRevocationReachesSecondReplica checks that a grant removed through
// one authorizer is denied by another on the same database on the very next
// decision, without waiting for a notification.
func TestRevocationReachesSecondReplica(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	tA := tenantID(1)
	grant(t, db, policy.Grant{Subject: "key_x", Role: policy.RoleControllerAdmin, Domain: tA})
	one, err := policy.NewAuthorizer(ctx, db, nil)
	require.NoError(t, err)
	two, err := policy.NewAuthorizer(ctx, db, nil)
	require.NoError(t, err)
	ok, err := two.Allowed(ctx, principal(t, db, "key_x"), policy.PermAuditRead, tA)
	require.NoError(t, err)
	require.True(t, ok)

	// Replica one revokes.
	require.NoError(t, db.InTx(ctx, func(tx pgx.Tx) error {
		_, err := policy.RemoveGrants(ctx, tx, "key_x", "")
		return err
	}))
	// Replica two's next request reads the new version with its credential.
	ok, err = two.Allowed(ctx, principal(t, db, "key_x"), policy.PermAuditRead, tA)
	require.NoError(t, err)
	require.False(t, ok, "a revoked grant must not survive on another replica")
	_ = one
}

// TestListenReloads checks that a change announced by NOTIFY is loaded
// without any request asking for it.
func TestListenReloads(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := storetest.New(t)
	a, err := policy.NewAuthorizer(ctx, db, nil)
	require.NoError(t, err)
	go a.Listen(ctx)
	before := a.Version()
	grant(t, db, policy.Grant{Subject: "key_y", Role: policy.RoleAuditor, Domain: tenantID(1)})
	require.Eventually(t, func() bool { return a.Version() > before }, 10*time.Second, 5*time.Millisecond)
}

// TestCompiledTableMatchesCasbin is the differential test: thousands of
// random questions over a random policy get the same answer from the
// compiled table as from Casbin's own enforcer.
func TestCompiledTableMatchesCasbin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	r := rand.New(rand.NewPCG(1, 2))
	tenants := make([]string, 20)
	for i := range tenants {
		tenants[i] = tenantID(i)
	}
	roles := append(append([]string{}, policy.PlatformRoles...), policy.TenantRoles...)
	subjects := make([]string, 40)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("usr_%02d", i)
	}
	require.NoError(t, db.InTx(ctx, func(tx pgx.Tx) error {
		for range 150 {
			role := roles[r.IntN(len(roles))]
			dom := verwerker.PlatformDomain
			if !policy.IsPlatformRole(role) {
				dom = tenants[r.IntN(len(tenants))]
			}
			if err := policy.AddGrant(ctx, tx, policy.Grant{Subject: subjects[r.IntN(len(subjects))], Role: role, Domain: dom}); err != nil {
				return err
			}
		}
		return nil
	}))
	a, err := policy.NewAuthorizer(ctx, db, nil)
	require.NoError(t, err)
	var perms []string
	for _, ps := range policy.Grants {
		perms = append(perms, ps...)
	}
	perms = append(perms, "unknown:perm")
	doms := append([]string{verwerker.PlatformDomain, "tnt_unknown"}, tenants...)
	allowed := 0
	for range 20000 {
		sub, perm, dom := subjects[r.IntN(len(subjects))], perms[r.IntN(len(perms))], doms[r.IntN(len(doms))]
		got, err := a.Allowed(ctx, verwerker.Principal{ID: sub}, perm, dom)
		require.NoError(t, err)
		want, err := a.Enforce(sub, perm, dom)
		require.NoError(t, err)
		require.Equal(t, want, got, "%s %s in %s", sub, perm, dom)
		if got {
			allowed++
		}
	}
	require.Greater(t, allowed, 1000, "the random policy should allow a fair share")
}

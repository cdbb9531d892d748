package policy

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
)

// NotifyChannel is the Postgres channel on which every policy change is
// announced, with the new policy version as payload.
const NotifyChannel = "verwerker_authz"

// Grant is one role held by a subject (an API key id or a user id) in a
// domain (a tenant id or verwerker.PlatformDomain): a Casbin g row.
type Grant struct {
	Subject string
	Role    string
	Domain  string
}

// Check reports whether the grant is well formed: a known role, platform
// roles only in the platform domain, tenant roles only in a tenant's.
func (g Grant) Check() error {
	switch {
	case !IsRole(g.Role):
		return verwerker.Invalid("the role is not valid", verwerker.FieldError{Field: "role", Message: "is not a known role"})
	case IsPlatformRole(g.Role) && g.Domain != verwerker.PlatformDomain:
		return verwerker.Invalid("the role is not valid", verwerker.FieldError{Field: "role", Message: "a platform role is held in the platform domain"})
	case !IsPlatformRole(g.Role) && !verwerker.ValidID(verwerker.PrefixTenant, g.Domain):
		return verwerker.Invalid("the role is not valid", verwerker.FieldError{Field: "role", Message: "a tenant role is held in one tenant's domain"})
	}
	return nil
}

// AddGrant stores g in tx and raises the policy version, so the grant
// holds on every replica from the next request on.
func AddGrant(ctx context.Context, tx pgx.Tx, g Grant) error {
	if err := g.Check(); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES ('g', $1, $2, $3) ON CONFLICT DO NOTHING`,
		g.Subject, g.Role, g.Domain)
	if err != nil {
		return verwerker.Internal("policy: add grant", err)
	}
	return bump(ctx, tx)
}

// RemoveGrants removes the grants of subject in domain (every domain when
// domain is empty) in tx and raises the policy version. It returns how many
// grants were removed.
func RemoveGrants(ctx context.Context, tx pgx.Tx, subject, domain string) (int64, error) {
	tag, err := tx.Exec(ctx, `DELETE FROM casbin_rule WHERE ptype = 'g' AND v0 = $1 AND ($2 = '' OR v2 = $2)`, subject, domain)
	if err != nil {
		return 0, verwerker.Internal("policy: remove grants", err)
	}
	if tag.RowsAffected() == 0 {
		return 0, nil
	}
	return tag.RowsAffected(), bump(ctx, tx)
}

// Querier is a pool, connection or transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// GrantsIn returns the grants held in domain, by subject.
func GrantsIn(ctx context.Context, q Querier, domain string) ([]Grant, error) {
	return queryGrants(ctx, q, `SELECT v0, v1, v2 FROM casbin_rule WHERE ptype = 'g' AND v2 = $1 ORDER BY v0, v1`, domain)
}

// GrantsOf returns every grant of subject.
func GrantsOf(ctx context.Context, q Querier, subject string) ([]Grant, error) {
	return queryGrants(ctx, q, `SELECT v0, v1, v2 FROM casbin_rule WHERE ptype = 'g' AND v0 = $1 ORDER BY v2, v1`, subject)
}

func queryGrants(ctx context.Context, q Querier, sql string, arg string) ([]Grant, error) {
	rows, err := q.Query(ctx, sql, arg)
	if err != nil {
		return nil, verwerker.Internal("policy: list grants", err)
	}
	gs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Grant, error) {
		var g Grant
		return g, r.Scan(&g.Subject, &g.Role, &g.Domain)
	})
	if err != nil {
		return nil, verwerker.Internal("policy: list grants", err)
	}
	return gs, nil
}

// RaiseVersion raises the policy version in tx and announces it when tx
// commits, without changing a grant: for changes of credentials that
// replicas may hold in memory (a revoked key, a disabled account), which
// must be dropped everywhere even when no grant went with them.
func RaiseVersion(ctx context.Context, tx pgx.Tx) error { return bump(ctx, tx) }

// Version reads the policy version (authz_version): what a cache of
// anything authorization depends on compares with.
func Version(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int64, error) {
	var v int64
	err := q.QueryRow(ctx, `SELECT version FROM authz_version`).Scan(&v)
	return v, err
}

// bump raises the policy version and announces it; the notification is
// delivered when tx commits.
func bump(ctx context.Context, tx pgx.Tx) error {
	var v int64
	if err := tx.QueryRow(ctx, `UPDATE authz_version SET version = version + 1 RETURNING version`).Scan(&v); err != nil {
		return verwerker.Internal("policy: raise version", err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, strconv.FormatInt(v, 10)); err != nil {
		return verwerker.Internal("policy: notify", err)
	}
	return nil
}

// syncRoles makes the p rows equal to Grants: the role definitions are
// reviewed code, the database holds them for Casbin. It reports whether
// anything changed.
func syncRoles(ctx context.Context, tx pgx.Tx) (bool, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7426002)`); err != nil {
		return false, verwerker.Internal("policy: lock roles", err)
	}
	want := map[[4]string]bool{}
	for role, perms := range Grants {
		scope := "tenant"
		if IsPlatformRole(role) {
			scope = verwerker.PlatformDomain
		}
		for _, perm := range perms {
			obj, act := splitPermission(perm)
			want[[4]string{role, scope, obj, act}] = true
		}
	}
	rows, err := tx.Query(ctx, `SELECT v0, v1, v2, v3 FROM casbin_rule WHERE ptype = 'p'`)
	if err != nil {
		return false, verwerker.Internal("policy: read roles", err)
	}
	have, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([4]string, error) {
		var k [4]string
		return k, r.Scan(&k[0], &k[1], &k[2], &k[3])
	})
	if err != nil {
		return false, verwerker.Internal("policy: read roles", err)
	}
	changed := false
	for _, k := range have {
		if want[k] {
			delete(want, k)
			continue
		}
		if _, err := tx.Exec(ctx, `DELETE FROM casbin_rule WHERE ptype = 'p' AND v0 = $1 AND v1 = $2 AND v2 = $3 AND v3 = $4`,
			k[0], k[1], k[2], k[3]); err != nil {
			return false, verwerker.Internal("policy: remove role grant", err)
		}
		changed = true
	}
	for k := range want {
		if _, err := tx.Exec(ctx, `INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES ('p', $1, $2, $3, $4)`,
			k[0], k[1], k[2], k[3]); err != nil {
			return false, verwerker.Internal("policy: add role grant", err)
		}
		changed = true
	}
	if changed {
		return true, bump(ctx, tx)
	}
	return false, nil
}

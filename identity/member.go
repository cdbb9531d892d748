package identity

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/policy"
)

// Member is a person's role in a domain.
type Member struct {
	User User
	Role string
}

// Members lists the people holding roles in domain, with their roles.
func (p *People) Members(ctx context.Context, domain string) ([]Member, error) {
	var ms []Member
	err := p.db.InTenantTx(ctx, domain, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT u.id, u.email, u.display_name, u.home_domain, u.password_hash IS NOT NULL,
			u.totp_enabled_at IS NOT NULL, u.created_at, u.disabled_at, r.v1 FROM casbin_rule r JOIN users u ON u.id = r.v0
			WHERE r.ptype = 'g' AND r.v2 = $1 ORDER BY u.id, r.v1 LIMIT 5000`, domain)
		if err != nil {
			return verwerker.Internal("identity: list members", err)
		}
		ms, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Member, error) {
			var m Member
			u := &m.User
			err := r.Scan(&u.ID, &u.Email, &u.DisplayName, &u.HomeDomain, &u.PasswordSet, &u.TOTPEnabled, &u.CreatedAt, &u.DisabledAt, &m.Role)
			return m, err
		})
		if err != nil {
			return verwerker.Internal("identity: list members", err)
		}
		return nil
	})
	return ms, err
}

// SetRole makes role the one role of a person in domain. Only accounts
// managed by that domain can be given its roles, so one customer's
// administrators never reach another customer's people.
func (p *People) SetRole(ctx context.Context, domain, userID, role string) error {
	g := policy.Grant{Subject: userID, Role: role, Domain: domain}
	if err := g.Check(); err != nil {
		return err
	}
	return p.db.InTenantTx(ctx, domain, func(tx pgx.Tx) error {
		var home string
		var disabled bool
		err := tx.QueryRow(ctx, `SELECT home_domain, disabled_at IS NOT NULL FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&home, &disabled)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && home != domain) {
			return verwerker.Errorf(verwerker.ENOTFOUND, "account not found")
		}
		if err != nil {
			return verwerker.Internal("identity: set role", err)
		}
		if disabled {
			return verwerker.Errorf(verwerker.ECONFLICT, "the account is disabled")
		}
		if _, err := policy.RemoveGrants(ctx, tx, userID, domain); err != nil {
			return err
		}
		if err := policy.AddGrant(ctx, tx, g); err != nil {
			return err
		}
		return p.audit.Record(ctx, tx, domain, "member.set_role", userID, "role "+role)
	})
}

// RemoveMember takes every role of a person in domain away, at once on
// every replica. Removing a member without roles is harmless; an account
// of another domain is not found.
func (p *People) RemoveMember(ctx context.Context, domain, userID string) error {
	return p.db.InTenantTx(ctx, domain, func(tx pgx.Tx) error {
		var home string
		err := tx.QueryRow(ctx, `SELECT home_domain FROM users WHERE id = $1`, userID).Scan(&home)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && home != domain) {
			return verwerker.Errorf(verwerker.ENOTFOUND, "account not found")
		}
		if err != nil {
			return verwerker.Internal("identity: remove member", err)
		}
		n, err := policy.RemoveGrants(ctx, tx, userID, domain)
		if err != nil || n == 0 {
			return err
		}
		return p.audit.Record(ctx, tx, domain, "member.remove", userID, "")
	})
}

// Grants returns the roles subject holds, in every domain.
func (p *People) Grants(ctx context.Context, subject string) ([]policy.Grant, error) {
	return policy.GrantsOf(ctx, p.db.Pool, subject)
}

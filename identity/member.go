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
		ms = []Member{}
		// The grants are policy's (casbin_rule), the accounts ours.
		grants, err := policy.GrantsIn(ctx, tx, domain)
		if err != nil {
			return err
		}
		ids := make([]string, 0, len(grants))
		for _, g := range grants {
			ids = append(ids, g.Subject)
		}
		rows, err := tx.Query(ctx, `SELECT id, email, display_name, home_domain, password_hash IS NOT NULL,
			totp_enabled_at IS NOT NULL, created_at, disabled_at FROM users WHERE id = ANY($1)`, ids)
		if err != nil {
			return verwerker.Internal("identity: list members", err)
		}
		users := map[string]User{}
		_, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct{}, error) {
			var u User
			err := r.Scan(&u.ID, &u.Email, &u.DisplayName, &u.HomeDomain, &u.PasswordSet, &u.TOTPEnabled, &u.CreatedAt, &u.DisabledAt)
			users[u.ID] = u
			return struct{}{}, err
		})
		if err != nil {
			return verwerker.Internal("identity: list members", err)
		}
		// In the grants' order (account id, role); API keys' grants name
		// no account and are left out.
		for _, g := range grants {
			if u, ok := users[g.Subject]; ok && len(ms) < 5000 {
				ms = append(ms, Member{User: u, Role: g.Role})
			}
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

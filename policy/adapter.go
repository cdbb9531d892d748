package policy

import (
	"context"
	"fmt"

	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker/store"
)

// Adapter is a Casbin persist.Adapter over the casbin_rule table with pgx
// v5. Every write raises the policy version in the same transaction, so
// every replica reloads before its next decision.
type Adapter struct {
	db *store.DB
}

var _ persist.Adapter = (*Adapter)(nil)

// NewAdapter returns an Adapter on db.
func NewAdapter(db *store.DB) *Adapter { return &Adapter{db: db} }

// LoadPolicy loads every rule into m.
func (a *Adapter) LoadPolicy(m model.Model) error {
	_, err := a.load(context.Background(), m)
	return err
}

// load reads the policy version and every rule in one snapshot.
func (a *Adapter) load(ctx context.Context, m model.Model) (int64, error) {
	tx, err := a.db.Pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("policy: load: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	if _, err := tx.Exec(ctx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY`); err != nil {
		return 0, fmt.Errorf("policy: load: %w", err)
	}
	version, err := Version(ctx, tx)
	if err != nil {
		return 0, fmt.Errorf("policy: load version: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT ptype, v0, v1, v2, v3, v4, v5 FROM casbin_rule ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("policy: load rules: %w", err)
	}
	defer rows.Close()
	var v [7]string
	for rows.Next() {
		if err := rows.Scan(&v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]); err != nil {
			return 0, fmt.Errorf("policy: load rules: %w", err)
		}
		rule := append([]string(nil), v[:]...) // the model keeps the slice
		for len(rule) > 1 && rule[len(rule)-1] == "" {
			rule = rule[:len(rule)-1]
		}
		if err := persist.LoadPolicyArray(rule, m); err != nil {
			return 0, fmt.Errorf("policy: load rule: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("policy: load rules: %w", err)
	}
	return version, nil
}

// SavePolicy replaces every rule with those of m.
func (a *Adapter) SavePolicy(m model.Model) error {
	ctx := context.Background()
	return a.db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM casbin_rule`); err != nil {
			return err
		}
		for _, sec := range []string{"p", "g"} {
			for ptype, ast := range m[sec] {
				for _, rule := range ast.Policy {
					if err := insertRule(ctx, tx, ptype, rule); err != nil {
						return err
					}
				}
			}
		}
		return bump(ctx, tx)
	})
}

// AddPolicy stores one rule.
func (a *Adapter) AddPolicy(_ string, ptype string, rule []string) error {
	ctx := context.Background()
	return a.db.InTx(ctx, func(tx pgx.Tx) error {
		if err := insertRule(ctx, tx, ptype, rule); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// RemovePolicy removes one rule.
func (a *Adapter) RemovePolicy(_ string, ptype string, rule []string) error {
	ctx := context.Background()
	v := padRule(rule)
	return a.db.InTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM casbin_rule WHERE ptype = $1 AND v0 = $2 AND v1 = $3 AND v2 = $4
			AND v3 = $5 AND v4 = $6 AND v5 = $7`, ptype, v[0], v[1], v[2], v[3], v[4], v[5])
		if err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// RemoveFilteredPolicy removes the rules whose fields from fieldIndex on
// equal fieldValues (an empty value matches anything).
func (a *Adapter) RemoveFilteredPolicy(_ string, ptype string, fieldIndex int, fieldValues ...string) error {
	if fieldIndex < 0 || fieldIndex+len(fieldValues) > 6 {
		return fmt.Errorf("policy: filter out of range")
	}
	ctx := context.Background()
	query, args := `DELETE FROM casbin_rule WHERE ptype = $1`, []any{ptype}
	for i, val := range fieldValues {
		if val == "" {
			continue
		}
		args = append(args, val)
		query += fmt.Sprintf(" AND v%d = $%d", fieldIndex+i, len(args))
	}
	return a.db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, query, args...); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

func insertRule(ctx context.Context, tx pgx.Tx, ptype string, rule []string) error {
	v := padRule(rule)
	_, err := tx.Exec(ctx, `INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT DO NOTHING`, ptype, v[0], v[1], v[2], v[3], v[4], v[5])
	return err
}

func padRule(rule []string) [6]string {
	var v [6]string
	copy(v[:], rule)
	return v
}

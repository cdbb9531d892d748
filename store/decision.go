package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// DecisionChannel is the LISTEN/NOTIFY channel on which TouchDecisionState
// announces, with the tenant id as payload, that a tenant's decision state
// changed.
const DecisionChannel = "verwerker_decisions"

// TouchDecisionState records inside tx that something the decision engine
// reads about tenantID changed (its active processing agreement, its
// contract, a subprocessor block): it raises the tenant's decision_state
// version and notifies DecisionChannel when tx commits. It returns the new
// version.
func TouchDecisionState(ctx context.Context, tx pgx.Tx, tenantID string) (int64, error) {
	var v int64
	err := tx.QueryRow(ctx, `INSERT INTO decision_state (tenant_id, version) VALUES ($1, 1)
		ON CONFLICT (tenant_id) DO UPDATE SET version = decision_state.version + 1
		RETURNING version`, tenantID).Scan(&v)
	if err != nil {
		return 0, err
	}
	_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, DecisionChannel, tenantID)
	return v, err
}

// DecisionStateVersion returns the tenant's decision_state version (0 if it
// never changed).
func DecisionStateVersion(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, tenantID string) (int64, error) {
	var v int64
	err := q.QueryRow(ctx, `SELECT coalesce((SELECT version FROM decision_state WHERE tenant_id = $1), 0)`, tenantID).Scan(&v)
	return v, err
}

package store

import (
	"context"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// DecisionChannel is the LISTEN/NOTIFY channel on which TouchDecisionState
// announces that a tenant's decision state changed, with the payload
// "<tenant id> <new version>" (ParseDecisionNotice).
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
	_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, DecisionChannel, tenantID+" "+strconv.FormatInt(v, 10))
	return v, err
}

// ParseDecisionNotice reads the payload of a DecisionChannel notification:
// the tenant and its new decision_state version (0 when the payload has
// none).
func ParseDecisionNotice(payload string) (tenantID string, version int64) {
	tenantID, v, _ := strings.Cut(payload, " ")
	version, _ = strconv.ParseInt(v, 10, 64)
	return tenantID, version
}

// EnsureDecisionState gives the tenant a decision_state row (at version 0)
// if it has none, so that LockDecisionState has a row to lock.
func EnsureDecisionState(ctx context.Context, tx pgx.Tx, tenantID string) error {
	_, err := tx.Exec(ctx, `INSERT INTO decision_state (tenant_id) VALUES ($1) ON CONFLICT (tenant_id) DO NOTHING`, tenantID)
	return err
}

// LockDecisionState returns the tenant's decision_state version and holds
// its row in share mode until tx ends: a change of the tenant's decision
// state (TouchDecisionState) waits for tx. The row must exist
// (EnsureDecisionState).
func LockDecisionState(ctx context.Context, tx pgx.Tx, tenantID string) (int64, error) {
	var v int64
	err := tx.QueryRow(ctx, `SELECT version FROM decision_state WHERE tenant_id = $1 FOR SHARE`, tenantID).Scan(&v)
	return v, err
}

// DecisionStateVersions returns every tenant's decision_state version.
func DecisionStateVersions(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) (map[string]int64, error) {
	rows, err := q.Query(ctx, `SELECT tenant_id, version FROM decision_state`)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	var t string
	var v int64
	_, err = pgx.ForEachRow(rows, []any{&t, &v}, func() error { out[t] = v; return nil })
	return out, err
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

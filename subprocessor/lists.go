package subprocessor

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/policy"
)

// Lists is the customers' effective lists and blocks as the agreements use
// them inside their own transactions: it implements dpa.Subprocessors and
// holds no state (dpa.NewService(db, clock, log, subprocessor.Lists{})).
type Lists struct{}

var _ dpa.Subprocessors = Lists{}

// Registered returns those of ids that are in the registry.
func (Lists) Registered(ctx context.Context, tx pgx.Tx, ids []string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT id FROM subprocessors WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Authorise sets the customer's effective list to the subprocessors
// authorised by the DPA version being activated (version id versionID),
// keeping the "since" of those already on it. Every id must be in the
// registry.
func (Lists) Authorise(ctx context.Context, tx pgx.Tx, tenantID, versionID string, ids []string, now time.Time) error {
	if ids == nil {
		ids = []string{}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM tenant_subprocessors WHERE tenant_id = $1 AND NOT (subprocessor_id = ANY($2))`, tenantID, ids); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO tenant_subprocessors (tenant_id, subprocessor_id, since, source)
		SELECT $1, id, $3, $4 FROM unnest($2::text[]) AS id ON CONFLICT (tenant_id, subprocessor_id) DO NOTHING`, tenantID, ids, now, versionID)
	return err
}

// Effective returns the ids of the subprocessors that touch the tenant's
// data now, sorted (the package function Effective).
func (Lists) Effective(ctx context.Context, tx pgx.Tx, tenantID string) ([]string, error) {
	return Effective(ctx, tx, tenantID)
}

// Details returns the registry entries of the subprocessors that touch the
// tenant's data now, sorted by id.
func (Lists) Details(ctx context.Context, tx pgx.Tx, tenantID string) ([]dpa.SubprocessorEntry, error) {
	rows, err := tx.Query(ctx, `SELECT `+entryColumns+` FROM subprocessors
		WHERE id IN (SELECT subprocessor_id FROM tenant_subprocessors WHERE tenant_id = $1) ORDER BY id`, tenantID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (dpa.SubprocessorEntry, error) {
		e, err := scanEntry(row)
		return dpa.SubprocessorEntry(e), err
	})
}

// Blocks returns the tenant's open blocks, oldest first, as the decision
// policy reads them.
func (Lists) Blocks(ctx context.Context, tx pgx.Tx, tenantID string) ([]policy.Block, error) {
	blocks, err := Blocks(ctx, tx, tenantID)
	if err != nil {
		return nil, err
	}
	out := make([]policy.Block, 0, len(blocks))
	for _, b := range blocks {
		out = append(out, policy.Block{Subprocessor: b.Subprocessor, ChangeID: b.ChangeID, Categories: b.Categories, Locations: b.Locations})
	}
	return out, nil
}

package subprocessor

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Block is an open objection that blocks a customer's processing through a
// subprocessor: every route (category x location) the subprocessor covers
// is closed for the customer until the DPO resolves the objection. The
// decision engine reads blocks with Blocks.
type Block struct {
	// Subprocessor is the blocked subprocessor's id.
	Subprocessor string `json:"subprocessor"`
	// ChangeID is the change the customer objected to.
	ChangeID string `json:"change_id"`
	// Since is when the customer objected.
	Since time.Time `json:"since"`
	// Categories and Locations are the routes the block covers.
	Categories []string `json:"categories"`
	Locations  []string `json:"locations"`
}

// Covers reports whether the block closes processing category in region.
func (b *Block) Covers(categoryID, regionID string) bool {
	return coversRoute(b.Categories, b.Locations, categoryID, regionID)
}

// Blocks returns the tenant's open blocks, oldest first. tx must be scoped
// to the tenant (store.DB.InTenantTx) or to the platform.
func Blocks(ctx context.Context, tx pgx.Tx, tenantID string) ([]Block, error) {
	rows, err := tx.Query(ctx, `SELECT subprocessor_id, change_id, objected_at, categories, locations
		FROM subprocessor_blocks WHERE tenant_id = $1 ORDER BY objected_at, change_id`, tenantID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Block, error) {
		var b Block
		err := r.Scan(&b.Subprocessor, &b.ChangeID, &b.Since, &b.Categories, &b.Locations)
		b.Since = b.Since.UTC()
		return b, err
	})
}

// Effective returns the ids of the subprocessors that touch the tenant's
// data now, sorted. tx must be scoped to the tenant or the platform.
func Effective(ctx context.Context, tx pgx.Tx, tenantID string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT subprocessor_id FROM tenant_subprocessors WHERE tenant_id = $1 ORDER BY subprocessor_id`, tenantID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

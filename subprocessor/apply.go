package subprocessor

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker/store"
)

// ApplyDue applies every pending notice whose effective time has come: the
// change takes effect for that customer (its effective list gains or loses
// the subprocessor). It is idempotent and safe to run on every replica at
// once; it returns how many notices it applied. A periodic job calls it.
func (r *Registry) ApplyDue(ctx context.Context) (int, error) {
	now := r.clock.Now().UTC()
	applied := 0
	err := r.platformTx(ctx, "apply", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT n.tenant_id, c.id, c.kind, coalesce(c.subprocessor, ''), coalesce(c.replaces, '')
			FROM subprocessor_notices n JOIN subprocessor_changes c ON c.id = n.change_id
			WHERE n.status = 'pending' AND n.delivery = 'delivered' AND n.effective_at <= $1 AND c.status = 'announced'
			ORDER BY n.effective_at, n.tenant_id FOR UPDATE OF n SKIP LOCKED`, now)
		if err != nil {
			return err
		}
		type due struct{ tenant, change, kind, sub, replaces string }
		var list []due
		for rows.Next() {
			var d due
			if err := rows.Scan(&d.tenant, &d.change, &d.kind, &d.sub, &d.replaces); err != nil {
				rows.Close()
				return err
			}
			list = append(list, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, d := range list {
			if d.replaces != "" {
				if _, err := tx.Exec(ctx, `DELETE FROM tenant_subprocessors WHERE tenant_id = $1 AND subprocessor_id = $2`, d.tenant, d.replaces); err != nil {
					return err
				}
			}
			if d.sub != "" {
				if _, err := tx.Exec(ctx, `INSERT INTO tenant_subprocessors (tenant_id, subprocessor_id, since, source) VALUES ($1, $2, $3, $4)
					ON CONFLICT (tenant_id, subprocessor_id) DO NOTHING`, d.tenant, d.sub, now, d.change); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE subprocessor_notices SET status = 'effective', applied_at = $3 WHERE tenant_id = $1 AND change_id = $2`,
				d.tenant, d.change, now); err != nil {
				return err
			}
			if _, err := store.TouchDecisionState(ctx, tx, d.tenant); err != nil {
				return err
			}
			if err := r.audit.Record(ctx, tx, d.tenant, "subprocessor.change.apply", d.change, "kind="+d.kind); err != nil {
				return err
			}
			applied++
		}
		return nil
	})
	return applied, err
}

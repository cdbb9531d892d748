package records

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker/keys"
)

// The store keeps the subjects' wrapped data keys, so it is what a rotation
// rewraps.
var _ keys.WrappedKeyStore = (*Store)(nil)

// ListWrapped returns up to limit wrapped subject data keys of tenant whose
// subject ids sort after after, ordered by subject id (keys.WrappedKeyStore).
func (s *Store) ListWrapped(ctx context.Context, tenant, after string, limit int) ([]keys.WrappedKey, error) {
	var out []keys.WrappedKey
	err := s.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT subject_id, wrapped FROM subject_keys WHERE tenant_id = $1 AND subject_id > $2
			ORDER BY subject_id LIMIT $3`, tenant, after, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, w string
			if err := rows.Scan(&id, &w); err != nil {
				return err
			}
			out = append(out, keys.WrappedKey{ID: id, Wrapped: []byte(w)})
		}
		return rows.Err()
	})
	return out, internal("records: list wrapped keys", err)
}

// ReplaceWrapped stores each item's New in place of its Old where the
// stored key is still Old; an erased subject (no row) or one rewrapped
// meanwhile is left alone (keys.WrappedKeyStore).
func (s *Store) ReplaceWrapped(ctx context.Context, tenant string, items []keys.Rewrapped) (int, error) {
	ids := make([]string, len(items))
	olds := make([]string, len(items))
	news := make([]string, len(items))
	versions := make([]int32, len(items))
	for i, it := range items {
		ids[i], olds[i], news[i] = it.ID, string(it.Old), string(it.New)
		v, err := keys.WrappedVersion(it.New)
		if err != nil {
			return 0, internal("records: replace wrapped keys", err)
		}
		versions[i] = int32(v)
	}
	var n int64
	err := s.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE subject_keys k SET wrapped = t.new, key_version = t.version
			FROM unnest($2::text[], $3::text[], $4::text[], $5::int[]) AS t(id, old, new, version)
			WHERE k.tenant_id = $1 AND k.subject_id = t.id AND k.wrapped = t.old`, tenant, ids, olds, news, versions)
		n = tag.RowsAffected()
		return err
	})
	return int(n), internal("records: replace wrapped keys", err)
}

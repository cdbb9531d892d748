package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/store/storetest"
)

// TestInTenantTxIsWalled checks the second wall: inside a tenant-scoped
// transaction, SQL that forgets its tenant filter still sees, changes and
// writes only that tenant's rows.
func TestInTenantTxIsWalled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	a, b := verwerker.NewID(verwerker.PrefixTenant, now), verwerker.NewID(verwerker.PrefixTenant, now.Add(time.Millisecond))
	for i, id := range []string{a, b} {
		_, err := db.Pool.Exec(ctx, `INSERT INTO tenants (id, name, country, contact_email, timezone, status, created_at, updated_at)
			VALUES ($1, $2, 'NL', 'privacy@x.example', 'Europe/Amsterdam', 'active', $3, $3)`, id, []string{"A", "B"}[i], now)
		require.NoError(t, err)
		_, err = db.Pool.Exec(ctx, `INSERT INTO api_keys (id, prefix, secret_hash, label, role, domain, created_at)
			VALUES ($1, $2, '\x00', 'k', 'auditor', $3, $4)`, verwerker.NewID(verwerker.PrefixAPIKey, now.Add(time.Duration(i))), []string{"aaaaaaaaaaaa", "bbbbbbbbbbbb"}[i], id, now)
		require.NoError(t, err)
	}

	count := func(tx pgx.Tx, table string) int {
		var n int
		require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n))
		return n
	}

	t.Run("SeesOnlyItsTenant", func(t *testing.T) {
		require.NoError(t, db.InTenantTx(ctx, a, func(tx pgx.Tx) error {
			require.Equal(t, 1, count(tx, "tenants"))
			require.Equal(t, 1, count(tx, "api_keys"))
			var id string
			require.NoError(t, tx.QueryRow(ctx, `SELECT id FROM tenants`).Scan(&id))
			require.Equal(t, a, id)
			return nil
		}))
	})

	t.Run("CannotChangeAnotherTenant", func(t *testing.T) {
		require.NoError(t, db.InTenantTx(ctx, a, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `UPDATE tenants SET name = 'taken' WHERE id = $1`, b)
			require.NoError(t, err)
			require.Zero(t, tag.RowsAffected())
			tag, err = tx.Exec(ctx, `DELETE FROM api_keys WHERE domain = $1`, b)
			require.NoError(t, err)
			require.Zero(t, tag.RowsAffected())
			return nil
		}))
		var name string
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT name FROM tenants WHERE id = $1`, b).Scan(&name))
		require.Equal(t, "B", name)
	})

	t.Run("CannotWriteIntoAnotherTenant", func(t *testing.T) {
		err := db.InTenantTx(ctx, a, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, prefix, secret_hash, label, role, domain, created_at)
				VALUES ('key_x', 'cccccccccccc', '\x00', 'k', 'auditor', $1, $2)`, b, now)
			return err
		})
		require.Error(t, err)
		require.Contains(t, err.Error(), "row-level security")
	})

	t.Run("PlatformScopeSeesAll", func(t *testing.T) {
		require.NoError(t, db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
			require.Equal(t, 2, count(tx, "tenants"))
			return nil
		}))
	})

	t.Run("ScopeEndsWithTransaction", func(t *testing.T) {
		// The pool reuses connections: an unscoped transaction afterwards
		// runs as the owner again, with no tenant scope left behind.
		for range 5 {
			require.NoError(t, db.InTenantTx(ctx, a, func(pgx.Tx) error { return nil }))
		}
		require.NoError(t, db.InTx(ctx, func(tx pgx.Tx) error {
			require.Equal(t, 2, count(tx, "tenants"))
			var role, scope string
			require.NoError(t, tx.QueryRow(ctx, `SELECT current_user, coalesce(current_setting('verwerker.tenant', true), '')`).Scan(&role, &scope))
			require.NotEqual(t, "verwerker_app", role)
			require.Empty(t, scope)
			return nil
		}))
	})
}

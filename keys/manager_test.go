package keys_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
)

// counting wraps a keyring and counts the requests that reach it.
type counting struct {
	keys.Keyring
	dataKeys, unwraps, unwrapped atomic.Int64
}

func (c *counting) DataKey(ctx context.Context, name string) (keys.DataKey, error) {
	c.dataKeys.Add(1)
	return c.Keyring.DataKey(ctx, name)
}

func (c *counting) Unwrap(ctx context.Context, name string, wrapped [][]byte) ([][]byte, error) {
	c.unwraps.Add(1)
	c.unwrapped.Add(int64(len(wrapped)))
	return c.Keyring.Unwrap(ctx, name, wrapped)
}

var tenantSeq atomic.Int64

// newTenant inserts a tenant row and returns its id.
func newTenant(t testing.TB, db *store.DB) string {
	t.Helper()
	now := time.Now()
	id := verwerker.NewID(verwerker.PrefixTenant, now.Add(time.Duration(tenantSeq.Add(1))))
	_, err := db.Pool.Exec(context.Background(), `INSERT INTO tenants (id, name, country, contact_email, timezone, status, created_at, updated_at)
		VALUES ($1, $1, 'NL', 'privacy@klant.example', 'Europe/Amsterdam', 'active', $2, $2)`, id, now)
	require.NoError(t, err)
	return id
}

func TestManagerDataKeysAndCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	eachRing(t, func(t *testing.T, r ring) {
		ring := &counting{Keyring: r.ring}
		m := keys.NewManager(db, ring, keys.ManagerOptions{BatchSize: 3})
		t.Cleanup(m.Close)
		tenant := newTenant(t, db)

		_, err := m.NewDataKey(ctx, tenant)
		require.ErrorIs(t, err, keys.ErrNoKey, "keys are only made by CreateTenantKey")
		require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))

		tk, err := m.CreateTenantKey(ctx, tenant)
		require.NoError(t, err)
		require.Regexp(t, `^verwerker-`+tenant+`-[0-9a-f]{16}$`, tk.Name)
		require.Equal(t, r.ring.Kind(), tk.Keyring)
		require.Equal(t, 1, tk.LatestVersion)
		again, err := m.CreateTenantKey(ctx, tenant)
		require.NoError(t, err)
		require.Equal(t, tk.Name, again.Name, "idempotent")
		require.True(t, r.exists(t, tk.Name))

		// Eight subjects, each with its own data key and a sealed record.
		type subject struct {
			id      string
			wrapped []byte
			sealed  []byte
		}
		var subjects []subject
		for i := range 8 {
			k, err := m.NewDataKey(ctx, tenant)
			require.NoError(t, err)
			s := subject{id: fmt.Sprintf("sub_%d", i), wrapped: k.Wrapped()}
			s.sealed, err = k.Seal(keys.AAD{Tenant: tenant, Subject: s.id, Kind: "chat_message"}, []byte("bericht "+s.id))
			require.NoError(t, err)
			k.Release()
			subjects = append(subjects, s)
		}
		require.EqualValues(t, 8, ring.dataKeys.Load())

		// Cached: no keyring request at all.
		wrapped := make([][]byte, len(subjects))
		for i, s := range subjects {
			wrapped[i] = s.wrapped
		}
		ks, err := m.Keys(ctx, tenant, wrapped)
		require.NoError(t, err)
		keys.ReleaseAll(ks)
		require.Zero(t, ring.unwraps.Load())

		// Cold cache: the misses are unwrapped in batches of three, each wrapped key once.
		m.Cache().Purge("")
		withDup := append(append([][]byte{}, wrapped...), wrapped[0])
		ks, err = m.Keys(ctx, tenant, withDup)
		require.NoError(t, err)
		require.EqualValues(t, 3, ring.unwraps.Load(), "8 misses in batches of 3")
		require.EqualValues(t, 8, ring.unwrapped.Load())
		for i, s := range subjects {
			pt, err := ks[i].Open(keys.AAD{Tenant: tenant, Subject: s.id, Kind: "chat_message"}, s.sealed)
			require.NoError(t, err)
			require.Equal(t, "bericht "+s.id, string(pt))
			_, err = ks[i].Open(keys.AAD{Tenant: tenant, Subject: "sub_other", Kind: "chat_message"}, s.sealed)
			require.ErrorIs(t, err, keys.ErrSealed, "a record does not open as another subject's")
		}
		keys.ReleaseAll(ks)

		// One unreadable wrapped key fails alone.
		ks, err = m.Keys(ctx, tenant, [][]byte{wrapped[1], []byte("vault:v1:bm9wZQ==")})
		var be *keys.BatchError
		require.ErrorAs(t, err, &be)
		require.NotNil(t, ks[0])
		require.Nil(t, ks[1])
		require.ErrorIs(t, be.Errs[1], keys.ErrUnreadable)
		keys.ReleaseAll(ks)

		k, err := m.Key(ctx, tenant, wrapped[2])
		require.NoError(t, err)
		k.Release()

		// Status for a key view.
		row, st, err := m.Status(ctx, tenant)
		require.NoError(t, err)
		require.Equal(t, tk.Name, row.Name)
		require.Equal(t, 1, st.LatestVersion)
		require.False(t, st.Exportable)
		require.False(t, st.DeletionAllowed)
	})
}

// TestManagerShredTenant: after the shred, no data of the tenant can be
// decrypted, not even with wrapped keys saved before (a backup), and the
// tenant never gets a key or data key again.
func TestManagerShredTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	eachRing(t, func(t *testing.T, r ring) {
		m := keys.NewManager(db, r.ring, keys.ManagerOptions{})
		t.Cleanup(m.Close)
		tenant, bystander := newTenant(t, db), newTenant(t, db)
		tk, err := m.CreateTenantKey(ctx, tenant)
		require.NoError(t, err)
		_, err = m.CreateTenantKey(ctx, bystander)
		require.NoError(t, err)

		k, err := m.NewDataKey(ctx, tenant)
		require.NoError(t, err)
		aad := keys.AAD{Tenant: tenant, Subject: "sub_1", Kind: "chat_message"}
		_, err = k.Seal(aad, []byte("persoonsgegevens"))
		require.NoError(t, err)
		backup := k.Wrapped() // what a database backup holds
		k.Release()
		kb, err := m.NewDataKey(ctx, bystander)
		require.NoError(t, err)
		bystanderWrapped := kb.Wrapped()
		kb.Release()

		shredded, err := m.ShredTenant(ctx, tenant)
		require.NoError(t, err)
		require.NotNil(t, shredded.ShreddedAt)
		require.NotNil(t, shredded.DestroyedAt)
		require.False(t, r.exists(t, tk.Name), "the tenant key is gone from the keyring")

		// Nothing decrypts any more, cached or not.
		_, err = m.Key(ctx, tenant, backup)
		require.ErrorIs(t, err, keys.ErrUnreadable)
		require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))
		fresh := keys.NewManager(db, r.ring, keys.ManagerOptions{}) // another replica
		t.Cleanup(fresh.Close)
		_, err = fresh.Key(ctx, tenant, backup)
		require.ErrorIs(t, err, keys.ErrUnreadable)
		require.ErrorIs(t, err, keys.ErrShredded)
		require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))
		_, err = r.ring.Unwrap(ctx, tk.Name, [][]byte{backup})
		require.ErrorIs(t, err, keys.ErrUnreadable)

		// No new data key, no new key: refused by the tombstone, on every replica.
		for _, mm := range []*keys.Manager{m, fresh} {
			_, err = mm.NewDataKey(ctx, tenant)
			require.ErrorIs(t, err, keys.ErrShredded)
			require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err))
			_, err = mm.CreateTenantKey(ctx, tenant)
			require.ErrorIs(t, err, keys.ErrShredded)
		}
		_, err = r.ring.DataKey(ctx, tk.Name)
		require.ErrorIs(t, err, keys.ErrNoKey, "the keyring does not re-create the name either")
		require.False(t, r.exists(t, tk.Name))
		_, err = m.RotateTenant(ctx, tenant, &tableStore{db: db}, keys.RotateOptions{Settle: -1})
		require.ErrorIs(t, err, keys.ErrShredded)

		// Shredding again is harmless; the bystander is untouched.
		again, err := m.ShredTenant(ctx, tenant)
		require.NoError(t, err)
		require.Equal(t, shredded.ShreddedAt.UnixMicro(), again.ShreddedAt.UnixMicro())
		kb, err = fresh.Key(ctx, bystander, bystanderWrapped)
		require.NoError(t, err)
		kb.Release()

		// The tombstone holds even against the database owner.
		for _, stmt := range []string{
			`UPDATE tenant_keys SET shredded_at = NULL WHERE tenant_id = $1`,
			`UPDATE tenant_keys SET key_name = 'verwerker-new' WHERE tenant_id = $1`,
			`UPDATE tenant_keys SET destroyed_at = NULL WHERE tenant_id = $1`,
			`DELETE FROM tenant_keys WHERE tenant_id = $1`,
		} {
			_, err := db.Pool.Exec(ctx, stmt, tenant)
			require.ErrorContains(t, err, "tenant_keys:", stmt)
		}
		_, err = db.Pool.Exec(ctx, `TRUNCATE tenant_keys`)
		require.ErrorContains(t, err, "tenant_keys:")
	})
}

func TestManagerShredBeforeAnyKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	local := openLocal(t, t.TempDir()+"/keyring.key")
	m := keys.NewManager(db, local, keys.ManagerOptions{})
	tenant := newTenant(t, db)
	tk, err := m.ShredTenant(ctx, tenant)
	require.NoError(t, err)
	require.Empty(t, tk.Name)
	require.NotNil(t, tk.ShreddedAt)
	require.Nil(t, tk.DestroyedAt, "there was nothing to destroy")
	_, err = m.CreateTenantKey(ctx, tenant)
	require.ErrorIs(t, err, keys.ErrShredded)
	_, err = m.NewDataKey(ctx, tenant)
	require.ErrorIs(t, err, keys.ErrShredded)
	_, _, err = m.Status(ctx, tenant)
	require.NoError(t, err)
}

// TestTenantKeysRowSecurity: tenant_keys sits behind the second wall.
func TestTenantKeysRowSecurity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	m := keys.NewManager(db, openLocal(t, t.TempDir()+"/keyring.key"), keys.ManagerOptions{})
	a, b := newTenant(t, db), newTenant(t, db)
	for _, tenant := range []string{a, b} {
		_, err := m.CreateTenantKey(ctx, tenant)
		require.NoError(t, err)
	}
	require.NoError(t, db.InTenantTx(ctx, a, func(tx pgx.Tx) error {
		var n int
		require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM tenant_keys`).Scan(&n))
		require.Equal(t, 1, n)
		tag, err := tx.Exec(ctx, `UPDATE tenant_keys SET rotated_at = now() WHERE tenant_id = $1`, b)
		require.NoError(t, err)
		require.Zero(t, tag.RowsAffected())
		return nil
	}))
}

// TestShredPurgesOtherReplicasCaches: a replica that holds a tenant's data
// key in its cache drops it as soon as another replica shreds the tenant
// (LISTEN/NOTIFY), instead of keeping it for the cache's lifetime.
func TestShredPurgesOtherReplicasCaches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	ring, err := keys.OpenLocalKeyring(filepath.Join(t.TempDir(), "keyring.key"), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	a := keys.NewManager(db, ring, keys.ManagerOptions{})
	t.Cleanup(a.Close)
	b := keys.NewManager(db, ring, keys.ManagerOptions{}) // another replica
	t.Cleanup(b.Close)
	listenCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	go b.Listen(listenCtx)

	tenant := newTenant(t, db)
	_, err = a.CreateTenantKey(ctx, tenant)
	require.NoError(t, err)
	k, err := a.NewDataKey(ctx, tenant)
	require.NoError(t, err)
	wrapped := k.Wrapped()
	k.Release()
	kb, err := b.Key(ctx, tenant, wrapped)
	require.NoError(t, err)
	kb.Release()
	require.Equal(t, 1, b.Cache().Len(), "replica b holds the key")

	_, err = a.ShredTenant(ctx, tenant)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.Cache().Len() == 0 }, 10*time.Second, 10*time.Millisecond,
		"replica b dropped the shredded tenant's key")
	_, err = b.Key(ctx, tenant, wrapped)
	require.ErrorIs(t, err, keys.ErrShredded)
}

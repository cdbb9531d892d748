package keys_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
)

// tableStore is a tiny WrappedKeyStore over a table, the way the records
// package will keep its subjects' wrapped keys.
type tableStore struct {
	db *store.DB
	// pause, when set, is called before each page is listed.
	pause func()
}

func newTableStore(t *testing.T, db *store.DB) *tableStore {
	t.Helper()
	_, err := db.Pool.Exec(context.Background(), `CREATE TABLE test_wrapped_keys (
		tenant_id text NOT NULL, id text NOT NULL, wrapped bytea NOT NULL, PRIMARY KEY (tenant_id, id))`)
	require.NoError(t, err)
	return &tableStore{db: db}
}

func (s *tableStore) put(t *testing.T, tenant, id string, wrapped []byte) {
	t.Helper()
	_, err := s.db.Pool.Exec(context.Background(), `INSERT INTO test_wrapped_keys VALUES ($1, $2, $3)`, tenant, id, wrapped)
	require.NoError(t, err)
}

func (s *tableStore) all(t *testing.T, tenant string) map[string][]byte {
	t.Helper()
	rows, err := s.db.Pool.Query(context.Background(), `SELECT id, wrapped FROM test_wrapped_keys WHERE tenant_id = $1`, tenant)
	require.NoError(t, err)
	out := map[string][]byte{}
	var id string
	var w []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &w}, func() error { out[id] = append([]byte(nil), w...); return nil })
	require.NoError(t, err)
	return out
}

func (s *tableStore) ListWrapped(ctx context.Context, tenant, after string, limit int) ([]keys.WrappedKey, error) {
	if s.pause != nil {
		s.pause()
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT id, wrapped FROM test_wrapped_keys WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, tenant, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (keys.WrappedKey, error) {
		var w keys.WrappedKey
		return w, r.Scan(&w.ID, &w.Wrapped)
	})
}

func (s *tableStore) ReplaceWrapped(ctx context.Context, tenant string, items []keys.Rewrapped) (int, error) {
	n := 0
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		n = 0
		for _, it := range items {
			tag, err := tx.Exec(ctx, `UPDATE test_wrapped_keys SET wrapped = $4 WHERE tenant_id = $1 AND id = $2 AND wrapped = $3`, tenant, it.ID, it.Old, it.New)
			if err != nil {
				return err
			}
			n += int(tag.RowsAffected())
		}
		return nil
	})
	return n, err
}

// TestRotateTenant runs rotation cycles over 20 subjects in batches of 6:
// every stored wrapped key moves to the new version, every record still
// opens, the old version is trimmed, and the wrapped keys of a backup taken
// before the cycle (including those of a subject erased since) no longer
// unwrap.
func TestRotateTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	st := newTableStore(t, db)
	eachRing(t, func(t *testing.T, r ring) {
		clock := verwerker.NewManualClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		m := keys.NewManager(db, r.ring, keys.ManagerOptions{BatchSize: 6, Clock: clock})
		t.Cleanup(m.Close)
		tenant := newTenant(t, db)
		_, err := m.CreateTenantKey(ctx, tenant)
		require.NoError(t, err)

		sealed := map[string][]byte{}
		for i := range 20 {
			id := fmt.Sprintf("sub_%02d", i)
			k, err := m.NewDataKey(ctx, tenant)
			require.NoError(t, err)
			sealed[id], err = k.Seal(keys.AAD{Tenant: tenant, Subject: id, Kind: "chat_message"}, []byte("bericht van "+id))
			require.NoError(t, err)
			st.put(t, tenant, id, k.Wrapped())
			k.Release()
		}
		backup := st.all(t, tenant)
		// A subject erased before the cycle: its row (wrapped key) is deleted.
		_, err = db.Pool.Exec(ctx, `DELETE FROM test_wrapped_keys WHERE tenant_id = $1 AND id = 'sub_07'`, tenant)
		require.NoError(t, err)

		for cycle := 2; cycle <= 3; cycle++ {
			clock.Advance(24 * time.Hour)
			res, err := m.RotateTenant(ctx, tenant, st, keys.RotateOptions{Settle: -1})
			require.NoError(t, err)
			require.Equal(t, keys.RotationResult{Tenant: tenant, Version: cycle, MinDecryptionVersion: cycle, Rewrapped: 19}, res)

			now := st.all(t, tenant)
			require.Len(t, now, 19)
			fresh := keys.NewManager(db, r.ring, keys.ManagerOptions{}) // cold cache
			for id, w := range now {
				v, err := keys.WrappedVersion(w)
				require.NoError(t, err)
				require.Equal(t, cycle, v, id)
				k, err := fresh.Key(ctx, tenant, w)
				require.NoError(t, err, id)
				pt, err := k.Open(keys.AAD{Tenant: tenant, Subject: id, Kind: "chat_message"}, sealed[id])
				require.NoError(t, err, id)
				require.Equal(t, "bericht van "+id, string(pt))
				k.Release()
			}
			for id, w := range backup {
				_, err := fresh.Key(ctx, tenant, w)
				require.ErrorIs(t, err, keys.ErrUnreadable, "backup key of %s after cycle %d", id, cycle)
			}
			fresh.Close()

			tk, ks, err := m.Status(ctx, tenant)
			require.NoError(t, err)
			require.Equal(t, cycle, tk.LatestVersion)
			require.Equal(t, cycle, tk.MinDecryptionVersion)
			require.NotNil(t, tk.RotatedAt)
			require.True(t, tk.RotatedAt.Equal(clock.Now()))
			require.Equal(t, cycle, ks.MinAvailableVersion, "older versions trimmed")
			backup = now
		}

		// New subjects after the cycles use the latest version.
		k, err := m.NewDataKey(ctx, tenant)
		require.NoError(t, err)
		require.Equal(t, 3, k.Version())
		k.Release()
	})
}

// localTenant gives a test its database, wrapped-key table, a manager on a
// local keyring and a tenant with a key.
func localTenant(t *testing.T) (*store.DB, *tableStore, *keys.Manager, string) {
	t.Helper()
	db := storetest.New(t)
	st := newTableStore(t, db)
	m := keys.NewManager(db, openLocal(t, t.TempDir()+"/k.key"), keys.ManagerOptions{})
	tenant := newTenant(t, db)
	_, err := m.CreateTenantKey(context.Background(), tenant)
	require.NoError(t, err)
	return db, st, m, tenant
}

// TestRotateKeep: keeping two versions leaves last cycle's backups readable
// for one more cycle.
func TestRotateKeep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, st, m, tenant := localTenant(t)
	k, err := m.NewDataKey(ctx, tenant)
	require.NoError(t, err)
	st.put(t, tenant, "sub_1", k.Wrapped())
	v1 := k.Wrapped()
	k.Release()
	m.Cache().Purge("")

	res, err := m.RotateTenant(ctx, tenant, st, keys.RotateOptions{Settle: -1, Keep: 2})
	require.NoError(t, err)
	require.Equal(t, 1, res.MinDecryptionVersion)
	k, err = m.Key(ctx, tenant, v1)
	require.NoError(t, err, "one cycle old: still readable")
	k.Release()
	m.Cache().Purge("")
	res, err = m.RotateTenant(ctx, tenant, st, keys.RotateOptions{Settle: -1, Keep: 2})
	require.NoError(t, err)
	require.Equal(t, 2, res.MinDecryptionVersion)
	_, err = m.Key(ctx, tenant, v1)
	require.ErrorIs(t, err, keys.ErrUnreadable, "two cycles old: gone")
}

// TestRotateOneAtATime: a second rotation of the same tenant while one runs
// is refused.
func TestRotateOneAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, st, m, tenant := localTenant(t)

	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	blocking := &tableStore{db: db, pause: func() { once.Do(func() { close(entered); <-release }) }}
	done := make(chan error, 1)
	go func() {
		_, err := m.RotateTenant(ctx, tenant, blocking, keys.RotateOptions{Settle: -1})
		done <- err
	}()
	select {
	case <-entered:
	case err := <-done:
		t.Fatalf("the first rotation ended before listing: %v", err)
	}
	_, err := m.RotateTenant(ctx, tenant, st, keys.RotateOptions{Settle: -1})
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err))
	close(release)
	require.NoError(t, <-done)
	_, err = m.RotateTenant(ctx, tenant, st, keys.RotateOptions{Settle: -1})
	require.NoError(t, err, "free again")
}

// TestRotateDue rotates exactly the tenants whose cycle is due.
func TestRotateDue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	st := newTableStore(t, db)
	clock := verwerker.NewManualClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	m := keys.NewManager(db, openLocal(t, t.TempDir()+"/k.key"), keys.ManagerOptions{Clock: clock})
	old, shredded := newTenant(t, db), newTenant(t, db)
	for _, tenant := range []string{old, shredded} {
		_, err := m.CreateTenantKey(ctx, tenant)
		require.NoError(t, err)
	}
	_, err := m.ShredTenant(ctx, shredded)
	require.NoError(t, err)
	clock.Advance(20 * 24 * time.Hour)
	young := newTenant(t, db)
	_, err = m.CreateTenantKey(ctx, young)
	require.NoError(t, err)
	clock.Advance(11 * 24 * time.Hour)

	res, err := m.RotateDue(ctx, 30*24*time.Hour, st, keys.RotateOptions{Settle: -1})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Equal(t, old, res[0].Tenant)
	res, err = m.RotateDue(ctx, 30*24*time.Hour, st, keys.RotateOptions{Settle: -1})
	require.NoError(t, err)
	require.Empty(t, res, "just rotated")
}

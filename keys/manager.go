package keys

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/store"
)

// Manager is what the rest of verwerker uses for tenant and data keys: it
// ties a Keyring to the tenant_keys table (which key belongs to which
// tenant, and the tombstones of shredded tenants) and to a Cache of
// unwrapped data keys.
//
// Per tenant there is one key-encryption key in the keyring; per subject
// one data key from the keyring, of which only the wrapped form is stored
// (by the caller). Records are sealed locally with the data key
// (AES-256-GCM, see Seal), so the keyring sees one request per new subject
// and per cache miss, never one per record.
//
// Manager does not write audit events (package audit depends on keys); its
// callers record who created, rotated or shredded what.
type Manager struct {
	db    *store.DB
	ring  Keyring
	cache *Cache
	clock verwerker.Clock
	log   *slog.Logger
	batch int

	names sync.Map // tenant -> key name; a tenant's key name never changes
}

// ManagerOptions tune a Manager. The zero value is usable.
type ManagerOptions struct {
	// CacheSize bounds the number of unwrapped data keys in memory;
	// DefaultCacheSize when zero.
	CacheSize int
	// CacheTTL bounds how long an unwrapped data key stays in memory;
	// DefaultCacheTTL when zero.
	CacheTTL time.Duration
	// BatchSize bounds the wrapped keys per keyring request (unwrap,
	// rewrap); DefaultBatchSize when zero.
	BatchSize int
	// Clock gives "now"; the system clock when nil.
	Clock verwerker.Clock
	// Logger receives rotation and shredding events; slog's default when
	// nil.
	Logger *slog.Logger
}

// DefaultBatchSize is how many wrapped keys go to the keyring in one
// request unless ManagerOptions.BatchSize says otherwise.
const DefaultBatchSize = 250

// NewManager returns a Manager for the tenant keys in db, held in ring.
func NewManager(db *store.DB, ring Keyring, opts ManagerOptions) *Manager {
	m := &Manager{db: db, ring: ring, clock: opts.Clock, log: opts.Logger, batch: opts.BatchSize}
	if m.clock == nil {
		m.clock = verwerker.SystemClock{}
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.batch <= 0 {
		m.batch = DefaultBatchSize
	}
	m.cache = NewCache(opts.CacheSize, opts.CacheTTL, m.clock)
	return m
}

// Keyring returns the keyring the manager uses.
func (m *Manager) Keyring() Keyring { return m.ring }

// Cache returns the cache of unwrapped data keys.
func (m *Manager) Cache() *Cache { return m.cache }

// Close empties the cache, zeroing every key that is not lent out.
func (m *Manager) Close() { m.cache.Purge("") }

// TenantKey is a tenant's row in tenant_keys.
type TenantKey struct {
	// Tenant is the tenant id.
	Tenant string
	// Keyring is the Kind of the keyring holding the key.
	Keyring string
	// Name is the key's name in the keyring; empty for a tenant shredded
	// before it ever had a key.
	Name string
	// CreatedAt is when the key (or the tombstone) was made.
	CreatedAt time.Time
	// LatestVersion and MinDecryptionVersion are as of the last rotation.
	LatestVersion, MinDecryptionVersion int
	// RotatedAt is when the last rotation cycle completed, if any.
	RotatedAt *time.Time
	// ShreddedAt is the tombstone: set, the tenant never gets keys again.
	ShreddedAt *time.Time
	// DestroyedAt is when the keyring confirmed the key is deleted.
	DestroyedAt *time.Time
}

const tenantKeyColumns = `tenant_id, keyring, coalesce(key_name, ''), created_at, latest_version, min_decryption_version, rotated_at, shredded_at, destroyed_at`

func scanTenantKey(row pgx.Row) (TenantKey, error) {
	var k TenantKey
	err := row.Scan(&k.Tenant, &k.Keyring, &k.Name, &k.CreatedAt, &k.LatestVersion, &k.MinDecryptionVersion, &k.RotatedAt, &k.ShreddedAt, &k.DestroyedAt)
	return k, err
}

// newKeyName names a new tenant key: "verwerker-<tenant>-<random>". The
// random part means a name is never used twice, not even for the same
// tenant, so no old wrapped key can ever meet a new key of the same name.
func newKeyName(tenant string) (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "verwerker-" + tenant + "-" + hex.EncodeToString(b), nil
}

// CreateTenantKey makes the tenant's key in the keyring and records it. It
// is idempotent: a tenant that has a key gets its row back. A shredded
// tenant is refused with ErrShredded, forever.
func (m *Manager) CreateTenantKey(ctx context.Context, tenant string) (TenantKey, error) {
	var k TenantKey
	err := m.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		name, err := newKeyName(tenant)
		if err != nil {
			return err
		}
		k, err = scanTenantKey(tx.QueryRow(ctx, `INSERT INTO tenant_keys (tenant_id, keyring, key_name, created_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO NOTHING RETURNING `+tenantKeyColumns,
			tenant, m.ring.Kind(), name, m.clock.Now()))
		if errors.Is(err, pgx.ErrNoRows) {
			// The tenant has a row already (it waited for a concurrent
			// creator to commit, if there was one).
			k, err = scanTenantKey(tx.QueryRow(ctx, `SELECT `+tenantKeyColumns+` FROM tenant_keys WHERE tenant_id = $1`, tenant))
			if err != nil {
				return err
			}
			if k.ShreddedAt != nil {
				return keyErr(ErrShredded, "keys: create tenant key", nil)
			}
			return nil
		}
		if err != nil {
			return err
		}
		// Made in the keyring before the row commits: a failure rolls the
		// row back; a failed commit leaves an unused key behind, never a
		// row without a key.
		return m.ring.CreateKey(ctx, name)
	})
	if err != nil {
		return TenantKey{}, wrapDB("keys: create tenant key", err)
	}
	return k, nil
}

// TenantKey returns the tenant's row; ErrNoKey (ENOTFOUND) if it has none.
func (m *Manager) TenantKey(ctx context.Context, tenant string) (TenantKey, error) {
	var k TenantKey
	err := m.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		k, err = scanTenantKey(tx.QueryRow(ctx, `SELECT `+tenantKeyColumns+` FROM tenant_keys WHERE tenant_id = $1`, tenant))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return TenantKey{}, keyErr(ErrNoKey, "keys: tenant key", nil)
	}
	if err != nil {
		return TenantKey{}, wrapDB("keys: tenant key", err)
	}
	return k, nil
}

// usable returns the tenant's key name if the tenant may use its key.
func (m *Manager) usable(ctx context.Context, tenant, op string) (TenantKey, error) {
	k, err := m.TenantKey(ctx, tenant)
	if err != nil {
		return TenantKey{}, err
	}
	return m.check(tenant, k, op)
}

// usableIn is usable reading through tx, the caller's transaction, so a
// caller holding a connection never needs a second one from the pool. The
// row is share-locked until tx ends: a rotation records its new version
// (an UPDATE of the row) only after every transaction that may store a
// data key made under the old version has committed, so its rewrap passes
// see them all.
func (m *Manager) usableIn(ctx context.Context, tx pgx.Tx, tenant, op string) (TenantKey, error) {
	k, err := scanTenantKey(tx.QueryRow(ctx, `SELECT `+tenantKeyColumns+` FROM tenant_keys WHERE tenant_id = $1 FOR SHARE`, tenant))
	if errors.Is(err, pgx.ErrNoRows) {
		return TenantKey{}, keyErr(ErrNoKey, op, nil)
	}
	if err != nil {
		return TenantKey{}, wrapDB(op, err)
	}
	return m.check(tenant, k, op)
}

func (m *Manager) check(tenant string, k TenantKey, op string) (TenantKey, error) {
	if k.ShreddedAt != nil {
		return TenantKey{}, keyErr(ErrShredded, op, nil)
	}
	if k.Keyring != m.ring.Kind() {
		return TenantKey{}, verwerker.Internal(op, fmt.Errorf("tenant key is in the %s keyring, verwerker runs with %s", k.Keyring, m.ring.Kind()))
	}
	m.names.Store(tenant, k.Name)
	return k, nil
}

// NewDataKey makes a data key for a new subject of tenant and lends it
// from the cache: seal with it, store Wrapped(), then Release. It checks
// the tombstone first: a shredded tenant gets ErrShredded, a tenant without
// a key ErrNoKey (keys are only made by CreateTenantKey).
func (m *Manager) NewDataKey(ctx context.Context, tenant string) (*Key, error) {
	op := "keys: new data key"
	k, err := m.usable(ctx, tenant, op)
	if err != nil {
		return nil, err
	}
	return m.newDataKey(ctx, tenant, k)
}

// NewDataKeyTx is NewDataKey checking the tenant's key row through tx, the
// caller's transaction (which then also holds the row's read of the
// tombstone): a caller holding a pooled connection must not wait for
// another one.
func (m *Manager) NewDataKeyTx(ctx context.Context, tx pgx.Tx, tenant string) (*Key, error) {
	k, err := m.usableIn(ctx, tx, tenant, "keys: new data key")
	if err != nil {
		return nil, err
	}
	return m.newDataKey(ctx, tenant, k)
}

// KeysTx is Keys resolving the tenant's key name through tx when it is not
// known yet (see NewDataKeyTx).
func (m *Manager) KeysTx(ctx context.Context, tx pgx.Tx, tenant string, wrapped [][]byte) ([]*Key, error) {
	if _, ok := m.names.Load(tenant); !ok {
		if _, err := m.usableIn(ctx, tx, tenant, "keys: unwrap"); err != nil {
			return make([]*Key, len(wrapped)), err
		}
	}
	return m.Keys(ctx, tenant, wrapped)
}

func (m *Manager) newDataKey(ctx context.Context, tenant string, k TenantKey) (*Key, error) {
	dk, err := m.ring.DataKey(ctx, k.Name)
	if err != nil {
		return nil, err
	}
	return m.cache.put(tenant, dk.Wrapped, dk.Plaintext, dk.Version), nil
}

// keyName returns the tenant's key name, from memory when known.
func (m *Manager) keyName(ctx context.Context, tenant, op string) (string, error) {
	if n, ok := m.names.Load(tenant); ok {
		return n.(string), nil
	}
	k, err := m.usable(ctx, tenant, op)
	if err != nil {
		return "", err
	}
	return k.Name, nil
}

// Key lends the unwrapped data key of one wrapped key (see Keys).
func (m *Manager) Key(ctx context.Context, tenant string, wrapped []byte) (*Key, error) {
	ks, err := m.Keys(ctx, tenant, [][]byte{wrapped})
	if err != nil {
		ReleaseAll(ks)
		return nil, err
	}
	return ks[0], nil
}

// Keys lends the unwrapped data keys of wrapped, in order: those in the
// cache at once, the others unwrapped by the keyring in batches (one
// request per BatchSize misses) and cached. Release every returned key. If
// some keys cannot be unwrapped (ErrUnreadable: their subject or tenant was
// shredded, or their version retired), their places are nil and the error
// is a *BatchError; the others are usable.
func (m *Manager) Keys(ctx context.Context, tenant string, wrapped [][]byte) ([]*Key, error) {
	op := "keys: unwrap"
	out := make([]*Key, len(wrapped))
	errs := make([]error, len(wrapped))
	var misses []int
	first := map[string]int{} // wrapped -> index of its first miss
	for i, w := range wrapped {
		if k := m.cache.get(tenant, w); k != nil {
			out[i] = k
			continue
		}
		if _, dup := first[string(w)]; !dup {
			first[string(w)] = i
			misses = append(misses, i)
		}
	}
	if len(first) > 0 {
		name, err := m.keyName(ctx, tenant, op)
		if err != nil {
			ReleaseAll(out)
			if errors.Is(err, ErrShredded) {
				err = keyErr(ErrUnreadable, op, err) // the data is gone
			}
			return nil, err
		}
		for start := 0; start < len(misses); start += m.batch {
			chunk := misses[start:min(start+m.batch, len(misses))]
			in := make([][]byte, len(chunk))
			for j, i := range chunk {
				in[j] = wrapped[i]
			}
			plain, err := m.ring.Unwrap(ctx, name, in)
			var be *BatchError
			if err != nil && !errors.As(err, &be) {
				for _, p := range plain {
					clear(p)
				}
				ReleaseAll(out)
				return nil, err
			}
			for j, i := range chunk {
				if be != nil && be.Errs[j] != nil {
					errs[i] = be.Errs[j]
					continue
				}
				v, _ := WrappedVersion(in[j])
				out[i] = m.cache.put(tenant, in[j], plain[j], v)
			}
		}
		// Repeated wrapped keys share the first one's result.
		for i, w := range wrapped {
			if out[i] != nil || errs[i] != nil {
				continue
			}
			f := first[string(w)]
			if errs[f] != nil {
				errs[i] = errs[f]
			} else if k := m.cache.get(tenant, w); k != nil {
				out[i] = k
			} else {
				errs[i] = keyErr(ErrUnreadable, op, errors.New("evicted before use"))
			}
		}
	}
	return out, batchResult(errs)
}

// Forget drops the cached key of one wrapped key, for example when its
// subject is erased, so this replica stops using it at once.
func (m *Manager) Forget(tenant string, wrapped []byte) { m.cache.Forget(tenant, wrapped) }

// ShredTenant crypto-shreds a tenant: it records the tombstone first (so
// from that moment the tenant gets no key or data key again, on every
// replica), then destroys the tenant key in the keyring (which makes every
// wrapped data key of the tenant, in the database and in every backup,
// useless) and drops the tenant's cached keys. It is the only way
// verwerker deletes a key. Running it again completes an interrupted shred;
// shredding a tenant that never had a key leaves just the tombstone.
//
// Replicas running Listen drop their cached keys of the tenant as soon as
// the tombstone commits; others keep them for at most the cache TTL.
func (m *Manager) ShredTenant(ctx context.Context, tenant string) (TenantKey, error) {
	op := "keys: shred tenant"
	var k TenantKey
	err := m.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		k, err = scanTenantKey(tx.QueryRow(ctx, `INSERT INTO tenant_keys (tenant_id, keyring, key_name, created_at, shredded_at)
			VALUES ($1, $2, NULL, $3, $3)
			ON CONFLICT (tenant_id) DO UPDATE SET shredded_at = coalesce(tenant_keys.shredded_at, excluded.shredded_at)
			RETURNING `+tenantKeyColumns, tenant, m.ring.Kind(), m.clock.Now()))
		if err != nil {
			return err
		}
		// Every replica drops its cached keys of the tenant (Listen).
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, ShredChannel, tenant)
		return err
	})
	if err != nil {
		return TenantKey{}, wrapDB(op, err)
	}
	m.names.Delete(tenant)
	m.cache.Purge(tenant)
	if k.Name == "" || k.DestroyedAt != nil {
		return k, nil
	}
	if k.Keyring != m.ring.Kind() {
		return k, verwerker.Internal(op, fmt.Errorf("tenant key is in the %s keyring, verwerker runs with %s", k.Keyring, m.ring.Kind()))
	}
	if err := m.ring.Destroy(ctx, k.Name); err != nil {
		return k, err
	}
	m.cache.Purge(tenant) // keys unwrapped while the keyring was destroying
	err = m.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		k, err = scanTenantKey(tx.QueryRow(ctx, `UPDATE tenant_keys SET destroyed_at = coalesce(destroyed_at, $2)
			WHERE tenant_id = $1 RETURNING `+tenantKeyColumns, tenant, m.clock.Now()))
		return err
	})
	if err != nil {
		return k, wrapDB(op, err)
	}
	m.log.Info("keys: tenant key shredded", "tenant", tenant, "keyring", k.Keyring)
	return k, nil
}

// Status returns the tenant's row and the key's live status in the keyring,
// for a key-status view.
func (m *Manager) Status(ctx context.Context, tenant string) (TenantKey, KeyStatus, error) {
	k, err := m.TenantKey(ctx, tenant)
	if err != nil || k.DestroyedAt != nil || k.Name == "" {
		return k, KeyStatus{}, err
	}
	st, err := m.ring.Status(ctx, k.Name)
	return k, st, err
}

// wrapDB keeps verwerker errors as they are and wraps anything else as an
// internal error.
func wrapDB(op string, err error) error {
	if err == nil {
		return nil
	}
	var ve *verwerker.Error
	if errors.As(err, &ve) {
		return err
	}
	return verwerker.Internal(op, err)
}

// ShredChannel is the LISTEN/NOTIFY channel on which ShredTenant announces
// a shredded tenant (the payload is its id).
const ShredChannel = "verwerker_key_shred"

// Listen drops cached keys of every tenant another replica shreds, until
// ctx ends. After a (re)connection it drops the cached keys of every
// tenant with a tombstone, so a missed notification costs nothing.
func (m *Manager) Listen(ctx context.Context) {
	m.db.Listen(ctx, ShredChannel, m.log, m.forgetShredded, m.shredNotified)
}

// Watch registers the same with a replica's watcher (instead of Listen): a
// shredded tenant's keys are dropped before the watcher acknowledges the
// erasure's barrier.
func (m *Manager) Watch(w *store.Watcher) {
	w.Handle(ShredChannel, m.forgetShredded, m.shredNotified)
}

func (m *Manager) shredNotified(_ context.Context, tenant string) error {
	m.forgetTenant(tenant)
	return nil
}

// forgetShredded drops the keys of every shredded tenant.
func (m *Manager) forgetShredded(ctx context.Context) error {
	var shredded []string
	err := m.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tenant_id FROM tenant_keys WHERE shredded_at IS NOT NULL`)
		if err != nil {
			return err
		}
		shredded, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	for _, t := range shredded {
		m.forgetTenant(t)
	}
	return err
}

func (m *Manager) forgetTenant(tenant string) {
	m.names.Delete(tenant)
	m.cache.Purge(tenant)
}

package keys

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
)

// WrappedKeyStore is where a tenant's wrapped data keys are stored. The
// records package implements it over its subjects table; the rotation job
// reads and replaces wrapped keys through it without ever seeing a
// plaintext key.
type WrappedKeyStore interface {
	// ListWrapped returns up to limit wrapped keys of tenant whose ids sort
	// after the id after ("" for the first page), ordered by id.
	ListWrapped(ctx context.Context, tenant, after string, limit int) ([]WrappedKey, error)
	// ReplaceWrapped stores each item's New in place of its Old, but only
	// where the stored value is still Old (a subject erased or rewrapped
	// meanwhile is left alone), and returns how many it replaced.
	ReplaceWrapped(ctx context.Context, tenant string, items []Rewrapped) (int, error)
}

// WrappedKey is one stored wrapped data key.
type WrappedKey struct {
	// ID identifies the key in its store (for example the subject id).
	ID string
	// Wrapped is the wrapped data key as the keyring made it.
	Wrapped []byte
}

// Rewrapped is a wrapped key and its replacement under a newer version.
type Rewrapped struct {
	ID       string
	Old, New []byte
}

// RotateOptions tune a rotation. The zero value is the default.
type RotateOptions struct {
	// Keep is how many key versions stay usable after the rotation: 1
	// (the default) keeps only the new one, so a database backup taken
	// before this rotation can no longer be decrypted once it completes;
	// n keeps the last n, which makes the erasure horizon n cycles long.
	Keep int
	// Settle is how long to wait between rotating the key and scanning the
	// store, so that data keys handed out just before the rotation are
	// stored by then; DefaultSettle when zero, none when negative.
	Settle time.Duration
	// Passes bounds the scans for keys still under older versions before
	// the rotation gives up retiring them (the store keeps changing); 3
	// when zero.
	Passes int
}

// DefaultSettle is RotateOptions.Settle's default.
const DefaultSettle = 10 * time.Second

// RotationResult reports what a rotation did.
type RotationResult struct {
	// Tenant is the tenant id.
	Tenant string
	// Version is the new latest key version.
	Version int
	// MinDecryptionVersion is the oldest version still usable afterwards.
	MinDecryptionVersion int
	// Rewrapped counts the wrapped keys replaced under Version.
	Rewrapped int
	// Unreadable counts wrapped keys that could not be rewrapped because
	// their version was already retired (their data was already gone).
	Unreadable int
}

// RotateTenant runs one rotation cycle for tenant: it rotates the tenant
// key, rewraps every wrapped data key in store under the new version (in
// batches, never revealing them), then raises the key's minimum decryption
// version and trims the older versions from the keyring. From then on a
// wrapped key from an older database backup (under a retired version) can
// no longer be unwrapped, so the backup cannot reveal subjects erased since.
//
// Only one rotation per tenant runs at a time (a Postgres advisory lock);
// a second one gets ECONFLICT. If wrapped keys under old versions keep
// appearing, the old versions are not retired and the result is an error;
// the next cycle retires them.
func (m *Manager) RotateTenant(ctx context.Context, tenant string, store WrappedKeyStore, opts RotateOptions) (RotationResult, error) {
	op := "keys: rotate tenant key"
	res := RotationResult{Tenant: tenant}
	if opts.Keep <= 0 {
		opts.Keep = 1
	}
	if opts.Settle == 0 {
		opts.Settle = DefaultSettle
	}
	if opts.Passes <= 0 {
		opts.Passes = 3
	}
	unlock, err := m.lockRotation(ctx, tenant)
	if err != nil {
		return res, err
	}
	defer unlock()

	k, err := m.usable(ctx, tenant, op)
	if err != nil {
		return res, err
	}
	st, err := m.ring.Rotate(ctx, k.Name)
	if err != nil {
		return res, err
	}
	res.Version = st.LatestVersion
	if err := m.recordVersions(ctx, tenant, st, false); err != nil {
		return res, err
	}
	if opts.Settle > 0 {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(opts.Settle):
		}
	}

	// Scan until a pass finds no live wrapped key under an older version:
	// the first pass rewraps, the next one checks that nothing new arrived
	// meanwhile (or rewraps the stragglers).
	dead := map[string]bool{} // ids whose wrapped key no longer unwraps
	clean := false
	for pass := 0; pass < opts.Passes && !clean; pass++ {
		found, n, unreadable, err := m.rewrapPass(ctx, tenant, k.Name, st.LatestVersion, store, dead)
		res.Rewrapped += n
		res.Unreadable += unreadable
		if err != nil {
			return res, err
		}
		clean = found == 0
	}
	if !clean {
		return res, verwerker.Internal(op, fmt.Errorf("wrapped keys under old versions still appear after %d passes; old versions not retired", opts.Passes))
	}
	minVersion := max(1, st.LatestVersion-opts.Keep+1)
	st, err = m.ring.Retire(ctx, k.Name, minVersion)
	if err != nil {
		return res, err
	}
	res.MinDecryptionVersion = st.MinDecryptionVersion
	if err := m.recordVersions(ctx, tenant, st, true); err != nil {
		return res, err
	}
	m.log.Info("keys: tenant key rotated", "tenant", tenant, "version", res.Version,
		"min_decryption_version", res.MinDecryptionVersion, "rewrapped", res.Rewrapped, "unreadable", res.Unreadable)
	return res, nil
}

// rewrapPass rewraps, in batches, every live wrapped key under a version
// older than latest. It returns how many such keys it found, how many it
// replaced and how many it found unreadable (their version already
// retired; they are marked dead and not counted as found again).
func (m *Manager) rewrapPass(ctx context.Context, tenant, name string, latest int, store WrappedKeyStore, dead map[string]bool) (found, rewrapped, unreadable int, err error) {
	after := ""
	for {
		page, err := store.ListWrapped(ctx, tenant, after, m.batch)
		if err != nil {
			return found, rewrapped, unreadable, fmt.Errorf("keys: rotate: list wrapped keys: %w", err)
		}
		if len(page) == 0 {
			return found, rewrapped, unreadable, nil
		}
		after = page[len(page)-1].ID
		var old []WrappedKey
		for _, w := range page {
			if v, err := WrappedVersion(w.Wrapped); (err != nil || v < latest) && !dead[w.ID] {
				old = append(old, w)
			}
		}
		if len(old) > 0 {
			in := make([][]byte, len(old))
			for i, w := range old {
				in[i] = w.Wrapped
			}
			out, err := m.ring.Rewrap(ctx, name, in)
			var be *BatchError
			if err != nil && !errors.As(err, &be) {
				return found, rewrapped, unreadable, err
			}
			items := make([]Rewrapped, 0, len(old))
			for i, w := range old {
				if be != nil && be.Errs[i] != nil {
					dead[w.ID] = true
					unreadable++
					continue
				}
				found++
				items = append(items, Rewrapped{ID: w.ID, Old: w.Wrapped, New: out[i]})
			}
			if len(items) > 0 {
				n, err := store.ReplaceWrapped(ctx, tenant, items)
				rewrapped += n
				if err != nil {
					return found, rewrapped, unreadable, fmt.Errorf("keys: rotate: replace wrapped keys: %w", err)
				}
			}
		}
		if len(page) < m.batch {
			return found, rewrapped, unreadable, nil
		}
	}
}

// recordVersions writes the key's versions to tenant_keys; done also marks
// the cycle complete.
func (m *Manager) recordVersions(ctx context.Context, tenant string, st KeyStatus, done bool) error {
	err := m.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE tenant_keys SET latest_version = $2, min_decryption_version = $3,
			rotated_at = CASE WHEN $4 THEN $5::timestamptz ELSE rotated_at END WHERE tenant_id = $1`,
			tenant, st.LatestVersion, max(1, st.MinDecryptionVersion), done, m.clock.Now())
		return err
	})
	return wrapDB("keys: rotate: record versions", err)
}

// lockRotation takes the tenant's rotation lock, a session advisory lock
// held on a dedicated connection until unlock.
func (m *Manager) lockRotation(ctx context.Context, tenant string) (unlock func(), err error) {
	conn, err := m.db.Pool.Acquire(ctx)
	if err != nil {
		return nil, wrapDB("keys: rotate: lock", err)
	}
	h := fnv.New64a()
	h.Write([]byte("verwerker-keys-rotate\x00" + tenant))
	id := int64(h.Sum64())
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, id).Scan(&ok); err != nil {
		conn.Release()
		return nil, wrapDB("keys: rotate: lock", err)
	}
	if !ok {
		conn.Release()
		return nil, verwerker.Errorf(verwerker.ECONFLICT, "a rotation of this tenant's key is already running")
	}
	return func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, id)
		conn.Release()
	}, nil
}

// RotateDue rotates the key of every tenant whose last cycle completed (or
// whose key was made) at least every ago, one tenant after the other. It
// returns the results of the tenants it rotated and the first error; a
// failing tenant does not stop the others. This is the periodic job: run
// it more often than every, e.g. daily with every = 30 days.
func (m *Manager) RotateDue(ctx context.Context, every time.Duration, store WrappedKeyStore, opts RotateOptions) ([]RotationResult, error) {
	var due []string
	err := m.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tenant_id FROM tenant_keys
			WHERE shredded_at IS NULL AND keyring = $1 AND coalesce(rotated_at, created_at) <= $2
			ORDER BY coalesce(rotated_at, created_at), tenant_id`, m.ring.Kind(), m.clock.Now().Add(-every))
		if err != nil {
			return err
		}
		due, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, wrapDB("keys: rotate due", err)
	}
	var results []RotationResult
	var first error
	for _, tenant := range due {
		r, err := m.RotateTenant(ctx, tenant, store, opts)
		if err != nil {
			m.log.Error("keys: tenant key rotation failed", "tenant", tenant, "error", err)
			if first == nil {
				first = fmt.Errorf("keys: rotate %s: %w", tenant, err)
			}
			continue
		}
		results = append(results, r)
	}
	return results, first
}

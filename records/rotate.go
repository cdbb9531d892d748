package records

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"

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
	return out, verwerker.Wrap("records: list wrapped keys", err)
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
			return 0, verwerker.Wrap("records: replace wrapped keys", err)
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
	return int(n), verwerker.Wrap("records: replace wrapped keys", err)
}

// RotateArgs is the periodic job that runs a key rotation cycle for every
// tenant whose last cycle is older than the store's rotation interval. It
// carries no data.
type RotateArgs struct{}

// Kind names the job.
func (RotateArgs) Kind() string { return "records.rotate_keys" }

// DefaultRotationInterval is the rotation cycle: a database backup can
// reveal an erased subject for at most this long (plus Vault's snapshot
// retention; see the README).
const DefaultRotationInterval = 14 * 24 * time.Hour

// rotateCheckInterval is how often the job looks for tenants that are due.
const rotateCheckInterval = time.Hour

type rotateWorker struct {
	river.WorkerDefaults[RotateArgs]
	s     *Store
	every time.Duration
}

func (w *rotateWorker) Work(ctx context.Context, _ *river.Job[RotateArgs]) error {
	_, err := w.s.RotateDue(ctx, w.every, keys.RotateOptions{})
	return err
}

// RotateDue runs a rotation cycle (keys.Manager.RotateTenant over the
// subjects' wrapped keys) for every tenant whose last cycle is at least
// every old, and audits each completed cycle on the tenant's chain.
func (s *Store) RotateDue(ctx context.Context, every time.Duration, opts keys.RotateOptions) ([]keys.RotationResult, error) {
	results, err := s.keys.RotateDue(ctx, every, s, opts)
	for _, r := range results {
		s.recordRotation(ctx, r)
	}
	return results, err
}

// Timeout lets a cycle over many tenants run longer than River's default.
func (w *rotateWorker) Timeout(*river.Job[RotateArgs]) time.Duration { return 6 * time.Hour }

// recordRotation audits a completed cycle on the tenant's chain: key
// versions, not key material.
func (s *Store) recordRotation(ctx context.Context, r keys.RotationResult) {
	if s.audit == nil {
		return
	}
	_, err := s.audit.Append(ctx, audit.Event{Chain: r.Tenant, Actor: "system", Action: "keys.rotate", Resource: r.Tenant,
		Outcome: audit.Success, Reason: fmt.Sprintf("version=%d min_decryption_version=%d rewrapped=%d", r.Version, r.MinDecryptionVersion, r.Rewrapped)})
	if err != nil {
		s.log.Error("records: audit key rotation", "tenant", r.Tenant, "error", err)
	}
}

// RotationJobs registers the rotation worker on workers and returns its
// periodic job, rotating every tenant's key once per every
// (DefaultRotationInterval when zero).
func (s *Store) RotationJobs(workers *river.Workers, every time.Duration) []*river.PeriodicJob {
	if every <= 0 {
		every = DefaultRotationInterval
	}
	river.AddWorker(workers, &rotateWorker{s: s, every: every})
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(rotateCheckInterval),
		func() (river.JobArgs, *river.InsertOpts) {
			return RotateArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: rotateCheckInterval}}
		}, &river.PeriodicJobOpts{RunOnStart: true})}
}

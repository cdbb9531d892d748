package retention

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/records"
)

// PartitionInterval is how often month partitions of the records table are
// created ahead (records.PartitionHorizon).
const PartitionInterval = 24 * time.Hour

// PartitionsArgs is the periodic job that creates the records table's
// month partitions ahead of the deadlines written into them.
type PartitionsArgs struct{}

// Kind names the job.
func (PartitionsArgs) Kind() string { return "retention.partitions" }

type partitionsWorker struct {
	river.WorkerDefaults[PartitionsArgs]
	s *Service
}

func (w *partitionsWorker) Work(ctx context.Context, _ *river.Job[PartitionsArgs]) error {
	_, err := w.s.EnsurePartitions(ctx)
	return err
}

// EnsurePartitions creates the records table's month partitions from the
// current month through records.PartitionHorizon ahead, and returns how
// many it created.
func (s *Service) EnsurePartitions(ctx context.Context) (int, error) {
	now := s.clock.Now().UTC()
	var n int
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		n, err = records.EnsurePartitions(ctx, tx, now, now.Add(records.PartitionHorizon))
		return err
	})
	return n, verwerker.Wrap("retention: partitions", err)
}

// errBlocked: a partition holds data that must not be deleted now.
var errBlocked = errors.New("retention: partition blocked")

// PurgePartitions drops every month partition of the records table whose
// deadlines all passed, when no legal hold keeps any of its records and it
// holds no fiscal record younger than seven years: the aligned purge, with
// no per-row WAL and nothing to VACUUM. For each customer with records in
// the partition it joins (or starts) the customer's sweep, writes the
// sweep's ledger line naming the partition in the transaction that drops
// it, and then runs the sweep to completion, so the drop is certified like
// any batch. A partition that cannot be dropped is left to the sweeps'
// row batches. It returns the partitions dropped.
func (s *Service) PurgePartitions(ctx context.Context) ([]string, error) {
	now := s.clock.Now().UTC()
	var past []records.Partition
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		past, err = records.PastPartitions(ctx, tx, now)
		return err
	})
	if err != nil {
		return nil, verwerker.Wrap("retention: purge partitions", err)
	}
	var dropped []string
	for _, p := range past {
		ok, err := s.purgePartition(ctx, p)
		if err != nil {
			return dropped, verwerker.Wrap("retention: purge partition "+p.Name, err)
		}
		if ok {
			dropped = append(dropped, p.Name)
		}
	}
	return dropped, nil
}

func (s *Service) purgePartition(ctx context.Context, p records.Partition) (bool, error) {
	var tenantIDs []string
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		tenantIDs, err = records.PartitionTenants(ctx, tx, p)
		return err
	})
	if err != nil {
		return false, err
	}
	// Each customer's running sweep must cover the partition's deadlines.
	sweeps := map[string]Sweep{}
	for _, t := range tenantIDs {
		w, ok, err := s.begin(ctx, t)
		if err != nil {
			return false, err
		}
		if !ok || w.Cutoff.Before(p.To) {
			return false, nil
		}
		sweeps[t] = w
	}
	var out map[string]*records.Expired
	err = s.db.InTx(ctx, func(tx pgx.Tx) error {
		// One purger per partition at a time; others skip it.
		var mine bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(7116, hashtext($1))`, p.Name).Scan(&mine); err != nil {
			return err
		}
		if !mine {
			return errBlocked
		}
		heldOf := map[string]records.Held{}
		for _, t := range tenantIDs {
			if err := lockHolds(ctx, tx, t, false); err != nil {
				return err
			}
			hs, err := holdsIn(ctx, tx, t, false)
			if err != nil {
				return err
			}
			heldOf[t] = held(hs)
		}
		blocked, err := records.PartitionBlocked(ctx, tx, p, s.clock.Now().UTC(), heldOf)
		if err != nil {
			return err
		}
		if blocked {
			return errBlocked
		}
		out, err = s.records.DropPartition(ctx, tx, p, s.clock.Now().UTC())
		if err != nil {
			return err
		}
		for t, e := range out {
			w, ok := sweeps[t]
			if !ok {
				// Written into the partition after the tenants were read: the
				// customer's sweep must cover it too.
				return errBlocked
			}
			if err := s.ledger(ctx, tx, w, *e, p.Name); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errBlocked) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, e := range out {
		for _, n := range e.What {
			s.metrics.deleted.Add(float64(n))
		}
	}
	for _, t := range tenantIDs {
		if _, _, err := s.Run(ctx, t); err != nil {
			return true, err
		}
	}
	return true, nil
}

// ledger writes one ledger line of sweep w for e, in the transaction that
// deletes it; partition names a dropped partition ("" for a row batch).
func (s *Service) ledger(ctx context.Context, tx pgx.Tx, w Sweep, e records.Expired, partition string) error {
	what, err := json.Marshal(e.What)
	if err != nil {
		return err
	}
	var count int64
	for _, n := range e.What {
		count += n
	}
	var dropped *string
	if partition != "" {
		dropped = &partition
	}
	_, err = tx.Exec(ctx, `INSERT INTO retention_sweep_batches (tenant_id, sweep_id, what, records_count, subjects_count, key_versions_destroyed,
			oldest_deadline, newest_deadline, record_ids, created_at, dropped_partition)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		w.TenantID, w.ID, what, count, len(e.Shredded), e.KeyVersions, e.Oldest, e.Newest, e.IDs, s.clock.Now().UTC(), dropped)
	return err
}

package retention

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/verwerker/verwerker"
	tenants "github.com/verwerker/verwerker/tenant"
)

// SweepInterval is how often every customer is swept.
const SweepInterval = 15 * time.Minute

// SweepArgs is the job that sweeps one customer. Ids only.
type SweepArgs struct {
	TenantID string `json:"tenant_id"`
}

// Kind names the job.
func (SweepArgs) Kind() string { return "retention.sweep" }

// InsertOpts keeps one sweep job per customer queued at a time.
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// ScheduleArgs is the periodic job that enqueues a sweep for every
// customer, so replicas share the customers.
type ScheduleArgs struct{}

// Kind names the job.
func (ScheduleArgs) Kind() string { return "retention.schedule" }

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	s *Service
}

func (w *sweepWorker) Work(ctx context.Context, job *river.Job[SweepArgs]) error {
	// Deadlines follow the active agreement before anything is deleted.
	if _, _, err := w.s.Recompute(ctx, job.Args.TenantID); err != nil {
		w.s.log.Error("retention: deadline recompute failed; the job retries", "tenant", job.Args.TenantID, "attempt", job.Attempt, "error", err.Error())
		return err
	}
	_, _, err := w.s.Run(ctx, job.Args.TenantID)
	if err != nil {
		w.s.log.Error("retention: sweep failed; the job retries", "tenant", job.Args.TenantID, "attempt", job.Attempt, "error", err.Error())
	}
	return err
}

type scheduleWorker struct {
	river.WorkerDefaults[ScheduleArgs]
	s *Service
}

func (w *scheduleWorker) Work(ctx context.Context, _ *river.Job[ScheduleArgs]) error {
	return w.s.Schedule(ctx)
}

// Schedule drops the records partitions whose month is past and
// droppable (PurgePartitions), then enqueues a sweep job for every
// customer.
func (s *Service) Schedule(ctx context.Context) error {
	client := s.jobs.Load()
	if client == nil {
		return nil
	}
	// Whole months past their deadlines go first, by dropping partitions;
	// a failure there (retried with this job) does not hold the sweeps
	// back.
	_, purgeErr := s.PurgePartitions(ctx)
	if purgeErr != nil {
		s.log.Error("retention: partition purge failed; the sweeps delete row by row and the job retries", "error", purgeErr.Error())
	}
	var ids []string
	err := s.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		list, err := tenants.IDs(ctx, tx)
		ids = list
		return err
	})
	if err != nil {
		return verwerker.Wrap("retention: schedule", err)
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: SweepArgs{TenantID: id}}
	}
	if len(params) == 0 {
		return purgeErr
	}
	if _, err = client.InsertMany(ctx, params); err != nil {
		return verwerker.Wrap("retention: schedule", err)
	}
	return purgeErr
}

// Register adds the retention workers.
func (s *Service) Register(workers *river.Workers) {
	river.AddWorker(workers, &sweepWorker{s: s})
	river.AddWorker(workers, &scheduleWorker{s: s})
	river.AddWorker(workers, &partitionsWorker{s: s})
	river.AddWorker(workers, &forecastWorker{s: s})
}

// PeriodicJobs returns the periodic sweep schedule and the creation of
// the records table's partitions ahead and the platform-wide forecast.
func (s *Service) PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(SweepInterval),
		func() (river.JobArgs, *river.InsertOpts) {
			return ScheduleArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: SweepInterval}}
		}, &river.PeriodicJobOpts{RunOnStart: true}),
		// Not on start: a fresh database has the months around now
		// (migration 00040); later deadlines wait in records_default.
		river.NewPeriodicJob(river.PeriodicInterval(PartitionInterval), func() (river.JobArgs, *river.InsertOpts) {
			return PartitionsArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: PartitionInterval}}
		}, nil),
		river.NewPeriodicJob(river.PeriodicInterval(ForecastInterval), func() (river.JobArgs, *river.InsertOpts) {
			return ForecastArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: ForecastInterval}}
		}, &river.PeriodicJobOpts{RunOnStart: true})}
}

// UseClient sets the River client the schedule enqueues sweeps with.
func (s *Service) UseClient(c *river.Client[pgx.Tx]) { s.jobs.Store(c) }

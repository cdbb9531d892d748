package app

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/verwerker/verwerker/audit"
)

// JobsConfig tunes the River client that runs the background jobs.
type JobsConfig struct {
	// MaxWorkers is how many jobs this replica runs at once; 10 when zero.
	MaxWorkers int
	// KeyRotationInterval is the tenant key rotation cycle;
	// records.DefaultRotationInterval when zero.
	KeyRotationInterval time.Duration
	// RetryPolicy, FetchCooldown and FetchPollInterval are passed to River
	// when set (tests retry and poll quickly).
	RetryPolicy                      river.ClientRetryPolicy
	FetchCooldown, FetchPollInterval time.Duration
	// NoPeriodicJobs leaves out the periodic jobs (sweeps, clocks,
	// reminders, rotation): for tests that run them by hand on their clock.
	NoPeriodicJobs bool
}

// Jobs builds the River client that runs the background jobs on this
// replica (River spreads jobs across replicas with SKIP LOCKED): outbox
// deliveries, the periodic application of due subprocessor changes, the
// breach clocks' escalations, the data-subject request steps, the purge of
// erased records' rows, key rotation and the retention sweeps. It hands the
// client to every service that enqueues jobs, so they can enqueue inside
// their transactions even before it is started; the caller starts it (or,
// in tests that only enqueue, does not) and stops it.
func (a *App) Jobs(cfg JobsConfig) (*river.Client[pgx.Tx], error) {
	workers := river.NewWorkers()
	a.Outbox.Register(workers)
	a.Subprocessors.Register(workers)
	a.Records.Register(workers)
	a.Requests.Register(workers)
	a.Retention.Register(workers)
	a.Breaches.Register(workers)
	a.Audit.Register(workers)
	var periodic []*river.PeriodicJob
	periodic = append(periodic, a.Subprocessors.PeriodicJobs()...)
	periodic = append(periodic, a.Records.PeriodicJobs()...)
	periodic = append(periodic, a.Requests.PeriodicJobs()...)
	periodic = append(periodic, a.Retention.PeriodicJobs()...)
	periodic = append(periodic, a.Breaches.PeriodicJobs()...)
	periodic = append(periodic, a.Records.RotationJobs(workers, cfg.KeyRotationInterval)...)
	periodic = append(periodic, a.Audit.PeriodicJobs(a.auditMaxAge/2)...)
	if cfg.NoPeriodicJobs {
		periodic = nil
	}
	if cfg.MaxWorkers <= 0 {
		cfg.MaxWorkers = 10
	}
	client, err := river.NewClient(riverpgxv5.New(a.DB.Pool), &river.Config{
		// Verifications of the audit chains run one at a time in their
		// own queue, so they never hold back the notices.
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.MaxWorkers}, audit.QueueVerify: {MaxWorkers: 1}},
		Workers:           workers,
		PeriodicJobs:      periodic,
		RetryPolicy:       cfg.RetryPolicy,
		FetchCooldown:     cfg.FetchCooldown,
		FetchPollInterval: cfg.FetchPollInterval,
		Logger:            a.Logger.With("component", "river"),
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	a.Outbox.UseClient(client)
	a.Records.UseClient(client)
	a.Requests.UseClient(client)
	a.Retention.UseClient(client)
	a.Audit.UseClient(client)
	return client, nil
}

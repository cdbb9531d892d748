package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/verwerker/verwerker/app"
)

// startJobs builds the River client that runs the background jobs on this
// replica (River spreads jobs across replicas with SKIP LOCKED): outbox
// deliveries, the periodic application of due subprocessor changes, the
// breach clocks' escalations and the purge of erased records' rows. The returned function stops it
// gracefully.
func startJobs(ctx context.Context, a *app.App, cfg *Config, logger *slog.Logger) (func(), error) {
	outbox := a.Outbox
	workers := river.NewWorkers()
	outbox.Register(workers)
	a.Subprocessors.Register(workers)
	a.Records.Register(workers)
	a.Breaches.Register(workers)
	periodic := append(a.Subprocessors.PeriodicJobs(), a.Records.PeriodicJobs()...)
	periodic = append(periodic, a.Breaches.PeriodicJobs()...)
	periodic = append(periodic, a.Records.RotationJobs(workers, cfg.KeyRotationInterval)...)
	client, err := river.NewClient(riverpgxv5.New(a.DB.Pool), &river.Config{
		Queues:       map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 10}},
		Workers:      workers,
		PeriodicJobs: periodic,
		Logger:       logger.With("component", "river"),
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	outbox.UseClient(client)
	a.Records.UseClient(client)
	if err := client.Start(ctx); err != nil {
		return nil, fmt.Errorf("jobs: start: %w", err)
	}
	if !outbox.Email() {
		logger.Error("NO E-MAIL RELAY: SMTP_URL is not set, so e-mail notices are refused and notices reach customers by webhook only; " +
			"a customer without a webhook endpoint is not told of subprocessor changes (its notice stays undelivered and its objection window does not start). " +
			"Set SMTP_URL and VERWERKER_MAIL_FROM; GET /v1/alarms lists this and every undelivered notice")
	}
	return func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := client.Stop(stopCtx); err != nil {
			logger.Warn("jobs: stop", "error", err.Error())
		}
	}, nil
}

package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/notify"
)

// startJobs builds the outbox and the River client that runs its delivery
// jobs on this replica (River spreads jobs across replicas with SKIP
// LOCKED), and starts it. The returned function stops it gracefully.
func startJobs(ctx context.Context, a *app, cfg *Config, logger *slog.Logger) (func(), error) {
	outbox, err := notify.New(a.db, verwerker.SystemClock{}, a.audit, notify.Config{SMTPURL: cfg.SMTPURL, MailFrom: cfg.MailFrom})
	if err != nil {
		return nil, err
	}
	workers := river.NewWorkers()
	outbox.Register(workers)
	client, err := river.NewClient(riverpgxv5.New(a.db.Pool), &river.Config{
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 10}},
		Workers: workers,
		Logger:  logger.With("component", "river"),
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	outbox.UseClient(client)
	if err := client.Start(ctx); err != nil {
		return nil, fmt.Errorf("jobs: start: %w", err)
	}
	a.outbox = outbox
	if cfg.SMTPURL == "" {
		logger.Warn("SMTP_URL is not set: e-mail notices are refused; webhooks are delivered")
	}
	return func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := client.Stop(stopCtx); err != nil {
			logger.Warn("jobs: stop", "error", err.Error())
		}
	}, nil
}

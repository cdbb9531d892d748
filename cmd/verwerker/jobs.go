package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/verwerker/verwerker/app"
)

// startJobs builds the River client of the background jobs (app.App.Jobs)
// and starts it. The returned function stops it gracefully.
func startJobs(ctx context.Context, a *app.App, cfg *Config, logger *slog.Logger) (func(), error) {
	outbox := a.Outbox
	client, err := a.Jobs(app.JobsConfig{KeyRotationInterval: cfg.KeyRotationInterval})
	if err != nil {
		return nil, err
	}
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

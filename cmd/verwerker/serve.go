package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/verwerker/verwerker/app"
	"github.com/verwerker/verwerker/store"
)

// appConfig is the application's part of cfg.
func appConfig(cfg *Config) app.Config {
	return app.Config{
		Version:             version,
		VaultAddr:           cfg.VaultAddr,
		VaultToken:          cfg.VaultToken,
		VaultRoleID:         cfg.VaultRoleID,
		VaultSecretID:       cfg.VaultSecretID,
		VaultSecretIDFile:   cfg.VaultSecretIDFile,
		VaultK8sRole:        cfg.VaultK8sRole,
		VaultMount:          cfg.VaultMount,
		KeyringFile:         cfg.KeyringFile,
		SubjectKeyFile:      cfg.SubjectKeyFile,
		SMTPURL:             cfg.SMTPURL,
		MailFrom:            cfg.MailFrom,
		DPOEmail:            cfg.DPOEmail,
		PublicURL:           cfg.publicURL(),
		DevMailbox:          cfg.DevMailbox,
		WebhookAllowPrivate: cfg.WebhookAllowPrivate,
		ReplicaLease:        cfg.ReplicaLease,
		AuditVerifyMaxAge:   cfg.AuditVerifyMaxAge,
		SecureCookies:       cfg.SecureCookies,
		TrustedProxies:      cfg.TrustedProxies,
	}
}

// newApp builds the application on db with the settings of cfg.
func newApp(ctx context.Context, db *store.DB, cfg *Config, logger *slog.Logger) (*app.App, error) {
	return app.New(ctx, appConfig(cfg), app.Deps{DB: db, Logger: logger})
}

// running is the application as serve runs it.
type running struct {
	*app.App
	// metricsAddr is where serve serves the metrics; "" when they are off.
	metricsAddr string
}

// serve runs the API until ctx ends. ready, if not nil, is called with the
// listening address once the server accepts connections.
func serve(ctx context.Context, cfg *Config, logger *slog.Logger, ready func(a *running, addr string) error) error {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.MigrateOnStart {
		v, err := db.Migrate(ctx, nil)
		if err != nil {
			return err
		}
		logger.Info("database schema current", "version", v)
	}
	built, err := newApp(ctx, db, cfg, logger)
	if err != nil {
		return err
	}
	defer built.Close()
	a := &running{App: built}
	checkpointer, err := startSigning(cfg, logger, a.App)
	if err != nil {
		return err
	}
	// Not ended by the signal but after the server has drained (defers run
	// last first): caches stay current and the decisions made while
	// draining are counted into the last aggregate.
	listenCtx, stopListening := context.WithCancel(context.WithoutCancel(ctx))
	defer stopListening()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		a.Watcher.Run(listenCtx)
	}()
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		a.Decisions.Run(listenCtx, cfg.DecisionFlushInterval, logger)
	}()
	// Stopped after the server (defers run last first): the last allows
	// are flushed to the audit log before it closes.
	defer func() { stopListening(); <-flushed; <-watched }()
	stopJobs, err := startJobs(ctx, a.App, cfg, logger)
	if err != nil {
		return err
	}
	defer stopJobs()
	a.Subjects.UseNotifier(a.Outbox)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if cfg.DebugAddr != "" {
		stopDebug, err := serveDebug(cfg.DebugAddr, logger)
		if err != nil {
			_ = ln.Close()
			return err
		}
		defer stopDebug()
	}
	if cfg.MetricsAddr != "" {
		addr, stopMetrics, err := serveMetrics(cfg.MetricsAddr, a.Server.MetricsHandler(), logger)
		if err != nil {
			_ = ln.Close()
			return err
		}
		defer stopMetrics()
		a.metricsAddr = addr
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "version", version)
	if ready != nil {
		if err := ready(a, ln.Addr().String()); err != nil {
			_ = srv.Close()
			return err
		}
	}
	// After ready, so that dev's demo data is signed at once.
	defer runCheckpoints(ctx, checkpointer, cfg.CheckpointInterval, logger)()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

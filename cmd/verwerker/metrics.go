package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// serveMetrics serves Prometheus metrics at /metrics on addr, apart from
// the API and without authentication (VERWERKER_METRICS_ADDR): for the
// operator's scraper on loopback or an internal network. Metric labels
// never name customers. It returns the address it listens on.
func serveMetrics(addr string, metrics http.Handler, logger *slog.Logger) (listening string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("listen on %s (VERWERKER_METRICS_ADDR): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	logger.Info("serving metrics", "addr", ln.Addr().String(), "path", "/metrics")
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

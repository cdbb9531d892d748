package retention

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the retention metrics: sweep progress, lag and failures. No
// tenant labels.
type Metrics struct {
	deleted, completed, failures prometheus.Counter
	running                      prometheus.Gauge
	lag                          prometheus.GaugeFunc
}

func newMetrics(s *Service) *Metrics {
	return &Metrics{
		deleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "verwerker_retention_records_deleted_total",
			Help: "Records deleted by retention sweeps on this replica."}),
		completed: prometheus.NewCounter(prometheus.CounterOpts{Name: "verwerker_retention_sweeps_completed_total",
			Help: "Retention sweeps this replica completed and certified."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "verwerker_retention_sweep_failures_total",
			Help: "Retention sweep runs that failed on this replica (the job retries; see GET /v1/alarms)."}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "verwerker_retention_sweeps_running",
			Help: "Retention sweeps running on this replica now."}),
		lag: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "verwerker_retention_lag_seconds",
			Help: "Age of the oldest deadline passed more than the grace period ago whose record is not deleted and not held; 0 when none."},
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				list, err := s.Overdue(ctx)
				if err != nil || len(list) == 0 {
					return 0
				}
				return s.clock.Now().Sub(list[0].Oldest).Seconds()
			}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.deleted, m.completed, m.failures, m.running, m.lag}
}

// Metrics returns the collector to register in the application's registry.
func (s *Service) Metrics() *Metrics { return s.metrics }

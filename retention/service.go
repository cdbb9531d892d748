package retention

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/records"
	"github.com/verwerker/verwerker/store"
	"sync/atomic"
)

// Service keeps retention rules, legal holds, sweeps and their
// certificates. It owns the tables legal_holds, retention_sweeps and
// retention_sweep_batches; it deletes records through package records.
type Service struct {
	db        *store.DB
	records   *records.Store
	dpa       *dpa.Service
	audit     *audit.Log
	clock     verwerker.Clock
	calendar  *deadline.Calendar
	log       *slog.Logger
	metrics   *Metrics
	batchSize int
	jobs      atomic.Pointer[river.Client[pgx.Tx]]

	// afterBatch, when set (tests), runs after each committed batch;
	// inBatch inside each deleting transaction, before it commits.
	afterBatch func(ctx context.Context, sweepID string)
	inBatch    func(ctx context.Context, tx pgx.Tx)
}

// New returns a Service on db deleting through recs, reading rules from
// agreements, auditing in log, counting deadlines in calendar's holidays.
func New(db *store.DB, recs *records.Store, agreements *dpa.Service, log *audit.Log, clock verwerker.Clock, calendar *deadline.Calendar, logger *slog.Logger) *Service {
	if clock == nil {
		clock = verwerker.SystemClock{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if calendar == nil {
		calendar = deadline.DefaultCalendar()
	}
	s := &Service{db: db, records: recs, dpa: agreements, audit: log, clock: clock, calendar: calendar, log: logger, batchSize: SweepBatch}
	s.metrics = newMetrics(s)
	return s
}

// lockHolds takes the customer's hold lock inside tx: shared by deleting
// transactions, exclusive when a hold is placed, so a hold committed before
// a batch starts is seen by it, and a batch in flight finishes before the
// hold is placed.
func lockHolds(ctx context.Context, tx pgx.Tx, tenantID string, exclusive bool) error {
	fn := "pg_advisory_xact_lock_shared"
	if exclusive {
		fn = "pg_advisory_xact_lock"
	}
	_, err := tx.Exec(ctx, `SELECT `+fn+`(7115, hashtext($1))`, tenantID)
	return err
}

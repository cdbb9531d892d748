package dsr

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/notify"
)

// ReminderDays are the days before the deadline at which the controller
// and the DPO are reminded of an open request.
var ReminderDays = []int{7, 2}

// SweepInterval is how often the sweep runs.
const SweepInterval = time.Minute

// SweepResult is what a sweep did.
type SweepResult struct {
	Open, Overdue, Failed int
	Reminded              int
	Expired               int64
}

// Sweep deletes expired verifications, sends the reminders that are due
// (each once per request and reminder day, in the same transaction that
// records it) and updates the gauges of open, overdue and failed
// requests. Paused requests are not reminded: their clock stands still.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	var err error
	if res.Expired, err = s.ExpireVerifications(ctx); err != nil {
		return res, err
	}
	if err := s.forgetWindows(ctx); err != nil {
		return res, err
	}
	if _, err := s.SealLegacyContacts(ctx); err != nil {
		return res, err
	}
	now := s.clock.Now().UTC()
	err = s.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE due_at <= $1 AND paused_at IS NULL), count(*) FILTER (WHERE failure <> '')
			FROM dsr_requests WHERE state NOT IN ('completed', 'rejected', 'duplicate')`, now).Scan(&res.Open, &res.Overdue, &res.Failed); err != nil {
			return err
		}
		for _, days := range ReminderDays {
			rows, err := tx.Query(ctx, `UPDATE dsr_requests SET reminders = array_append(reminders, $2)
				WHERE state NOT IN ('completed', 'rejected', 'duplicate') AND paused_at IS NULL
					AND due_at - make_interval(days => $2) <= $1 AND due_at > $1 AND NOT ($2 = ANY(reminders))
				RETURNING `+requestColumns, now, days)
			if err != nil {
				return err
			}
			due, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Request, error) { return scanRequest(row) })
			if err != nil {
				return err
			}
			for i := range due {
				if err := s.remind(ctx, tx, &due[i], days); err != nil {
					return err
				}
			}
			res.Reminded += len(due)
		}
		return nil
	})
	if err != nil {
		return res, verwerker.Wrap("dsr: sweep", err)
	}
	s.open.Set(float64(res.Open))
	s.overdue.Set(float64(res.Overdue))
	s.failed.Set(float64(res.Failed))
	return res, nil
}

func (s *Service) remind(ctx context.Context, tx pgx.Tx, r *Request, days int) error {
	if err := s.step(ctx, tx, r, "verwerker", "remind", fmt.Sprintf("days_before=%d due=%s", days, r.Due.LastDay)); err != nil {
		return err
	}
	if s.outbox == nil || !s.outbox.Email() {
		return nil
	}
	t, _, err := s.tenantOf(ctx, tx, r.TenantID)
	if err != nil {
		return err
	}
	var to []string
	if t.ContactEmail != "" {
		to = append(to, t.ContactEmail)
	}
	if s.opts.DPOEmail != "" {
		to = append(to, s.opts.DPOEmail)
	}
	if len(to) == 0 {
		return nil
	}
	_, err = s.outbox.Enqueue(ctx, tx, notify.Message{TenantID: r.TenantID, Kind: notify.KindEmail, EventType: EventUpdate,
		IdempotencyKey: fmt.Sprintf("dsr/%s/remind/%d/%s", r.ID, days, r.Due.LastDay), To: to,
		Subject: fmt.Sprintf("Reminder: data-subject request %s is due in %d days (%s)", r.ID, days, r.Due.LastDay),
		Body: fmt.Sprintf("The data-subject request %s (%s) is due on %s (GDPR Art. 12(3)). It is %s.\nInstruct verwerker: POST /v1/tenants/%s/requests/%s/instructions\n",
			r.ID, r.Type, r.Due.LastDay, r.State, r.TenantID, r.ID)})
	return err
}

// SweepArgs is the periodic job that runs Sweep. It carries no data.
type SweepArgs struct{}

// Kind names the job.
func (SweepArgs) Kind() string { return "dsr.sweep" }

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	s *Service
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	_, err := w.s.Sweep(ctx)
	return err
}

// Register adds the service's workers to workers.
func (s *Service) Register(workers *river.Workers) {
	river.AddWorker(workers, &executeWorker{s: s})
	river.AddWorker(workers, &sweepWorker{s: s})
}

// PeriodicJobs returns the sweep for the River client.
func (s *Service) PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(SweepInterval),
		func() (river.JobArgs, *river.InsertOpts) {
			return SweepArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: SweepInterval}}
		}, &river.PeriodicJobOpts{RunOnStart: true})}
}

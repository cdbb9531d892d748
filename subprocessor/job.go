package subprocessor

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// ApplyDueArgs is the periodic job that applies subprocessor changes whose
// time has come (Registry.ApplyDue). It carries no data.
type ApplyDueArgs struct{}

// Kind names the job.
func (ApplyDueArgs) Kind() string { return "dpa.subprocessor_changes.apply_due" }

// ApplyDueInterval is how often due changes are applied: a change takes
// effect for a customer within this interval after its effective time.
const ApplyDueInterval = time.Minute

type applyDueWorker struct {
	river.WorkerDefaults[ApplyDueArgs]
	r *Registry
}

func (w *applyDueWorker) Work(ctx context.Context, _ *river.Job[ApplyDueArgs]) error {
	_, err := w.r.ApplyDue(ctx)
	return err
}

// Register adds the registry's workers to workers.
func (r *Registry) Register(workers *river.Workers) {
	river.AddWorker(workers, &applyDueWorker{r: r})
}

// PeriodicJobs returns the registry's periodic jobs for the River client.
func (r *Registry) PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(ApplyDueInterval),
		func() (river.JobArgs, *river.InsertOpts) {
			return ApplyDueArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: ApplyDueInterval}}
		}, &river.PeriodicJobOpts{RunOnStart: true})}
}

package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/verwerker/verwerker"
)

// Verifications: the chains verified in the background (a River job), with
// their progress recorded per chain in audit_verifications and
// audit_verification_chains, so the dashboard and the API can show a
// running verification and keep its result: the "last verification" of a
// chain. A finished verification is an ActionVerify event in the chain of
// its scope, in the same transaction as its result; a chain that does not
// verify stays an alarm (Broken) and counts in the gauge
// verwerker_audit_chains_unverified until a later verification passes.

// PrefixVerification is the id prefix of verifications.
const PrefixVerification = "avf"

// VerificationState is the state of a verification, or of one chain in it.
type VerificationState string

// States of a verification and of its chains.
const (
	// VerificationQueued: asked for, its job not started yet.
	VerificationQueued VerificationState = "queued"
	// VerificationWaiting: a chain of a running verification not started.
	VerificationWaiting VerificationState = "waiting"
	// VerificationRunning: being verified.
	VerificationRunning VerificationState = "running"
	// VerificationPassed: every chain verified.
	VerificationPassed VerificationState = "passed"
	// VerificationFailed: a chain does not verify, or the verification
	// could not run to its end (Problem says which).
	VerificationFailed VerificationState = "failed"
)

// Verification is one verification of the chains of its scope.
type Verification struct {
	ID string
	// Scope is a tenant id (that tenant's chain) or PlatformChain (every
	// chain, the platform's included).
	Scope string
	// RequestedBy is the principal who asked, or "system" for the periodic
	// verification.
	RequestedBy string
	RequestedAt time.Time
	StartedAt   *time.Time
	FinishedAt  *time.Time
	State       VerificationState
	// Chains are the chains verified, by name, each with its progress;
	// empty until the job starts.
	Chains []ChainVerification
}

// ChainVerification is the progress and result of one chain in a
// verification.
type ChainVerification struct {
	VerificationID string
	Chain          string
	// Verified of Total events are verified; Total is the chain's length
	// when the verification started.
	Total, Verified int64
	State           VerificationState
	// FirstBad, BadCheckpoint and Problem are those of the Report of a
	// failed chain.
	FirstBad, BadCheckpoint int64
	Problem                 string
	FinishedAt              *time.Time
}

// Done reports whether v is finished.
func (v *Verification) Done() bool {
	return v.State == VerificationPassed || v.State == VerificationFailed
}

// Progress sums v's chains: events verified of the total, chains finished
// of the chains, and those that failed.
func (v *Verification) Progress() (verified, total int64, done, chains, failed int) {
	for _, c := range v.Chains {
		verified += c.Verified
		total += c.Total
		if c.State == VerificationPassed || c.State == VerificationFailed {
			done++
		}
		if c.State == VerificationFailed {
			failed++
		}
	}
	return verified, total, done, len(v.Chains), failed
}

// VerifyArgs is the job that runs a verification. Ids only.
type VerifyArgs struct {
	VerificationID string `json:"verification_id"`
}

// Kind names the job.
func (VerifyArgs) Kind() string { return "audit.verify" }

// InsertOpts puts verifications in their own queue (QueueVerify), so a
// long verification never holds back the notices.
func (VerifyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueVerify, MaxAttempts: 5}
}

// VerifyAllArgs is the periodic job that starts a verification of every
// chain.
type VerifyAllArgs struct{}

// Kind names the job.
func (VerifyAllArgs) Kind() string { return "audit.verify_all" }

// QueueVerify is the River queue verifications run in.
const QueueVerify = "audit"

type verifyWorker struct {
	river.WorkerDefaults[VerifyArgs]
	l *Log
}

func (w *verifyWorker) Work(ctx context.Context, job *river.Job[VerifyArgs]) error {
	err := w.l.RunVerification(ctx, job.Args.VerificationID)
	if err != nil && job.Attempt >= job.MaxAttempts {
		// Never silent: a verification that cannot run ends failed, with
		// the cause, instead of staying "running".
		return w.l.abandon(context.WithoutCancel(ctx), job.Args.VerificationID, err)
	}
	return err
}

type verifyAllWorker struct {
	river.WorkerDefaults[VerifyAllArgs]
	l *Log
}

func (w *verifyAllWorker) Work(ctx context.Context, _ *river.Job[VerifyAllArgs]) error {
	_, err := w.l.StartVerification(ctx, PlatformChain, "system")
	return err
}

// Register adds the verification workers.
func (l *Log) Register(workers *river.Workers) {
	river.AddWorker(workers, &verifyWorker{l: l})
	river.AddWorker(workers, &verifyAllWorker{l: l})
}

// PeriodicJobs returns the periodic verification of every chain, every
// interval (Art. 32(1)(d): regularly testing the measures).
func (l *Log) PeriodicJobs(interval time.Duration) []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) {
			return VerifyAllArgs{}, &river.InsertOpts{Queue: QueueVerify, UniqueOpts: river.UniqueOpts{ByPeriod: interval}}
		}, &river.PeriodicJobOpts{RunOnStart: true})}
}

// UseClient sets the River client StartVerification enqueues with.
func (l *Log) UseClient(c *river.Client[pgx.Tx]) { l.jobs.Store(c) }

// txScope is the row-level security scope that reads verifications of
// scope.
func txScope(scope string) string {
	if scope == PlatformChain {
		return "*"
	}
	return scope
}

// StartVerification asks for a verification of scope (a tenant id, or
// PlatformChain for every chain) by actor and enqueues its job. While one
// of the same scope is queued or running it returns that one instead.
func (l *Log) StartVerification(ctx context.Context, scope, actor string) (Verification, error) {
	client := l.jobs.Load()
	if client == nil {
		return Verification{}, verwerker.Errorf(verwerker.EUNAVAILABLE, "background jobs are not running on this server")
	}
	now := l.clock.Now().UTC().Truncate(time.Microsecond)
	id := verwerker.NewID(PrefixVerification, now)
	err := l.db.InTenantTx(ctx, txScope(scope), func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO audit_verifications (id, scope, requested_by, requested_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (scope) WHERE state IN ('queued', 'running') DO NOTHING`, id, scope, actor, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return tx.QueryRow(ctx, `SELECT id FROM audit_verifications WHERE scope = $1 AND state IN ('queued', 'running')`, scope).Scan(&id)
		}
		_, err = client.InsertTx(ctx, tx, VerifyArgs{VerificationID: id}, nil)
		return err
	})
	if err != nil {
		return Verification{}, verwerker.Wrap("audit: start verification", err)
	}
	v, err := l.Verification(ctx, scope, id)
	if err != nil {
		return Verification{}, err
	}
	return *v, nil
}

// Verification returns verification id of scope, with its chains; an
// ENOTFOUND error when scope has no such verification.
func (l *Log) Verification(ctx context.Context, scope, id string) (*Verification, error) {
	var out *Verification
	err := l.db.InTenantTx(ctx, txScope(scope), func(tx pgx.Tx) error {
		var err error
		out, err = readVerification(ctx, tx, `id = $1 AND scope = $2`, id, scope)
		return err
	})
	if err != nil {
		return nil, verwerker.Wrap("audit: verification", err)
	}
	if out == nil {
		return nil, verwerker.Errorf(verwerker.ENOTFOUND, "no such verification")
	}
	return out, nil
}

// LastVerification returns the newest verification of scope (running or
// finished), or nil when there is none; when finished is true, the newest
// finished one: the dashboard's "last verification".
func (l *Log) LastVerification(ctx context.Context, scope string, finished bool) (*Verification, error) {
	var out *Verification
	where := `scope = $1`
	if finished {
		where += ` AND finished_at IS NOT NULL`
	}
	err := l.db.InTenantTx(ctx, txScope(scope), func(tx pgx.Tx) error {
		var err error
		out, err = readVerification(ctx, tx, where+` ORDER BY requested_at DESC, id DESC LIMIT 1`, scope)
		return err
	})
	return out, verwerker.Wrap("audit: last verification", err)
}

// readVerification reads the verification matching where (a condition on
// audit_verifications with args) and its chains; nil when none.
func readVerification(ctx context.Context, tx pgx.Tx, where string, args ...any) (*Verification, error) {
	v := &Verification{}
	var state string
	err := tx.QueryRow(ctx, `SELECT id, scope, requested_by, requested_at, started_at, finished_at, state
		FROM audit_verifications WHERE `+where, args...).Scan(&v.ID, &v.Scope, &v.RequestedBy, &v.RequestedAt, &v.StartedAt, &v.FinishedAt, &state)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v.State = VerificationState(state)
	v.RequestedAt = v.RequestedAt.UTC()
	rows, err := tx.Query(ctx, `SELECT `+chainColumns+` FROM audit_verification_chains WHERE verification_id = $1
		ORDER BY chain = 'platform' DESC, chain`, v.ID)
	if err != nil {
		return nil, err
	}
	v.Chains, err = pgx.CollectRows(rows, scanChain)
	return v, err
}

const chainColumns = `verification_id, chain, total, verified, state, first_bad, bad_checkpoint, problem, finished_at`

func scanChain(row pgx.CollectableRow) (ChainVerification, error) {
	var c ChainVerification
	var state string
	err := row.Scan(&c.VerificationID, &c.Chain, &c.Total, &c.Verified, &state, &c.FirstBad, &c.BadCheckpoint, &c.Problem, &c.FinishedAt)
	c.State = VerificationState(state)
	return c, err
}

// RunVerification runs verification id: it verifies each chain of its
// scope (Verify), recording the events verified as it goes, then the
// result, and appends the ActionVerify event to the chain of the scope with
// the outcome (failure when a chain does not verify) in the same
// transaction. Run again after an interruption, it starts over. It is what
// the job does.
func (l *Log) RunVerification(ctx context.Context, id string) error {
	var v Verification
	var state string
	err := l.db.Pool.QueryRow(ctx, `SELECT scope, requested_by, state FROM audit_verifications WHERE id = $1`, id).Scan(&v.Scope, &v.RequestedBy, &state)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // nothing to do
	}
	if err != nil {
		return verwerker.Internal("audit: run verification", err)
	}
	if state == string(VerificationPassed) || state == string(VerificationFailed) {
		return nil
	}
	v.ID = id
	chains := []string{v.Scope}
	if v.Scope == PlatformChain {
		if chains, err = l.Chains(ctx); err != nil {
			return err
		}
	}
	start := l.clock.Now().UTC()
	err = l.db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE audit_verifications SET state = 'running', started_at = $2 WHERE id = $1`, id, start); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO audit_verification_chains (verification_id, chain, total)
			SELECT $1, c, COALESCE(h.seq, 0) FROM unnest($2::text[]) AS c LEFT JOIN audit_heads h ON h.chain = c
			ON CONFLICT (verification_id, chain) DO UPDATE SET total = excluded.total, verified = 0, state = 'waiting',
				first_bad = 0, bad_checkpoint = 0, problem = '', finished_at = NULL`, id, chains)
		return err
	})
	if err != nil {
		return verwerker.Internal("audit: run verification", err)
	}
	failed := 0
	var first Report
	for _, c := range chains {
		if _, err := l.db.Pool.Exec(ctx, `UPDATE audit_verification_chains SET state = 'running' WHERE verification_id = $1 AND chain = $2`, id, c); err != nil {
			return verwerker.Internal("audit: run verification", err)
		}
		r, err := l.verify(ctx, c, func(n int64) error {
			_, err := l.db.Pool.Exec(ctx, `UPDATE audit_verification_chains SET verified = $3 WHERE verification_id = $1 AND chain = $2`, id, c, n)
			return err
		})
		if err != nil {
			return verwerker.Wrap("audit: run verification", err)
		}
		state := VerificationPassed
		if !r.OK {
			state = VerificationFailed
			if failed == 0 {
				first = r
			}
			failed++
		}
		if _, err := l.db.Pool.Exec(ctx, `UPDATE audit_verification_chains SET verified = $3, state = $4, first_bad = $5, bad_checkpoint = $6,
			problem = $7, finished_at = $8 WHERE verification_id = $1 AND chain = $2`,
			id, c, r.Events, string(state), r.FirstBad, r.BadCheckpoint, r.Problem, l.clock.Now().UTC()); err != nil {
			return verwerker.Internal("audit: run verification", err)
		}
	}
	outcome, result := Success, VerificationPassed
	reason := fmt.Sprintf("verification=%s chains=%d failed=%d", id, len(chains), failed)
	if failed > 0 {
		outcome, result = Failure, VerificationFailed
		reason += fmt.Sprintf(" chain=%s first_bad=%d bad_checkpoint=%d", first.Chain, first.FirstBad, first.BadCheckpoint)
	}
	return l.finish(ctx, &v, result, outcome, reason)
}

// finish records the end of v in state and its ActionVerify event, in one
// transaction.
func (l *Log) finish(ctx context.Context, v *Verification, state VerificationState, outcome Outcome, reason string) error {
	err := l.db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE audit_verifications SET state = $2, finished_at = $3, started_at = COALESCE(started_at, $3) WHERE id = $1`,
			v.ID, string(state), l.clock.Now().UTC()); err != nil {
			return err
		}
		_, err := l.AppendTx(ctx, tx, Event{Chain: v.Scope, Actor: v.RequestedBy, Action: ActionVerify, Resource: v.ID, Outcome: outcome, Reason: clip(reason)})
		return err
	})
	return verwerker.Wrap("audit: finish verification", err)
}

// abandon ends verification id as failed after its job's last attempt
// failed with cause, and audits it.
func (l *Log) abandon(ctx context.Context, id string, cause error) error {
	v := Verification{ID: id}
	err := l.db.Pool.QueryRow(ctx, `SELECT scope, requested_by FROM audit_verifications WHERE id = $1 AND finished_at IS NULL`, id).Scan(&v.Scope, &v.RequestedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return verwerker.Internal("audit: abandon verification", err)
	}
	return l.finish(ctx, &v, VerificationFailed, Failure,
		fmt.Sprintf("verification=%s could not run to its end: %s", id, verwerker.ErrorCode(cause)))
}

// clip cuts s to what an event's reason holds.
func clip(s string) string {
	if len(s) > 300 {
		return s[:300]
	}
	return s
}

// Broken returns the chains whose last finished verification failed, with
// the cause, by chain name: what needs the DPO's attention until a later
// verification passes.
func (l *Log) Broken(ctx context.Context) ([]ChainVerification, error) {
	var out []ChainVerification
	err := l.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+chainColumns+` FROM (
				SELECT DISTINCT ON (chain) `+chainColumns+` FROM audit_verification_chains
				WHERE finished_at IS NOT NULL ORDER BY chain, finished_at DESC
			) last WHERE state = 'failed' ORDER BY chain`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanChain)
		return err
	})
	return out, verwerker.Wrap("audit: broken chains", err)
}

// Unverified counts the chains whose last verification failed, or finished
// before now minus maxAge, or that were never verified: the gauge
// verwerker_audit_chains_unverified.
func (l *Log) Unverified(ctx context.Context, maxAge time.Duration) (int, error) {
	var n int
	err := l.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM audit_heads h
			LEFT JOIN LATERAL (
				SELECT state, finished_at FROM audit_verification_chains c
				WHERE c.chain = h.chain AND c.finished_at IS NOT NULL ORDER BY c.finished_at DESC LIMIT 1
			) last ON true
			WHERE last.state IS NULL OR last.state = 'failed' OR last.finished_at < $1`,
			l.clock.Now().Add(-maxAge)).Scan(&n)
	})
	return n, verwerker.Wrap("audit: unverified chains", err)
}

// DefaultMaxAge is how old a chain's last passed verification may be
// before the chain counts as unverified, when no other age is configured
// (VERWERKER_AUDIT_VERIFY_MAX_AGE). The periodic verification runs every
// half of it.
const DefaultMaxAge = 48 * time.Hour

// Metrics returns the collector of the gauge
// verwerker_audit_chains_unverified: chains whose last verification
// failed, is older than maxAge or never happened (Unverified), counted in
// PostgreSQL at each scrape.
func (l *Log) Metrics(maxAge time.Duration) prometheus.Collector {
	return &unverifiedCollector{l: l, maxAge: maxAge, desc: prometheus.NewDesc("verwerker_audit_chains_unverified",
		fmt.Sprintf("Audit chains whose last verification failed (the chain or a signed checkpoint does not verify), or that were not verified in the last %s. A failed chain is listed in GET /v1/alarms with its cause.", maxAge),
		nil, nil)}
}

type unverifiedCollector struct {
	l      *Log
	maxAge time.Duration
	desc   *prometheus.Desc
}

func (c *unverifiedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *unverifiedCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.l.Unverified(ctx, c.maxAge)
	if err != nil {
		return // no sample rather than a wrong one; the scrape goes on
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n))
}

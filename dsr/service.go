package dsr

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/records"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/subject"
	"github.com/verwerker/verwerker/tenant"
)

// Holds says which of a subject's data categories must not be deleted now
// and why; package retention implements it (legal holds, statutory
// retention). The key "*" means every category of that subject. Subject
// ids are the internal subject ids (subjects.id).
type Holds interface {
	HeldCategories(ctx context.Context, tenantID, subjectID string) (map[string]string, error)
}

// Options tune the service; zero values take the defaults.
type Options struct {
	// ForwardWithin is verwerker's service level for forwarding a request
	// to the controller, in working days of the customer's calendar
	// (default 1).
	ForwardWithin int
	// CodeLifetime is how long a verification code is valid (default 15
	// minutes); CodeAttempts how many wrong codes end it (default 3).
	CodeLifetime time.Duration
	CodeAttempts int
	// ExportLifetime is how long an export can be downloaded (default 7
	// days).
	ExportLifetime time.Duration
	// DPOEmail receives the deadline reminders beside the controller.
	DPOEmail string
	// Limits are the intake's rate limits (DefaultLimits when zero).
	Limits Limits
	// Keys seals the requesters' contacts (Contact) with the tenants'
	// keys; required to take a request that has an address or details.
	Keys *keys.Manager
}

// Service handles data-subject requests. It owns the dsr_* tables.
type Service struct {
	db       *store.DB
	clock    verwerker.Clock
	audit    *audit.Log
	outbox   *notify.Outbox
	records  *records.Store
	subjects *subject.Service
	calendar *deadline.Calendar
	holds    atomic.Value // holdsBox
	opts     Options
	jobs     atomic.Pointer[river.Client[pgx.Tx]]
	keyed    sync.Map // tenant ids whose key exists

	overdue prometheus.Gauge
	open    prometheus.Gauge
	failed  prometheus.Gauge
}

// New returns the service. holds may be nil: nothing is held beyond what
// records enforces itself.
func New(db *store.DB, clock verwerker.Clock, log *audit.Log, outbox *notify.Outbox, rec *records.Store, subjects *subject.Service,
	calendar *deadline.Calendar, holds Holds, opts Options) *Service {
	if opts.ForwardWithin <= 0 {
		opts.ForwardWithin = 1
	}
	if opts.CodeLifetime <= 0 {
		opts.CodeLifetime = 15 * time.Minute
	}
	if opts.CodeAttempts <= 0 {
		opts.CodeAttempts = 3
	}
	if opts.ExportLifetime <= 0 {
		opts.ExportLifetime = 7 * 24 * time.Hour
	}
	if opts.Limits == (Limits{}) || opts.Limits.Window <= 0 {
		opts.Limits = DefaultLimits
	}
	if calendar == nil {
		calendar = deadline.DefaultCalendar()
	}
	s := &Service{db: db, clock: clock, audit: log, outbox: outbox, records: rec, subjects: subjects, calendar: calendar, opts: opts,
		overdue: prometheus.NewGauge(prometheus.GaugeOpts{Name: "verwerker_requests_overdue", Help: "Open data-subject requests past their statutory deadline, at the last sweep (every customer; no customer label)."}),
		open:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "verwerker_requests_open", Help: "Open data-subject requests at the last sweep."}),
		failed:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "verwerker_requests_failed", Help: "Data-subject requests with a step that could not succeed (an alarm each), at the last sweep."}),
	}
	s.SetHolds(holds)
	if outbox != nil {
		outbox.Observe(EventForwarded, s.observe)
	}
	return s
}

// Metrics returns the service's collectors.
func (s *Service) Metrics() []prometheus.Collector {
	return []prometheus.Collector{s.overdue, s.open, s.failed}
}

// UseClient sets the River client the service's jobs are inserted with.
func (s *Service) UseClient(c *river.Client[pgx.Tx]) { s.jobs.Store(c) }

func (s *Service) client() (*river.Client[pgx.Tx], error) {
	c := s.jobs.Load()
	if c == nil {
		return nil, verwerker.Internal("dsr: jobs", errors.New("no River client (UseClient not called)"))
	}
	return c, nil
}

// calendarOf returns the customer's calendar, read in tx.
func (s *Service) tenantOf(ctx context.Context, tx pgx.Tx, tenantID string) (tenant.Tenant, *deadline.Calendar, error) {
	t, err := tenant.Read(ctx, tx, tenantID, s.clock.Now(), false)
	if err != nil {
		return t, nil, err
	}
	return t, t.Calendar(s.calendar), nil
}

// step appends a timeline entry and the audit event of a state change.
func (s *Service) step(ctx context.Context, tx pgx.Tx, r *Request, actor, action, detail string) error {
	if actor == "" {
		actor = audit.Actor(ctx)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO dsr_steps (tenant_id, request_id, at, actor, action, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
		r.TenantID, r.ID, s.clock.Now().UTC(), actor, action, detail); err != nil {
		return err
	}
	reason := "type=" + string(r.Type) + " state=" + string(r.State)
	if detail != "" {
		reason += " " + detail
	}
	if len(reason) > 300 {
		reason = reason[:300]
	}
	return s.audit.Record(ctx, tx, r.TenantID, "dsr."+action, r.ID, reason)
}

// lock reads a request for update in tx; ENOTFOUND when the tenant has none
// with that id.
func lock(ctx context.Context, tx pgx.Tx, tenantID, id string) (Request, error) {
	r, err := scanRequest(tx.QueryRow(ctx, `SELECT `+requestColumns+` FROM dsr_requests WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, errNotFound
	}
	return r, err
}

var errNotFound = verwerker.Errorf(verwerker.ENOTFOUND, "no such request")

// Get returns one of the tenant's requests with its timeline.
func (s *Service) Get(ctx context.Context, tenantID, id string) (Request, []Step, error) {
	var r Request
	var steps []Step
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		r, err = scanRequest(tx.QueryRow(ctx, `SELECT `+requestColumns+` FROM dsr_requests WHERE tenant_id = $1 AND id = $2`, tenantID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		steps, err = timeline(ctx, tx, tenantID, id)
		return err
	})
	return r, steps, verwerker.Wrap("dsr: get", err)
}

func timeline(ctx context.Context, tx pgx.Tx, tenantID, id string) ([]Step, error) {
	rows, err := tx.Query(ctx, `SELECT at, actor, action, detail FROM dsr_steps WHERE tenant_id = $1 AND request_id = $2 ORDER BY seq`, tenantID, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Step, error) {
		var st Step
		err := row.Scan(&st.At, &st.Actor, &st.Action, &st.Detail)
		st.At = st.At.UTC()
		return st, err
	})
}

// List returns a tenant's requests (every tenant's for "*"), soonest
// deadline first; open only when openOnly. At most limit (100 if <= 0).
func (s *Service) List(ctx context.Context, tenantID string, openOnly bool, limit int) ([]Request, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var out []Request
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+requestColumns+` FROM dsr_requests
			WHERE ($1 = '*' OR tenant_id = $1) AND (NOT $2 OR state NOT IN ('completed', 'rejected', 'duplicate'))
			ORDER BY due_at, id LIMIT $3`, tenantID, openOnly, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Request, error) { return scanRequest(row) })
		return err
	})
	return out, verwerker.Wrap("dsr: list", err)
}

// SetHolds replaces the holds erasures respect (nil: none beyond what
// records enforces); for wiring retention after construction, and tests.
func (s *Service) SetHolds(h Holds) { s.holds.Store(holdsBox{h}) }

type holdsBox struct{ Holds }

func (s *Service) heldBy() Holds { return s.holds.Load().(holdsBox).Holds }

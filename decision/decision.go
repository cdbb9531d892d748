package decision

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/subject"
	"github.com/verwerker/verwerker/tenant"
)

// MaxBatch is the most requests one batch may hold.
const MaxBatch = 1000

// Request is one question of the chat service.
type Request struct {
	// Category, Purpose and Region name taxonomy entries (dpa.Categories,
	// dpa.Purposes, dpa.Regions).
	Category, Purpose, Region string
	// Subprocessor optionally names the subprocessor the data goes through.
	Subprocessor string
	// SpecialCategory optionally names a special category (GDPR Art. 9)
	// the content was recognised as containing.
	SpecialCategory string
	// SuspectedMinor says the data was recognised as a minor's.
	SuspectedMinor bool
	// SubjectRef is the chat service's pseudonymous reference of the data
	// subject, optional. It is never stored, logged or audited as is.
	SubjectRef string
}

// Decision is the answer to one Request.
type Decision struct {
	// ID names the decision ("dec_01J..."); denials are audited under it.
	ID    string
	Allow bool
	// Reasons say why, each with its legal ground, in a fixed order.
	Reasons []policy.Reason
	// Obligations say how the data must be kept; nil when denied.
	Obligations *Obligations
	// DPAVersion and DPAVersionID name the agreement version that decided
	// (0 and "" when none is active).
	DPAVersion   int
	DPAVersionID string
	// SubjectID is the subject's pseudonymous id when one is on record.
	SubjectID string
	// ValidUntil is when an allow stops holding by itself, in Unix
	// nanoseconds: the end of a terminating customer's contract
	// (math.MaxInt64 when none). A write that commits at or after it must
	// decide again.
	ValidUntil int64
}

// Obligations of an allowed decision.
type Obligations struct {
	// Retention is the category's retention rule (dpa.RetentionRules).
	Retention string
	// DeletionDeadline is when the data must be deleted: counted from now
	// per Regulation 1182/71 in the customer's time zone; for
	// contract_end+30d from the contract's end once a termination is
	// recorded (the customer's purge deadline), nil before; for a
	// suspected minor's data (delete_asap) MinorDeletionPeriod from now,
	// unless the rule is statutory_7y.
	DeletionDeadline *deadline.Deadline
	// KeyRef names the key the data must be encrypted under.
	KeyRef string
	// Actions are the policy's obligations (policy.Obligation*), in order.
	Actions []string
}

// Service makes decisions.
type Service struct {
	subjects *subject.Service
	audit    *audit.Log
	clock    verwerker.Clock
	// db keeps the per-customer counts (decision_counts); nil keeps them
	// in memory only (benchmarks).
	db *store.DB

	categories, specials, purposes, regions map[string]bool

	calendars sync.Map // time zone -> *deadline.Calendar
	deadlines sync.Map // deadlineKey -> *deadline.Deadline

	tenants *tenants
	counts  *counters
}

// Options configure a Service.
type Options struct {
	// DB keeps the per-customer counts (decision_counts) and is where
	// versions are read when a caller does not know the current one and
	// where Watch resyncs. Nil keeps counts in memory and takes version 0
	// (tests, benchmarks).
	DB *store.DB
	// Logger receives reload failures; nil discards.
	Logger *slog.Logger
	// ReloadTimeout bounds one load and compilation of a tenant's state;
	// zero is DefaultReloadTimeout.
	ReloadTimeout time.Duration
}

// NewService returns a Service deciding from the tenants' states that load
// reads (with the same clock: it computes contract statuses), compiled by
// the policy. subjects may be nil (requests naming a subject are then
// refused), and so may log (denials then go unaudited: benchmarks only).
func NewService(ctx context.Context, load LoadFunc, subjects *subject.Service, log *audit.Log, clock verwerker.Clock, opts Options) (*Service, error) {
	tax := dpa.PolicyTaxonomy()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReloadTimeout <= 0 {
		opts.ReloadTimeout = DefaultReloadTimeout
	}
	compiler, err := policy.NewCompiler(ctx, tax, opts.Logger)
	if err != nil {
		return nil, err
	}
	s := &Service{subjects: subjects, audit: log, clock: clock, db: opts.DB,
		categories: map[string]bool{}, specials: map[string]bool{}, purposes: map[string]bool{}, regions: map[string]bool{},
		tenants: &tenants{compiler: compiler, load: load, db: opts.DB, clock: clock, logger: opts.Logger, reloadTimeout: opts.ReloadTimeout,
			byID: map[string]*customer{}}}
	for _, c := range tax.Categories {
		s.categories[c.ID] = true
		s.specials[c.ID] = c.Special
	}
	for _, p := range tax.Purposes {
		s.purposes[p] = true
	}
	for _, r := range tax.Regions {
		s.regions[r.ID] = true
	}
	s.counts = newCounters(tax, s.tenants)
	return s, nil
}

// Known returns the newest decision_state version of the tenant this
// replica knows of (announced to it or compiled); 0 when none.
func (s *Service) Known(tenantID string) int64 { return s.tenants.known(tenantID) }

// ValidPurpose reports whether p is a purpose of the taxonomy.
func (s *Service) ValidPurpose(p string) bool { return s.purposes[p] }

var subprocessorID = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// validate checks r, naming offending fields under prefix.
func (s *Service) validate(r *Request, prefix string, fields []verwerker.FieldError) []verwerker.FieldError {
	bad := func(f, msg string) { fields = append(fields, verwerker.FieldError{Field: prefix + f, Message: msg}) }
	if !s.categories[r.Category] {
		bad("category", "is not a data category of the taxonomy")
	}
	if !s.purposes[r.Purpose] {
		bad("purpose", "is not a purpose of the taxonomy")
	}
	if !s.regions[r.Region] {
		bad("region", "is not a region of the taxonomy")
	}
	if r.Subprocessor != "" && !subprocessorID.MatchString(r.Subprocessor) {
		bad("subprocessor", "must be a subprocessor id: 1 to 64 lowercase letters, digits, dots, dashes or underscores")
	}
	if r.SpecialCategory != "" && !s.specials[r.SpecialCategory] {
		bad("special_category", "is not a special category of the taxonomy (GDPR Art. 9)")
	}
	if r.SubjectRef != "" {
		if msg := subject.CheckRef(r.SubjectRef); msg != "" {
			bad("subject_ref", msg)
		} else if s.subjects == nil {
			bad("subject_ref", "subjects are not available on this server")
		}
	}
	return fields
}

// Decide answers reqs for tenantID. version is the tenant's decision_state
// version the caller read with its credential, or -1 when it has none (it
// is then read from the database). With more than one request, invalid
// fields are named items[i].<field>; more than MaxBatch requests is an
// ETOOLARGE error.
func (s *Service) Decide(ctx context.Context, tenantID string, version int64, reqs []Request) ([]Decision, error) {
	return s.decide(ctx, tenantID, version, reqs, true)
}

// Redecide is Decide for a caller asking again about requests it already
// asked about (a write whose inputs changed before it could commit): the
// same answers and audit, but the allows are not counted a second time.
func (s *Service) Redecide(ctx context.Context, tenantID string, version int64, reqs []Request) ([]Decision, error) {
	return s.decide(ctx, tenantID, version, reqs, false)
}

func (s *Service) decide(ctx context.Context, tenantID string, version int64, reqs []Request, count bool) ([]Decision, error) {
	if len(reqs) > MaxBatch {
		return nil, &verwerker.Error{Code: verwerker.ETOOLARGE, Message: fmt.Sprintf("a batch holds at most %d requests", MaxBatch),
			Fields: []verwerker.FieldError{{Field: "items", Message: fmt.Sprintf("must hold at most %d requests", MaxBatch)}}}
	}
	var fields []verwerker.FieldError
	refs := []string(nil)
	for i := range reqs {
		prefix := ""
		if len(reqs) > 1 {
			prefix = fmt.Sprintf("items[%d].", i)
		}
		fields = s.validate(&reqs[i], prefix, fields)
		if reqs[i].SubjectRef != "" {
			refs = append(refs, reqs[i].SubjectRef)
		}
	}
	if len(fields) > 0 {
		return nil, verwerker.Invalid("the decision request is not valid", fields...)
	}
	now := s.clock.Now()
	t := s.tenants.get(tenantID)
	td, err := s.tenants.table(ctx, t, version, now)
	if err != nil {
		return nil, err
	}
	var subjects map[string]subject.State
	if len(refs) > 0 {
		if subjects, err = s.subjects.Lookup(ctx, tenantID, distinct(refs)); err != nil {
			return nil, err
		}
	}
	dpaVersion, dpaID := td.DPAVersionID()
	out := make([]Decision, len(reqs))
	var denied []int
	flagged := map[string]bool{}
	for i := range reqs {
		r := &reqs[i]
		pr := policy.Request{Category: r.Category, Purpose: r.Purpose, Region: r.Region, Subprocessor: r.Subprocessor,
			SpecialCategory: r.SpecialCategory, SuspectedMinor: r.SuspectedMinor}
		sub, known := subjects[r.SubjectRef]
		if known && (sub.Restricted || len(sub.ObjectedPurposes) > 0) {
			pr.Subject = &policy.Subject{Restricted: sub.Restricted, ObjectedPurposes: sub.ObjectedPurposes}
		}
		res, err := td.Decide(ctx, &pr)
		if err != nil {
			return nil, err
		}
		d := &out[i]
		d.ID, d.Allow, d.Reasons, d.DPAVersion, d.SubjectID = verwerker.NewID(verwerker.PrefixDecision, now), res.Allow, res.Reasons, res.DPAVersion, sub.ID
		if dpaID != "" && res.DPAVersion == dpaVersion {
			d.DPAVersionID = dpaID
		}
		if res.Allow {
			d.ValidUntil = td.Until()
			d.Obligations = &Obligations{Retention: res.Retention, DeletionDeadline: s.deletionDeadline(td, now, res.Retention, r.SuspectedMinor),
				KeyRef: t.keyRef, Actions: res.Obligations}
		} else {
			denied = append(denied, i)
		}
		if count {
			s.counts.add(t, r.Category, r.Purpose, res.Allow)
			if !res.Allow {
				s.counts.deny(t, res.Reasons)
			}
		}
		if r.SuspectedMinor && !flagged[r.SubjectRef] && (!known || sub.MinorFlaggedAt == nil) {
			flagged[r.SubjectRef] = true
			if s.subjects != nil {
				id, err := s.subjects.FlagMinor(ctx, tenantID, r.SubjectRef)
				if err != nil {
					return nil, err
				}
				d.SubjectID = id
			}
		}
	}
	if err := s.auditDenials(ctx, tenantID, reqs, out, denied); err != nil {
		return nil, err
	}
	return out, nil
}

func distinct(list []string) []string {
	seen := make(map[string]bool, len(list))
	out := list[:0:0]
	for _, x := range list {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// auditDenials appends one event per denial and waits until all are
// durable. The appends run concurrently, so they share group commits.
func (s *Service) auditDenials(ctx context.Context, tenantID string, reqs []Request, out []Decision, denied []int) error {
	if s.audit == nil || len(denied) == 0 {
		return nil
	}
	actor := audit.Actor(ctx)
	errs := make([]error, len(denied))
	var wg sync.WaitGroup
	for j, i := range denied {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, r := &out[i], &reqs[i]
			reason := fmt.Sprintf("codes=%s dpa=%d category=%s purpose=%s region=%s", strings.Join(codes(d.Reasons), ","), d.DPAVersion, r.Category, r.Purpose, r.Region)
			if d.SubjectID != "" {
				reason += " subject=" + d.SubjectID
			}
			if len(reason) > 300 {
				reason = reason[:300]
			}
			_, errs[j] = s.audit.Append(ctx, audit.Event{Chain: tenantID, Actor: actor, Action: "decision.deny", Resource: d.ID, Outcome: audit.Denied, Reason: reason})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "the denial could not be audited; nothing may be stored", Err: err}
		}
	}
	return nil
}

func codes(rs []policy.Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Code
	}
	return out
}

type deadlineKey struct {
	tz   string
	day  deadline.Date
	rule string
}

// MinorDeletionPeriod is what "as soon as possible" means for data
// recognised as a minor's (seed 000 art. 9.5; obligation delete_asap): it
// must be deleted at the latest 24 hours after the decision that allowed
// storing it (exact hours, no calendar rule), unless a statutory retention
// period applies to its category (statutory_7y: GDPR Art. 17(3)(b)).
const MinorDeletionPeriod = 24 * time.Hour

// deletionDeadline computes the deletion deadline of a retention rule for
// data stored now for td's customer, in its time zone: per Regulation
// 1182/71 from now (30d_after_last_interaction, statutory_7y) or from the
// contract's end once a termination is recorded (contract_end+30d: the
// customer's purge deadline; nil while the contract runs without an end),
// and MinorDeletionPeriod from now for a suspected minor's data unless the
// rule is statutory. Calendar deadlines are memoised per day, time zone and
// rule.
func (s *Service) deletionDeadline(td *policy.Table, now time.Time, rule string, minor bool) *deadline.Deadline {
	cal := s.calendar(td.Timezone())
	if minor && rule != dpa.RetentionStatutory7Years {
		due := now.Add(MinorDeletionPeriod).In(cal.Location())
		last := deadline.DateOf(due.Add(-time.Nanosecond))
		return &deadline.Deadline{LastDay: last, Due: due, NominalLastDay: last}
	}
	var p deadline.Period
	event := now
	switch rule {
	case dpa.Retention30DaysAfterLastInteraction:
		p = deadline.Days(30)
	case dpa.RetentionStatutory7Years:
		p = deadline.Years(7)
	case dpa.RetentionContractEndPlus30Days:
		end := td.State().ContractEnd
		if end == nil {
			return nil // runs from an event still to come
		}
		p, event = tenant.PurgePeriod, end.In(cal.Location())
	default:
		return nil
	}
	key := deadlineKey{td.Timezone(), deadline.DateOf(event.In(cal.Location())), rule}
	if d, ok := s.deadlines.Load(key); ok {
		return d.(*deadline.Deadline)
	}
	d := cal.Deadline(event, p)
	s.deadlines.Store(key, &d)
	return &d
}

// calendar returns the customer calendar of time zone tz (tenant.Calendar),
// kept per zone so that a decision loads no zone data.
func (s *Service) calendar(tz string) *deadline.Calendar {
	if c, ok := s.calendars.Load(tz); ok {
		return c.(*deadline.Calendar)
	}
	cal := tenant.Calendar(nil, tz)
	s.calendars.Store(tz, cal)
	return cal
}

// Watch keeps the service's tables current through w, the replica's one
// watcher: a change of a tenant's decision state is handled before w
// acknowledges the change's barrier, so once the change's request is
// answered no replica decides from the old state, even for a caller that
// passes an older version than the one it changed to. After every
// (re)connection it catches up with the versions it may have missed.
func (s *Service) Watch(w *store.Watcher) {
	w.Handle(store.DecisionChannel, s.tenants.resync, func(_ context.Context, payload string) error {
		s.tenants.notice(payload)
		return nil
	})
}

// New wires a Service to the database: tenants' states are read with
// agreements.DecisionState (which must use the same clock); changes reach
// it through Watch, the end of a terminating customer's contract through
// the clock.
func New(ctx context.Context, db *store.DB, agreements *dpa.Service, subjects *subject.Service, log *audit.Log, clock verwerker.Clock, logger *slog.Logger) (*Service, error) {
	return NewService(ctx, agreements.DecisionState, subjects, log, clock, Options{DB: db, Logger: logger})
}

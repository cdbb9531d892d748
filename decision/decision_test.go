package decision_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/dpa/dpatest"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
	"github.com/verwerker/verwerker/subject"
	"github.com/verwerker/verwerker/subprocessor"
	"github.com/verwerker/verwerker/tenant"
)

// notices records the notices enqueued.
type notices struct {
	mu   sync.Mutex
	keys []string
}

func (n *notices) Enqueue(_ context.Context, _ pgx.Tx, m notify.Message) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.keys = append(n.keys, m.EventType+" "+m.IdempotencyKey)
	return "msg_test", nil
}

type fixture struct {
	db        *store.DB
	clock     *verwerker.ManualClock
	log       *audit.Log
	tenants   *tenant.Service
	subjects  *subject.Service
	tenantID  string
	dpa       *dpa.Service
	decisions *decision.Service
	notices   *notices
}

func setup(t *testing.T) fixture {
	t.Helper()
	ctx := verwerker.WithPrincipal(context.Background(), verwerker.Principal{ID: "usr_test", Kind: verwerker.PrincipalUser})
	db := storetest.New(t)
	clock := verwerker.NewManualClock(time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC))
	log := audit.NewLog(db, clock)
	t.Cleanup(log.Close)
	tenants := tenant.NewService(db, clock, log)
	tn, err := tenants.Create(ctx, tenant.New{Name: "Tenant A", Country: "NL", ContactEmail: "privacy@a.example"})
	require.NoError(t, err)
	agreements := dpa.NewService(db, clock, log, subprocessor.Lists{})
	subjects, err := subject.NewService(db, clock, log, make([]byte, subject.KeySize))
	require.NoError(t, err)
	n := &notices{}
	subjects.UseNotifier(n)
	svc, err := decision.New(ctx, db, agreements, subjects, log, clock, nil)
	require.NoError(t, err)
	dpatest.Activate(t, agreements, tn.ID, dpa.Scope{
		Categories:    []dpa.CategoryScope{{ID: "chat.message", Retention: dpa.Retention30DaysAfterLastInteraction}},
		Purposes:      []string{"service.delivery", "service.improvement"},
		BreachContact: dpa.Contact{Email: "breach@a.example"}, DPOContact: dpa.Contact{Email: "dpo@a.example"},
	})
	return fixture{db: db, clock: clock, log: log, tenants: tenants, subjects: subjects,
		tenantID: tn.ID, dpa: agreements, decisions: svc, notices: n}
}

// newTenant creates a customer in time zone tz ("" for the default) with
// the fixture's agreement and returns its id.
func (f fixture) newTenant(t *testing.T, name, tz string) string {
	t.Helper()
	ctx := verwerker.WithPrincipal(context.Background(), verwerker.Principal{ID: "usr_test", Kind: verwerker.PrincipalUser})
	tn, err := f.tenants.Create(ctx, tenant.New{Name: name, Country: "NL", ContactEmail: "privacy@b.example", Timezone: tz})
	require.NoError(t, err)
	dpatest.Activate(t, f.dpa, tn.ID, dpa.Scope{
		Categories:    []dpa.CategoryScope{{ID: "chat.message", Retention: dpa.Retention30DaysAfterLastInteraction}},
		Purposes:      []string{"service.delivery", "service.improvement"},
		BreachContact: dpa.Contact{Email: "breach@b.example"}, DPOContact: dpa.Contact{Email: "dpo@b.example"},
	})
	return tn.ID
}

// replica returns another decision service on the fixture's database, as a
// second replica has.
func (f fixture) replica(t *testing.T) *decision.Service {
	t.Helper()
	svc, err := decision.New(context.Background(), f.db, f.dpa, f.subjects, f.log, f.clock, nil)
	require.NoError(t, err)
	return svc
}

var chat = decision.Request{Category: "chat.message", Purpose: "service.delivery", Region: "nl"}

// TestMinorNoticeOnce: the controller is told once per subject, and once a
// day about minors without a subject reference.
func TestMinorNoticeOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	minor := chat
	minor.SuspectedMinor, minor.SubjectRef = true, "visitor-1"
	for range 3 {
		ds, err := f.decisions.Decide(ctx, f.tenantID, -1, []decision.Request{minor, minor})
		require.NoError(t, err)
		require.True(t, ds[0].Allow)
		require.Equal(t, []string{policy.ObligationRetention, policy.ObligationEncrypt, policy.ObligationDeleteASAP, policy.ObligationNotifyController}, ds[0].Obligations.Actions)
	}
	unreferenced := chat
	unreferenced.SuspectedMinor = true
	for range 2 {
		_, err := f.decisions.Decide(ctx, f.tenantID, -1, []decision.Request{unreferenced})
		require.NoError(t, err)
	}
	f.notices.mu.Lock()
	defer f.notices.mu.Unlock()
	require.Len(t, f.notices.keys, 3, "%v", f.notices.keys) // once for visitor-1; twice for the unreferenced (idempotent per day in the outbox)
	require.True(t, strings.HasPrefix(f.notices.keys[0], subject.EventMinorSuspected+" minor/sub_"), f.notices.keys[0])
	require.Equal(t, subject.EventMinorSuspected+" minor/unreferenced/2026-03-02", f.notices.keys[1])
}

// TestWatchReloads: another replica's change reaches a running service
// through the watcher, which loads the tenant's new state in the
// background, before any request carries the new version.
func TestWatchReloads(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := f.decisions.Decide(ctx, f.tenantID, -1, []decision.Request{chat})
	require.NoError(t, err)
	before := f.decisions.Cached(f.tenantID)
	require.GreaterOrEqual(t, before, int64(0))
	w := f.db.NewWatcher(store.WatcherOptions{Lease: 5 * time.Second})
	f.decisions.Watch(w)
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	require.Eventually(t, w.Fresh, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, f.db.InTx(ctx, func(tx pgx.Tx) error {
		_, err := store.TouchDecisionState(ctx, tx, f.tenantID)
		return err
	}))
	require.Eventually(t, func() bool { return f.decisions.Cached(f.tenantID) > before }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, f.decisions.Cached(f.tenantID), f.decisions.Known(f.tenantID))
}

// TestMetrics: allows and denials are counted per category, purpose and
// outcome, summed over customers: no metric label names a customer.
func TestMetrics(t *testing.T) {
	t.Parallel()
	f := setup(t)
	marketing := chat
	marketing.Purpose = "marketing"
	_, err := f.decisions.Decide(context.Background(), f.tenantID, -1, []decision.Request{chat, chat, marketing})
	require.NoError(t, err)
	// Asking again about the same requests (a write retried) counts nothing.
	again, err := f.decisions.Redecide(context.Background(), f.tenantID, -1, []decision.Request{chat})
	require.NoError(t, err)
	require.True(t, again[0].Allow)
	// A second customer's decisions add to the same series.
	other := f.newTenant(t, "Tenant B", "")
	_, err = f.decisions.Decide(context.Background(), other, -1, []decision.Request{chat})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	reg.MustRegister(f.decisions.Metrics())
	want := `# HELP verwerker_decisions_total Processing decisions by data category, purpose and outcome (allow or deny), summed over every customer; per-customer counts are in the API (decision-stats), never in metric labels.
# TYPE verwerker_decisions_total counter
verwerker_decisions_total{category="chat.message",outcome="allow",purpose="service.delivery"} 3
verwerker_decisions_total{category="chat.message",outcome="deny",purpose="marketing"} 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "verwerker_decisions_total"))
}

// wideScope is an agreement with a category under each retention rule.
var wideScope = dpa.Scope{
	Categories: []dpa.CategoryScope{
		{ID: "chat.message", Retention: dpa.Retention30DaysAfterLastInteraction},
		{ID: "contact.email", Retention: dpa.RetentionContractEndPlus30Days},
		{ID: "billing.invoice", Retention: dpa.RetentionStatutory7Years},
	},
	Purposes:      []string{"service.delivery", "billing"},
	BreachContact: dpa.Contact{Email: "breach@a.example"}, DPOContact: dpa.Contact{Email: "dpo@a.example"},
}

// customer creates another customer in time zone tz with an active
// agreement of scope sc.
func (f fixture) customer(t *testing.T, name, tz string, sc dpa.Scope) string {
	t.Helper()
	tn, err := f.tenants.Create(context.Background(), tenant.New{Name: name, Country: "NL", ContactEmail: "privacy@c.example", Timezone: tz})
	require.NoError(t, err)
	dpatest.Activate(t, f.dpa, tn.ID, sc)
	return tn.ID
}

// TestContractEndsWithoutARequest: a notice of termination is not the end
// of the contract. Decisions for a terminating customer allow as before
// through the contract's last day in the customer's time zone (also from
// the compiled table this replica keeps), and are denied from the first
// instant after it: by the clock alone, with no change, notification or
// other call between. Run on the injected clock: the day before, the day
// of and the day after the contract's end.
func TestContractEndsWithoutARequest(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	id := f.customer(t, "New York Customer", "America/New_York", wideScope)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	end := deadline.Date{Year: 2026, Month: time.July, Day: 15}
	_, err = f.tenants.Terminate(ctx, id, tenant.Termination{ContractEnd: end, Reason: tenant.ReasonCustomerNotice})
	require.NoError(t, err)
	version, err := store.DecisionStateVersion(ctx, f.db.Pool, id)
	require.NoError(t, err)

	email := decision.Request{Category: "contact.email", Purpose: "service.delivery", Region: "nl"}
	for _, tt := range []struct {
		name  string
		at    time.Time
		allow bool
	}{
		{"DayBefore", time.Date(2026, time.July, 14, 12, 0, 0, 0, ny), true},
		{"LastDayBegins", time.Date(2026, time.July, 15, 0, 0, 0, 0, ny), true},
		// 04:00 on 16 July in UTC, but still the last day in New York.
		{"LastDayEvening", time.Date(2026, time.July, 15, 23, 59, 59, 0, ny), true},
		{"DayAfterBegins", time.Date(2026, time.July, 16, 0, 0, 0, 0, ny), false},
		{"DayAfter", time.Date(2026, time.July, 16, 15, 0, 0, 0, ny), false},
	} {
		f.clock.Set(tt.at)
		ds, err := f.decisions.Decide(ctx, id, version, []decision.Request{chat, email})
		require.NoError(t, err, tt.name)
		for _, d := range ds {
			require.Equal(t, tt.allow, d.Allow, "%s: %v", tt.name, d.Reasons)
			if !tt.allow {
				require.Equal(t, []policy.Reason{{Code: policy.ReasonContractTerminated, Ref: "seed 000 art. 8.3; GDPR Art. 28(3)(g)",
					Message: "The customer's contract has ended; no processing on its behalf is allowed."}}, d.Reasons, tt.name)
				continue
			}
			require.Equal(t, time.Date(2026, time.July, 16, 0, 0, 0, 0, ny).UnixNano(), d.ValidUntil, "the allow holds until the contract ends")
		}
		if tt.allow {
			// The terminating customer's contact data is due 30 days after
			// the contract's end, its purge deadline: 15 July + 30 days =
			// Friday 14 August 2026, a working day.
			require.Equal(t, "2026-08-14", ds[1].Obligations.DeletionDeadline.LastDay.String(), tt.name)
		}
	}
	require.Equal(t, version, f.decisions.Known(id), "no change was announced")
}

// TestMinorDeletedWithin24Hours: "as soon as possible" (seed 000 art. 9.5)
// is MinorDeletionPeriod, 24 hours after the decision: a suspected minor's
// data is due then, whatever the category's ordinary rule, except under a
// statutory retention period.
func TestMinorDeletedWithin24Hours(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	id := f.customer(t, "Minors Customer", "Europe/Amsterdam", wideScope)
	now := time.Date(2026, time.March, 6, 16, 30, 0, 0, time.UTC) // a Friday
	f.clock.Set(now)
	require.Equal(t, 24*time.Hour, decision.MinorDeletionPeriod)

	minor := func(r decision.Request) decision.Request { r.SuspectedMinor = true; return r }
	email := decision.Request{Category: "contact.email", Purpose: "service.delivery", Region: "nl"}
	invoice := decision.Request{Category: "billing.invoice", Purpose: "billing", Region: "nl"}
	ds, err := f.decisions.Decide(ctx, id, -1, []decision.Request{chat, minor(chat), minor(email), minor(invoice)})
	require.NoError(t, err)
	for _, d := range ds {
		require.True(t, d.Allow, "%v", d.Reasons)
	}

	// An ordinary chat message: 30 days from the last interaction, 5 April
	// 2026, is Easter Sunday, and Easter Monday is a holiday: 7 April.
	require.Equal(t, "2026-04-07", ds[0].Obligations.DeletionDeadline.LastDay.String())
	require.NotContains(t, ds[0].Obligations.Actions, policy.ObligationDeleteASAP)
	// A minor's: 24 hours, not 30 days, and not the next working day.
	for _, d := range ds[1:3] {
		require.Contains(t, d.Obligations.Actions, policy.ObligationDeleteASAP)
		require.NotNil(t, d.Obligations.DeletionDeadline)
		require.True(t, now.Add(24*time.Hour).Equal(d.Obligations.DeletionDeadline.Due), "%v", d.Obligations.DeletionDeadline.Due)
		require.Equal(t, "2026-03-07", d.Obligations.DeletionDeadline.LastDay.String())
	}
	// Statutory retention prevails (GDPR Art. 17(3)(b)): 7 years.
	require.Contains(t, ds[3].Obligations.Actions, policy.ObligationDeleteASAP)
	require.Equal(t, 2033, ds[3].Obligations.DeletionDeadline.LastDay.Year)
}

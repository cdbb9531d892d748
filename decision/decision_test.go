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
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/dpa/dpatest"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
	"github.com/verwerker/verwerker/subject"
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
	tn, err := tenant.NewService(db, clock, log).Create(ctx, tenant.New{Name: "Tenant A", Country: "NL", ContactEmail: "privacy@a.example"})
	require.NoError(t, err)
	agreements := dpa.NewService(db, clock, log)
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
	return fixture{db: db, clock: clock, log: log, tenants: tenant.NewService(db, clock, log), subjects: subjects,
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

// TestListenReloads: another replica's change reaches a running engine by
// LISTEN/NOTIFY, before any request carries the new version.
func TestListenReloads(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	engine := f.decisions.Engine()
	_, err := engine.Tenant(ctx, f.tenantID, -1)
	require.NoError(t, err)
	before := engine.Cached(f.tenantID)
	go engine.Listen(ctx)
	// Listening starts asynchronously; touch until the reload is seen.
	require.Eventually(t, func() bool {
		_ = f.db.InTx(ctx, func(tx pgx.Tx) error {
			_, err := store.TouchDecisionState(ctx, tx, f.tenantID)
			return err
		})
		return engine.Cached(f.tenantID) > before
	}, 10*time.Second, 200*time.Millisecond)
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

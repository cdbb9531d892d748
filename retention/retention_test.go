package retention_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/dpa/dpatest"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/records"
	"github.com/verwerker/verwerker/retention"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
	"github.com/verwerker/verwerker/subject"
	"github.com/verwerker/verwerker/subprocessor"
	"github.com/verwerker/verwerker/tenant"
)

type fixture struct {
	ctx     context.Context
	url     string
	db      *store.DB
	clock   *verwerker.ManualClock
	log     *audit.Log
	tenants *tenant.Service
	tenant  string
	keys    *keys.Manager
	records *records.Store
	dpa     *dpa.Service
	svc     *retention.Service
	newSvc  func() *retention.Service
}

// setup builds a customer with an active agreement (chat messages 30 days
// after the last interaction, invoices statutory, contact data until the
// contract's end) on a fresh database and the shared test Vault.
func setup(t testing.TB) *fixture {
	t.Helper()
	ctx := verwerker.WithPrincipal(context.Background(), verwerker.Principal{ID: "key_test", Kind: verwerker.PrincipalAPIKey})
	url := storetest.NewURL(t)
	db, err := store.Open(context.Background(), url, store.Options{MaxConns: 20})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	clock := verwerker.NewManualClock(time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC))
	log := audit.NewLog(db, clock)
	t.Cleanup(log.Close)
	tenants := tenant.NewService(db, clock, log)
	tn, err := tenants.Create(ctx, tenant.New{Name: "Tenant A", Country: "NL", ContactEmail: "privacy@a.example"})
	require.NoError(t, err)
	agreements := dpa.NewService(db, clock, log, subprocessor.Lists{})
	subjects, err := subject.NewService(db, clock, log, make([]byte, subject.KeySize))
	require.NoError(t, err)
	decisions, err := decision.New(ctx, db, agreements, subjects, log, clock, nil)
	require.NoError(t, err)
	dpatest.Activate(t, agreements, tn.ID, dpa.Scope{
		Categories: []dpa.CategoryScope{{ID: "chat.message", Retention: dpa.Retention30DaysAfterLastInteraction},
			{ID: "billing.invoice", Retention: dpa.RetentionStatutory7Years},
			{ID: "contact.email", Retention: dpa.RetentionContractEndPlus30Days}},
		Purposes:      []string{"service.delivery", "billing"},
		BreachContact: dpa.Contact{Email: "breach@a.example"}, DPOContact: dpa.Contact{Email: "dpo@a.example"},
	})
	// The local keyring (verwerker dev's default) is a real keyring; the
	// keys package tests both keyrings against Vault.
	ring, err := keys.OpenLocalKeyring(filepath.Join(t.TempDir(), "keyring.key"), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	mgr := keys.NewManager(db, ring, keys.ManagerOptions{Clock: clock})
	t.Cleanup(mgr.Close)
	recs := records.New(db, mgr, decisions, subjects, log, clock, nil)
	f := &fixture{ctx: ctx, url: url, db: db, clock: clock, log: log, tenants: tenants, tenant: tn.ID, keys: mgr, records: recs, dpa: agreements}
	f.newSvc = func() *retention.Service { return retention.New(db, recs, agreements, log, clock, nil, nil) }
	f.svc = f.newSvc()
	return f
}

func item(ref, kind, category, purpose string) records.Item {
	return records.Item{SubjectRef: ref, Kind: kind, Category: category, Purpose: purpose, Region: "nl", Content: json.RawMessage(`{"text":"x"}`)}
}

func message(ref string) records.Item {
	return item(ref, records.KindMessage, "chat.message", "service.delivery")
}

func (f *fixture) write(t testing.TB, items ...records.Item) []records.Stored {
	t.Helper()
	out, err := f.records.Write(f.ctx, f.tenant, -1, items)
	require.NoError(t, err)
	return out
}

func (f *fixture) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, f.db.Pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

func (f *fixture) records_(t testing.TB) int {
	return f.count(t, `SELECT count(*) FROM records WHERE tenant_id = $1`, f.tenant)
}

func (f *fixture) run(t testing.TB) retention.Sweep {
	t.Helper()
	w, ok, err := f.svc.Run(f.ctx, f.tenant)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, retention.StatusCompleted, w.Status)
	return w
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func TestThirtyDaysAfterLastInteraction(t *testing.T) {
	t.Parallel()
	f := setup(t)
	st := f.write(t, message("visitor-1"), message("visitor-1"))
	require.NotNil(t, st[0].DeleteAfter)
	f.clock.Advance(days(29))
	w := f.run(t)
	assert.Zero(t, w.Records)
	assert.Equal(t, 2, f.records_(t))

	f.clock.Set(st[0].DeleteAfter.Add(time.Second))
	w = f.run(t)
	assert.EqualValues(t, 2, w.Records)
	assert.EqualValues(t, 1, w.Subjects, "the subject is crypto-shredded")
	assert.Equal(t, map[string]int64{"chat.message": 2}, w.What)
	assert.NotEmpty(t, w.KeyVersionsDestroyed)
	assert.Equal(t, st[0].DeleteAfter.UTC(), w.OldestDeadline.UTC())
	assert.Zero(t, f.records_(t))
	assert.Zero(t, f.count(t, `SELECT count(*) FROM subject_keys WHERE tenant_id = $1`, f.tenant))
	assert.Equal(t, 1, f.count(t, `SELECT count(*) FROM subjects WHERE tenant_id = $1 AND erased_at IS NOT NULL`, f.tenant))
	// The certificate names the audit event that closed the sweep.
	ev := f.count(t, `SELECT count(*) FROM audit_events WHERE chain = $1 AND seq = $2 AND action = 'retention.sweep' AND hash = $3`, f.tenant, w.AuditSeq, w.AuditHash)
	assert.Equal(t, 1, ev)
	got, err := f.svc.Certificate(f.ctx, f.tenant, w.ID)
	require.NoError(t, err)
	assert.Equal(t, w.Records, got.Records)
	list, err := f.svc.Sweeps(f.ctx, f.tenant, "", 10)
	require.NoError(t, err)
	assert.Len(t, list, 2)
	assert.Equal(t, w.ID, list[0].ID)
}

func TestInteractionOnDay29Postpones(t *testing.T) {
	t.Parallel()
	f := setup(t)
	first := f.write(t, message("visitor-1"))
	f.clock.Advance(days(29))
	second := f.write(t, message("visitor-1"))
	require.True(t, second[0].DeleteAfter.After(*first[0].DeleteAfter))
	f.clock.Set(first[0].DeleteAfter.Add(time.Hour))
	w := f.run(t)
	assert.Zero(t, w.Records, "the interaction on day 29 postponed the first message's deadline")
	assert.Equal(t, 2, f.records_(t))
	f.clock.Set(second[0].DeleteAfter.Add(time.Second))
	w = f.run(t)
	assert.EqualValues(t, 2, w.Records)
}

func TestMinorDeletedOnShortDeadline(t *testing.T) {
	t.Parallel()
	f := setup(t)
	it := message("visitor-minor")
	it.SuspectedMinor = true
	st := f.write(t, it, message("visitor-adult"))
	require.Equal(t, f.clock.Now().Add(decision.MinorDeletionPeriod).UTC(), st[0].DeleteAfter.UTC())
	f.clock.Advance(decision.MinorDeletionPeriod - time.Minute)
	assert.Zero(t, f.run(t).Records)
	f.clock.Advance(2 * time.Minute)
	w := f.run(t)
	assert.EqualValues(t, 1, w.Records)
	assert.Equal(t, 1, f.records_(t), "the adult's message stays")
}

func TestStatutoryBeatsThirtyDays(t *testing.T) {
	t.Parallel()
	f := setup(t)
	// An invoice stored under the 30-day chat category is still a fiscal
	// record: the statutory seven years beat the contractual 30 days.
	st := f.write(t, item("customer-1", records.KindInvoice, "billing.invoice", "billing"),
		item("customer-1", records.KindInvoice, "chat.message", "service.delivery"), message("customer-1"))
	f.clock.Advance(days(60))
	w := f.run(t)
	assert.EqualValues(t, 1, w.Records, "only the chat message")
	assert.Zero(t, w.Subjects, "the subject keeps its key for the invoices")
	held, err := f.svc.HeldCategories(f.ctx, f.tenant, st[0].SubjectID)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"billing.invoice": records.StatutoryGround, "chat.message": records.StatutoryGround}, held)

	f.clock.Set(st[0].DeleteAfter.Add(-time.Hour))
	assert.Zero(t, f.run(t).Records, "never early")
	f.clock.Set(st[0].DeleteAfter.Add(time.Hour))
	w = f.run(t)
	assert.EqualValues(t, 2, w.Records)
	assert.EqualValues(t, 1, w.Subjects)
}

func (f *fixture) terminate(t testing.TB, lastDay deadline.Date) {
	t.Helper()
	_, err := f.tenants.Terminate(f.ctx, f.tenant, tenant.Termination{ContractEnd: lastDay, Reason: tenant.ReasonCustomerNotice})
	require.NoError(t, err)
}

func TestContractEndPurge(t *testing.T) {
	t.Parallel()
	t.Run("everything, then the tenant key", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		f.write(t, message("visitor-1"), item("visitor-2", records.KindUser, "contact.email", "service.delivery"))
		lastDay := deadline.DateOf(f.clock.Now()).AddDays(10)
		f.terminate(t, lastDay)
		fc, err := f.svc.Forecast(f.ctx, f.tenant)
		require.NoError(t, err)
		require.NotNil(t, fc.Countdown)
		assert.Equal(t, lastDay, fc.Countdown.ContractEnd)
		assert.Equal(t, tenant.StatusTerminating, fc.Countdown.Status)
		assert.GreaterOrEqual(t, fc.Countdown.DaysLeft, 40)
		assert.Equal(t, []retention.CategoryForecast{{Category: "chat.message", Due: []int64{0, 0, 1}}, {Category: "contact.email", Due: []int64{0, 0, 1}}},
			fc.Categories, "the contract-end purge makes everything due within 90 days")

		f.clock.Advance(days(5))
		assert.Zero(t, f.run(t).Records, "processing continues until the contract's last day")
		f.clock.Set(tenant.EndOf(lastDay, tenant.DefaultTimezone).Add(time.Hour))
		w := f.run(t)
		assert.True(t, w.ContractEnded)
		assert.EqualValues(t, 2, w.Records)
		assert.Zero(t, f.records_(t))
		// Within 30 days of the last day: at once, and the tenant key is gone.
		assert.Equal(t, 1, f.count(t, `SELECT count(*) FROM tenant_keys WHERE tenant_id = $1 AND shredded_at IS NOT NULL`, f.tenant))
		assert.Equal(t, 1, f.count(t, `SELECT count(*) FROM tenants WHERE id = $1 AND erased_at IS NOT NULL`, f.tenant))
		_, ok, err := f.svc.Run(f.ctx, f.tenant)
		require.NoError(t, err)
		assert.False(t, ok, "an erased customer is not swept")
	})
	t.Run("statutory records stay with the tenant key", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		f.write(t, message("visitor-1"), item("customer-1", records.KindInvoice, "billing.invoice", "billing"))
		lastDay := deadline.DateOf(f.clock.Now()).AddDays(1)
		f.terminate(t, lastDay)
		f.clock.Set(tenant.EndOf(lastDay, tenant.DefaultTimezone).Add(time.Minute))
		w := f.run(t)
		assert.EqualValues(t, 1, w.Records)
		assert.Equal(t, 1, f.records_(t), "the invoice stays")
		assert.Zero(t, f.count(t, `SELECT count(*) FROM tenant_keys WHERE tenant_id = $1 AND shredded_at IS NOT NULL`, f.tenant))
	})
}

func review(f *fixture) deadline.Date { return deadline.DateOf(f.clock.Now()).AddDays(30) }

func TestHoldsBlockAndRelease(t *testing.T) {
	t.Parallel()
	f := setup(t)
	st := f.write(t, message("visitor-1"), message("visitor-2"), item("visitor-3", records.KindUser, "contact.email", "service.delivery"))
	subj := f.svc
	h1, err := subj.Place(f.ctx, f.tenant, retention.Placement{Scope: retention.ScopeSubject, SubjectID: st[0].SubjectID, Reason: "court order 2026/17", Owner: "legal", ReviewOn: review(f)})
	require.NoError(t, err)
	held, err := f.svc.HeldCategories(f.ctx, f.tenant, st[0].SubjectID)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"*": "legal hold " + h1.ID + ": court order 2026/17"}, held)

	f.clock.Advance(days(31))
	w := f.run(t)
	assert.EqualValues(t, 1, w.Records, "visitor-2 only")
	assert.Equal(t, []retention.HeldBack{{HoldID: h1.ID, Scope: retention.ScopeSubject, Target: st[0].SubjectID, Records: 1}}, w.Held)
	// A customer hold keeps everything.
	h2, err := f.svc.Place(f.ctx, f.tenant, retention.Placement{Scope: retention.ScopeTenant, Reason: "tax audit", Owner: "dpo", ReviewOn: review(f)})
	require.NoError(t, err)
	_, err = f.svc.Lift(f.ctx, f.tenant, h1.ID, "court order lifted")
	require.NoError(t, err)
	assert.Zero(t, f.run(t).Records)
	_, err = f.svc.Lift(f.ctx, f.tenant, h2.ID, "audit closed")
	require.NoError(t, err)
	w = f.run(t)
	assert.EqualValues(t, 1, w.Records, "visitor-1, released")
	_, err = f.svc.Lift(f.ctx, f.tenant, h2.ID, "again")
	assert.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err))
	assert.Equal(t, 2, f.count(t, `SELECT count(*) FROM audit_events WHERE chain = $1 AND action = 'retention.hold_place'`, f.tenant))
	assert.Equal(t, 2, f.count(t, `SELECT count(*) FROM audit_events WHERE chain = $1 AND action = 'retention.hold_lift'`, f.tenant))

	// Past its review day a hold is flagged.
	_, err = f.svc.Place(f.ctx, f.tenant, retention.Placement{Scope: retention.ScopeCategory, Category: "contact.email", Reason: "dispute", Owner: "legal", ReviewOn: review(f)})
	require.NoError(t, err)
	past, err := f.svc.HoldsPastReview(f.ctx)
	require.NoError(t, err)
	assert.Empty(t, past)
	f.clock.Advance(days(32))
	past, err = f.svc.HoldsPastReview(f.ctx)
	require.NoError(t, err)
	assert.Len(t, past, 1)

	// Bad input names the field and echoes nothing.
	_, err = f.svc.Place(f.ctx, f.tenant, retention.Placement{Scope: retention.ScopeSubject, SubjectID: "visitor-1", Reason: "", Owner: "x", ReviewOn: review(f)})
	assert.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err))
	assert.NotContains(t, err.Error(), "visitor-1")
}

// A hold past its review day is reviewed with a new day: no longer past
// review, audited; a day not after today, an unknown or a lifted hold are
// refused and change nothing.
func TestHoldReview(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h, err := f.svc.Place(f.ctx, f.tenant, retention.Placement{Scope: retention.ScopeTenant, Reason: "tax audit", Owner: "dpo", ReviewOn: review(f)})
	require.NoError(t, err)
	f.clock.Advance(days(32))
	past, err := f.svc.HoldsPastReview(f.ctx)
	require.NoError(t, err)
	require.Len(t, past, 1)

	today := deadline.DateOf(f.clock.Now())
	_, err = f.svc.Review(f.ctx, f.tenant, h.ID, today)
	assert.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err), "the next review must be after today")
	_, err = f.svc.Review(f.ctx, f.tenant, "hld_00000000000000000000000000", today.AddDays(30))
	assert.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))
	got, err := f.svc.Review(f.ctx, f.tenant, h.ID, today.AddDays(30))
	require.NoError(t, err)
	assert.Equal(t, today.AddDays(30), got.ReviewOn)
	past, err = f.svc.HoldsPastReview(f.ctx)
	require.NoError(t, err)
	assert.Empty(t, past)
	assert.Equal(t, 1, f.count(t, `SELECT count(*) FROM audit_events WHERE chain = $1 AND action = 'retention.hold_review'`, f.tenant))

	_, err = f.svc.Lift(f.ctx, f.tenant, h.ID, "audit closed")
	require.NoError(t, err)
	_, err = f.svc.Review(f.ctx, f.tenant, h.ID, today.AddDays(60))
	assert.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err))
}

// many writes n messages for subjects subjects.
func (f *fixture) many(t testing.TB, prefix string, subjects, perSubject int) {
	t.Helper()
	var items []records.Item
	for s := range subjects {
		for range perSubject {
			items = append(items, message(fmt.Sprintf("%s-%d", prefix, s)))
		}
	}
	f.write(t, items...)
}

// ledgerIDs returns every record id in the sweeps' ledgers, and how many
// distinct.
func (f *fixture) ledgerIDs(t testing.TB) (int, int) {
	return f.count(t, `SELECT count(*) FROM retention_sweep_batches b, unnest(b.record_ids) WHERE b.tenant_id = $1`, f.tenant),
		f.count(t, `SELECT count(DISTINCT id) FROM retention_sweep_batches b, unnest(b.record_ids) AS id WHERE b.tenant_id = $1`, f.tenant)
}

func TestSweepKilledHalfwayResumes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.many(t, "v", 10, 6)
	f.clock.Advance(days(31))
	retention.SetBatchSize(f.svc, 7)
	ctx, cancel := context.WithCancel(f.ctx)
	batches := 0
	retention.SetAfterBatch(f.svc, func(context.Context, string) {
		if batches++; batches == 3 {
			cancel()
		}
	})
	_, _, err := f.svc.Run(ctx, f.tenant)
	require.Error(t, err)
	assert.Equal(t, 60-21, f.records_(t))
	retention.SetAfterBatch(f.svc, nil)
	w := f.run(t)
	assert.EqualValues(t, 60, w.Records, "the resumed sweep certifies everything, once")
	assert.EqualValues(t, 10, w.Subjects)
	total, distinct := f.ledgerIDs(t)
	assert.Equal(t, 60, total)
	assert.Equal(t, 60, distinct)
	assert.Equal(t, 1, f.count(t, `SELECT count(*) FROM retention_sweeps WHERE tenant_id = $1`, f.tenant))
}

func TestTwoSweepersAtOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.many(t, "v", 20, 10)
	f.clock.Advance(days(31))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		s := f.newSvc()
		retention.SetBatchSize(s, 3)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = s.Run(f.ctx, f.tenant)
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	w := f.run(t) // completes it if both stopped on the other's locked rows
	total, distinct := f.ledgerIDs(t)
	assert.Equal(t, 200, total, "never a record twice")
	assert.Equal(t, 200, distinct)
	assert.Zero(t, f.records_(t))
	list, err := f.svc.Sweeps(f.ctx, f.tenant, "", 10)
	require.NoError(t, err)
	var certified int64
	for _, s := range list {
		certified += s.Records
	}
	assert.EqualValues(t, 200, certified)
	assert.Equal(t, retention.StatusCompleted, w.Status)
}

func TestHoldPlacedDuringSweep(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.many(t, "early", 5, 4)
	f.clock.Advance(time.Minute)
	late := f.write(t, message("late"), message("late"), message("late"))
	f.clock.Advance(days(31))
	retention.SetBatchSize(f.svc, 4)
	placed := false
	retention.SetAfterBatch(f.svc, func(ctx context.Context, _ string) {
		if placed {
			return
		}
		placed = true
		_, err := f.svc.Place(ctx, f.tenant, retention.Placement{Scope: retention.ScopeSubject, SubjectID: late[0].SubjectID, Reason: "litigation", Owner: "legal", ReviewOn: review(f)})
		require.NoError(t, err)
	})
	w := f.run(t)
	assert.EqualValues(t, 20, w.Records)
	assert.Equal(t, 3, f.records_(t), "the held subject's records stay")
	require.Len(t, w.Held, 1)
	assert.EqualValues(t, 3, w.Held[0].Records)
}

func TestPreviewIsWhatTheSweepDeletes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.many(t, "v", 3, 2)
	f.write(t, message("held"))
	f.clock.Advance(days(31))
	list, total, err := f.svc.Preview(f.ctx, f.tenant, 100)
	require.NoError(t, err)
	assert.EqualValues(t, 7, total)
	before := f.records_(t)
	w := f.run(t)
	assert.EqualValues(t, len(list), w.Records)
	assert.Equal(t, before-len(list), f.records_(t))
}

func TestForecastAndOverdue(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.write(t, message("v1"))
	f.clock.Advance(days(20))
	f.write(t, message("v2"))
	f.clock.Advance(days(5))
	fc, err := f.svc.Forecast(f.ctx, f.tenant)
	require.NoError(t, err)
	require.Len(t, fc.Categories, 1)
	assert.Equal(t, retention.CategoryForecast{Category: "chat.message", Due: []int64{1, 2, 2}}, fc.Categories[0])
	assert.Nil(t, fc.Countdown)
	over, err := f.svc.Overdue(f.ctx)
	require.NoError(t, err)
	assert.Empty(t, over)
	f.clock.Advance(days(7))
	over, err = f.svc.Overdue(f.ctx)
	require.NoError(t, err)
	require.Len(t, over, 1)
	assert.EqualValues(t, 1, over[0].Records)
	f.run(t)
	over, err = f.svc.Overdue(f.ctx)
	require.NoError(t, err)
	assert.Empty(t, over)
}

func TestRules(t *testing.T) {
	t.Parallel()
	f := setup(t)
	rules, err := f.svc.Rules(f.ctx, f.tenant)
	require.NoError(t, err)
	byCat := map[string]retention.Rule{}
	for _, r := range rules {
		byCat[r.Category+"/"+r.Kind+"/"+r.Code] = r
	}
	assert.Equal(t, retention.TriggerLastInteraction, byCat["chat.message//30d_after_last_interaction"].Trigger)
	assert.Contains(t, byCat["chat.message//30d_after_last_interaction"].Ground, "9.3")
	assert.Equal(t, retention.SourceLaw, byCat["*/admin.invoice/statutory_7y"].Source)
	assert.Contains(t, byCat["*/admin.invoice/statutory_7y"].Ground, "AWR art. 52(4)")
	assert.Equal(t, "24h0m0s", byCat["*//delete_asap"].Period)
}

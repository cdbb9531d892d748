package subprocessor_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/demo"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/dpa/dpatest"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
	"github.com/verwerker/verwerker/subprocessor"
	"github.com/verwerker/verwerker/tenant"
)

// start is a Monday morning.
var start = time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)

// testBundle is a registry with the demo subprocessors and two customers on
// a fresh database: chat (chat messages, hosted by hosting-eu) and billing
// (invoices only, no subprocessor).
type testBundle struct {
	db      *store.DB
	clock   *verwerker.ManualClock
	reg     *subprocessor.Registry
	chat    string
	billing string
}

// as returns a context acting as principal id.
func as(id string) context.Context {
	return verwerker.WithPrincipal(context.Background(), verwerker.Principal{ID: id, Kind: verwerker.PrincipalUser})
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx := as("usr_dpo")
	db := storetest.New(t)
	clock := verwerker.NewManualClock(start)
	log := audit.NewLog(db, clock)
	t.Cleanup(log.Close)
	reg := subprocessor.NewRegistry(db, clock, log, nil, nil)
	require.NoError(t, demo.SeedSubprocessors(ctx, reg))
	tenants := tenant.NewService(db, clock, log)
	agreements := dpa.NewService(db, clock, log, subprocessor.Lists{})
	contacts := func(sc dpa.Scope) dpa.Scope {
		sc.BreachContact, sc.DPOContact = dpa.Contact{Email: "breach@example.nl"}, dpa.Contact{Email: "dpo@example.nl"}
		return sc
	}
	chat, err := tenants.Create(ctx, tenant.New{Name: "Chat Customer", Country: "NL", ContactEmail: "privacy@chat.example"})
	require.NoError(t, err)
	dpatest.Activate(t, agreements, chat.ID, contacts(dpa.Scope{
		Categories:    []dpa.CategoryScope{{ID: "chat.message", Retention: dpa.Retention30DaysAfterLastInteraction}},
		Purposes:      []string{"service.delivery"},
		Subprocessors: []string{"hosting-eu"},
	}))
	clock.Advance(time.Millisecond)
	billing, err := tenants.Create(ctx, tenant.New{Name: "Billing Customer", Country: "NL", ContactEmail: "privacy@billing.example"})
	require.NoError(t, err)
	dpatest.Activate(t, agreements, billing.ID, contacts(dpa.Scope{
		Categories: []dpa.CategoryScope{{ID: "billing.invoice", Retention: dpa.RetentionStatutory7Years}},
		Purposes:   []string{"billing"},
	}))
	return &testBundle{db: db, clock: clock, reg: reg, chat: chat.ID, billing: billing.ID}
}

// proposeLLM proposes adding llm-us (chat messages, in the US) from 10
// March, which concerns the chat customer only.
func (b *testBundle) proposeLLM(t *testing.T) (subprocessor.Change, []subprocessor.Notice) {
	t.Helper()
	c, notices, err := b.reg.Propose(as("usr_dpo"), subprocessor.Proposal{Kind: subprocessor.ChangeAdd, Subprocessor: "llm-us",
		EffectiveOn: "2026-03-10", Description: "A language model drafts chat answers."})
	require.NoError(t, err)
	return c, notices
}

// deliver records that the chat customer received the notice today, by
// registered letter: its objection window starts.
func (b *testBundle) deliver(t *testing.T, changeID string) subprocessor.Notice {
	t.Helper()
	n, err := b.reg.RecordDelivery(as("usr_dpo"), b.chat, changeID, subprocessor.OutOfBandDelivery{
		Channel: subprocessor.OutOfBandChannels[0], DeliveredOn: b.clock.Now().Format(time.DateOnly)})
	require.NoError(t, err)
	return n
}

func decisionVersion(t *testing.T, b *testBundle, tenantID string) int64 {
	t.Helper()
	v, err := store.DecisionStateVersion(context.Background(), b.db.Pool, tenantID)
	require.NoError(t, err)
	return v
}

// TestProposeAnnounces: a change is announced to the customers it
// concerns (an added subprocessor: those with a category it processes),
// each with its window; a notice no channel can carry is an alarm for the
// DPO, not silence; an invalid proposal names its fields and writes
// nothing.
func TestProposeAnnounces(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, _, err := b.reg.Propose(as("usr_dpo"), subprocessor.Proposal{Kind: "swap", EffectiveOn: "10 March", Description: " "})
	require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err))
	var fields []string
	for _, f := range verwerker.ErrorFields(err) {
		fields = append(fields, f.Field)
	}
	require.ElementsMatch(t, []string{"kind", "effective_on", "description"}, fields)
	_, _, err = b.reg.Propose(as("usr_dpo"), subprocessor.Proposal{Kind: subprocessor.ChangeAdd, Subprocessor: "unknown-x", EffectiveOn: "2026-03-10", Description: "x"})
	require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err))
	changes, err := b.reg.Changes(context.Background())
	require.NoError(t, err)
	require.Empty(t, changes, "a refused proposal writes nothing")

	c, notices := b.proposeLLM(t)
	require.Equal(t, subprocessor.ChangeAdd, c.Kind)
	require.Len(t, notices, 1, "the billing customer's data never goes to llm-us")
	n := notices[0]
	require.Equal(t, b.chat, n.TenantID)
	require.Equal(t, subprocessor.NoticePending, n.Status)
	require.Equal(t, dpa.DefaultObjectionWindowDays, n.WindowDays)
	require.Equal(t, subprocessor.DeliveryUndelivered, n.Delivery.State, "no outbox: nothing carries the notice")
	require.Nil(t, n.WindowEndsAt, "the window starts only once the customer is told")

	alarms, err := b.reg.Undelivered(context.Background())
	require.NoError(t, err)
	require.Len(t, alarms, 1)
	require.Equal(t, c.ID, alarms[0].ChangeID)
	_, err = b.reg.Notice(context.Background(), b.billing, c.ID)
	require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))
}

// TestObjectionWindow: the window runs from delivery, 30 days by
// Regulation 1182/71 in the customer's calendar; an objection inside it
// holds the change and blocks the subprocessor for the customer's data
// (and changes its decision state); after it, objecting is a conflict.
func TestObjectionWindow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, _ := b.proposeLLM(t)
	n := b.deliver(t, c.ID)
	require.Equal(t, subprocessor.DeliveryDelivered, n.Delivery.State)
	ams, err := time.LoadLocation(tenant.DefaultTimezone)
	require.NoError(t, err)
	// Told on Monday 2 March: the 30 days end with Wednesday 1 April, a
	// working day, so the window closes at the start of 2 April in
	// Amsterdam; it takes effect then (after 10 March).
	windowEnd := time.Date(2026, time.April, 2, 0, 0, 0, 0, ams)
	require.True(t, windowEnd.Equal(*n.WindowEndsAt), "%v", n.WindowEndsAt)
	require.True(t, windowEnd.Equal(*n.EffectiveAt), "%v", n.EffectiveAt)
	_, err = b.reg.RecordDelivery(as("usr_dpo"), b.chat, c.ID, subprocessor.OutOfBandDelivery{Channel: subprocessor.OutOfBandChannels[0], DeliveredOn: "2026-03-02"})
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err), "delivered once")

	_, err = b.reg.Object(as("usr_lead"), b.chat, c.ID, "  ")
	require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err), "an objection gives its reason")
	before := decisionVersion(t, b, b.chat)
	b.clock.Set(windowEnd.Add(-time.Second))
	n, err = b.reg.Object(as("usr_lead"), b.chat, c.ID, "Our customers' chats must stay in the EEA.")
	require.NoError(t, err)
	require.Equal(t, subprocessor.NoticeObjected, n.Status)
	require.Greater(t, decisionVersion(t, b, b.chat), before, "the decision engine hears of the block")
	blocks, err := b.reg.Blocks(context.Background(), b.chat)
	require.NoError(t, err)
	require.Len(t, blocks, 1)
	require.Equal(t, "llm-us", blocks[0].Subprocessor)
	_, err = b.reg.Object(as("usr_lead"), b.chat, c.ID, "again")
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err))
	open, err := b.reg.Objections(context.Background())
	require.NoError(t, err)
	require.Len(t, open, 1)
	require.Equal(t, "Our customers' chats must stay in the EEA.", open[0].ObjectionReason)

	// Held: the window's end passes, nothing applies.
	b.clock.Set(windowEnd.Add(time.Hour))
	applied, err := b.reg.ApplyDue(context.Background())
	require.NoError(t, err)
	require.Zero(t, applied, "an objection holds the change")

	// The DPO resolves it: not applied; the block is lifted.
	_, err = b.reg.Resolve(as("usr_dpo"), b.chat, c.ID, "ignore", "")
	require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err))
	n, err = b.reg.Resolve(as("usr_dpo"), b.chat, c.ID, subprocessor.ResolutionChangeNotApplied, "Kept out of the chat customer's processing.")
	require.NoError(t, err)
	require.Equal(t, subprocessor.NoticeNotApplied, n.Status)
	blocks, err = b.reg.Blocks(context.Background(), b.chat)
	require.NoError(t, err)
	require.Empty(t, blocks)
	open, err = b.reg.Objections(context.Background())
	require.NoError(t, err)
	require.Empty(t, open)
}

// TestObjectionAfterWindow: once the window closed the customer can no
// longer object.
func TestObjectionAfterWindow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, _ := b.proposeLLM(t)
	n := b.deliver(t, c.ID)
	b.clock.Set(*n.WindowEndsAt)
	_, err := b.reg.Object(as("usr_lead"), b.chat, c.ID, "Too late.")
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err))
}

// TestApplyDue: a delivered change takes effect for the customer at its
// effective time, not before, once (ApplyDue is idempotent), and the
// customer's list and decision state follow.
func TestApplyDue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, _ := b.proposeLLM(t)
	ctx := context.Background()
	applied, err := b.reg.ApplyDue(ctx)
	require.NoError(t, err)
	require.Zero(t, applied, "an undelivered notice never takes effect")
	n := b.deliver(t, c.ID)

	b.clock.Set(n.EffectiveAt.Add(-time.Second))
	applied, err = b.reg.ApplyDue(ctx)
	require.NoError(t, err)
	require.Zero(t, applied)

	before := decisionVersion(t, b, b.chat)
	b.clock.Set(*n.EffectiveAt)
	applied, err = b.reg.ApplyDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, applied)
	applied, err = b.reg.ApplyDue(ctx)
	require.NoError(t, err)
	require.Zero(t, applied, "applied once")
	require.Greater(t, decisionVersion(t, b, b.chat), before)

	n, err = b.reg.Notice(ctx, b.chat, c.ID)
	require.NoError(t, err)
	require.Equal(t, subprocessor.NoticeEffective, n.Status)
	err = b.db.InTenantTx(ctx, b.chat, func(tx pgx.Tx) error {
		ids, err := subprocessor.Effective(ctx, tx, b.chat)
		require.Equal(t, []string{"hosting-eu", "llm-us"}, ids)
		return err
	})
	require.NoError(t, err)
}

// TestListings: the DPO sees every change with each customer's notice; a
// customer sees its own list and the changes that concern it, never
// another customer's.
func TestListings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c, _ := b.proposeLLM(t)
	b.clock.Advance(time.Second)
	r, _, err := b.reg.Propose(as("usr_dpo"), subprocessor.Proposal{Kind: subprocessor.ChangeReplace, Subprocessor: "mail-eu", Replaces: "hosting-eu",
		EffectiveOn: "2026-04-01", Description: "Another provider."})
	require.NoError(t, err)

	changes, err := b.reg.Changes(ctx)
	require.NoError(t, err)
	require.Len(t, changes, 2)
	require.Equal(t, []string{r.ID, c.ID}, []string{changes[0].ID, changes[1].ID}, "newest first")
	got, notices, err := b.reg.Change(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, c.ID, got.ID)
	require.Len(t, notices, 1)
	require.Equal(t, b.chat, notices[0].TenantID)
	_, _, err = b.reg.Change(ctx, "spc_unknown")
	require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))

	chat, err := b.reg.ForTenant(ctx, b.chat)
	require.NoError(t, err)
	require.Len(t, chat.Current, 1)
	require.Equal(t, "hosting-eu", chat.Current[0].ID)
	require.Len(t, chat.Changes, 2)
	require.Equal(t, r.ID, chat.Changes[0].Change.ID)
	billing, err := b.reg.ForTenant(ctx, b.billing)
	require.NoError(t, err)
	require.Empty(t, billing.Current)
	require.Empty(t, billing.Changes, "neither change concerns the billing customer")
}

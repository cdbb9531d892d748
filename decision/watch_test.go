package decision_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
)

// TestNoStaleTableAfterAChange: a request that began loading a tenant's
// state before a change (with no entry yet on this replica) must not
// install the old state once the change was announced and synced.
func TestNoStaleTableAfterAChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	tid := verwerker.NewID(verwerker.PrefixTenant, time.Now())
	var v atomic.Int64
	v.Store(1)
	gate := make(chan struct{})
	var loads atomic.Int64
	st := &policy.DPAState{Version: 1, ID: "dpa_x", Categories: map[string]policy.CategoryRule{"chat.message": {Retention: dpa.Retention30DaysAfterLastInteraction}},
		Purposes: []string{"service.delivery"}, Regions: []string{"eea"}, Transfers: map[string]string{}}
	svc, err := decision.NewService(ctx, func(_ context.Context, id string) (policy.TenantState, error) {
		cur := v.Load()
		if loads.Add(1) == 1 {
			<-gate
		}
		status := policy.TenantActive
		if cur >= 2 {
			status = policy.TenantEnded
		}
		return policy.TenantState{TenantID: id, Version: cur, Status: status, Timezone: "Europe/Amsterdam", DPA: st, Subprocessors: []string{}}, nil
	}, nil, nil, verwerker.SystemClock{}, decision.Options{DB: db})
	require.NoError(t, err)
	w := db.NewWatcher(store.WatcherOptions{Lease: 5 * time.Second})
	svc.Watch(w)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.Run(rctx) }()
	defer func() { cancel(); <-done }()
	require.Eventually(t, w.Fresh, 10*time.Second, 5*time.Millisecond)

	req := []decision.Request{{Category: "chat.message", Purpose: "service.delivery", Region: "nl"}}
	first := make(chan error, 1)
	go func() { _, err := svc.Decide(ctx, tid, 1, req); first <- err }()
	require.Eventually(t, func() bool { return loads.Load() == 1 }, time.Second, time.Millisecond)
	// The change: version 2 (terminated), announced, synced.
	v.Store(2)
	_, err = db.Pool.Exec(ctx, `SELECT pg_notify($1, $2)`, store.DecisionChannel, tid+" 2")
	require.NoError(t, err)
	require.NoError(t, db.Sync(ctx))
	close(gate)
	require.NoError(t, <-first)
	// After the change's barrier: a request with the credential's (old) version.
	ds, err := svc.Decide(ctx, tid, 1, req)
	require.NoError(t, err)
	require.False(t, ds[0].Allow, "stale decision table served after the change was synced")
}

// TestStateExpiresAtContractEnd: a terminating tenant's table is kept
// until its contract ends (policy.TenantState.Until); from that instant on
// the service loads the tenant again by its clock alone, with no change
// announced, and then keeps the ended state.
func TestStateExpiresAtContractEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	end := time.Date(2026, time.July, 16, 0, 0, 0, 0, time.UTC)
	clock := verwerker.NewManualClock(end.Add(-time.Hour))
	scope := &policy.DPAState{Version: 1, ID: "dpa_x", Categories: map[string]policy.CategoryRule{"billing.invoice": {Retention: dpa.RetentionStatutory7Years}},
		Purposes: []string{"billing"}, Regions: []string{"nl"}, Transfers: map[string]string{}}
	var loads atomic.Int64
	svc, err := decision.NewService(ctx, func(_ context.Context, id string) (policy.TenantState, error) {
		loads.Add(1)
		st := policy.TenantState{TenantID: id, Version: 7, Status: policy.TenantTerminating, Until: end, DPA: scope}
		if !clock.Now().Before(end) {
			st.Status, st.Until = policy.TenantEnded, time.Time{}
		}
		return st, nil
	}, nil, nil, clock, decision.Options{})
	require.NoError(t, err)
	tid := verwerker.NewID(verwerker.PrefixTenant, end)
	req := []decision.Request{{Category: "billing.invoice", Purpose: "billing", Region: "nl"}}
	decide := func() decision.Decision {
		ds, err := svc.Decide(ctx, tid, 7, req)
		require.NoError(t, err)
		return ds[0]
	}

	d := decide()
	require.True(t, d.Allow, "a terminating customer is processed as before")
	require.Equal(t, end.UnixNano(), d.ValidUntil)
	clock.Set(end.Add(-time.Nanosecond))
	require.True(t, decide().Allow)
	require.Equal(t, int64(1), loads.Load(), "cached until the end")

	clock.Set(end)
	d = decide()
	require.False(t, d.Allow)
	require.Equal(t, policy.ReasonContractTerminated, d.Reasons[0].Code)
	require.Equal(t, int64(2), loads.Load(), "loaded again at the end, same version")
	clock.Set(end.Add(100 * 365 * 24 * time.Hour))
	require.False(t, decide().Allow)
	require.Equal(t, int64(2), loads.Load(), "an ended state never expires")
}

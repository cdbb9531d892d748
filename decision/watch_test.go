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
	engine, err := policy.NewDecider(ctx, dpa.PolicyTaxonomy(), func(_ context.Context, id string) (policy.TenantState, error) {
		cur := v.Load()
		if loads.Add(1) == 1 {
			<-gate
		}
		status := policy.TenantActive
		if cur >= 2 {
			status = policy.TenantEnded
		}
		return policy.TenantState{TenantID: id, Version: cur, Status: status, Timezone: "Europe/Amsterdam", DPA: st, Subprocessors: []string{}}, nil
	}, policy.DeciderOptions{DB: db})
	require.NoError(t, err)
	svc := decision.NewService(engine, nil, nil, verwerker.SystemClock{})
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

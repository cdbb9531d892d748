package audit_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
)

// startVerifier runs the verification jobs of b's log on a River client
// that works only the queue audit.QueueVerify.
func (b *checkpointBundle) startVerifier(t *testing.T) {
	t.Helper()
	workers := river.NewWorkers()
	b.log.Register(workers)
	client, err := river.NewClient(riverpgxv5.New(b.db.Pool), &river.Config{
		Queues:            map[string]river.QueueConfig{audit.QueueVerify: {MaxWorkers: 1}},
		Workers:           workers,
		FetchCooldown:     20 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	b.log.UseClient(client)
	require.NoError(t, client.Start(context.Background()))
	t.Cleanup(func() { _ = client.Stop(context.Background()) })
}

// await waits until verification id of scope is finished and returns it.
func (b *checkpointBundle) await(t *testing.T, scope, id string) *audit.Verification {
	t.Helper()
	var v *audit.Verification
	require.Eventually(t, func() bool {
		var err error
		v, err = b.log.Verification(context.Background(), scope, id)
		require.NoError(t, err)
		return v.Done()
	}, 30*time.Second, 20*time.Millisecond)
	return v
}

// TestVerificationInBackground: "verify now" verifies every chain in a
// job, with the events verified per chain; the result is the last
// verification, audited; a tampered chain fails with its cause and stays
// broken (alarm, gauge) until a later verification passes; a tenant reads
// only its own verifications.
func TestVerificationInBackground(t *testing.T) {
	t.Parallel()
	b := setupCheckpoints(t)
	ctx := context.Background()
	b.appendN(t, "tnt_A", 2100) // more than one progress step
	b.appendN(t, "tnt_B", 5)
	b.appendN(t, audit.PlatformChain, 3)
	b.checkpoint(t, 3)

	_, err := b.log.StartVerification(ctx, audit.PlatformChain, "usr_DPO")
	require.Equal(t, verwerker.EUNAVAILABLE, verwerker.ErrorCode(err), "no jobs, no verification")

	unverified, err := b.log.Unverified(ctx, time.Hour)
	require.NoError(t, err)
	require.Equal(t, 3, unverified, "never verified")

	b.startVerifier(t)
	v, err := b.log.StartVerification(ctx, audit.PlatformChain, "usr_DPO")
	require.NoError(t, err)
	require.Equal(t, audit.PlatformChain, v.Scope)
	require.Equal(t, "usr_DPO", v.RequestedBy)
	v2, err := b.log.StartVerification(ctx, audit.PlatformChain, "usr_OTHER")
	require.NoError(t, err)
	if !v2.Done() {
		require.Equal(t, v.ID, v2.ID, "one verification of a scope at a time")
	}

	done := b.await(t, audit.PlatformChain, v.ID)
	require.Equal(t, audit.VerificationPassed, done.State)
	require.NotNil(t, done.StartedAt)
	require.NotNil(t, done.FinishedAt)
	require.Len(t, done.Chains, 3)
	require.Equal(t, audit.PlatformChain, done.Chains[0].Chain, "the platform's chain first")
	for _, c := range done.Chains {
		require.Equal(t, audit.VerificationPassed, c.State, c.Chain)
		require.Equal(t, c.Total, c.Verified, c.Chain)
	}
	verified, total, n, chains, failed := done.Progress()
	require.Equal(t, int64(2108), total)
	require.Equal(t, total, verified)
	require.Equal(t, []int{3, 3, 0}, []int{n, chains, failed})

	last, err := b.log.LastVerification(ctx, audit.PlatformChain, true)
	require.NoError(t, err)
	require.Equal(t, v.ID, last.ID)
	e, err := b.log.LastEvent(ctx, audit.PlatformChain, audit.ActionVerify)
	require.NoError(t, err)
	require.Equal(t, audit.Success, e.Outcome)
	require.Equal(t, "usr_DPO", e.Actor)
	require.Equal(t, v.ID, e.Resource)
	require.Contains(t, e.Reason, "chains=3 failed=0")
	unverified, err = b.log.Unverified(ctx, time.Hour)
	require.NoError(t, err)
	require.Equal(t, 0, unverified)
	broken, err := b.log.Broken(ctx)
	require.NoError(t, err)
	require.Empty(t, broken)

	// Too old: every chain counts again.
	b.clock.Advance(2 * time.Hour)
	unverified, err = b.log.Unverified(ctx, time.Hour)
	require.NoError(t, err)
	require.Equal(t, 3, unverified)

	// Someone edits an event of tnt_B.
	asSuperuser(t, b.db.Pool, func(exec func(string, ...any)) {
		exec(`UPDATE audit_events SET reason = 'nothing to see' WHERE chain = 'tnt_B' AND seq = 2`)
	})
	v, err = b.log.StartVerification(ctx, audit.PlatformChain, "usr_DPO")
	require.NoError(t, err)
	done = b.await(t, audit.PlatformChain, v.ID)
	require.Equal(t, audit.VerificationFailed, done.State)
	broken, err = b.log.Broken(ctx)
	require.NoError(t, err)
	require.Len(t, broken, 1)
	require.Equal(t, "tnt_B", broken[0].Chain)
	require.Equal(t, int64(2), broken[0].FirstBad)
	require.Equal(t, "hash does not match the event's contents", broken[0].Problem)
	unverified, err = b.log.Unverified(ctx, time.Hour)
	require.NoError(t, err)
	require.Equal(t, 1, unverified, "the failed chain")
	e, err = b.log.LastEvent(ctx, audit.PlatformChain, audit.ActionVerify)
	require.NoError(t, err)
	require.Equal(t, audit.Failure, e.Outcome, "a failed verification is audited")
	require.Contains(t, e.Reason, "failed=1 chain=tnt_B first_bad=2")

	// A tenant verifies its own chain, and sees no one else's verification.
	v, err = b.log.StartVerification(ctx, "tnt_A", "key_A")
	require.NoError(t, err)
	done = b.await(t, "tnt_A", v.ID)
	require.Equal(t, audit.VerificationPassed, done.State)
	require.Len(t, done.Chains, 1)
	e, err = b.log.LastEvent(ctx, "tnt_A", audit.ActionVerify)
	require.NoError(t, err)
	require.Equal(t, v.ID, e.Resource, "audited in the tenant's own chain")
	for _, scope := range []string{"tnt_B", audit.PlatformChain} {
		_, err = b.log.Verification(ctx, scope, v.ID)
		require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err), scope)
	}
	last, err = b.log.LastVerification(ctx, "tnt_B", false)
	require.NoError(t, err)
	require.Nil(t, last)
	// Row-level security: tnt_A's transactions do not see the platform's
	// verifications.
	require.NoError(t, b.db.InTenantTx(ctx, "tnt_A", func(tx pgx.Tx) error {
		var n int
		require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM audit_verifications`).Scan(&n))
		require.Equal(t, 1, n)
		return nil
	}))
}

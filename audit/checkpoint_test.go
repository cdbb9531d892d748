package audit_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
)

var checkpointStart = time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)

type checkpointBundle struct {
	db     *store.DB
	clock  *verwerker.ManualClock
	signer *keys.LocalSigner
	log    *audit.Log
	cp     *audit.Checkpointer
}

// setupCheckpoints gives a log that trusts the key its checkpointer signs
// with.
func setupCheckpoints(t *testing.T) *checkpointBundle {
	t.Helper()
	db := storetest.New(t)
	clock := verwerker.NewManualClock(checkpointStart)
	signer, err := keys.GenerateLocalSigner()
	require.NoError(t, err)
	ks, err := keys.NewKeySet(keys.PublicKeyOf(signer))
	require.NoError(t, err)
	log := audit.NewLog(db, clock, audit.WithKeys(ks))
	t.Cleanup(log.Close)
	return &checkpointBundle{db: db, clock: clock, signer: signer, log: log, cp: audit.NewCheckpointer(db, clock, signer)}
}

// appendN appends n events to chain.
func (b *checkpointBundle) appendN(t *testing.T, chain string, n int) {
	t.Helper()
	for i := range n {
		_, err := b.log.Append(context.Background(), event(chain, i))
		require.NoError(t, err)
	}
}

// checkpoint advances the clock by a minute and checkpoints, expecting n
// new checkpoints.
func (b *checkpointBundle) checkpoint(t *testing.T, n int) {
	t.Helper()
	b.clock.Advance(time.Minute)
	got, err := b.cp.Checkpoint(context.Background())
	require.NoError(t, err)
	require.Equal(t, n, got)
}

// asSuperuser runs stmts with the guard triggers off, as an attacker with
// superuser rights would.
func asSuperuser(t *testing.T, pool *pgxpool.Pool, stmts func(exec func(sql string, args ...any))) {
	t.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, `SET session_replication_role = replica`)
	require.NoError(t, err)
	defer func() { _, _ = conn.Exec(ctx, `RESET session_replication_role`) }()
	stmts(func(sql string, args ...any) {
		_, err := conn.Exec(ctx, sql, args...)
		require.NoError(t, err, sql)
	})
}

// rewrite edits event seq of chain and recomputes the hash of it and every
// later event and the head: a consistent rewrite that the chain alone
// cannot reveal.
func (b *checkpointBundle) rewrite(t *testing.T, chain string, seq int64, edit func(*audit.Event)) {
	t.Helper()
	events, err := b.log.Events(context.Background(), chain, 0, 10000)
	require.NoError(t, err)
	asSuperuser(t, b.db.Pool, func(exec func(string, ...any)) {
		prev := audit.Genesis
		for _, e := range events {
			if e.Seq == seq {
				edit(&e)
			}
			if e.Seq >= seq {
				e.PrevHash = prev
				e.Hash = audit.ComputeHash(prev, e.Canonical())
				exec(`UPDATE audit_events SET actor = $3, action = $4, resource = $5, reason = $6, prev_hash = $7, hash = $8
					WHERE chain = $1 AND seq = $2`, e.Chain, e.Seq, e.Actor, e.Action, e.Resource, e.Reason, e.PrevHash, e.Hash)
			}
			prev = e.Hash
		}
		exec(`UPDATE audit_heads SET hash = $2 WHERE chain = $1`, chain, prev)
	})
}

func TestCheckpointMessage(t *testing.T) {
	t.Parallel()
	hash, _ := hex.DecodeString("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	cp := audit.Checkpoint{Chain: "tnt_01ABC", Seq: 42, Hash: hash,
		SignedAt: time.Date(2026, 3, 2, 10, 4, 5, 7000, time.FixedZone("CET", 3600))}
	require.Equal(t, "verwerker-audit-checkpoint/v1\n"+
		"chain=tnt_01ABC\n"+
		"seq=42\n"+
		"hash=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"+
		"signed_at=2026-03-02T09:04:05.000007Z\n", string(cp.Message()))
}

func TestCheckpointSignsMovedHeadsOnly(t *testing.T) {
	t.Parallel()
	b := setupCheckpoints(t)
	ctx := context.Background()

	b.checkpoint(t, 0) // no chains yet
	b.appendN(t, "tnt_A", 5)
	b.appendN(t, "tnt_B", 3)
	b.checkpoint(t, 2)
	firstAt := b.clock.Now().UTC().Truncate(time.Microsecond)

	cps, err := b.log.Checkpoints(ctx, "tnt_A", 0, 100)
	require.NoError(t, err)
	require.Len(t, cps, 1)
	events, err := b.log.Events(ctx, "tnt_A", 0, 100)
	require.NoError(t, err)
	cp := cps[0]
	require.Equal(t, "tnt_A", cp.Chain)
	require.EqualValues(t, 5, cp.Seq)
	require.Equal(t, events[4].Hash, cp.Hash)
	require.Equal(t, firstAt, cp.SignedAt)
	require.Equal(t, b.signer.KeyID(), cp.KeyID)
	require.True(t, ed25519.Verify(b.signer.PublicKey(), cp.Message(), cp.Signature))

	// Heads that did not move are not signed again.
	b.checkpoint(t, 0)
	b.appendN(t, "tnt_A", 1)
	b.checkpoint(t, 1)
	cps, err = b.log.Checkpoints(ctx, "tnt_A", 0, 100)
	require.NoError(t, err)
	require.Len(t, cps, 2)
	require.EqualValues(t, 6, cps[1].Seq)
	cps, err = b.log.Checkpoints(ctx, "tnt_A", 5, 100)
	require.NoError(t, err)
	require.Len(t, cps, 1, "paged after seq 5")

	r, err := b.log.Verify(ctx, "tnt_A")
	require.NoError(t, err)
	require.True(t, r.OK, "%+v", r)
	require.Equal(t, 2, r.Checkpoints)
	require.EqualValues(t, 6, r.LastCheckpointSeq)
	require.Equal(t, firstAt.Add(2*time.Minute), r.LastCheckpointAt)

	// Events after the last checkpoint verify by the chain alone.
	b.appendN(t, "tnt_A", 2)
	r, err = b.log.Verify(ctx, "tnt_A")
	require.NoError(t, err)
	require.True(t, r.OK, "%+v", r)
	require.EqualValues(t, 8, r.HeadSeq)
	require.EqualValues(t, 6, r.LastCheckpointSeq)

	// The database refuses to change a checkpoint.
	for _, stmt := range []string{`UPDATE audit_checkpoints SET key_id = 'x'`, `DELETE FROM audit_checkpoints`, `TRUNCATE audit_checkpoints`} {
		_, err := b.db.Pool.Exec(ctx, stmt)
		require.ErrorContains(t, err, "append-only", stmt)
	}
}

// TestCheckpointersOnManyReplicas: replicas checkpointing at once sign each
// head once.
func TestCheckpointersOnManyReplicas(t *testing.T) {
	t.Parallel()
	b := setupCheckpoints(t)
	for _, c := range []string{"tnt_A", "tnt_B", "tnt_C", audit.PlatformChain} {
		b.appendN(t, c, 3)
	}
	var wg sync.WaitGroup
	counts := make([]int, 4)
	errs := make([]error, 4)
	for i := range counts {
		wg.Go(func() {
			counts[i], errs[i] = audit.NewCheckpointer(b.db, b.clock, b.signer).Checkpoint(context.Background())
		})
	}
	wg.Wait()
	total := 0
	for i := range counts {
		require.NoError(t, errs[i])
		total += counts[i]
	}
	require.Equal(t, 4, total)
}

func TestCheckpointRun(t *testing.T) {
	t.Parallel()
	b := setupCheckpoints(t)
	b.appendN(t, "tnt_A", 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		b.cp.Run(ctx, 20*time.Millisecond, nil)
		close(done)
	}()
	count := func() int {
		cps, err := b.log.Checkpoints(context.Background(), "tnt_A", 0, 100)
		require.NoError(t, err)
		return len(cps)
	}
	require.Eventually(t, func() bool { return count() == 1 }, 10*time.Second, 10*time.Millisecond, "checkpointed at once")
	b.appendN(t, "tnt_A", 1)
	require.Eventually(t, func() bool { return count() == 2 }, 10*time.Second, 10*time.Millisecond, "and again after the interval")
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}

// TestVerifyChecksCheckpoints plays an attacker with superuser rights who
// rewrites the chain so that every hash matches again, cuts it short, or
// edits the checkpoints themselves.
func TestVerifyChecksCheckpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	other, err := keys.GenerateLocalSigner()
	require.NoError(t, err)
	tests := []struct {
		name string
		// every checkpoints after every event; otherwise at 10, 20, 30 and 40.
		every         bool
		tamper        func(t *testing.T, b *checkpointBundle)
		firstBad      int64
		badCheckpoint int64
		lastGood      int64
		problem       string
	}{
		{
			name:  "consistent rewrite, checkpoint at every event",
			every: true,
			tamper: func(t *testing.T, b *checkpointBundle) {
				b.rewrite(t, "tnt_A", 17, func(e *audit.Event) { e.Reason = "nothing to see" })
			},
			firstBad: 17, badCheckpoint: 17, lastGood: 16, problem: "events 17 to 17 were changed",
		},
		{
			name: "consistent rewrite between checkpoints",
			tamper: func(t *testing.T, b *checkpointBundle) {
				b.rewrite(t, "tnt_A", 17, func(e *audit.Event) { e.Actor = "key_OTHER" })
			},
			firstBad: 20, badCheckpoint: 20, lastGood: 10, problem: "events 11 to 20 were changed",
		},
		{
			name: "consistent rewrite of a checkpointed event",
			tamper: func(t *testing.T, b *checkpointBundle) {
				b.rewrite(t, "tnt_A", 30, func(e *audit.Event) { e.Resource = "tnt_other" })
			},
			firstBad: 30, badCheckpoint: 30, lastGood: 20, problem: "events 21 to 30 were changed",
		},
		{
			name: "truncated below a checkpoint, head moved back",
			tamper: func(t *testing.T, b *checkpointBundle) {
				events, err := b.log.Events(context.Background(), "tnt_A", 0, 100)
				require.NoError(t, err)
				asSuperuser(t, b.db.Pool, func(exec func(string, ...any)) {
					exec(`DELETE FROM audit_events WHERE chain = 'tnt_A' AND seq > 25`)
					exec(`UPDATE audit_heads SET seq = 25, hash = $1 WHERE chain = 'tnt_A'`, events[24].Hash)
				})
			},
			firstBad: 26, badCheckpoint: 30, lastGood: 20, problem: "the chain ends at event 25 but a checkpoint",
		},
		{
			name: "truncated and the later checkpoints deleted",
			tamper: func(t *testing.T, b *checkpointBundle) {
				events, err := b.log.Events(context.Background(), "tnt_A", 0, 100)
				require.NoError(t, err)
				asSuperuser(t, b.db.Pool, func(exec func(string, ...any)) {
					exec(`DELETE FROM audit_events WHERE chain = 'tnt_A' AND seq > 25`)
					exec(`DELETE FROM audit_checkpoints WHERE chain = 'tnt_A' AND seq > 30`)
					exec(`UPDATE audit_heads SET seq = 25, hash = $1 WHERE chain = 'tnt_A'`, events[24].Hash)
				})
			},
			firstBad: 26, badCheckpoint: 30, lastGood: 20, problem: "covers event 30: events were removed",
		},
		{
			name: "forged signature",
			tamper: func(t *testing.T, b *checkpointBundle) {
				asSuperuser(t, b.db.Pool, func(exec func(string, ...any)) {
					exec(`UPDATE audit_checkpoints SET signature = set_byte(signature, 0, get_byte(signature, 0) # 1) WHERE chain = 'tnt_A' AND seq = 20`)
				})
			},
			firstBad: 0, badCheckpoint: 20, lastGood: 10, problem: "does not verify with key",
		},
		{
			name: "checkpoint moved to another time",
			tamper: func(t *testing.T, b *checkpointBundle) {
				asSuperuser(t, b.db.Pool, func(exec func(string, ...any)) {
					exec(`UPDATE audit_checkpoints SET signed_at = signed_at - interval '1 day' WHERE chain = 'tnt_A' AND seq = 30`)
				})
			},
			firstBad: 0, badCheckpoint: 30, lastGood: 20, problem: "does not verify with key",
		},
		{
			name: "rewrite with checkpoints re-signed by another key",
			tamper: func(t *testing.T, b *checkpointBundle) {
				b.rewrite(t, "tnt_A", 3, func(e *audit.Event) { e.Reason = "nothing to see" })
				events, err := b.log.Events(context.Background(), "tnt_A", 0, 100)
				require.NoError(t, err)
				cps, err := b.log.Checkpoints(context.Background(), "tnt_A", 0, 100)
				require.NoError(t, err)
				asSuperuser(t, b.db.Pool, func(exec func(string, ...any)) {
					for _, cp := range cps {
						cp.Hash, cp.KeyID = events[cp.Seq-1].Hash, other.KeyID()
						cp.Signature, _ = other.Sign(context.Background(), cp.Message())
						exec(`UPDATE audit_checkpoints SET hash = $3, key_id = $4, signature = $5 WHERE chain = $1 AND seq = $2`,
							cp.Chain, cp.Seq, cp.Hash, cp.KeyID, cp.Signature)
					}
				})
			},
			firstBad: 0, badCheckpoint: 10, lastGood: 0, problem: "not a trusted signing key",
		},
		{
			name: "chain not changed",
			tamper: func(t *testing.T, b *checkpointBundle) {
			},
			lastGood: 40,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupCheckpoints(t)
			for i := range 40 {
				b.appendN(t, "tnt_A", 1)
				if tt.every || (i+1)%10 == 0 {
					b.checkpoint(t, 1)
				}
			}
			b.appendN(t, "tnt_B", 3)
			b.checkpoint(t, 1)
			r, err := b.log.Verify(ctx, "tnt_A")
			require.NoError(t, err)
			require.True(t, r.OK, "%+v", r)
			require.EqualValues(t, 40, r.LastCheckpointSeq)

			tt.tamper(t, b)
			r, err = b.log.Verify(ctx, "tnt_A")
			require.NoError(t, err)
			require.Equal(t, tt.lastGood, r.LastCheckpointSeq, "%+v", r)
			if tt.problem == "" {
				require.True(t, r.OK, "%+v", r)
				return
			}
			require.False(t, r.OK)
			require.Equal(t, tt.firstBad, r.FirstBad, r.Problem)
			require.Equal(t, tt.badCheckpoint, r.BadCheckpoint, r.Problem)
			require.Contains(t, r.Problem, tt.problem)

			// Other chains are unaffected.
			r, err = b.log.Verify(ctx, "tnt_B")
			require.NoError(t, err)
			require.True(t, r.OK, "%+v", r)
		})
	}
}

// TestCheckpointRefusesARewrittenChain: the checkpointer checks that the
// events since a chain's last checkpoint link to it before signing, so it
// never vouches for a chain rewritten below its last checkpoint.
func TestCheckpointRefusesARewrittenChain(t *testing.T) {
	t.Parallel()
	b := setupCheckpoints(t)
	ctx := context.Background()
	b.appendN(t, "tnt_A", 10)
	b.appendN(t, "tnt_B", 2)
	b.checkpoint(t, 2)
	b.appendN(t, "tnt_A", 5)
	b.appendN(t, "tnt_B", 1)
	b.rewrite(t, "tnt_A", 5, func(e *audit.Event) { e.Reason = "nothing to see" })

	b.clock.Advance(time.Minute)
	n, err := b.cp.Checkpoint(ctx)
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err))
	require.Contains(t, verwerker.ErrorMessage(err), "tnt_A")
	require.Equal(t, 1, n, "tnt_B is still signed")
	cps, err := b.log.Checkpoints(ctx, "tnt_A", 0, 100)
	require.NoError(t, err)
	require.Len(t, cps, 1, "tnt_A is not")

	// A head moved back below its checkpoint is refused too.
	events, err := b.log.Events(ctx, "tnt_B", 0, 100)
	require.NoError(t, err)
	asSuperuser(t, b.db.Pool, func(exec func(string, ...any)) {
		exec(`DELETE FROM audit_events WHERE chain = 'tnt_B' AND seq > 1`)
		exec(`UPDATE audit_heads SET seq = 1, hash = $1 WHERE chain = 'tnt_B'`, events[0].Hash)
	})
	_, err = b.cp.Checkpoint(ctx)
	require.ErrorContains(t, err, "tnt_B")
}

// TestVerifyWithoutTrustedKeys: a log that trusts no key cannot vouch for
// a chain with checkpoints.
func TestVerifyWithoutTrustedKeys(t *testing.T) {
	t.Parallel()
	b := setupCheckpoints(t)
	b.appendN(t, "tnt_A", 3)
	b.checkpoint(t, 1)
	log := audit.NewLog(b.db, b.clock)
	t.Cleanup(log.Close)
	r, err := log.Verify(context.Background(), "tnt_A")
	require.NoError(t, err)
	require.False(t, r.OK)
	require.EqualValues(t, 3, r.BadCheckpoint)
	require.Contains(t, r.Problem, "not a trusted signing key")

	// Trusting the key later (a rotation, or keys fetched from Vault) makes
	// the chain verify.
	log.SetKeys(b.log.Keys())
	r, err = log.Verify(context.Background(), "tnt_A")
	require.NoError(t, err)
	require.True(t, r.OK, "%+v", r)
	require.EqualValues(t, 3, r.LastCheckpointSeq)
}

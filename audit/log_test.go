package audit_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
)

type testBundle struct {
	db  *store.DB
	log *audit.Log
}

func setup(tb testing.TB) *testBundle {
	tb.Helper()
	db := storetest.New(tb)
	log := audit.NewLog(db, verwerker.NewManualClock(time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)))
	tb.Cleanup(log.Close)
	return &testBundle{db: db, log: log}
}

func event(chain string, i int) audit.Event {
	return audit.Event{Chain: chain, Actor: "key_01TEST", Action: "tenant.read", Resource: fmt.Sprintf("tnt_%d", i), Outcome: audit.Success}
}

func TestAppendConcurrentlyAndVerify(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	chains := []string{"tnt_A", "tnt_B", audit.PlatformChain}
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for i := range 300 {
		wg.Go(func() {
			_, err := b.log.Append(ctx, event(chains[i%3], i))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, c := range chains {
		r, err := b.log.Verify(ctx, c)
		require.NoError(t, err)
		require.True(t, r.OK, "%+v", r)
		require.EqualValues(t, 100, r.Events)
		require.EqualValues(t, 100, r.HeadSeq)
	}
	// Group commit: far fewer transactions than events is the point, but the
	// observable guarantee is contiguous sequences, checked by Verify above.
	r, err := b.log.Verify(ctx, "tnt_empty")
	require.NoError(t, err)
	require.True(t, r.OK)
	require.Zero(t, r.Events)
}

func TestAppendRejectsFreeText(t *testing.T) {
	t.Parallel()
	b := setup(t)
	e := event("tnt_A", 1)
	e.Reason = "visitor \"Jan\" said\nhello"
	_, err := b.log.Append(context.Background(), e)
	require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err))
	e = event("tnt_A", 1)
	e.Outcome = "maybe"
	_, err = b.log.Append(context.Background(), e)
	require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err))
}

func TestDatabaseRefusesChanges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, err := b.log.Append(ctx, event("tnt_A", 1))
	require.NoError(t, err)
	for _, stmt := range []string{
		`UPDATE audit_events SET reason = 'x'`,
		`DELETE FROM audit_events`,
		`TRUNCATE audit_events`,
	} {
		_, err := b.db.Pool.Exec(ctx, stmt)
		require.ErrorContains(t, err, "append-only", stmt)
	}
}

func TestAppendTxRollsBackWithTheStateChange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	boom := errors.New("state change failed")
	err := b.db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := b.log.AppendTx(ctx, tx, event("tnt_A", 1)); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.NoError(t, b.db.InTx(ctx, func(tx pgx.Tx) error {
		_, err := b.log.AppendTx(ctx, tx, event("tnt_A", 2))
		return err
	}))
	r, err := b.log.Verify(ctx, "tnt_A")
	require.NoError(t, err)
	require.True(t, r.OK)
	require.EqualValues(t, 1, r.Events, "the rolled-back event left no trace")
}

// TestVerifyFindsTampering plays an attacker with superuser rights who
// disables the guard triggers and edits the table directly.
func TestVerifyFindsTampering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name     string
		tamper   string
		firstBad int64
	}{
		{"edited reason", `UPDATE audit_events SET reason = 'nothing to see' WHERE chain = 'tnt_A' AND seq = 17`, 17},
		{"edited time", `UPDATE audit_events SET at = at + interval '1 second' WHERE chain = 'tnt_A' AND seq = 5`, 5},
		{"deleted middle event", `DELETE FROM audit_events WHERE chain = 'tnt_A' AND seq = 23`, 23},
		{"deleted last events", `DELETE FROM audit_events WHERE chain = 'tnt_A' AND seq > 38`, 39},
		{"edited actor", `UPDATE audit_events SET actor = 'key_OTHER' WHERE chain = 'tnt_A' AND seq = 30`, 30},
		{"swapped hash links", `UPDATE audit_events SET prev_hash = sha256('x') WHERE chain = 'tnt_A' AND seq = 12`, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			for i := range 40 {
				_, err := b.log.Append(ctx, event("tnt_A", i))
				require.NoError(t, err)
			}
			r, err := b.log.Verify(ctx, "tnt_A")
			require.NoError(t, err)
			require.True(t, r.OK)

			conn, err := b.db.Pool.Acquire(ctx)
			require.NoError(t, err)
			defer conn.Release()
			_, err = conn.Exec(ctx, `SET session_replication_role = replica`) // superuser: triggers off
			require.NoError(t, err)
			_, err = conn.Exec(ctx, tt.tamper)
			require.NoError(t, err)
			_, _ = conn.Exec(ctx, `RESET session_replication_role`)

			r, err = b.log.Verify(ctx, "tnt_A")
			require.NoError(t, err)
			require.False(t, r.OK)
			require.Equal(t, tt.firstBad, r.FirstBad, r.Problem)
			require.NotEmpty(t, r.Problem)
		})
	}
}

// TestReportJSON: a report's JSON is the API's: the head hash in hex and the
// checkpoint time in UTC with six fractional digits.
func TestReportJSON(t *testing.T) {
	t.Parallel()
	hash := audit.ComputeHash(audit.Genesis, []byte(`{}`))
	at := time.Date(2026, 11, 23, 11, 0, 0, 123456789, time.FixedZone("CET", 3600))
	b, err := json.Marshal(audit.Report{Chain: "tnt_A", Events: 3, HeadSeq: 3, HeadHash: hash, OK: true, Checkpoints: 1, LastCheckpointSeq: 2, LastCheckpointAt: at})
	require.NoError(t, err)
	require.JSONEq(t, `{"chain":"tnt_A","events":3,"head_seq":3,"head_hash":"`+hex.EncodeToString(hash)+`","ok":true,
		"checkpoints":1,"last_checkpoint_seq":2,"last_checkpoint_at":"2026-11-23T10:00:00.123456Z"}`, string(b))
	b, err = json.Marshal(audit.Report{Chain: "tnt_A", HeadHash: audit.Genesis, FirstBad: 1, Problem: "bad hash"})
	require.NoError(t, err)
	require.JSONEq(t, `{"chain":"tnt_A","events":0,"head_seq":0,"head_hash":"`+strings.Repeat("0", 64)+`","ok":false,
		"first_bad":1,"problem":"bad hash","checkpoints":0,"last_checkpoint_seq":0}`, string(b))
}

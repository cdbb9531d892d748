package records_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/records"
)

// TestCountWindowMatchesRecords: through writes over five days, a partial
// erasure, an expiry sweep and an erased subject's purge, CountWindow gives
// what counting the records themselves gives (count(DISTINCT) over
// GROUPING SETS), for windows on and off day boundaries.
func TestCountWindowMatchesRecords(t *testing.T) {
	t.Parallel()
	ring, err := keys.OpenLocalKeyring(filepath.Join(t.TempDir(), "keyring.key"), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	f := setup(t, ring)
	begin := f.clock.Now()
	// Every 7 hours for 5 days: messages of some visitors, an invoice now
	// and then.
	for step := 0; step < 5*24/7; step++ {
		var items []records.Item
		for v := 0; v < 4; v++ {
			if (step+v)%3 == 0 {
				continue
			}
			ref := fmt.Sprintf("visitor-%d", v)
			for m := 0; m <= (step+v)%3; m++ {
				items = append(items, message(ref, fmt.Sprintf("step %d message %d", step, m)))
			}
			if (step*v)%5 == 1 {
				items = append(items, records.Item{SubjectRef: ref, Kind: records.KindInvoice, Category: "billing.invoice", Purpose: "billing",
					Region: "nl", Content: []byte(`{"amount": 10}`)})
			}
		}
		_, err := f.store.Write(f.ctx, f.tenant, -1, items)
		require.NoError(t, err)
		f.clock.Advance(7 * time.Hour)
	}
	end := f.clock.Now()
	windows := [][2]time.Time{
		{begin, end},
		{begin.Truncate(24 * time.Hour), end.Truncate(24 * time.Hour)},                  // whole days only
		{begin.Add(5 * time.Hour), begin.Add(29 * time.Hour)},                           // across one midnight
		{begin.Add(20 * time.Hour), begin.Add(75 * time.Hour)},                          // edges and two whole days
		{begin.Add(30 * time.Hour), begin.Add(31 * time.Hour)},                          // within one day
		{begin.Truncate(24 * time.Hour).Add(24 * time.Hour), begin.Add(90 * time.Hour)}, // starts at midnight
	}
	check := func(stage string) {
		t.Helper()
		for _, w := range windows {
			require.Equal(t, f.windowFromRecords(t, w[0], w[1]), f.window(t, w[0], w[1]), "%s: window %s - %s", stage, w[0], w[1])
		}
	}
	require.Len(t, f.window(t, begin, end), 2*3, "per customer and per each of its two categories, subjects and records")
	check("after the writes")

	// The data-subject request path: one category of one subject erased.
	var sid string
	require.NoError(t, f.db.Pool.QueryRow(f.ctx, `SELECT subject_id FROM records WHERE kind = 'admin.invoice' LIMIT 1`).Scan(&sid))
	er, err := f.store.EraseHeld(f.ctx, f.tenant, sid, map[string]string{"chat.message": "kept for the test"})
	require.NoError(t, err)
	require.NotZero(t, er.Certificate.Records)
	check("after a partial erasure")

	// An expiry sweep deleting some of the due records.
	f.clock.Advance(60 * 24 * time.Hour)
	require.NoError(t, f.db.InTenantTx(f.ctx, f.tenant, func(tx pgx.Tx) error {
		e, err := f.store.DeleteExpired(f.ctx, tx, f.tenant, f.clock.Now(), false, records.Held{}, 7)
		require.NotEmpty(t, e.IDs)
		return err
	}))
	check("after an expiry sweep")

	// A subject erased and its rows purged.
	c, err := f.store.EraseSubject(f.ctx, f.tenant, "visitor-2")
	require.NoError(t, err)
	n, err := f.store.Purge(f.ctx, f.tenant, c.ID)
	require.NoError(t, err)
	require.NotZero(t, n)
	check("after a purge")
}

func (f *fixture) rows(t *testing.T, query string, args ...any) map[string]int64 {
	t.Helper()
	rows, err := f.db.Pool.Query(context.Background(), query, args...)
	require.NoError(t, err)
	out := map[string]int64{}
	var key string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&key, &n}, func() error { out[key] = n; return nil })
	require.NoError(t, err)
	return out
}

// window is CountWindow's answer as "tenant/category/subjects" and
// "tenant/category/records" entries.
func (f *fixture) window(t *testing.T, from, to time.Time) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	require.NoError(t, f.db.InTenantTx(f.ctx, "*", func(tx pgx.Tx) error {
		counts, err := records.CountWindow(f.ctx, tx, records.Window{From: from, To: to})
		for _, c := range counts {
			out[c.TenantID+"/"+c.Category+"/subjects"] = c.Subjects
			out[c.TenantID+"/"+c.Category+"/records"] = c.Records
		}
		return err
	}))
	return out
}

func (f *fixture) windowFromRecords(t *testing.T, from, to time.Time) map[string]int64 {
	return f.rows(t, `SELECT tenant_id || '/' || coalesce(category, '') || '/' || what, n FROM (
			SELECT tenant_id, category, count(DISTINCT subject_id) AS subjects, count(*) AS records FROM records
			WHERE created_at >= $1 AND created_at < $2 GROUP BY GROUPING SETS ((tenant_id, category), (tenant_id))) c,
		LATERAL (VALUES ('subjects', c.subjects), ('records', c.records)) v(what, n)`, from, to)
}

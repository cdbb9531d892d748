package decision_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/decision"
)

func day(t *testing.T, s string) deadline.Date {
	t.Helper()
	d, err := deadline.ParseDate(s)
	require.NoError(t, err)
	return d
}

// TestStats: a customer's decision counts per day, category and purpose are
// the sum of what every replica stored at its flushes plus what this
// replica counted since; nothing is counted twice, days are the customer's,
// and other customers' decisions never show.
func TestStats(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	A := f.tenantID
	B := f.newTenant(t, "Tenant Tokyo", "Asia/Tokyo")
	marketing := chat
	marketing.Purpose = "marketing"
	health := chat
	health.Category = "special.health"

	// 2026-03-02 09:00 UTC: 10:00 in Amsterdam, 18:00 in Tokyo.
	_, err := f.decisions.Decide(ctx, A, -1, []decision.Request{chat, chat, marketing, health})
	require.NoError(t, err)
	_, err = f.decisions.Decide(ctx, B, -1, []decision.Request{chat})
	require.NoError(t, err)

	stats := func(svc *decision.Service, tenantID, from, to string) decision.Stats {
		t.Helper()
		s, err := svc.Stats(ctx, tenantID, day(t, from), day(t, to))
		require.NoError(t, err)
		return s
	}
	want := decision.Stats{TenantID: A, From: day(t, "2026-03-01"), To: day(t, "2026-03-31"), Allowed: 2, Denied: 2,
		Cells: []decision.CellStats{
			{Category: "chat.message", Purpose: "service.delivery", Allowed: 2},
			{Category: "chat.message", Purpose: "marketing", Denied: 1},
			{Category: "special.health", Special: true, Purpose: "service.delivery", Denied: 1},
		},
		Days: []decision.DayStats{{Day: day(t, "2026-03-02"), Allowed: 2, Denied: 2}}}
	require.Equal(t, want, stats(f.decisions, A, "2026-03-01", "2026-03-31"), "before a flush: this replica's counts")
	require.NoError(t, f.decisions.Flush(ctx))
	require.Equal(t, want, stats(f.decisions, A, "2026-03-01", "2026-03-31"), "after the flush: stored, not counted twice")
	require.NoError(t, f.decisions.Flush(ctx))
	require.Equal(t, want, stats(f.decisions, A, "2026-03-01", "2026-03-31"), "a second flush adds nothing")

	// Another replica's decisions show once it flushed them.
	other := f.replica(t)
	_, err = other.Decide(ctx, A, -1, []decision.Request{chat})
	require.NoError(t, err)
	require.EqualValues(t, 2, stats(f.decisions, A, "2026-03-02", "2026-03-02").Allowed)
	require.EqualValues(t, 3, stats(other, A, "2026-03-02", "2026-03-02").Allowed)
	require.NoError(t, other.Flush(ctx))
	require.EqualValues(t, 3, stats(f.decisions, A, "2026-03-02", "2026-03-02").Allowed)

	// 2026-03-02 23:30 UTC is already 3 March in Amsterdam: the day is the
	// customer's.
	f.clock.Set(time.Date(2026, time.March, 2, 23, 30, 0, 0, time.UTC))
	_, err = f.decisions.Decide(ctx, A, -1, []decision.Request{chat})
	require.NoError(t, err)
	require.NoError(t, f.decisions.Flush(ctx))
	s := stats(f.decisions, A, "2026-03-01", "2026-03-31")
	require.Equal(t, []decision.DayStats{{Day: day(t, "2026-03-02"), Allowed: 3, Denied: 2}, {Day: day(t, "2026-03-03"), Allowed: 1}}, s.Days)
	require.EqualValues(t, 4, s.Allowed)
	require.EqualValues(t, 3, stats(f.decisions, A, "2026-03-02", "2026-03-02").Allowed, "the range is inclusive and bounded")
	require.Zero(t, stats(f.decisions, A, "2026-02-01", "2026-03-01").Allowed)

	// Tenant B (Tokyo) sees its own decision on its own day, and only it.
	s = stats(f.decisions, B, "2026-03-01", "2026-03-31")
	require.Equal(t, []decision.CellStats{{Category: "chat.message", Purpose: "service.delivery", Allowed: 1}}, s.Cells)
	require.Equal(t, []decision.DayStats{{Day: day(t, "2026-03-02"), Allowed: 1}}, s.Days)

	// Bad ranges name the field.
	_, err = f.decisions.Stats(ctx, A, day(t, "2026-03-02"), day(t, "2026-03-01"))
	require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err))
	require.Equal(t, "to", verwerker.ErrorFields(err)[0].Field)
	_, err = f.decisions.Stats(ctx, A, day(t, "2025-01-01"), day(t, "2026-03-01"))
	require.Equal(t, "from", verwerker.ErrorFields(err)[0].Field)
	_, err = f.decisions.Stats(ctx, A, day(t, "2025-03-02"), day(t, "2026-03-02"))
	require.NoError(t, err, "366 days")
}

// TestDenialsByReason: each denial counts under each of its reason codes,
// per customer day, before and after a flush, not twice; the platform sums
// every customer's stored denials; a customer sees only its own.
func TestDenialsByReason(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	A := f.tenantID
	B := f.newTenant(t, "Tenant Tokyo", "Asia/Tokyo")
	marketing := chat
	marketing.Purpose = "marketing"
	health := chat
	health.Category = "special.health"
	far := chat
	far.Region = "us"
	both := marketing
	both.Region = "us"

	out, err := f.decisions.Decide(ctx, A, -1, []decision.Request{chat, marketing, health, far, both, marketing})
	require.NoError(t, err)
	_, err = f.decisions.Decide(ctx, B, -1, []decision.Request{marketing})
	require.NoError(t, err)
	// What the decisions said, counted by hand.
	want := map[string]uint64{}
	multi := false
	for _, d := range out {
		if d.Allow {
			continue
		}
		seen := map[string]bool{}
		for _, r := range d.Reasons {
			if !seen[r.Code] {
				seen[r.Code] = true
				want[r.Code]++
			}
		}
		multi = multi || len(seen) > 1
	}
	require.True(t, multi, "a denial with two reasons counts under both")
	require.GreaterOrEqual(t, len(want), 3)

	byReason := func(rows []decision.ReasonDay) map[string]uint64 {
		got := map[string]uint64{}
		for _, r := range rows {
			require.Equal(t, day(t, "2026-03-02"), r.Day)
			got[r.Reason] += r.Denied
		}
		return got
	}
	denials := func(tenantID string) map[string]uint64 {
		t.Helper()
		rows, err := f.decisions.Denials(ctx, tenantID, day(t, "2026-03-01"), day(t, "2026-03-31"))
		require.NoError(t, err)
		return byReason(rows)
	}
	require.Equal(t, want, denials(A), "before a flush: this replica's counts")
	require.NoError(t, f.decisions.Flush(ctx))
	require.Equal(t, want, denials(A), "after the flush: stored, not counted twice")
	require.NoError(t, f.decisions.Flush(ctx))
	require.Equal(t, want, denials(A), "a second flush adds nothing")
	require.Equal(t, map[string]uint64{"purpose_not_in_scope": 1}, denials(B), "only its own")

	platform, err := f.decisions.PlatformDenials(ctx, day(t, "2026-03-01"), day(t, "2026-03-31"))
	require.NoError(t, err)
	want["purpose_not_in_scope"]++ // B's
	require.Equal(t, want, byReason(platform))

	// Imported counts (demo, benchmarks) add to both.
	require.NoError(t, f.decisions.ImportCounts(ctx, []decision.Count{
		{TenantID: A, Day: day(t, "2026-03-02"), Category: "chat.message", Purpose: "marketing", Denied: 2, Reasons: map[string]uint64{"purpose_not_in_scope": 2}},
		{TenantID: A, Day: day(t, "2026-03-02"), Category: "chat.message", Purpose: "analytics", Denied: 1, Reasons: map[string]uint64{"purpose_not_in_scope": 1}},
	}))
	platform, err = f.decisions.PlatformDenials(ctx, day(t, "2026-03-01"), day(t, "2026-03-31"))
	require.NoError(t, err)
	want["purpose_not_in_scope"] += 3
	require.Equal(t, want, byReason(platform))

	_, err = f.decisions.Denials(ctx, A, day(t, "2026-03-02"), day(t, "2026-03-01"))
	require.Equal(t, "to", verwerker.ErrorFields(err)[0].Field)
}

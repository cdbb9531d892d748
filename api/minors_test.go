package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/policy"
)

// TestMinorRecordDueIn24Hours: a record recognised as a minor's (seed 000
// art. 9.5: deleted as soon as possible) is due for deletion 24 hours
// after it was written — not the ordinary 30 days — and the decision's
// obligation says so (delete_asap with deletion_due 24 hours ahead).
func TestMinorRecordDueIn24Hours(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A := b.tenantA.ID
	activeDPA(t, b, A)
	chat := b.token(t, policy.RoleChatService, A)
	now := b.clock.Now()

	item := func(minor bool) map[string]any {
		return map[string]any{"subject_ref": "visitor-9", "kind": "chat.message", "category": "chat.message", "purpose": "service.delivery",
			"region": "nl", "suspected_minor": minor, "content": map[string]any{"text": "Ik ben 13"}}
	}
	res := b.do(t, http.MethodPost, "/v1/tenants/"+A+"/records", chat, map[string]any{"items": []any{item(false), item(true)}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	items := res.json["items"].([]any)
	due := func(i int) time.Time {
		t.Helper()
		at, err := time.Parse(time.RFC3339Nano, items[i].(map[string]any)["delete_after"].(string))
		require.NoError(t, err)
		return at
	}
	// 2 March + 30 days: Wednesday 1 April 2026, the end of that day in Amsterdam.
	require.Equal(t, "2026-04-02T00:00:00+02:00", due(0).Format(time.RFC3339))
	require.True(t, now.Add(24*time.Hour).Equal(due(1)), "a minor's record is due 24 hours after the write, not %v", due(1))

	// What is stored is what the retention sweep will read.
	var stored time.Time
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT delete_after FROM records WHERE tenant_id = $1 AND id = $2`,
		A, items[1].(map[string]any)["record_id"]).Scan(&stored))
	require.True(t, now.Add(24*time.Hour).Equal(stored), "%v", stored)

	// The decision API states the same obligation.
	d := ask(t, b, chat, map[string]any{"suspected_minor": true})
	require.Equal(t, http.StatusOK, d.status, d.raw)
	o := d.json["obligations"].(map[string]any)
	require.Contains(t, o["actions"], policy.ObligationDeleteASAP)
	dueAt, err := time.Parse(time.RFC3339Nano, o["deletion_due"].(string))
	require.NoError(t, err)
	require.True(t, now.Add(24*time.Hour).Equal(dueAt), "%v", dueAt)
	require.Equal(t, "2026-03-03", o["deletion_deadline"])
}

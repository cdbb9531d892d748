package retention_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/dpa/dpatest"
	"github.com/verwerker/verwerker/records"
)

// A new agreement version that changes a category's retention period
// recomputes the stored deadlines of that category (once, audited), and
// the sweeps follow the new deadlines; invoices keep the statutory rule.
func TestRecomputeAfterAgreementChange(t *testing.T) {
	t.Parallel()
	f := setup(t)
	st := f.write(t, message("visitor-1"), item("visitor-2", records.KindUser, "contact.email", "service.delivery"),
		item("visitor-3", records.KindInvoice, "billing.invoice", "billing"))
	require.NotNil(t, st[0].DeleteAfter)
	require.Nil(t, st[1].DeleteAfter, "runs from the contract's end")
	rc, done, err := f.svc.Recompute(f.ctx, f.tenant)
	require.NoError(t, err)
	require.True(t, done)
	assert.Zero(t, rc.Records, "the records follow version 1 already")

	f.clock.Advance(days(10))
	dpatest.Activate(t, f.dpa, f.tenant, dpa.Scope{
		Categories: []dpa.CategoryScope{{ID: "chat.message", Retention: dpa.RetentionContractEndPlus30Days},
			{ID: "billing.invoice", Retention: dpa.Retention30DaysAfterLastInteraction},
			{ID: "contact.email", Retention: dpa.Retention30DaysAfterLastInteraction}},
		Purposes:      []string{"service.delivery", "billing"},
		BreachContact: dpa.Contact{Email: "breach@a.example"}, DPOContact: dpa.Contact{Email: "dpo@a.example"},
	})
	rc, done, err = f.svc.Recompute(f.ctx, f.tenant)
	require.NoError(t, err)
	require.True(t, done)
	assert.Equal(t, 2, rc.DPAVersion)
	assert.EqualValues(t, 2, rc.Records)
	assert.Equal(t, map[string]int64{"chat.message": 1, "contact.email": 1}, rc.What)
	assert.NotEmpty(t, rc.AuditHash)

	var rule string
	var due time.Time
	var never bool
	row := func(id string) {
		require.NoError(t, f.db.Pool.QueryRow(context.Background(), `SELECT retention_rule, delete_after = 'infinity', coalesce(nullif(delete_after, 'infinity'), now())
			FROM records WHERE tenant_id = $1 AND id = $2`, f.tenant, id).Scan(&rule, &never, &due))
	}
	row(st[0].ID)
	assert.Equal(t, dpa.RetentionContractEndPlus30Days, rule)
	assert.True(t, never, "now runs from the contract's end")
	row(st[1].ID)
	assert.Equal(t, dpa.Retention30DaysAfterLastInteraction, rule)
	assert.False(t, never)
	assert.Equal(t, st[0].DeleteAfter.UTC(), due.UTC(), "30 days after visitor-2's last interaction, the day of the write")
	row(st[2].ID)
	assert.Equal(t, dpa.RetentionStatutory7Years, rule, "an invoice keeps the statutory rule")

	// Once per version, audited once.
	again, done, err := f.svc.Recompute(f.ctx, f.tenant)
	require.NoError(t, err)
	require.True(t, done)
	assert.Equal(t, rc.CompletedAt.UTC(), again.CompletedAt.UTC())
	assert.Equal(t, 1, f.count(t, `SELECT count(*) FROM audit_events WHERE chain = $1 AND action = 'retention.recompute'`, f.tenant))

	// The sweep follows the new deadlines.
	f.clock.Set(st[0].DeleteAfter.Add(time.Second))
	w := f.run(t)
	assert.Equal(t, map[string]int64{"contact.email": 1}, w.What)
	assert.Equal(t, 2, f.records_(t))
}

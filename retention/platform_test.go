package retention_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/dpa/dpatest"
	"github.com/verwerker/verwerker/records"
	"github.com/verwerker/verwerker/retention"
	"github.com/verwerker/verwerker/tenant"
)

// The platform-wide forecast sums every customer's per category, as of the
// last count, and ranks the customers by what is due within 90 days.
func TestPlatformForecast(t *testing.T) {
	t.Parallel()
	f := setup(t)
	empty, err := f.svc.PlatformForecast(f.ctx, 10)
	require.NoError(t, err)
	assert.True(t, empty.ComputedAt.IsZero(), "not counted yet")
	assert.Empty(t, empty.Categories)

	b, err := f.tenants.Create(f.ctx, tenant.New{Name: "Tenant B", Country: "NL", ContactEmail: "privacy@b.example"})
	require.NoError(t, err)
	dpatest.Activate(t, f.dpa, b.ID, dpa.Scope{
		Categories:    []dpa.CategoryScope{{ID: "chat.message", Retention: dpa.Retention30DaysAfterLastInteraction}},
		Purposes:      []string{"service.delivery"},
		BreachContact: dpa.Contact{Email: "breach@b.example"}, DPOContact: dpa.Contact{Email: "dpo@b.example"},
	})
	f.write(t, message("v1"))
	f.clock.Advance(days(20))
	f.write(t, message("v2"))
	_, err = f.records.Write(f.ctx, b.ID, -1, []records.Item{message("w1"), message("w2"), message("w3")})
	require.NoError(t, err)
	f.clock.Advance(days(5))
	require.NoError(t, f.svc.RefreshForecast(f.ctx))

	p, err := f.svc.PlatformForecast(f.ctx, 10)
	require.NoError(t, err)
	assert.Equal(t, f.clock.Now().UTC(), p.ComputedAt.UTC())
	assert.Equal(t, retention.Horizons, p.Horizons)
	assert.Equal(t, []retention.CategoryForecast{{Category: "chat.message", Due: []int64{1, 5, 5}}}, p.Categories)
	assert.Equal(t, []int64{1, 5, 5}, p.Total)
	assert.Equal(t, []retention.CustomerForecast{{TenantID: b.ID, Due: []int64{0, 3, 3}}, {TenantID: f.tenant, Due: []int64{1, 2, 2}}}, p.Customers)
}

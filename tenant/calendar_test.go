package tenant_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/tenant"
)

// TestCalendar: a customer's deadlines are counted in its own time zone,
// with the holidays of the base calendar; an empty or unusable zone means
// Europe/Amsterdam.
func TestCalendar(t *testing.T) {
	tokyo := (&tenant.Tenant{Timezone: "Asia/Tokyo"}).Calendar(nil)
	require.Equal(t, "Asia/Tokyo", tokyo.Location().String())
	require.False(t, tokyo.IsWorkingDay(deadline.Date{Year: 2026, Month: time.April, Day: 27}), "King's Day, from the base calendar")
	for _, tz := range []string{"", "Local", "Mars/Olympus"} {
		require.Equal(t, tenant.DefaultTimezone, tenant.Calendar(nil, tz).Location().String(), tz)
	}
	none := deadline.NewCalendar(deadline.WithHolidays(nil), deadline.WithDecreeDays())
	require.True(t, tenant.Calendar(none, "America/New_York").IsWorkingDay(deadline.Date{Year: 2026, Month: time.April, Day: 27}))
}

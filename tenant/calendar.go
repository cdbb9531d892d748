package tenant

import (
	"time"

	"github.com/verwerker/verwerker/deadline"
)

// Calendar returns the calendar in which the customer's deadlines are
// counted (Regulation 1182/71): its time zone (DefaultTimezone when empty or
// unknown) and its public holidays. Customers have no holiday setting of
// their own yet, so the holidays are base's (the Dutch holidays of the
// Algemene termijnenwet by default); a nil base means
// deadline.DefaultCalendar.
func Calendar(base *deadline.Calendar, timezone string) *deadline.Calendar {
	if base == nil {
		base = deadline.DefaultCalendar()
	}
	if timezone == "" {
		timezone = DefaultTimezone
	}
	loc, err := time.LoadLocation(timezone)
	if err != nil || timezone == "Local" {
		loc, _ = time.LoadLocation(DefaultTimezone)
	}
	return base.In(loc)
}

// Calendar returns the customer's calendar (see the package function
// Calendar) with base's holidays.
func (t *Tenant) Calendar(base *deadline.Calendar) *deadline.Calendar {
	return Calendar(base, t.Timezone)
}

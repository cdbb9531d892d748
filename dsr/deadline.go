package dsr

import (
	"time"

	"github.com/verwerker/verwerker/deadline"
)

// MaxExtensionMonths is how far the deadline may be extended (GDPR Art.
// 12(3): by two further months where necessary).
const MaxExtensionMonths = 2

// due computes a request's statutory deadline in the customer's calendar:
// one month plus extension months from receipt, by Regulation 1182/71 (the
// day of receipt does not count; a month ends on the same date or the last
// day of a shorter month; a last day on a Saturday, Sunday or holiday moves
// to the next working day). Time spent waiting on the subject (paused)
// stops the clock: the period runs as if it was received that much later.
func due(cal *deadline.Calendar, received time.Time, extension int, paused time.Duration) deadline.Deadline {
	return cal.Deadline(received.Add(paused), deadline.Months(1+extension))
}

// forwardDue is verwerker's own forwarding service level: the end of the
// n-th working day after receipt in the customer's calendar.
func forwardDue(cal *deadline.Calendar, received time.Time, n int) time.Time {
	d := deadline.DateOf(received.In(cal.Location()))
	for i := 0; i < n; {
		d = d.AddDays(1)
		if cal.IsWorkingDay(d) {
			i++
		}
	}
	return d.AddDays(1).In(cal.Location()).UTC()
}

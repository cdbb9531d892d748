package deadline_test

import (
	"testing"
	"time"

	"github.com/verwerker/verwerker/deadline"
)

// fuzzEvent maps a fuzzed number to an instant between 1971 and 2229.
func fuzzEvent(sec int64) time.Time {
	const span = 258 * 365 * 24 * 3600
	sec %= span
	if sec < 0 {
		sec += span
	}
	return time.Unix(365*24*3600+sec, 0).UTC()
}

// FuzzDeadline checks the invariants of Regulation 1182/71's arithmetic for
// any event, period and later event, in Amsterdam and in New York:
//   - the deadline is not before the event's day, and Due is after the event;
//   - the last day is a working day, never before the nominal last day, and
//     Extended says whether the rules moved it;
//   - Due is the first instant of the day after the last day;
//   - a period of two days or more holds at least two working days;
//   - the deadline is monotone in the event (a later event never ends
//     earlier) and in the period (one more day never ends earlier).
//
// Seeds are in testdata/fuzz/FuzzDeadline.
func FuzzDeadline(f *testing.F) {
	f.Add(int64(1772442000), uint16(30), uint8(0), uint8(0), int64(3600), false)   // 2026-03-02 09:00 UTC, 30 days
	f.Add(int64(1774652400), uint16(0), uint8(1), uint8(0), int64(86400), false)   // month from Friday 27 March
	f.Add(int64(1777240800), uint16(2), uint8(0), uint8(0), int64(7200), true)     // around King's Day, 2 days
	f.Add(int64(1798671600), uint16(0), uint8(0), uint8(1), int64(1), false)       // New Year's Eve, a year
	f.Add(int64(1774400400), uint16(1), uint8(0), uint8(0), int64(3*86400), false) // one day over a DST change
	f.Add(int64(1769814000), uint16(0), uint8(1), uint8(0), int64(86400), true)    // 31 January plus a month
	calendars := []*deadline.Calendar{deadline.DefaultCalendar()}
	if ny, err := time.LoadLocation("America/New_York"); err == nil {
		calendars = append(calendars, deadline.DefaultCalendar().In(ny))
	} else {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sec int64, days uint16, months, years uint8, later int64, newYork bool) {
		c := calendars[0]
		if newYork {
			c = calendars[1]
		}
		event := fuzzEvent(sec)
		p := deadline.Period{Days: int(days % 800), Months: int(months % 60), Years: int(years % 12)}
		d := c.Deadline(event, p)
		start := deadline.DateOf(event.In(c.Location()))
		if d.LastDay.Before(start) || !d.Due.After(event) {
			t.Fatalf("%v from %v ends before it starts: %+v", p, event, d)
		}
		if !c.IsWorkingDay(d.LastDay) {
			t.Fatalf("%v from %v ends on %v, not a working day", p, event, d.LastDay)
		}
		if d.LastDay.Before(d.NominalLastDay) || d.Extended != (d.LastDay != d.NominalLastDay) {
			t.Fatalf("%v from %v: last day %v, nominal %v, extended %v", p, event, d.LastDay, d.NominalLastDay, d.Extended)
		}
		if !d.Due.Equal(d.LastDay.AddDays(1).In(c.Location())) {
			t.Fatalf("%v from %v: due %v is not the start of the day after %v", p, event, d.Due, d.LastDay)
		}
		if !start.AddDays(2).After(d.NominalLastDay) {
			working := 0
			for day := start.AddDays(1); !day.After(d.LastDay); day = day.AddDays(1) {
				if c.IsWorkingDay(day) {
					working++
				}
			}
			if working < 2 {
				t.Fatalf("%v from %v to %v holds %d working days", p, event, d.LastDay, working)
			}
		}
		if later < 0 {
			later = -later
		}
		after := event.Add(time.Duration(later%(400*86400)) * time.Second)
		if d2 := c.Deadline(after, p); d2.Due.Before(d.Due) {
			t.Fatalf("%v: from %v it ends %v, from the later %v already %v", p, event, d.Due, after, d2.Due)
		}
		p.Days++
		if d3 := c.Deadline(event, p); d3.Due.Before(d.Due) {
			t.Fatalf("%v from %v ends %v, one day less ended %v", p, event, d3.Due, d.Due)
		}
	})
}

// FuzzParsePeriod: no text makes ParsePeriod panic, and what it accepts is
// written back by String to text it reads as the same period.
func FuzzParsePeriod(f *testing.F) {
	for _, s := range []string{"30d", "1m", "7y", "1y6m", "0d", "1y2m3d", "100000d", "100001d", "d", "1x", "1d1d", "", "01m", "99999999999999999999y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := deadline.ParsePeriod(s)
		if err != nil {
			return
		}
		if p.Days < 0 || p.Months < 0 || p.Years < 0 {
			t.Fatalf("%q gave a negative period %+v", s, p)
		}
		q, err := deadline.ParsePeriod(p.String())
		if err != nil || q != p {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, p, p.String(), q, err)
		}
	})
}

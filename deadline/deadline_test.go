package deadline_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/deadline"
)

func loadLocation(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func date(t *testing.T, s string) deadline.Date {
	t.Helper()
	d, err := deadline.ParseDate(s)
	require.NoError(t, err)
	return d
}

// noon returns 12:00 on day s in Amsterdam.
func noon(t *testing.T, s string) time.Time {
	t.Helper()
	d := date(t, s)
	return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, loadLocation(t, "Europe/Amsterdam"))
}

func TestDeadline(t *testing.T) {
	t.Parallel()
	cal := deadline.DefaultCalendar()
	tests := []struct {
		name    string
		event   string // date of the event, at noon Amsterdam time
		period  deadline.Period
		nominal string
		last    string
	}{
		// Art. 3(1): the day of the event does not count.
		{"one day", "2026-03-02", deadline.Days(1), "2026-03-03", "2026-03-03"},
		{"three days", "2026-03-02", deadline.Days(3), "2026-03-05", "2026-03-05"},
		{"zero period ends on the event day", "2026-03-02", deadline.Period{}, "2026-03-02", "2026-03-02"},
		{"thirty days", "2026-03-02", deadline.Days(30), "2026-04-01", "2026-04-01"},
		{"30 days is not a month", "2026-03-02", deadline.Months(1), "2026-04-02", "2026-04-02"},

		// Art. 3(2)(c): months and years, with the end-of-month rule.
		{"31 Jan + 1m, non-leap year", "2025-01-31", deadline.Months(1), "2025-02-28", "2025-02-28"},
		{"31 Jan + 1m, leap year 2024", "2024-01-31", deadline.Months(1), "2024-02-29", "2024-02-29"},
		{"31 Jan + 1m, leap year 2028", "2028-01-31", deadline.Months(1), "2028-02-29", "2028-02-29"},
		{"30 Jan + 1m clamps too", "2025-01-30", deadline.Months(1), "2025-02-28", "2025-02-28"},
		{"31 Mar + 1m", "2025-03-31", deadline.Months(1), "2025-04-30", "2025-04-30"},
		{"28 Feb + 1m keeps the date, not the month end", "2025-02-28", deadline.Months(1), "2025-03-28", "2025-03-28"},
		{"31 Dec + 2m crosses the year", "2025-12-31", deadline.Months(2), "2026-02-28", "2026-03-02"},
		{"29 Feb + 1y", "2024-02-29", deadline.Years(1), "2025-02-28", "2025-02-28"},
		{"12 months equal a year", "2025-03-15", deadline.Months(12), "2026-03-15", "2026-03-16"},
		{"1 year", "2025-03-15", deadline.Years(1), "2026-03-15", "2026-03-16"},
		{"7 years retention", "2026-06-10", deadline.Years(7), "2033-06-10", "2033-06-10"},
		{"months before days", "2025-01-31", deadline.Period{Months: 1, Days: 1}, "2025-03-01", "2025-03-03"},
		{"GDPR 12(3) extended: 3 months", "2026-01-31", deadline.Months(3), "2026-04-30", "2026-04-30"},

		// Art. 3(4): Saturday, Sunday and holidays move to the next working day.
		{"ends on Saturday", "2026-03-05", deadline.Days(2), "2026-03-07", "2026-03-09"},
		{"ends on Sunday", "2026-03-05", deadline.Days(3), "2026-03-08", "2026-03-09"},
		{"31 Jan 2026 + 1m is Saturday 28 Feb", "2026-01-31", deadline.Months(1), "2026-02-28", "2026-03-02"},
		{"Good Friday 2027 to Tuesday after Easter Monday", "2027-02-26", deadline.Months(1), "2027-03-26", "2027-03-30"},
		{"Good Friday 2027, one day", "2027-03-25", deadline.Days(1), "2027-03-26", "2027-03-30"},
		{"Easter Monday 2027", "2027-02-28", deadline.Days(29), "2027-03-29", "2027-03-30"},
		{"King's Day 2025 on Saturday 26 April", "2025-03-26", deadline.Months(1), "2025-04-26", "2025-04-28"},
		{"27 April 2025 is an ordinary Sunday", "2025-03-27", deadline.Months(1), "2025-04-27", "2025-04-28"},
		{"Friday before King's Day 2025 is a working day", "2025-03-25", deadline.Months(1), "2025-04-25", "2025-04-25"},
		{"weekend then King's Day 2026 on Monday", "2026-03-25", deadline.Months(1), "2026-04-25", "2026-04-28"},
		{"King's Day 2026", "2026-03-27", deadline.Months(1), "2026-04-27", "2026-04-28"},
		{"5 May 2026, not a lustrum year", "2026-04-05", deadline.Months(1), "2026-05-05", "2026-05-06"},
		{"Ascension 2026 and the decree day after it", "2026-04-14", deadline.Months(1), "2026-05-14", "2026-05-18"},
		{"Whit Monday 2026", "2026-04-25", deadline.Months(1), "2026-05-25", "2026-05-26"},
		{"Christmas 2025 chain", "2025-12-24", deadline.Days(1), "2025-12-25", "2025-12-29"},
		{"Boxing Day 2025", "2025-11-26", deadline.Months(1), "2025-12-26", "2025-12-29"},
		{"Christmas 2026 on Friday", "2026-12-24", deadline.Days(1), "2026-12-25", "2026-12-28"},
		{"Christmas Eve 2027 is a working day", "2027-11-24", deadline.Months(1), "2027-12-24", "2027-12-24"},
		{"Christmas 2027 on Saturday", "2027-11-25", deadline.Months(1), "2027-12-25", "2027-12-27"},
		{"New Year 2026 and decree day 2 January", "2025-12-01", deadline.Months(1), "2026-01-01", "2026-01-05"},

		// Art. 3(5): a period of two days or more contains two working days.
		{"two days over Easter 2027", "2027-03-25", deadline.Days(2), "2027-03-27", "2027-03-31"},
		{"two days over Christmas 2025", "2025-12-24", deadline.Days(2), "2025-12-26", "2025-12-30"},
		{"two days over a weekend need no extension", "2026-03-05", deadline.Days(2), "2026-03-07", "2026-03-09"},
		{"two days from Friday", "2026-03-06", deadline.Days(2), "2026-03-08", "2026-03-10"},
		{"one day is not extended by 3(5)", "2026-03-06", deadline.Days(1), "2026-03-07", "2026-03-09"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := cal.Deadline(noon(t, tt.event), tt.period)
			require.Equal(t, tt.nominal, got.NominalLastDay.String(), "nominal last day")
			require.Equal(t, tt.last, got.LastDay.String(), "last day")
			require.Equal(t, tt.last != tt.nominal, got.Extended)
			require.True(t, cal.IsWorkingDay(got.LastDay))
			require.Equal(t, date(t, tt.last).AddDays(1).In(cal.Location()), got.Due)
		})
	}
}

func TestDeadlineEventTimeOfDay(t *testing.T) {
	t.Parallel()
	ams := loadLocation(t, "Europe/Amsterdam")
	cal := deadline.DefaultCalendar()
	// The whole event day is excluded, from its first to its last instant.
	for _, event := range []time.Time{
		time.Date(2026, 3, 2, 0, 0, 0, 0, ams),
		time.Date(2026, 3, 2, 12, 0, 0, 0, ams),
		time.Date(2026, 3, 2, 23, 59, 59, 999999999, ams),
	} {
		got := cal.Deadline(event, deadline.Days(1))
		require.Equal(t, "2026-03-03", got.LastDay.String(), event)
		require.Equal(t, time.Date(2026, 3, 4, 0, 0, 0, 0, ams), got.Due, event)
	}
}

func TestDeadlineTimeZone(t *testing.T) {
	t.Parallel()
	// 23:30 UTC on 31 March 2026 is 01:30 on 1 April in Amsterdam (CEST).
	event := time.Date(2026, 3, 31, 23, 30, 0, 0, time.UTC)
	ams := deadline.DefaultCalendar()
	utc := deadline.NewCalendar(deadline.WithLocation(time.UTC))
	newYork := deadline.NewCalendar(deadline.WithLocation(loadLocation(t, "America/New_York")))

	tests := []struct {
		name   string
		cal    *deadline.Calendar
		event  time.Time
		period deadline.Period
		last   string
		due    string
	}{
		{"Amsterdam 30d", ams, event, deadline.Days(30), "2026-05-01", "2026-05-02T00:00:00+02:00"},
		{"UTC 30d", utc, event, deadline.Days(30), "2026-04-30", "2026-05-01T00:00:00Z"},
		{"Amsterdam 1m", ams, event, deadline.Months(1), "2026-05-01", "2026-05-02T00:00:00+02:00"},
		{"UTC 1m", utc, event, deadline.Months(1), "2026-04-30", "2026-05-01T00:00:00Z"},
		{"event given in another zone", ams, event.In(loadLocation(t, "America/Los_Angeles")), deadline.Days(30), "2026-05-01", "2026-05-02T00:00:00+02:00"},
		{"New York, evening before", newYork, time.Date(2026, 4, 1, 2, 0, 0, 0, time.UTC), deadline.Days(30), "2026-04-30", "2026-05-01T00:00:00-04:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.cal.Deadline(tt.event, tt.period)
			require.Equal(t, tt.last, got.LastDay.String())
			require.Equal(t, tt.due, got.Due.Format(time.RFC3339))
			require.Same(t, tt.cal.Location(), got.Due.Location())
		})
	}
}

func TestDeadlineDST(t *testing.T) {
	t.Parallel()
	ams := loadLocation(t, "Europe/Amsterdam")
	cal := deadline.DefaultCalendar()
	tests := []struct {
		name   string
		event  time.Time
		period deadline.Period
		last   string
		dueUTC string
	}{
		// Summer time starts on Sunday 29 March 2026 at 02:00 CET.
		{"due in winter time before the change", noon(t, "2026-02-27"), deadline.Months(1), "2026-03-27", "2026-03-27T23:00:00Z"},
		{"due in summer time after the change", noon(t, "2026-03-01"), deadline.Days(30), "2026-03-31", "2026-03-31T22:00:00Z"},
		{"event just after midnight on the change day", time.Date(2026, 3, 28, 23, 30, 0, 0, time.UTC), deadline.Days(1), "2026-03-30", "2026-03-30T22:00:00Z"},
		// Summer time ends on Sunday 25 October 2026 at 03:00 CEST.
		{"due in winter time after the change", noon(t, "2026-09-26"), deadline.Months(1), "2026-10-26", "2026-10-26T23:00:00Z"},
		{"first 02:30 of the repeated hour", time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), deadline.Days(1), "2026-10-26", "2026-10-26T23:00:00Z"},
		{"second 02:30 of the repeated hour", time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC), deadline.Days(1), "2026-10-26", "2026-10-26T23:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := cal.Deadline(tt.event, tt.period)
			require.Equal(t, tt.last, got.LastDay.String())
			require.Equal(t, tt.dueUTC, got.Due.UTC().Format(time.RFC3339))
			local := got.Due.In(ams)
			require.Equal(t, 0, local.Hour()*3600+local.Minute()*60+local.Second(), "Due is local midnight")
			require.Equal(t, tt.last, deadline.DateOf(got.Due.Add(-time.Nanosecond).In(ams)).String(), "the instant before Due is on the last day")
		})
	}
}

func TestDateInSkippedMidnight(t *testing.T) {
	t.Parallel()
	// America/Sao_Paulo started summer time on 4 November 2018 at 00:00, so
	// that day began at 01:00 -02; time.Date alone answers 23:00 the day before.
	saoPaulo := loadLocation(t, "America/Sao_Paulo")
	start := deadline.Date{Year: 2018, Month: time.November, Day: 4}.In(saoPaulo)
	require.Equal(t, "2018-11-04T01:00:00-02:00", start.Format(time.RFC3339))
	require.Equal(t, "2018-11-03", deadline.DateOf(start.Add(-time.Second)).String())

	// Samoa skipped 30 December 2011: its "start" is the start of 31 December.
	apia := loadLocation(t, "Pacific/Apia")
	require.Equal(t,
		deadline.Date{Year: 2011, Month: time.December, Day: 31}.In(apia),
		deadline.Date{Year: 2011, Month: time.December, Day: 30}.In(apia))
	require.Equal(t, "2011-12-31T00:00:00+14:00",
		deadline.Date{Year: 2011, Month: time.December, Day: 30}.In(apia).Format(time.RFC3339))

	// Cairo started summer time on Friday 28 April 2023 at 00:00. A calendar
	// without holidays shows the Due of a period ending on Thursday.
	cairo := deadline.NewCalendar(
		deadline.WithLocation(loadLocation(t, "Africa/Cairo")),
		deadline.WithHolidays(nil),
		deadline.WithDecreeDays(),
	)
	got := cairo.Deadline(time.Date(2023, 4, 26, 10, 0, 0, 0, time.UTC), deadline.Days(1))
	require.Equal(t, "2023-04-27", got.LastDay.String())
	require.Equal(t, "2023-04-28T01:00:00+03:00", got.Due.Format(time.RFC3339))
}

func TestDecreeDays(t *testing.T) {
	t.Parallel()
	extra := deadline.Date{Year: 2026, Month: time.March, Day: 6} // a Friday
	custom := deadline.NewCalendar(deadline.WithDecreeDays(extra))
	def := deadline.DefaultCalendar()
	none := deadline.NewCalendar(deadline.WithDecreeDays())

	event := noon(t, "2026-03-05")
	require.Equal(t, "2026-03-06", def.Deadline(event, deadline.Days(1)).LastDay.String())
	require.Equal(t, "2026-03-09", custom.Deadline(event, deadline.Days(1)).LastDay.String())
	require.False(t, custom.IsWorkingDay(extra))
	require.True(t, def.IsWorkingDay(extra))

	// The custom list replaces the built-in one: 2 January 2026 is a working day.
	newYear := noon(t, "2025-12-01")
	require.Equal(t, "2026-01-05", def.Deadline(newYear, deadline.Months(1)).LastDay.String())
	require.Equal(t, "2026-01-02", custom.Deadline(newYear, deadline.Months(1)).LastDay.String())
	require.Equal(t, "2026-01-02", none.Deadline(newYear, deadline.Months(1)).LastDay.String())

	// Appending keeps the built-in days.
	both := deadline.NewCalendar(deadline.WithDecreeDays(append(deadline.DutchDecreeDays(), extra)...))
	require.False(t, both.IsWorkingDay(extra))
	require.False(t, both.IsWorkingDay(deadline.Date{Year: 2026, Month: time.January, Day: 2}))

	hs := custom.Holidays(2026)
	require.Contains(t, hs, deadline.Holiday{
		Date:      extra,
		Name:      "Day designated as a public holiday by decree",
		LocalName: "Met een algemeen erkende feestdag gelijkgestelde dag",
	})
	for _, h := range hs {
		require.NotEqual(t, "2026-01-02", h.Date.String())
	}

	// A decree day on a rule-based holiday is listed once.
	dup := deadline.NewCalendar(deadline.WithDecreeDays(deadline.Date{Year: 2026, Month: time.May, Day: 5}))
	require.Len(t, dup.Holidays(2026), len(deadline.DutchHolidays(2026)))
}

func TestCustomHolidays(t *testing.T) {
	t.Parallel()
	// A controller elsewhere: only 1 May as a holiday, in Berlin.
	cal := deadline.NewCalendar(
		deadline.WithLocation(loadLocation(t, "Europe/Berlin")),
		deadline.WithHolidays(func(year int) []deadline.Holiday {
			return []deadline.Holiday{{Date: deadline.Date{Year: year, Month: time.May, Day: 1}, Name: "Labour Day", LocalName: "Tag der Arbeit"}}
		}),
		deadline.WithDecreeDays(),
	)
	require.Equal(t, "Europe/Berlin", cal.Location().String())
	require.True(t, cal.IsWorkingDay(date(t, "2027-03-26")), "Good Friday is not a holiday here")
	require.False(t, cal.IsWorkingDay(date(t, "2026-05-01")))
	got := cal.Deadline(noon(t, "2026-04-01"), deadline.Months(1))
	require.Equal(t, "2026-05-04", got.LastDay.String())
	require.Equal(t, "2026-05-05T00:00:00+02:00", got.Due.Format(time.RFC3339))
	require.Equal(t, []deadline.Holiday{{Date: date(t, "2026-05-01"), Name: "Labour Day", LocalName: "Tag der Arbeit"}}, cal.Holidays(2026))
}

func TestDeadlineProperties(t *testing.T) {
	t.Parallel()
	cal := deadline.DefaultCalendar()
	ams := cal.Location()
	periods := []deadline.Period{
		{}, deadline.Days(1), deadline.Days(2), deadline.Days(3), deadline.Days(10),
		deadline.Days(30), deadline.Months(1), deadline.Months(3), deadline.Years(1),
	}
	for _, p := range periods {
		var prev deadline.Date
		for d := date(t, "2024-01-01"); d.Before(date(t, "2029-01-01")); d = d.AddDays(1) {
			event := d.In(ams).Add(13 * time.Hour)
			got := cal.Deadline(event, p)
			require.False(t, got.LastDay.Before(got.NominalLastDay), "%s %s", d, p)
			require.Equal(t, got.LastDay.AddDays(1).In(ams), got.Due)
			require.Equal(t, got.LastDay, deadline.DateOf(got.Due.Add(-time.Nanosecond).In(ams)))
			require.False(t, got.LastDay.Before(prev), "a later event never ends earlier: %s %s", d, p)
			prev = got.LastDay
			require.True(t, cal.IsWorkingDay(got.LastDay), "%s %s", d, p)
			if p == (deadline.Period{}) {
				continue
			}
			working := 0 // counted up to 3, which is all the checks below need
			for x := d.AddDays(1); working < 3 && !x.After(got.LastDay); x = x.AddDays(1) {
				if cal.IsWorkingDay(x) {
					working++
				}
			}
			if p != deadline.Days(1) {
				require.GreaterOrEqual(t, working, 2, "%s %s", d, p)
			}
			// Only non-working days are skipped, except for the one working
			// day an Art. 3(5) extension may pass.
			skipped := 0
			for x := got.NominalLastDay; x.Before(got.LastDay); x = x.AddDays(1) {
				if cal.IsWorkingDay(x) {
					skipped++
				}
			}
			require.LessOrEqual(t, skipped, 1, "%s %s", d, p)
			if skipped == 1 {
				require.Equal(t, 2, working, "%s %s", d, p)
			}
		}
	}
}

func TestDeadlinePanicsOnNegativePeriod(t *testing.T) {
	t.Parallel()
	require.Panics(t, func() { deadline.DefaultCalendar().Deadline(time.Now(), deadline.Days(-1)) })
	require.Panics(t, func() { deadline.DefaultCalendar().Deadline(time.Now(), deadline.Period{Months: 1, Years: -1}) })
	require.Panics(t, func() { deadline.WithLocation(nil) })
}

func TestDeadlinePassed(t *testing.T) {
	t.Parallel()
	got := deadline.DefaultCalendar().Deadline(noon(t, "2026-03-02"), deadline.Days(1))
	require.False(t, got.Passed(got.Due.Add(-time.Nanosecond)))
	require.True(t, got.Passed(got.Due))
	require.True(t, got.Passed(got.Due.Add(time.Hour)))
}

func TestDeadlineJSON(t *testing.T) {
	t.Parallel()
	got := deadline.DefaultCalendar().Deadline(noon(t, "2026-01-31"), deadline.Months(1))
	b, err := json.Marshal(got)
	require.NoError(t, err)
	require.JSONEq(t, `{
		"last_day": "2026-03-02",
		"due": "2026-03-03T00:00:00+01:00",
		"nominal_last_day": "2026-02-28",
		"extended": true
	}`, string(b))
	var back deadline.Deadline
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, got.LastDay, back.LastDay)
	require.Equal(t, got.NominalLastDay, back.NominalLastDay)
	require.True(t, got.Due.Equal(back.Due))
}

// TestCalendarIn: the same holidays in another time zone, where the day of
// an event and the end of the last day are that zone's.
func TestCalendarIn(t *testing.T) {
	ams := deadline.DefaultCalendar()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	c := ams.In(ny)
	if c.Location() != ny || ams.Location().String() != "Europe/Amsterdam" {
		t.Fatalf("In changed the wrong calendar: %v, %v", c.Location(), ams.Location())
	}
	if ams.In(ams.Location()) != ams {
		t.Fatal("In with the same zone should return the calendar itself")
	}
	// Good Friday 2026 (3 April) is a holiday in both.
	if c.IsWorkingDay(deadline.Date{Year: 2026, Month: time.April, Day: 3}) {
		t.Fatal("Good Friday lost its holiday")
	}
	// 23:30 UTC on 2 March is 2 March in New York and 3 March in
	// Amsterdam: 30 days end on 1 April (New York) and 2 April.
	event := time.Date(2026, time.March, 2, 23, 30, 0, 0, time.UTC)
	if got, want := c.Deadline(event, deadline.Days(30)).Due, time.Date(2026, time.April, 2, 0, 0, 0, 0, ny); !got.Equal(want) {
		t.Fatalf("New York: due %v, want %v", got, want)
	}
	if got, want := ams.Deadline(event, deadline.Days(30)).Due, time.Date(2026, time.April, 3, 0, 0, 0, 0, ams.Location()); !got.Equal(want) {
		t.Fatalf("Amsterdam: due %v, want %v", got, want)
	}
}

package deadline_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/deadline"
)

func TestEaster(t *testing.T) {
	t.Parallel()
	for year, want := range map[int]string{
		1818: "1818-03-22", // earliest possible date
		1943: "1943-04-25", // latest possible date
		1961: "1961-04-02",
		2000: "2000-04-23",
		2008: "2008-03-23",
		2019: "2019-04-21",
		2024: "2024-03-31",
		2025: "2025-04-20",
		2026: "2026-04-05",
		2027: "2027-03-28",
		2038: "2038-04-25",
		2285: "2285-03-22",
	} {
		require.Equal(t, want, deadline.Easter(year).String(), year)
		require.Equal(t, time.Sunday, deadline.Easter(year).Weekday(), year)
	}
}

func TestDutchHolidays(t *testing.T) {
	t.Parallel()
	dates := func(hs []deadline.Holiday) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h.Date.String()+" "+h.Name)
		}
		return out
	}
	require.Equal(t, []string{
		"2025-01-01 New Year's Day",
		"2025-04-18 Good Friday",
		"2025-04-21 Easter Monday",
		"2025-04-26 King's Day", // 27 April 2025 is a Sunday
		"2025-05-05 Liberation Day",
		"2025-05-29 Ascension Day",
		"2025-06-09 Whit Monday",
		"2025-12-25 Christmas Day",
		"2025-12-26 Boxing Day",
	}, dates(deadline.DutchHolidays(2025)))

	require.Equal(t, []string{
		"2027-01-01 New Year's Day",
		"2027-03-26 Good Friday",
		"2027-03-29 Easter Monday",
		"2027-04-27 King's Day",
		"2027-05-05 Liberation Day", // not a lustrum year, still a holiday
		"2027-05-06 Ascension Day",
		"2027-05-07 Day designated as a public holiday by decree",
		"2027-05-17 Whit Monday",
		"2027-12-25 Christmas Day",
		"2027-12-26 Boxing Day",
	}, dates(deadline.DefaultCalendar().Holidays(2027)))

	// Ascension before 5 May, Easter in March.
	require.Contains(t, dates(deadline.DutchHolidays(2008)), "2008-05-01 Ascension Day")
	require.Contains(t, dates(deadline.DutchHolidays(2008)), "2008-05-12 Whit Monday")

	// The first King's Day, 2014, was on Saturday 26 April; Queen's Day before.
	require.Contains(t, dates(deadline.DutchHolidays(2014)), "2014-04-26 King's Day")
	require.Contains(t, dates(deadline.DutchHolidays(2013)), "2013-04-30 Queen's Day")
	require.Contains(t, dates(deadline.DutchHolidays(2006)), "2006-04-29 Queen's Day")
	require.Contains(t, deadline.DutchHolidays(2026), deadline.Holiday{
		Date: deadline.Date{Year: 2026, Month: time.April, Day: 27}, Name: "King's Day", LocalName: "Koningsdag",
	})
}

func TestDutchDecreeDays(t *testing.T) {
	t.Parallel()
	cal := deadline.DefaultCalendar()
	for _, d := range deadline.DutchDecreeDays() {
		require.Equal(t, time.Friday, d.Weekday(), d)
		require.False(t, cal.IsWorkingDay(d), d)
		require.False(t, cal.IsWorkingDay(d.AddDays(-1)), "%s follows a holiday", d)
	}
	// The result is a copy.
	days := deadline.DutchDecreeDays()
	days[0] = deadline.Date{Year: 2000, Month: time.January, Day: 3}
	require.NotEqual(t, days[0], deadline.DutchDecreeDays()[0])
}

func TestIsWorkingDay(t *testing.T) {
	t.Parallel()
	cal := deadline.DefaultCalendar()
	for s, want := range map[string]bool{
		"2026-03-02": true,  // Monday
		"2026-03-07": false, // Saturday
		"2026-03-08": false, // Sunday
		"2026-01-01": false, // New Year's Day
		"2026-01-02": false, // decree day
		"2027-03-26": false, // Good Friday
		"2027-03-29": false, // Easter Monday
		"2027-03-30": true,
		"2026-04-27": false, // King's Day
		"2025-04-25": true,  // Friday before King's Day on Saturday
		"2025-05-05": false, // Liberation Day, a lustrum year
		"2026-05-05": false, // Liberation Day, not a lustrum year
		"2026-05-14": false, // Ascension Day
		"2026-05-25": false, // Whit Monday
		"2025-12-24": true,  // Christmas Eve
		"2025-12-25": false,
		"2025-12-26": false,
		"2025-12-31": true,
	} {
		require.Equal(t, want, cal.IsWorkingDay(date(t, s)), s)
	}
	// Out-of-range dates are normalized: 32 December 2025 is 1 January 2026.
	require.False(t, cal.IsWorkingDay(deadline.Date{Year: 2025, Month: time.December, Day: 32}))
}

func TestHolidayJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(deadline.DutchHolidays(2026)[0])
	require.NoError(t, err)
	require.JSONEq(t, `{"date":"2026-01-01","name":"New Year's Day","local_name":"Nieuwjaarsdag"}`, string(b))
}

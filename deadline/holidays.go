package deadline

import (
	"slices"
	"time"
)

// Holiday is a public holiday: a day that is not a working day even when it
// falls on a weekday.
type Holiday struct {
	Date Date `json:"date"`
	// Name is the English name, such as "King's Day".
	Name string `json:"name"`
	// LocalName is the Dutch name, such as "Koningsdag".
	LocalName string `json:"local_name"`
}

// Names of the days designated by decree under art. 3(3) Atw.
const (
	decreeName      = "Day designated as a public holiday by decree"
	decreeLocalName = "Met een algemeen erkende feestdag gelijkgestelde dag"
)

// Easter returns Easter Sunday of the given year in the Gregorian calendar,
// by the anonymous Gregorian algorithm (Meeus/Jones/Butcher).
func Easter(year int) Date {
	a := year % 19
	b, c := year/100, year%100
	d, e := b/4, b%4
	f := (b + 8) / 25
	g := (b - f + 1) / 3
	h := (19*a + b - d - g + 15) % 30
	i, k := c/4, c%4
	l := (32 + 2*e + 2*i - h - k) % 7
	m := (a + 11*h + 22*l) / 451
	n := h + l - 7*m + 114
	return Date{Year: year, Month: time.Month(n / 31), Day: n%31 + 1}
}

// DutchHolidays returns the holidays of the Algemene termijnenwet (Atw) in
// year, in date order, without the days designated by decree (see
// DutchDecreeDays):
//
//   - art. 3(1): New Year's Day, Easter Monday, Whit Monday, Christmas Day,
//     Boxing Day, Ascension Day, the day on which the King's birthday is
//     celebrated and 5 May;
//   - art. 3(2): Good Friday.
//
// Easter Sunday and Whit Sunday are Sundays and not listed.
func DutchHolidays(year int) []Holiday {
	easter := Easter(year)
	day := func(m time.Month, d int) Date { return Date{Year: year, Month: m, Day: d} }
	hs := []Holiday{
		{day(time.January, 1), "New Year's Day", "Nieuwjaarsdag"},
		{easter.AddDays(-2), "Good Friday", "Goede Vrijdag"},
		{easter.AddDays(1), "Easter Monday", "Tweede paasdag"},
		royalDay(year),
		// Art. 3(1) Atw names "de vijfde mei" without condition: for periods
		// 5 May is a holiday every year, not only every fifth year, as it
		// often is as a day off work.
		{day(time.May, 5), "Liberation Day", "Bevrijdingsdag"},
		{easter.AddDays(39), "Ascension Day", "Hemelvaartsdag"},
		{easter.AddDays(50), "Whit Monday", "Tweede pinksterdag"},
		{day(time.December, 25), "Christmas Day", "Eerste kerstdag"},
		{day(time.December, 26), "Boxing Day", "Tweede kerstdag"},
	}
	sortHolidays(hs)
	return hs
}

// royalDay returns the day on which the monarch's birthday is celebrated:
// from 2014 King's Day on 27 April, or 26 April when 27 April is a Sunday;
// before 2014 Queen's Day on 30 April, or 29 April when 30 April is a Sunday
// (the rule from 1980 to 2013; earlier years are computed with it as well).
func royalDay(year int) Holiday {
	if year >= 2014 {
		d := Date{Year: year, Month: time.April, Day: 27}
		if d.Weekday() == time.Sunday {
			d.Day = 26
		}
		return Holiday{d, "King's Day", "Koningsdag"}
	}
	d := Date{Year: year, Month: time.April, Day: 30}
	if d.Weekday() == time.Sunday {
		d.Day = 29
	}
	return Holiday{d, "Queen's Day", "Koninginnedag"}
}

// DutchDecreeDays returns the days designated by decree under art. 3(3) Atw
// that this package knows of, which NewCalendar uses unless WithDecreeDays
// replaces them. The government designates them a few years ahead, usually
// the Fridays after Ascension Day and after holidays falling on a Thursday;
// this list comes from the decrees for 2023 to 2028 and must be extended
// when the next decree is published.
func DutchDecreeDays() []Date {
	return []Date{
		// Besluit gelijkstelling van 28 april 2023, 19 mei 2023, 10 mei 2024,
		// 27 december 2024 en 30 mei 2025 met een algemeen erkende feestdag.
		{2023, time.April, 28},
		{2023, time.May, 19},
		{2024, time.May, 10},
		{2024, time.December, 27},
		{2025, time.May, 30},
		// Besluit gelijkstelling van 2 januari 2026, 15 mei 2026, 7 mei 2027,
		// 28 april 2028 en 26 mei 2028 met een algemeen erkende feestdag.
		{2026, time.January, 2},
		{2026, time.May, 15},
		{2027, time.May, 7},
		{2028, time.April, 28},
		{2028, time.May, 26},
	}
}

func sortHolidays(hs []Holiday) {
	slices.SortStableFunc(hs, func(a, b Holiday) int { return a.Date.Compare(b.Date) })
}

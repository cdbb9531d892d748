package deadline

import (
	"errors"
	"fmt"
	"time"
)

// Date is a civil date: a day in no particular time zone. Its text form, also
// used for JSON, is "2006-01-02".
//
// A Date with an out-of-range month or day (31 April) is normalized the way
// time.Date normalizes it by every method except String and MarshalText.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date of t in t's own location. Convert t with t.In first
// to get its date in another time zone.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{Year: y, Month: m, Day: d}
}

// errInvalidDate is ParseDate's error. It does not repeat the input, which
// reaches API callers through Huma's decoding and may be anything.
var errInvalidDate = errors.New("deadline: invalid date: want YYYY-MM-DD, a day that exists")

// ParseDate parses a date in the form "2006-01-02". It rejects dates that do
// not exist, such as "2025-02-29".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, errInvalidDate
	}
	return DateOf(t), nil
}

// String returns the date as "2006-01-02".
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// MarshalText implements encoding.TextMarshaler; JSON encodes a Date as the
// string "2006-01-02".
func (d Date) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseDate.
func (d *Date) UnmarshalText(text []byte) error {
	p, err := ParseDate(string(text))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// AddDays returns the date n days after d (before d if n is negative).
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC))
}

// addMonths returns the date n months after d with the same day of the
// month, or the last day of the target month if it is shorter (Art. 3(2)(c)
// of Regulation 1182/71): 31 January plus one month is 28 or 29 February.
func (d Date) addMonths(n int) Date {
	d = d.norm()
	first := time.Date(d.Year, d.Month+time.Month(n), 1, 12, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return Date{Year: first.Year(), Month: first.Month(), Day: min(d.Day, last)}
}

// norm normalizes out-of-range months and days the way time.Date does.
func (d Date) norm() Date { return d.AddDays(0) }

// Weekday returns the day of the week of d.
func (d Date) Weekday() time.Weekday {
	return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Weekday()
}

// Compare returns -1 if d is before e, +1 if d is after e, and 0 if they are
// the same day.
func (d Date) Compare(e Date) int {
	d, e = d.norm(), e.norm()
	switch {
	case d.Year != e.Year:
		return cmpInt(d.Year, e.Year)
	case d.Month != e.Month:
		return cmpInt(int(d.Month), int(e.Month))
	default:
		return cmpInt(d.Day, e.Day)
	}
}

// Before reports whether d is an earlier day than e.
func (d Date) Before(e Date) bool { return d.Compare(e) < 0 }

// After reports whether d is a later day than e.
func (d Date) After(e Date) bool { return d.Compare(e) > 0 }

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// In returns the first instant of d in loc. That is local midnight, except
// on the rare days on which a time zone skips midnight (America/Sao_Paulo
// started summer time at 00:00 until 2018): then it is the first instant that
// exists on that day, such as 01:00. If loc skips d entirely, In returns the
// first instant of the next day that exists. In panics if loc is nil.
func (d Date) In(loc *time.Location) time.Time {
	d = d.norm()
	t := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
	if DateOf(t) == d && DateOf(t.Add(-time.Nanosecond)).Before(d) {
		return t // the usual case
	}
	// Search for the first second whose local date is d or later. Offset
	// changes are whole seconds and less than a day (Samoa skipped 30
	// December 2011 with a change of 24 hours), so the boundary lies within
	// 36 hours of t.
	onOrAfter := func(sec int64) bool { return !DateOf(time.Unix(sec, 0).In(loc)).Before(d) }
	lo, hi := t.Unix()-36*3600, t.Unix()+36*3600
	if onOrAfter(lo) || !onOrAfter(hi) {
		return t // not a time zone this search understands; keep time.Date's answer
	}
	for hi-lo > 1 { // invariant: !onOrAfter(lo) && onOrAfter(hi)
		mid := lo + (hi-lo)/2
		if onOrAfter(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return time.Unix(hi, 0).In(loc)
}

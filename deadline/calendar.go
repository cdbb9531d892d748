package deadline

import (
	"fmt"
	"sync"
	"time"
	_ "time/tzdata" // Europe/Amsterdam must load on hosts without zoneinfo
)

// Calendar knows the time zone and the public holidays that deadlines are
// computed in. A Calendar is immutable and safe for concurrent use.
type Calendar struct {
	loc      *time.Location
	holidays func(year int) []Holiday
	decree   []Date
}

// Option configures a Calendar made by NewCalendar.
type Option func(*Calendar)

// WithLocation sets the time zone in which the day of an event and the end of
// a day are determined. The default is Europe/Amsterdam. It panics if loc is
// nil.
func WithLocation(loc *time.Location) Option {
	if loc == nil {
		panic("deadline: WithLocation(nil)")
	}
	return func(c *Calendar) { c.loc = loc }
}

// WithHolidays replaces the rule-based public holidays, DutchHolidays by
// default, with fn, which returns the holidays of a year. fn must be safe for
// concurrent use; nil means no rule-based holidays. Days designated by decree
// are configured separately with WithDecreeDays.
func WithHolidays(fn func(year int) []Holiday) Option {
	if fn == nil {
		fn = func(int) []Holiday { return nil }
	}
	return func(c *Calendar) { c.holidays = fn }
}

// WithDecreeDays replaces the days designated as public holidays by decree,
// DutchDecreeDays by default, with days. WithDecreeDays() with no arguments
// removes them all; to add a day, pass append(DutchDecreeDays(), day).
func WithDecreeDays(days ...Date) Option {
	norm := make([]Date, len(days))
	for i, d := range days {
		norm[i] = d.norm()
	}
	return func(c *Calendar) { c.decree = norm }
}

// NewCalendar returns a Calendar in Europe/Amsterdam with the holidays of the
// Algemene termijnenwet (DutchHolidays and DutchDecreeDays), changed by opts.
func NewCalendar(opts ...Option) *Calendar {
	c := &Calendar{loc: amsterdam(), holidays: DutchHolidays, decree: DutchDecreeDays()}
	for _, o := range opts {
		o(c)
	}
	return c
}

var defaultCalendar = sync.OnceValue(func() *Calendar { return NewCalendar() })

// DefaultCalendar returns the shared Calendar made by NewCalendar():
// Europe/Amsterdam and the Dutch holidays.
func DefaultCalendar() *Calendar { return defaultCalendar() }

var amsterdam = sync.OnceValue(func() *time.Location {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		panic(fmt.Sprintf("deadline: %v", err)) // cannot happen: time/tzdata is embedded
	}
	return loc
})

// Location returns the calendar's time zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// In returns a calendar with c's public holidays in time zone loc: the same
// working days, but the day of an event and the end of a day are determined
// in loc. It returns c itself when loc is c's time zone, and panics if loc is
// nil.
func (c *Calendar) In(loc *time.Location) *Calendar {
	if loc == nil {
		panic("deadline: Calendar.In(nil)")
	}
	if loc == c.loc || loc.String() == c.loc.String() {
		return c
	}
	cp := *c
	cp.loc = loc
	return &cp
}

// Holidays returns the public holidays of year in date order: the rule-based
// holidays and the days designated by decree. A decree day that coincides
// with a rule-based holiday is listed once. Holidays on a Saturday or Sunday
// are listed too.
func (c *Calendar) Holidays(year int) []Holiday {
	var hs []Holiday
	seen := map[Date]bool{}
	add := func(h Holiday) {
		h.Date = h.Date.norm()
		if h.Date.Year == year && !seen[h.Date] {
			seen[h.Date] = true
			hs = append(hs, h)
		}
	}
	for _, h := range c.holidays(year) {
		add(h)
	}
	for _, d := range c.decree {
		add(Holiday{Date: d, Name: decreeName, LocalName: decreeLocalName})
	}
	sortHolidays(hs)
	return hs
}

// IsWorkingDay reports whether d is a working day in the sense of Art. 2(2)
// of Regulation 1182/71: neither a Saturday, a Sunday nor a public holiday.
func (c *Calendar) IsWorkingDay(d Date) bool {
	d = d.norm()
	if wd := d.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return false
	}
	for _, x := range c.decree {
		if x == d {
			return false
		}
	}
	for _, h := range c.holidays(d.Year) {
		if h.Date.norm() == d {
			return false
		}
	}
	return true
}

// nextWorkingDay returns the first working day after d.
func (c *Calendar) nextWorkingDay(d Date) Date {
	for {
		d = d.AddDays(1)
		if c.IsWorkingDay(d) {
			return d
		}
	}
}

// Deadline is the end of a period.
type Deadline struct {
	// LastDay is the local date of the last day of the period, after the
	// Saturday, Sunday and holiday rules.
	LastDay Date `json:"last_day"`
	// Due is the exclusive end of the period: the first instant of the day
	// after LastDay in the calendar's time zone, normally local midnight.
	// The period has expired at Due; anything done strictly before Due is in
	// time.
	Due time.Time `json:"due"`
	// NominalLastDay is the last day before the Saturday, Sunday and holiday
	// rules (Art. 3(4) and 3(5) of Regulation 1182/71) were applied.
	NominalLastDay Date `json:"nominal_last_day"`
	// Extended reports whether those rules moved the last day, that is,
	// whether LastDay is after NominalLastDay.
	Extended bool `json:"extended"`
}

// Passed reports whether the period has expired at instant t, that is,
// whether t is at or after Due.
func (d Deadline) Passed(t time.Time) bool { return !t.Before(d.Due) }

// Deadline returns the end of period p running from an event at the instant
// event, by Article 3 of Regulation 1182/71 (see the package documentation):
// the day of the event, in the calendar's time zone, does not count; months
// and years end on the same date or the last day of a shorter month; a last
// day that is not a working day moves to the next working day; and a period
// of two days or more is extended until it contains two working days.
//
// Deadline panics if p has a negative component; ParsePeriod never returns
// one.
func (c *Calendar) Deadline(event time.Time, p Period) Deadline {
	if err := p.check(); err != nil {
		panic(err.Error())
	}
	start := DateOf(event.In(c.loc))
	nominal := start.addMonths(12*p.Years + p.Months).AddDays(p.Days)
	last := nominal
	if !c.IsWorkingDay(last) {
		last = c.nextWorkingDay(last) // Art. 3(4)
	}
	if start.AddDays(2).Compare(nominal) <= 0 { // Art. 3(5): two days or more
		working := 0
		for d := start.AddDays(1); working < 2 && !d.After(last); d = d.AddDays(1) {
			if c.IsWorkingDay(d) {
				working++
			}
		}
		for ; working < 2; working++ {
			last = c.nextWorkingDay(last)
		}
	}
	return Deadline{
		LastDay:        last,
		Due:            last.AddDays(1).In(c.loc),
		NominalLastDay: nominal,
		Extended:       last != nominal,
	}
}

package deadline

import (
	"fmt"
	"strconv"
	"strings"
)

// Period is a legal period expressed in days, months and years. The zero
// Period ends on the day of the event itself.
//
// A Period with more than one component adds the years and months first
// (as 12*Years+Months months, with the end-of-month rule) and then the days.
// No component may be negative.
type Period struct {
	Days   int
	Months int
	Years  int
}

// maxComponent bounds each number ParsePeriod accepts, far above any legal
// period, so that date arithmetic cannot overflow.
const maxComponent = 100_000

// Days returns a period of n days.
func Days(n int) Period { return Period{Days: n} }

// Months returns a period of n months.
func Months(n int) Period { return Period{Months: n} }

// Years returns a period of n years.
func Years(n int) Period { return Period{Years: n} }

// String returns the period in the form ParsePeriod reads: "30d", "1m",
// "7y", "1y6m", and "0d" for the zero Period.
func (p Period) String() string {
	var b strings.Builder
	for _, c := range []struct {
		n    int
		unit byte
	}{{p.Years, 'y'}, {p.Months, 'm'}, {p.Days, 'd'}} {
		if c.n != 0 {
			b.WriteString(strconv.Itoa(c.n))
			b.WriteByte(c.unit)
		}
	}
	if b.Len() == 0 {
		return "0d"
	}
	return b.String()
}

// ParsePeriod parses a period written as numbers with the units y (years), m
// (months) and d (days), in that order and each at most once: "30d", "1m",
// "7y", "1y6m". Numbers are unsigned decimal integers of at most 100000;
// units are lower case; no spaces are allowed.
func ParsePeriod(s string) (Period, error) {
	bad := func(why string) (Period, error) {
		return Period{}, fmt.Errorf("deadline: invalid period %q: %s", s, why)
	}
	if s == "" {
		return bad("empty")
	}
	var p Period
	rest := s
	next := 0 // index into "ymd" of the next unit allowed
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return bad("want a number followed by y, m or d")
		}
		if i == len(rest) {
			return bad("number without a unit (y, m or d)")
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n > maxComponent {
			return bad("number too large")
		}
		u := strings.IndexByte("ymd", rest[i])
		switch {
		case u < 0:
			return bad(fmt.Sprintf("unknown unit %q (want y, m or d)", rest[i]))
		case u < next:
			return bad("units must appear once each, in the order y, m, d")
		}
		switch u {
		case 0:
			p.Years = n
		case 1:
			p.Months = n
		case 2:
			p.Days = n
		}
		next = u + 1
		rest = rest[i+1:]
	}
	return p, nil
}

// MarshalText implements encoding.TextMarshaler with String, so a Period is
// written as "30d" in JSON and YAML. It fails for a negative component.
func (p Period) MarshalText() ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	return []byte(p.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParsePeriod.
func (p *Period) UnmarshalText(text []byte) error {
	q, err := ParsePeriod(string(text))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// check reports a negative component.
func (p Period) check() error {
	if p.Days < 0 || p.Months < 0 || p.Years < 0 {
		return fmt.Errorf("deadline: negative period %s", p)
	}
	return nil
}

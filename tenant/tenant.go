package tenant

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/deadline"
	"golang.org/x/text/language"
)

// Status is where a tenant is in its contract lifecycle. It is computed at
// every read from the recorded termination and the clock, so the end of a
// contract takes effect at its instant without any job or write.
type Status string

// Statuses.
const (
	// StatusActive: the contract runs and no termination is recorded.
	StatusActive Status = "active"
	// StatusTerminating: notice of termination is recorded, but the
	// contract runs through its last day (ContractEnd, in the tenant's
	// time zone). Processing is allowed as before (seed 000 art. 8.3).
	StatusTerminating Status = "terminating"
	// StatusEnded: the contract's last day is over. No processing is
	// allowed; all data is deleted by PurgeDue.
	StatusEnded Status = "ended"
)

// Statuses lists every status, in lifecycle order.
var Statuses = []Status{StatusActive, StatusTerminating, StatusEnded}

// Reason says why a contract ended. It is a fixed list so that no free text
// (and no personal data) is stored with a termination.
type Reason string

// Termination reasons.
const (
	ReasonCustomerNotice  Reason = "customer_notice"
	ReasonProcessorNotice Reason = "processor_notice"
	ReasonMutual          Reason = "mutual_agreement"
	ReasonBreachOfTerms   Reason = "breach_of_terms"
	ReasonOther           Reason = "other"
)

// Reasons lists every valid termination reason.
var Reasons = []Reason{ReasonCustomerNotice, ReasonProcessorNotice, ReasonMutual, ReasonBreachOfTerms, ReasonOther}

// PurgePeriod is how long after the contract ends all of a tenant's data is
// deleted (company terms 000 art. 8.3: within 30 days), unless a statutory
// retention period applies to a record.
var PurgePeriod = deadline.Days(30)

// DefaultTimezone is the time zone deadlines are computed in unless the
// controller chose another.
const DefaultTimezone = "Europe/Amsterdam"

// Tenant is one customer of the company.
type Tenant struct {
	ID           string
	Name         string
	Country      string // ISO 3166-1 alpha-2
	ContactEmail string // the controller's privacy contact
	Timezone     string // IANA time zone for the controller's deadlines
	// Status is the contract's status at the time the tenant was read.
	Status Status
	// ContractEnd is the last day of the contract; set once terminated.
	ContractEnd *deadline.Date
	// ContractEndsAt is the instant the contract ends: the first instant
	// after ContractEnd in the tenant's time zone; set once terminated.
	ContractEndsAt *time.Time
	// Reason is why the contract ended; set once terminated.
	Reason       Reason
	TerminatedAt *time.Time
	// ErasedAt is when the customer's data was crypto-shredded (its tenant
	// key destroyed); nil until then.
	ErasedAt  *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// StatusAt returns the contract's status at instant now: terminating
// before ContractEndsAt, ended from it on.
func (t *Tenant) StatusAt(now time.Time) Status {
	switch {
	case t.ContractEndsAt == nil:
		return StatusActive
	case now.Before(*t.ContractEndsAt):
		return StatusTerminating
	default:
		return StatusEnded
	}
}

// EndOf returns the instant a contract whose last day is end ends in time
// zone tz: the first instant of the next day there (local midnight, or the
// first instant that exists on that day). An unknown zone counts as UTC.
func EndOf(end deadline.Date, tz string) time.Time {
	return end.AddDays(1).In(Location(tz))
}

// Location returns the time zone named tz (an IANA name, as a tenant's
// Timezone), or UTC when the name is unknown: where a customer's contract
// days begin and end, and how its times are shown.
func Location(tz string) *time.Location {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return time.UTC
	}
	return loc
}

// PurgeDue returns the deadline by which all of the tenant's data must be
// deleted, or nil while the contract runs. It is counted in the customer's
// calendar (Calendar) with base's holidays.
func (t *Tenant) PurgeDue(base *deadline.Calendar) *deadline.Deadline {
	if t.ContractEnd == nil {
		return nil
	}
	cal := t.Calendar(base)
	d := cal.Deadline(t.ContractEnd.In(cal.Location()), PurgePeriod)
	return &d
}

// New is the input for creating a tenant.
type New struct {
	Name         string
	Country      string
	ContactEmail string
	Timezone     string // empty means DefaultTimezone
}

// Termination is the input for ending a tenant's contract.
type Termination struct {
	ContractEnd deadline.Date
	Reason      Reason
}

// normalize trims the input and checks every field, reporting all
// offending fields at once. Messages never repeat the submitted value.
func (n *New) normalize() error {
	var fields []verwerker.FieldError
	n.Name = strings.TrimSpace(n.Name)
	n.Country = strings.TrimSpace(n.Country)
	n.ContactEmail = strings.TrimSpace(n.ContactEmail)
	n.Timezone = strings.TrimSpace(n.Timezone)
	if msg := checkName(n.Name); msg != "" {
		fields = append(fields, verwerker.FieldError{Field: "name", Message: msg})
	}
	if msg := checkCountry(n.Country); msg != "" {
		fields = append(fields, verwerker.FieldError{Field: "country", Message: msg})
	}
	if msg := verwerker.CheckEmail(n.ContactEmail); msg != "" {
		fields = append(fields, verwerker.FieldError{Field: "contact_email", Message: msg})
	}
	if n.Timezone == "" {
		n.Timezone = DefaultTimezone
	} else if _, err := time.LoadLocation(n.Timezone); err != nil || n.Timezone == "Local" {
		fields = append(fields, verwerker.FieldError{Field: "timezone", Message: "must be an IANA time zone name such as Europe/Amsterdam"})
	}
	if len(fields) > 0 {
		return verwerker.Invalid("the tenant is not valid", fields...)
	}
	return nil
}

func checkName(s string) string {
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		return "is required"
	case n < 2 || n > 200:
		return "must be 2 to 200 characters"
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "must not contain control characters"
		}
	}
	return ""
}

func checkCountry(s string) string {
	if s == "" {
		return "is required"
	}
	if len(s) != 2 || strings.ToUpper(s) != s {
		return "must be an ISO 3166-1 alpha-2 code in capitals, such as NL"
	}
	r, err := language.ParseRegion(s)
	if err != nil || !r.IsCountry() || r.String() != s || reservedRegions[s] {
		return "is not an ISO 3166-1 country code"
	}
	return ""
}

// reservedRegions are codes that x/text accepts as countries but ISO 3166-1
// only reserves (exceptionally or transitionally) or that name no country.
var reservedRegions = map[string]bool{
	"AC": true, "CP": true, "DG": true, "EA": true, "EU": true, "EZ": true, "FX": true,
	"IC": true, "SU": true, "TA": true, "UK": true, "UN": true,
}

func (t *Termination) check(created time.Time, today deadline.Date) error {
	var fields []verwerker.FieldError
	valid := false
	for _, r := range Reasons {
		valid = valid || t.Reason == r
	}
	if !valid {
		fields = append(fields, verwerker.FieldError{Field: "reason", Message: "must be one of customer_notice, processor_notice, mutual_agreement, breach_of_terms, other"})
	}
	switch {
	case t.ContractEnd == (deadline.Date{}):
		fields = append(fields, verwerker.FieldError{Field: "contract_end", Message: "is required"})
	case t.ContractEnd.Before(deadline.DateOf(created)):
		fields = append(fields, verwerker.FieldError{Field: "contract_end", Message: "must not be before the tenant was created"})
	case t.ContractEnd.After(today.AddDays(5 * 366)):
		fields = append(fields, verwerker.FieldError{Field: "contract_end", Message: "must be within five years from today"})
	}
	if len(fields) > 0 {
		return verwerker.Invalid("the termination is not valid", fields...)
	}
	return nil
}

package dpa

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/verwerker/verwerker"
)

// Scope is what a DPA version allows: the controller's documented
// instruction (GDPR Art. 28(3)(a)). It is stored as JSON with the version.
type Scope struct {
	// Categories are the data categories processed, each with its
	// retention rule.
	Categories []CategoryScope `json:"categories"`
	// Purposes are the purposes the categories may be processed for.
	Purposes []string `json:"purposes"`
	// Regions are where data may be processed; empty means DefaultRegion.
	Regions []string `json:"regions"`
	// Transfers give the basis of every region outside the EEA.
	Transfers []Transfer `json:"transfers"`
	// Subprocessors are the ids of the authorised subprocessors.
	Subprocessors []string `json:"subprocessors"`
	// ObjectionWindowDays is how long the controller has to object to a
	// change of subprocessors; 0 means DefaultObjectionWindowDays.
	ObjectionWindowDays int `json:"objection_window_days"`
	// BreachContact is whom the processor notifies of a breach.
	BreachContact Contact `json:"breach_contact"`
	// DPOContact is the controller's data protection officer.
	DPOContact Contact `json:"dpo_contact"`
}

// CategoryScope is one data category in a scope.
type CategoryScope struct {
	// ID names the category (see Categories).
	ID string `json:"id"`
	// Retention is the retention rule (see RetentionRules).
	Retention string `json:"retention"`
	// Special must be set for special categories (GDPR Art. 9), and only
	// for them, so that none is in scope by accident.
	Special bool `json:"special"`
}

// Transfer is the basis of processing in a region outside the EEA.
type Transfer struct {
	// Region is the region (see Regions).
	Region string `json:"region"`
	// Basis is BasisAdequacy or BasisSCCs.
	Basis string `json:"basis"`
}

// Contact is a person or function to reach. Name may be a function ("privacy
// team"); Email is required.
type Contact struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone"`
}

// Objection windows in days.
const (
	DefaultObjectionWindowDays = 30
	MinObjectionWindowDays     = 14
	MaxObjectionWindowDays     = 180
)

var (
	subprocessorID = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	phone          = regexp.MustCompile(`^\+[0-9 ]{6,20}$`)
)

// Normalize fills in the defaults (region eea, a 30-day objection window),
// trims the contacts and checks every rule, reporting each offending field
// (as "categories[2].id") at once. Messages never repeat submitted values.
func (s *Scope) Normalize() error {
	var fields []verwerker.FieldError
	bad := func(field, format string, args ...any) {
		fields = append(fields, verwerker.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}

	if len(s.Categories) == 0 {
		bad("categories", "must name at least one data category")
	}
	seenCat := map[string]bool{}
	for i, c := range s.Categories {
		f := fmt.Sprintf("categories[%d]", i)
		info, ok := category(c.ID)
		switch {
		case !ok:
			bad(f+".id", "is not a data category of the taxonomy")
		case seenCat[c.ID]:
			bad(f+".id", "is listed twice")
		case info.Special && !c.Special:
			bad(f+".special", "must be true: this is a special category of personal data (GDPR Art. 9)")
		case !info.Special && c.Special:
			bad(f+".special", "must be false: this is not a special category")
		}
		seenCat[c.ID] = true
		if c.Retention == "" {
			bad(f+".retention", "is required")
		} else if _, ok := term(RetentionRules, c.Retention); !ok {
			bad(f+".retention", "is not a retention rule of the taxonomy")
		}
	}

	if len(s.Purposes) == 0 {
		bad("purposes", "must name at least one purpose")
	}
	seenPurpose := map[string]bool{}
	for i, p := range s.Purposes {
		f := fmt.Sprintf("purposes[%d]", i)
		if _, ok := purpose(p); !ok {
			bad(f, "is not a purpose of the taxonomy")
		} else if seenPurpose[p] {
			bad(f, "is listed twice")
		}
		seenPurpose[p] = true
	}

	if len(s.Regions) == 0 {
		s.Regions = []string{DefaultRegion}
	}
	bases := map[string]string{}
	for i, t := range s.Transfers {
		f := fmt.Sprintf("transfers[%d]", i)
		r, ok := region(t.Region)
		switch {
		case !ok:
			bad(f+".region", "is not a region of the taxonomy")
		case r.EEA:
			bad(f+".region", "is inside the EEA and needs no transfer basis")
		case bases[t.Region] != "":
			bad(f+".region", "is listed twice")
		case !contains(s.Regions, t.Region):
			bad(f+".region", "must also be listed in regions")
		}
		switch t.Basis {
		case BasisSCCs:
		case BasisAdequacy:
			if ok && !r.EEA && !r.Adequacy {
				bad(f+".basis", "must be sccs: there is no adequacy decision for this region")
			}
		default:
			bad(f+".basis", "must be adequacy or sccs")
		}
		if ok && !r.EEA && bases[t.Region] == "" {
			bases[t.Region] = t.Basis
		}
	}
	seenRegion := map[string]bool{}
	for i, id := range s.Regions {
		f := fmt.Sprintf("regions[%d]", i)
		r, ok := region(id)
		switch {
		case !ok:
			bad(f, "is not a region of the taxonomy")
		case seenRegion[id]:
			bad(f, "is listed twice")
		case !r.EEA && bases[id] == "":
			bad(f, "is outside the EEA and needs a transfer basis (adequacy or sccs) in transfers")
		}
		seenRegion[id] = true
	}

	seenSub := map[string]bool{}
	for i, id := range s.Subprocessors {
		f := fmt.Sprintf("subprocessors[%d]", i)
		if !subprocessorID.MatchString(id) {
			bad(f, "must be a subprocessor id: 1 to 64 lowercase letters, digits, dots, dashes or underscores")
		} else if seenSub[id] {
			bad(f, "is listed twice")
		}
		seenSub[id] = true
	}

	if s.ObjectionWindowDays == 0 {
		s.ObjectionWindowDays = DefaultObjectionWindowDays
	}
	if s.ObjectionWindowDays < MinObjectionWindowDays || s.ObjectionWindowDays > MaxObjectionWindowDays {
		bad("objection_window_days", "must be between %d and %d days", MinObjectionWindowDays, MaxObjectionWindowDays)
	}

	for _, c := range []struct {
		field string
		c     *Contact
	}{{"breach_contact", &s.BreachContact}, {"dpo_contact", &s.DPOContact}} {
		c.c.Name, c.c.Email, c.c.Phone = strings.TrimSpace(c.c.Name), strings.TrimSpace(c.c.Email), strings.TrimSpace(c.c.Phone)
		if msg := checkName(c.c.Name); msg != "" {
			bad(c.field+".name", "%s", msg)
		}
		if msg := verwerker.CheckEmail(c.c.Email); msg != "" {
			bad(c.field+".email", "%s", msg)
		}
		if c.c.Phone != "" && !phone.MatchString(c.c.Phone) {
			bad(c.field+".phone", "must be an international number such as +31 20 123 4567")
		}
	}

	if len(fields) > 0 {
		return verwerker.Invalid("the processing agreement's scope is not valid", fields...)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func checkName(s string) string {
	if utf8.RuneCountInString(s) > 200 {
		return "must be at most 200 characters"
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "must not contain control characters"
		}
	}
	return ""
}

// CheckName checks a name or short description as the documents print it:
// at most 200 characters and no control characters. It returns what is
// wrong, or "".
func CheckName(s string) string { return checkName(s) }

// ValidSubprocessorID reports whether id has the form of a subprocessor id:
// 1 to 64 lowercase letters, digits, dots, dashes or underscores, starting
// with a letter or digit.
func ValidSubprocessorID(id string) bool { return subprocessorID.MatchString(id) }

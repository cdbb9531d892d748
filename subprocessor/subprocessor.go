package subprocessor

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/dpa"
)

// Transfer mechanisms of a subprocessor: TransferNone for processing inside
// the EEA only, or the basis of its transfers outside it.
const (
	TransferNone     = "none"
	TransferAdequacy = dpa.BasisAdequacy
	TransferSCCs     = dpa.BasisSCCs
)

// Entry is an entry of the company's registry of third parties that
// may process customers' data (GDPR Art. 28(2) and (4)).
type Entry struct {
	// ID names it in scopes and decisions ("hetzner-de").
	ID string `json:"id"`
	// Name is its legal name.
	Name string `json:"name"`
	// Service says what it does for the company ("hosting of the chat
	// service").
	Service string `json:"service"`
	// Locations are the regions (see Regions) where it processes data.
	Locations []string `json:"locations"`
	// TransferMechanism is TransferNone when every location is in the EEA,
	// otherwise the basis of the transfer: TransferAdequacy or TransferSCCs.
	TransferMechanism string `json:"transfer_mechanism"`
	// Categories are the data categories (see Categories) it processes.
	Categories []string `json:"categories"`
	// ContractDate is the date of the written agreement in which it took on
	// the same obligations as the company (seed 001 art. 12.10), as
	// YYYY-MM-DD.
	ContractDate string    `json:"contract_date"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Covers reports whether processing category in region goes through s: s
// processes the category and one of its locations is the region, or the
// region is "eea" and s processes inside the EEA, or s processes in "eea"
// and the region is an EEA country.
func (s *Entry) Covers(categoryID, regionID string) bool {
	return coversRoute(s.Categories, s.Locations, categoryID, regionID)
}

func coversRoute(categories, locations []string, categoryID, regionID string) bool {
	if !slices.Contains(categories, categoryID) {
		return false
	}
	want, ok := dpa.RegionByID(regionID)
	if !ok {
		return false
	}
	for _, l := range locations {
		if l == regionID {
			return true
		}
		have, ok := dpa.RegionByID(l)
		if !ok || !have.EEA || !want.EEA {
			continue
		}
		if l == dpa.DefaultRegion || regionID == dpa.DefaultRegion {
			return true
		}
	}
	return false
}

// Normalize trims the entry and checks every rule, naming each offending
// field at once.
func (s *Entry) Normalize() error {
	var fields []verwerker.FieldError
	bad := func(field, format string, args ...any) {
		fields = append(fields, verwerker.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	s.Name, s.Service = strings.TrimSpace(s.Name), strings.TrimSpace(s.Service)
	if !dpa.ValidSubprocessorID(s.ID) {
		bad("id", "must be 1 to 64 lowercase letters, digits, dots, dashes or underscores, starting with a letter or digit")
	}
	for _, f := range []struct{ field, v string }{{"name", s.Name}, {"service", s.Service}} {
		if f.v == "" {
			bad(f.field, "is required")
		} else if msg := dpa.CheckName(f.v); msg != "" {
			bad(f.field, "%s", msg)
		}
	}
	if len(s.Locations) == 0 {
		bad("locations", "must name at least one region")
	}
	outside := false
	seen := map[string]bool{}
	for i, l := range s.Locations {
		r, ok := dpa.RegionByID(l)
		switch {
		case !ok:
			bad(fmt.Sprintf("locations[%d]", i), "is not a region of the taxonomy")
		case seen[l]:
			bad(fmt.Sprintf("locations[%d]", i), "is listed twice")
		case !r.EEA:
			outside = true
			if s.TransferMechanism == TransferAdequacy && !r.Adequacy {
				bad("transfer_mechanism", "must be sccs: there is no adequacy decision for a location")
			}
		}
		seen[l] = true
	}
	switch s.TransferMechanism {
	case TransferNone:
		if outside {
			bad("transfer_mechanism", "must be adequacy or sccs: a location is outside the EEA")
		}
	case TransferAdequacy, TransferSCCs:
		if !outside {
			bad("transfer_mechanism", "must be none: every location is inside the EEA")
		}
	default:
		bad("transfer_mechanism", "must be none, adequacy or sccs")
	}
	if len(s.Categories) == 0 {
		bad("categories", "must name at least one data category")
	}
	seen = map[string]bool{}
	for i, c := range s.Categories {
		if _, ok := dpa.CategoryByID(c); !ok {
			bad(fmt.Sprintf("categories[%d]", i), "is not a data category of the taxonomy")
		} else if seen[c] {
			bad(fmt.Sprintf("categories[%d]", i), "is listed twice")
		}
		seen[c] = true
	}
	if d, err := time.Parse(time.DateOnly, s.ContractDate); err != nil || d.Year() < 1990 {
		bad("contract_date", "must be a date as YYYY-MM-DD")
	}
	if len(fields) > 0 {
		return verwerker.Invalid("the subprocessor is not valid", fields...)
	}
	return nil
}

const entryColumns = `id, name, service, locations, transfer_mechanism, categories, contract_date::text, created_at, updated_at`

func scanEntry(row pgx.Row) (Entry, error) {
	var s Entry
	err := row.Scan(&s.ID, &s.Name, &s.Service, &s.Locations, &s.TransferMechanism, &s.Categories, &s.ContractDate, &s.CreatedAt, &s.UpdatedAt)
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	return s, err
}

var errNotFound = verwerker.Errorf(verwerker.ENOTFOUND, "subprocessor not found")

package dpa

import "time"

// Status is where a version is in its lifecycle.
type Status string

// Statuses. A version moves draft → offered → accepted → active →
// superseded or terminated; an offered or accepted version may also be
// terminated (withdrawn) before it becomes active.
const (
	StatusDraft      Status = "draft"
	StatusOffered    Status = "offered"
	StatusAccepted   Status = "accepted"
	StatusActive     Status = "active"
	StatusSuperseded Status = "superseded"
	StatusTerminated Status = "terminated"
)

// Document languages.
const (
	LangNL = "nl"
	LangEN = "en"
)

// Version is one version of a customer's processing agreement.
type Version struct {
	// TenantID is the customer (controller).
	TenantID string
	// Number counts the customer's versions from 1.
	Number int
	// ID is the version's global id ("dpa_01J...").
	ID     string
	Status Status
	// ControllerName is the customer's name when the version was drafted,
	// as it appears in the documents.
	ControllerName string
	Scope          Scope
	CreatedAt      time.Time
	// CreatedBy is the principal id of who drafted it.
	CreatedBy string
	UpdatedAt time.Time
	// OfferedAt and OfferedBy are set once offered; so are the SHA-256
	// hashes (lowercase hex) of the Dutch and English documents.
	OfferedAt *time.Time
	OfferedBy string
	SHA256NL  string
	SHA256EN  string
	// AcceptedAt, AcceptedBy (principal id of the controller's admin),
	// AcceptedSHA256 and AcceptedLang record the acceptance: who accepted
	// which text, when.
	AcceptedAt     *time.Time
	AcceptedBy     string
	AcceptedSHA256 string
	AcceptedLang   string
	ActivatedAt    *time.Time
	SupersededAt   *time.Time
	TerminatedAt   *time.Time
}

// Allows reports whether the version's scope covers processing category for
// purpose in region. A region inside the EEA is covered by "eea" too. It
// says nothing about the version's status; Active returns the version that
// decides.
func (v *Version) Allows(categoryID, purposeID, regionID string) bool {
	if !contains(v.Scope.Purposes, purposeID) {
		return false
	}
	found := false
	for _, c := range v.Scope.Categories {
		found = found || c.ID == categoryID
	}
	if !found {
		return false
	}
	if contains(v.Scope.Regions, regionID) {
		return true
	}
	r, ok := region(regionID)
	return ok && r.EEA && contains(v.Scope.Regions, DefaultRegion)
}

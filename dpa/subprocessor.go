package dpa

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/store"
)

// Transfer mechanisms of a subprocessor: TransferNone for processing inside
// the EEA only, or the basis of its transfers outside it.
const (
	TransferNone     = "none"
	TransferAdequacy = BasisAdequacy
	TransferSCCs     = BasisSCCs
)

// Subprocessor is an entry of the company's registry of third parties that
// may process customers' data (GDPR Art. 28(2) and (4)).
type Subprocessor struct {
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
func (s *Subprocessor) Covers(categoryID, regionID string) bool {
	return coversRoute(s.Categories, s.Locations, categoryID, regionID)
}

func coversRoute(categories, locations []string, categoryID, regionID string) bool {
	if !contains(categories, categoryID) {
		return false
	}
	want, ok := region(regionID)
	if !ok {
		return false
	}
	for _, l := range locations {
		if l == regionID {
			return true
		}
		have, ok := region(l)
		if !ok || !have.EEA || !want.EEA {
			continue
		}
		if l == DefaultRegion || regionID == DefaultRegion {
			return true
		}
	}
	return false
}

// Normalize trims the entry and checks every rule, naming each offending
// field at once.
func (s *Subprocessor) Normalize() error {
	var fields []verwerker.FieldError
	bad := func(field, format string, args ...any) {
		fields = append(fields, verwerker.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	s.Name, s.Service = strings.TrimSpace(s.Name), strings.TrimSpace(s.Service)
	if !subprocessorID.MatchString(s.ID) {
		bad("id", "must be 1 to 64 lowercase letters, digits, dots, dashes or underscores, starting with a letter or digit")
	}
	for _, f := range []struct{ field, v string }{{"name", s.Name}, {"service", s.Service}} {
		if f.v == "" {
			bad(f.field, "is required")
		} else if msg := checkName(f.v); msg != "" {
			bad(f.field, "%s", msg)
		}
	}
	if len(s.Locations) == 0 {
		bad("locations", "must name at least one region")
	}
	outside := false
	seen := map[string]bool{}
	for i, l := range s.Locations {
		r, ok := region(l)
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
		if _, ok := category(c); !ok {
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

// Block is an open objection that blocks a customer's processing through a
// subprocessor: every route (category x location) the subprocessor covers
// is closed for the customer until the DPO resolves the objection. The
// decision engine reads blocks with Blocks.
type Block struct {
	// Subprocessor is the blocked subprocessor's id.
	Subprocessor string `json:"subprocessor"`
	// ChangeID is the change the customer objected to.
	ChangeID string `json:"change_id"`
	// Since is when the customer objected.
	Since time.Time `json:"since"`
	// Categories and Locations are the routes the block covers.
	Categories []string `json:"categories"`
	Locations  []string `json:"locations"`
}

// Covers reports whether the block closes processing category in region.
func (b *Block) Covers(categoryID, regionID string) bool {
	return coversRoute(b.Categories, b.Locations, categoryID, regionID)
}

// Blocks returns the tenant's open blocks, oldest first. tx must be scoped
// to the tenant (store.DB.InTenantTx) or to the platform.
func Blocks(ctx context.Context, tx pgx.Tx, tenantID string) ([]Block, error) {
	rows, err := tx.Query(ctx, `SELECT subprocessor_id, change_id, objected_at, categories, locations
		FROM subprocessor_blocks WHERE tenant_id = $1 ORDER BY objected_at, change_id`, tenantID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Block, error) {
		var b Block
		err := r.Scan(&b.Subprocessor, &b.ChangeID, &b.Since, &b.Categories, &b.Locations)
		b.Since = b.Since.UTC()
		return b, err
	})
}

// Effective returns the ids of the subprocessors that touch the tenant's
// data now, sorted. tx must be scoped to the tenant or the platform.
func Effective(ctx context.Context, tx pgx.Tx, tenantID string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT subprocessor_id FROM tenant_subprocessors WHERE tenant_id = $1 ORDER BY subprocessor_id`, tenantID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

const subprocessorColumns = `id, name, service, locations, transfer_mechanism, categories, contract_date::text, created_at, updated_at`

func scanSubprocessor(row pgx.Row) (Subprocessor, error) {
	var s Subprocessor
	err := row.Scan(&s.ID, &s.Name, &s.Service, &s.Locations, &s.TransferMechanism, &s.Categories, &s.ContractDate, &s.CreatedAt, &s.UpdatedAt)
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	return s, err
}

var errSubprocessorNotFound = verwerker.Errorf(verwerker.ENOTFOUND, "subprocessor not found")

// Registry keeps the subprocessor registry, the change proposals, the
// customers' notices and objections and their effective lists.
type Registry struct {
	db       *store.DB
	clock    verwerker.Clock
	audit    *audit.Log
	outbox   *notify.Outbox
	calendar *deadline.Calendar
}

// NewRegistry returns a Registry on db. Notices of changes go out through
// outbox (nil sends none: every notice is undelivered), which tells the
// registry of each delivery attempt (notify.Outbox.Observe); objection
// windows are counted in each customer's calendar (Regulation 1182/71): its
// time zone, with calendar's public holidays (nil means the Dutch holidays,
// deadline.DefaultCalendar).
func NewRegistry(db *store.DB, clock verwerker.Clock, log *audit.Log, outbox *notify.Outbox, calendar *deadline.Calendar) *Registry {
	if calendar == nil {
		calendar = deadline.DefaultCalendar()
	}
	r := &Registry{db: db, clock: clock, audit: log, outbox: outbox, calendar: calendar}
	if outbox != nil {
		outbox.Observe(EventChangeAnnounced, r.observe)
	}
	return r
}

// platformTx runs fn in the platform scope, mapping unexpected errors to
// EINTERNAL.
func (r *Registry) platformTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	return verwerker.Wrap("subprocessors: "+op, r.db.InTenantTx(ctx, "*", fn))
}

// Subprocessors returns the registry, ordered by id.
func (r *Registry) Subprocessors(ctx context.Context) ([]Subprocessor, error) {
	var out []Subprocessor
	err := r.platformTx(ctx, "list", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+subprocessorColumns+` FROM subprocessors ORDER BY id`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Subprocessor, error) { return scanSubprocessor(row) })
		return err
	})
	return out, err
}

// Subprocessor returns one entry of the registry, or ENOTFOUND.
func (r *Registry) Subprocessor(ctx context.Context, id string) (Subprocessor, error) {
	var s Subprocessor
	err := r.platformTx(ctx, "get", func(tx pgx.Tx) error {
		var err error
		s, err = scanSubprocessor(tx.QueryRow(ctx, `SELECT `+subprocessorColumns+` FROM subprocessors WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return errSubprocessorNotFound
		}
		return err
	})
	return s, err
}

// Add adds a subprocessor to the registry. It touches no customer's
// data until a change adds it to their lists (Propose) or a DPA version
// authorises it. An id in use is an ECONFLICT.
func (r *Registry) Add(ctx context.Context, s Subprocessor) (Subprocessor, error) {
	if err := s.Normalize(); err != nil {
		return Subprocessor{}, err
	}
	now := r.clock.Now().UTC()
	var out Subprocessor
	err := r.platformTx(ctx, "register", func(tx pgx.Tx) error {
		var err error
		out, err = scanSubprocessor(tx.QueryRow(ctx, `INSERT INTO subprocessors
			(id, name, service, locations, transfer_mechanism, categories, contract_date, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING `+subprocessorColumns,
			s.ID, s.Name, s.Service, s.Locations, s.TransferMechanism, s.Categories, s.ContractDate, now))
		if store.IsUniqueViolation(err, "subprocessors_pkey") {
			return &verwerker.Error{Code: verwerker.ECONFLICT, Message: "a subprocessor with this id exists",
				Fields: []verwerker.FieldError{{Field: "id", Message: "is in use"}}}
		}
		if err != nil {
			return err
		}
		return r.record(ctx, tx, audit.PlatformChain, "subprocessor.register", s.ID, "")
	})
	return out, err
}

// Describe updates the descriptive fields of an entry: name, service and
// contract date. Locations, transfer mechanism and categories decide which
// customers it touches, so changing them is a change to announce: register
// a new entry and propose a replacement.
func (r *Registry) Describe(ctx context.Context, id, name, service, contractDate string) (Subprocessor, error) {
	var out Subprocessor
	err := r.platformTx(ctx, "describe", func(tx pgx.Tx) error {
		cur, err := scanSubprocessor(tx.QueryRow(ctx, `SELECT `+subprocessorColumns+` FROM subprocessors WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return errSubprocessorNotFound
		}
		if err != nil {
			return err
		}
		cur.Name, cur.Service, cur.ContractDate = name, service, contractDate
		if err := cur.Normalize(); err != nil {
			return err
		}
		out, err = scanSubprocessor(tx.QueryRow(ctx, `UPDATE subprocessors SET name = $2, service = $3, contract_date = $4, updated_at = $5
			WHERE id = $1 RETURNING `+subprocessorColumns, id, cur.Name, cur.Service, cur.ContractDate, r.clock.Now().UTC()))
		if err != nil {
			return err
		}
		return r.record(ctx, tx, audit.PlatformChain, "subprocessor.describe", id, "")
	})
	return out, err
}

// record appends an audit event inside tx. Events carry ids only.
func (r *Registry) record(ctx context.Context, tx pgx.Tx, chain, action, resource, reason string) error {
	if r.audit == nil {
		return nil
	}
	_, err := r.audit.AppendTx(ctx, tx, audit.Event{Chain: chain, Actor: audit.Actor(ctx), Action: action, Resource: resource, Outcome: audit.Success, Reason: reason})
	return err
}

// checkText checks a free-text field of at most max characters.
func checkText(field, s string, max int, required bool) *verwerker.FieldError {
	switch {
	case required && strings.TrimSpace(s) == "":
		return &verwerker.FieldError{Field: field, Message: "is required"}
	case utf8.RuneCountInString(s) > max:
		return &verwerker.FieldError{Field: field, Message: fmt.Sprintf("must be at most %d characters", max)}
	case !utf8.ValidString(s):
		return &verwerker.FieldError{Field: field, Message: "must be UTF-8 text"}
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
			return &verwerker.FieldError{Field: field, Message: "must not contain control characters"}
		}
	}
	return nil
}

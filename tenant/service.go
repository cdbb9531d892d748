package tenant

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/store"
)

// Service creates, lists and terminates tenants. It owns the tenants table.
type Service struct {
	db    *store.DB
	clock verwerker.Clock
	audit *audit.Log
}

// NewService returns a Service on db using clock for every "now". Every
// change is recorded in log in the same transaction.
func NewService(db *store.DB, clock verwerker.Clock, log *audit.Log) *Service {
	return &Service{db: db, clock: clock, audit: log}
}

const columns = `id, name, country, contact_email, timezone, status, contract_end, contract_ends_at, termination_reason, terminated_at, erased_at, created_at, updated_at`

// scan reads a row of columns; the status is computed at now.
func scan(row pgx.Row, now time.Time) (Tenant, error) {
	var t Tenant
	var stored string
	var end *time.Time
	var reason *string
	err := row.Scan(&t.ID, &t.Name, &t.Country, &t.ContactEmail, &t.Timezone, &stored, &end, &t.ContractEndsAt, &reason, &t.TerminatedAt,
		&t.ErasedAt, &t.CreatedAt, &t.UpdatedAt)
	if end != nil {
		d := deadline.DateOf(*end)
		t.ContractEnd = &d
	}
	if reason != nil {
		t.Reason = Reason(*reason)
	}
	t.Status = t.StatusAt(now)
	return t, err
}

// Read returns the tenant in the caller's transaction tx, its status
// computed at now, for the packages whose rules depend on the contract
// (decisions, erasure). With lock the row is locked until tx ends (FOR
// UPDATE): a termination or erasure of the tenant waits. ENOTFOUND when
// there is no such tenant.
func Read(ctx context.Context, tx pgx.Tx, id string, now time.Time, lock bool) (Tenant, error) {
	q := `SELECT ` + columns + ` FROM tenants WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	t, err := scan(tx.QueryRow(ctx, q, id), now)
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, verwerker.Errorf(verwerker.ENOTFOUND, "tenant not found")
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("tenant: read: %w", err)
	}
	return t, nil
}

// IDs returns the ids of every tenant the transaction tx may see, in id
// order.
func IDs(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT id FROM tenants ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("tenant: ids: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("tenant: ids: %w", err)
	}
	return ids, nil
}

// Running returns, in the caller's transaction tx, the tenants whose
// contract runs at now (a terminating tenant is still processed through
// its contract's last day) and whose data was not erased, ordered by id,
// their status computed at now.
func Running(ctx context.Context, tx pgx.Tx, now time.Time) ([]Tenant, error) {
	rows, err := tx.Query(ctx, `SELECT `+columns+` FROM tenants
		WHERE (contract_ends_at IS NULL OR contract_ends_at > $1) AND erased_at IS NULL ORDER BY id`, now)
	if err != nil {
		return nil, fmt.Errorf("tenant: running: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tenant, error) { return scan(r, now) })
	if err != nil {
		return nil, fmt.Errorf("tenant: running: %w", err)
	}
	return out, nil
}

// MarkErased records in tx that the tenant's data was crypto-shredded at
// instant at (the first instant is kept when called again), and raises the
// tenant's decision state, so that decisions for it stop when tx commits.
// The tenant must have a recorded termination (ECONFLICT otherwise).
func MarkErased(ctx context.Context, tx pgx.Tx, id string, at time.Time) error {
	tag, err := tx.Exec(ctx, `UPDATE tenants SET erased_at = coalesce(erased_at, $2), updated_at = CASE WHEN erased_at IS NULL THEN $2 ELSE updated_at END
		WHERE id = $1 AND status = 'terminated'`, id, at.UTC())
	if err != nil {
		return fmt.Errorf("tenant: mark erased: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return verwerker.Errorf(verwerker.ECONFLICT, "only a customer whose contract was terminated can be erased")
	}
	if _, err := store.TouchDecisionState(ctx, tx, id); err != nil {
		return fmt.Errorf("tenant: mark erased: %w", err)
	}
	return nil
}

// Create validates n and stores a new active tenant. A name already taken
// (ignoring case) is an ECONFLICT.
func (s *Service) Create(ctx context.Context, n New) (Tenant, error) {
	if err := n.normalize(); err != nil {
		return Tenant{}, err
	}
	now := s.clock.Now().UTC()
	id := verwerker.NewID(verwerker.PrefixTenant, now)
	var t Tenant
	err := s.db.InTenantTx(ctx, id, func(tx pgx.Tx) error {
		var err error
		t, err = scan(tx.QueryRow(ctx, `
			INSERT INTO tenants (id, name, country, contact_email, timezone, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6)
			RETURNING `+columns, id, n.Name, n.Country, n.ContactEmail, n.Timezone, now), now)
		if err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, id, "tenant.create", id, "")
	})
	if store.IsUniqueViolation(err, "tenants_name_key") {
		return Tenant{}, &verwerker.Error{Code: verwerker.ECONFLICT, Message: "a tenant with this name already exists",
			Fields: []verwerker.FieldError{{Field: "name", Message: "is already taken"}}}
	}
	if err != nil {
		return Tenant{}, verwerker.Internal("tenant: create", err)
	}
	return t, nil
}

// Get returns the tenant with the given id, or ENOTFOUND.
func (s *Service) Get(ctx context.Context, id string) (Tenant, error) {
	if !verwerker.ValidID(verwerker.PrefixTenant, id) {
		return Tenant{}, verwerker.Errorf(verwerker.ENOTFOUND, "tenant not found")
	}
	var t Tenant
	err := s.db.InTenantTx(ctx, id, func(tx pgx.Tx) error {
		var err error
		t, err = Read(ctx, tx, id, s.clock.Now(), false)
		if err != nil && verwerker.ErrorCode(err) != verwerker.ENOTFOUND {
			return verwerker.Internal("tenant: get", err)
		}
		return err
	})
	return t, err
}

// Filter selects a page of tenants.
type Filter struct {
	// Status limits the list to one status (at the time of the request);
	// empty means all.
	Status Status
	// Cursor continues after the last item of a previous page.
	Cursor string
	// Limit is the page size, 1 to MaxLimit; 0 means DefaultLimit.
	Limit int
}

// Page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Page is one page of tenants in id (creation) order. Next is empty on the
// last page.
type Page struct {
	Tenants []Tenant
	Next    string
}

// List returns a page of tenants. Paging is by keyset on the time-ordered id,
// so tenants created while a client pages never cause duplicates or gaps in
// what existed when it started.
func (s *Service) List(ctx context.Context, f Filter) (Page, error) {
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return Page{}, &verwerker.Error{Code: verwerker.EINVALID, Message: "limit out of range",
			Fields: []verwerker.FieldError{{Field: "limit", Message: fmt.Sprintf("must be between 1 and %d", MaxLimit)}}}
	}
	switch f.Status {
	case "", StatusActive, StatusTerminating, StatusEnded:
	default:
		return Page{}, verwerker.Invalid("unknown status", verwerker.FieldError{Field: "status", Message: "must be active, terminating or ended"})
	}
	after, err := decodeCursor(f.Cursor)
	if err != nil {
		return Page{}, err
	}
	now := s.clock.Now()
	rows, err := s.db.Pool.Query(ctx, `SELECT `+columns+` FROM tenants
		WHERE id > $1 AND CASE $3::text
			WHEN '' THEN true
			WHEN 'active' THEN status = 'active'
			WHEN 'terminating' THEN status = 'terminated' AND contract_ends_at > $4
			ELSE status = 'terminated' AND contract_ends_at <= $4 END
		ORDER BY id LIMIT $2`, after, limit+1, string(f.Status), now.UTC())
	if err != nil {
		return Page{}, verwerker.Internal("tenant: list", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tenant, error) { return scan(r, now) })
	if err != nil {
		return Page{}, verwerker.Internal("tenant: list", err)
	}
	p := Page{Tenants: ts}
	if len(ts) > limit {
		p.Tenants = ts[:limit]
		p.Next = encodeCursor(ts[limit-1].ID)
	}
	return p, nil
}

func encodeCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !verwerker.ValidID(verwerker.PrefixTenant, string(b)) {
		return "", verwerker.Invalid("bad cursor", verwerker.FieldError{Field: "cursor", Message: "is not a cursor returned by this list"})
	}
	return string(b), nil
}

// Terminate records the notice of termination of the tenant's contract:
// the contract runs through term.ContractEnd (its last day, in the tenant's
// time zone), so the tenant is StatusTerminating until then and
// StatusEnded from the first instant after it. The tenant must be active;
// terminating twice is an ECONFLICT. The row is read and updated in one
// transaction on one connection (FOR UPDATE), so two concurrent
// terminations cannot both succeed.
func (s *Service) Terminate(ctx context.Context, id string, term Termination) (Tenant, error) {
	var out Tenant
	if !verwerker.ValidID(verwerker.PrefixTenant, id) {
		return out, verwerker.Errorf(verwerker.ENOTFOUND, "tenant not found")
	}
	err := s.db.InTenantTx(ctx, id, func(tx pgx.Tx) error {
		now := s.clock.Now()
		t, err := Read(ctx, tx, id, now, true)
		if err != nil {
			if verwerker.ErrorCode(err) == verwerker.ENOTFOUND {
				return err
			}
			return verwerker.Internal("tenant: terminate", err)
		}
		loc := Location(t.Timezone)
		if err := term.check(t.CreatedAt.In(loc), deadline.DateOf(now.In(loc))); err != nil {
			return err
		}
		ends := EndOf(term.ContractEnd, t.Timezone)
		out, err = scan(tx.QueryRow(ctx, `UPDATE tenants
			SET status = 'terminated', contract_end = $2, contract_ends_at = $3, termination_reason = $4, terminated_at = $5, updated_at = $5
			WHERE id = $1 AND status = 'active'
			RETURNING `+columns, id, term.ContractEnd.String(), ends.UTC(), string(term.Reason), now.UTC()), now)
		if errors.Is(err, pgx.ErrNoRows) {
			return verwerker.Errorf(verwerker.ECONFLICT, "the tenant's contract has already been terminated")
		}
		if err != nil {
			return verwerker.Internal("tenant: terminate", err)
		}
		if _, err := store.TouchDecisionState(ctx, tx, id); err != nil {
			return verwerker.Internal("tenant: terminate", err)
		}
		return s.audit.Record(ctx, tx, id, "tenant.terminate", id, "")
	})
	return out, err
}

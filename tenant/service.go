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

// record appends the audit event of a change to the tenant's chain inside tx.
func (s *Service) record(ctx context.Context, tx pgx.Tx, tenantID, action string) error {
	_, err := s.audit.AppendTx(ctx, tx, audit.Event{Chain: tenantID, Actor: audit.Actor(ctx), Action: action, Resource: tenantID, Outcome: audit.Success})
	return err
}

const columns = `id, name, country, contact_email, timezone, status, contract_end, termination_reason, terminated_at, created_at, updated_at`

func scan(row pgx.Row) (Tenant, error) {
	var t Tenant
	var end *time.Time
	var reason *string
	err := row.Scan(&t.ID, &t.Name, &t.Country, &t.ContactEmail, &t.Timezone, &t.Status, &end, &reason, &t.TerminatedAt, &t.CreatedAt, &t.UpdatedAt)
	if end != nil {
		d := deadline.DateOf(*end)
		t.ContractEnd = &d
	}
	if reason != nil {
		t.Reason = Reason(*reason)
	}
	return t, err
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
			RETURNING `+columns, id, n.Name, n.Country, n.ContactEmail, n.Timezone, now))
		if err != nil {
			return err
		}
		return s.record(ctx, tx, id, "tenant.create")
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
		t, err = scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM tenants WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return verwerker.Errorf(verwerker.ENOTFOUND, "tenant not found")
		}
		if err != nil {
			return verwerker.Internal("tenant: get", err)
		}
		return nil
	})
	return t, err
}

// Filter selects a page of tenants.
type Filter struct {
	// Status limits the list to one status; empty means all.
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
	if f.Status != "" && f.Status != StatusActive && f.Status != StatusTerminated {
		return Page{}, verwerker.Invalid("unknown status", verwerker.FieldError{Field: "status", Message: "must be active or terminated"})
	}
	after, err := decodeCursor(f.Cursor)
	if err != nil {
		return Page{}, err
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT `+columns+` FROM tenants
		WHERE id > $1 AND ($2 = '' OR status = $2)
		ORDER BY id LIMIT $3`, after, string(f.Status), limit+1)
	if err != nil {
		return Page{}, verwerker.Internal("tenant: list", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tenant, error) { return scan(r) })
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

// Terminate ends the tenant's contract on the given day. The tenant must be
// active; terminating twice is an ECONFLICT. The update is conditional on
// the status, so two concurrent terminations cannot both succeed.
func (s *Service) Terminate(ctx context.Context, id string, term Termination) (Tenant, error) {
	var out Tenant
	if !verwerker.ValidID(verwerker.PrefixTenant, id) {
		return out, verwerker.Errorf(verwerker.ENOTFOUND, "tenant not found")
	}
	err := s.db.InTenantTx(ctx, id, func(tx pgx.Tx) error {
		t, err := scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM tenants WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return verwerker.Errorf(verwerker.ENOTFOUND, "tenant not found")
		}
		if err != nil {
			return verwerker.Internal("tenant: terminate", err)
		}
		now := s.clock.Now()
		loc, _ := time.LoadLocation(t.Timezone)
		if loc == nil {
			loc = time.UTC
		}
		if err := term.check(t.CreatedAt.In(loc), deadline.DateOf(now.In(loc))); err != nil {
			return err
		}
		out, err = scan(tx.QueryRow(ctx, `UPDATE tenants
			SET status = 'terminated', contract_end = $2, termination_reason = $3, terminated_at = $4, updated_at = $4
			WHERE id = $1 AND status = 'active'
			RETURNING `+columns, id, term.ContractEnd.String(), string(term.Reason), now.UTC()))
		if errors.Is(err, pgx.ErrNoRows) {
			return verwerker.Errorf(verwerker.ECONFLICT, "the tenant's contract has already been terminated")
		}
		if err != nil {
			return verwerker.Internal("tenant: terminate", err)
		}
		if _, err := store.TouchDecisionState(ctx, tx, id); err != nil {
			return verwerker.Internal("tenant: terminate", err)
		}
		return s.record(ctx, tx, id, "tenant.terminate")
	})
	return out, err
}

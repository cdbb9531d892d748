package subprocessor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/store"
)

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

// List returns the registry, ordered by id.
func (r *Registry) List(ctx context.Context) ([]Entry, error) {
	var out []Entry
	err := r.platformTx(ctx, "list", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+entryColumns+` FROM subprocessors ORDER BY id`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Entry, error) { return scanEntry(row) })
		return err
	})
	return out, err
}

// Get returns one entry of the registry, or ENOTFOUND.
func (r *Registry) Get(ctx context.Context, id string) (Entry, error) {
	var s Entry
	err := r.platformTx(ctx, "get", func(tx pgx.Tx) error {
		var err error
		s, err = scanEntry(tx.QueryRow(ctx, `SELECT `+entryColumns+` FROM subprocessors WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		return err
	})
	return s, err
}

// Add adds a subprocessor to the registry. It touches no customer's
// data until a change adds it to their lists (Propose) or a DPA version
// authorises it. An id in use is an ECONFLICT.
func (r *Registry) Add(ctx context.Context, s Entry) (Entry, error) {
	if err := s.Normalize(); err != nil {
		return Entry{}, err
	}
	now := r.clock.Now().UTC()
	var out Entry
	err := r.platformTx(ctx, "register", func(tx pgx.Tx) error {
		var err error
		out, err = scanEntry(tx.QueryRow(ctx, `INSERT INTO subprocessors
			(id, name, service, locations, transfer_mechanism, categories, contract_date, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING `+entryColumns,
			s.ID, s.Name, s.Service, s.Locations, s.TransferMechanism, s.Categories, s.ContractDate, now))
		if store.IsUniqueViolation(err, "subprocessors_pkey") {
			return &verwerker.Error{Code: verwerker.ECONFLICT, Message: "a subprocessor with this id exists",
				Fields: []verwerker.FieldError{{Field: "id", Message: "is in use"}}}
		}
		if err != nil {
			return err
		}
		return r.audit.Record(ctx, tx, audit.PlatformChain, "subprocessor.register", s.ID, "")
	})
	return out, err
}

// Describe updates the descriptive fields of an entry: name, service and
// contract date. Locations, transfer mechanism and categories decide which
// customers it touches, so changing them is a change to announce: register
// a new entry and propose a replacement.
func (r *Registry) Describe(ctx context.Context, id, name, service, contractDate string) (Entry, error) {
	var out Entry
	err := r.platformTx(ctx, "describe", func(tx pgx.Tx) error {
		cur, err := scanEntry(tx.QueryRow(ctx, `SELECT `+entryColumns+` FROM subprocessors WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		cur.Name, cur.Service, cur.ContractDate = name, service, contractDate
		if err := cur.Normalize(); err != nil {
			return err
		}
		out, err = scanEntry(tx.QueryRow(ctx, `UPDATE subprocessors SET name = $2, service = $3, contract_date = $4, updated_at = $5
			WHERE id = $1 RETURNING `+entryColumns, id, cur.Name, cur.Service, cur.ContractDate, r.clock.Now().UTC()))
		if err != nil {
			return err
		}
		return r.audit.Record(ctx, tx, audit.PlatformChain, "subprocessor.describe", id, "")
	})
	return out, err
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

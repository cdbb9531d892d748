package retention

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/records"
)

// Hold scopes.
const (
	ScopeSubject  = "subject"
	ScopeCategory = "category"
	ScopeTenant   = "tenant"
)

// PrefixHold names a legal hold.
const PrefixHold = "hld"

// Hold is a legal hold: while it is not lifted, the data it covers is never
// deleted.
type Hold struct {
	ID       string
	TenantID string
	// Scope is ScopeSubject, ScopeCategory or ScopeTenant.
	Scope string
	// SubjectID (ScopeSubject) or Category (ScopeCategory) is what it holds.
	SubjectID, Category string
	// Reason is why, Owner who answers for it (a role or team, no personal
	// data); ReviewOn is the day by which it must be reviewed.
	Reason, Owner string
	ReviewOn      deadline.Date
	PlacedBy      string
	PlacedAt      time.Time
	// LiftedAt, LiftedBy and LiftReason are set once lifted.
	LiftedAt   *time.Time
	LiftedBy   string
	LiftReason string
	// ReviewPassed is PastReview at the time the hold was read.
	ReviewPassed bool
}

// Active reports whether the hold still holds.
func (h *Hold) Active() bool { return h.LiftedAt == nil }

// PastReview reports whether the hold is active after its review day
// (counted in UTC, a day late at most an hour or two).
func (h *Hold) PastReview(now time.Time) bool {
	return h.Active() && deadline.DateOf(now.UTC()).After(h.ReviewOn)
}

// Placement is the input of Place.
type Placement struct {
	Scope     string
	SubjectID string
	Category  string
	Reason    string
	Owner     string
	ReviewOn  deadline.Date
}

const holdColumns = `tenant_id, id, scope, coalesce(subject_id, ''), coalesce(category, ''), reason, owner, review_on, placed_by, placed_at,
	lifted_at, coalesce(lifted_by, ''), coalesce(lift_reason, '')`

func scanHold(row pgx.Row) (Hold, error) {
	var h Hold
	var review time.Time
	err := row.Scan(&h.TenantID, &h.ID, &h.Scope, &h.SubjectID, &h.Category, &h.Reason, &h.Owner, &review, &h.PlacedBy, &h.PlacedAt,
		&h.LiftedAt, &h.LiftedBy, &h.LiftReason)
	h.ReviewOn = deadline.DateOf(review)
	return h, err
}

func (p *Placement) check(today deadline.Date) error {
	var fields []verwerker.FieldError
	bad := func(f, m string) { fields = append(fields, verwerker.FieldError{Field: f, Message: m}) }
	switch p.Scope {
	case ScopeSubject:
		if !verwerker.ValidID(verwerker.PrefixSubject, p.SubjectID) {
			bad("subject_id", "must be a subject id (sub_...)")
		}
		if p.Category != "" {
			bad("category", "must be empty for a subject hold")
		}
	case ScopeCategory:
		if msg := checkText(p.Category, 64); msg != "" || strings.ContainsAny(p.Category, " \t") {
			bad("category", "must be a data category name of at most 64 characters")
		}
		if p.SubjectID != "" {
			bad("subject_id", "must be empty for a category hold")
		}
	case ScopeTenant:
		if p.SubjectID != "" {
			bad("subject_id", "must be empty for a customer hold")
		}
		if p.Category != "" {
			bad("category", "must be empty for a customer hold")
		}
	default:
		bad("scope", "must be subject, category or tenant")
	}
	if msg := checkText(p.Reason, 500); msg != "" {
		bad("reason", msg)
	}
	if msg := checkText(p.Owner, 200); msg != "" {
		bad("owner", msg)
	}
	if !p.ReviewOn.After(today) {
		bad("review_on", "must be a day after today")
	} else if p.ReviewOn.After(today.AddDays(3 * 366)) {
		bad("review_on", "must be within three years")
	}
	if len(fields) > 0 {
		return verwerker.Invalid("the hold is not valid", fields...)
	}
	return nil
}

func checkText(s string, max int) string {
	switch {
	case strings.TrimSpace(s) == "":
		return "is required"
	case !utf8.ValidString(s) || utf8.RuneCountInString(s) > max:
		return "must be valid text of at most " + itoa(max) + " characters"
	}
	return ""
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for n >= 10 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	b[i] = byte('0' + n)
	return string(b[i:])
}

// Place puts a legal hold on a subject, a category or the whole customer
// and audits it (retention.hold_place). From its commit no sweep deletes
// what it covers: a batch deleting at that moment finishes first, every
// later one sees the hold. A subject hold must name a subject of the
// customer (ENOTFOUND otherwise).
func (s *Service) Place(ctx context.Context, tenantID string, p Placement) (Hold, error) {
	now := s.clock.Now().UTC()
	p.Reason, p.Owner = strings.TrimSpace(p.Reason), strings.TrimSpace(p.Owner)
	if err := p.check(deadline.DateOf(now)); err != nil {
		return Hold{}, err
	}
	h := Hold{ID: verwerker.NewID(PrefixHold, now), TenantID: tenantID, Scope: p.Scope, SubjectID: p.SubjectID, Category: p.Category,
		Reason: p.Reason, Owner: p.Owner, ReviewOn: p.ReviewOn, PlacedBy: audit.Actor(ctx), PlacedAt: now}
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		if err := lockHolds(ctx, tx, tenantID, true); err != nil {
			return err
		}
		if p.Scope == ScopeSubject {
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM subjects WHERE tenant_id = $1 AND id = $2`, tenantID, p.SubjectID).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				return verwerker.Errorf(verwerker.ENOTFOUND, "no subject of this customer has that id")
			}
			if err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO legal_holds (tenant_id, id, scope, subject_id, category, reason, owner, review_on, placed_by, placed_at)
			VALUES ($1, $2, $3, nullif($4, ''), nullif($5, ''), $6, $7, $8, $9, $10)`,
			tenantID, h.ID, h.Scope, h.SubjectID, h.Category, h.Reason, h.Owner, h.ReviewOn.String(), h.PlacedBy, now)
		if err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, tenantID, "retention.hold_place", h.ID, "scope="+h.Scope+" target="+h.target()+" review_on="+h.ReviewOn.String())
	})
	if err != nil {
		return Hold{}, verwerker.Wrap("retention: place hold", err)
	}
	return h, nil
}

// target names what a hold covers, with ids only.
func (h *Hold) target() string {
	switch h.Scope {
	case ScopeSubject:
		return h.SubjectID
	case ScopeCategory:
		return h.Category
	}
	return h.TenantID
}

// Lift releases a hold with a reason and audits it (retention.hold_lift):
// deletion of what it covered resumes at the next sweep. Lifting a lifted
// hold is an ECONFLICT; an unknown hold ENOTFOUND.
func (s *Service) Lift(ctx context.Context, tenantID, holdID, reason string) (Hold, error) {
	reason = strings.TrimSpace(reason)
	if msg := checkText(reason, 500); msg != "" {
		return Hold{}, verwerker.Invalid("the lift is not valid", verwerker.FieldError{Field: "reason", Message: msg})
	}
	now := s.clock.Now().UTC()
	var h Hold
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		if h, err = lockActive(ctx, tx, tenantID, holdID); err != nil {
			return err
		}
		h.LiftedAt, h.LiftedBy, h.LiftReason = &now, audit.Actor(ctx), reason
		if _, err := tx.Exec(ctx, `UPDATE legal_holds SET lifted_at = $3, lifted_by = $4, lift_reason = $5 WHERE tenant_id = $1 AND id = $2`,
			tenantID, holdID, now, h.LiftedBy, reason); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, tenantID, "retention.hold_lift", h.ID, "scope="+h.Scope+" target="+h.target())
	})
	if err != nil {
		return Hold{}, verwerker.Wrap("retention: lift hold", err)
	}
	return h, nil
}

// lockActive reads an active hold for update: ENOTFOUND when the customer
// has none of that id, ECONFLICT when it was lifted.
func lockActive(ctx context.Context, tx pgx.Tx, tenantID, holdID string) (Hold, error) {
	h, err := scanHold(tx.QueryRow(ctx, `SELECT `+holdColumns+` FROM legal_holds WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, holdID))
	if errors.Is(err, pgx.ErrNoRows) {
		return h, verwerker.Errorf(verwerker.ENOTFOUND, "hold not found")
	}
	if err != nil {
		return h, err
	}
	if !h.Active() {
		return h, verwerker.Errorf(verwerker.ECONFLICT, "the hold was lifted already")
	}
	return h, nil
}

// Review records that an active hold was reviewed and is still needed,
// with the day of its next review (after today, within three years), and
// audits it (retention.hold_review). A lifted hold is an ECONFLICT; an
// unknown hold ENOTFOUND.
func (s *Service) Review(ctx context.Context, tenantID, holdID string, next deadline.Date) (Hold, error) {
	now := s.clock.Now().UTC()
	today := deadline.DateOf(now)
	if !next.After(today) || next.After(today.AddDays(3*366)) {
		return Hold{}, verwerker.Invalid("the review is not valid", verwerker.FieldError{Field: "review_on", Message: "must be a day after today, within three years"})
	}
	var h Hold
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		if h, err = lockActive(ctx, tx, tenantID, holdID); err != nil {
			return err
		}
		h.ReviewOn = next
		if _, err := tx.Exec(ctx, `UPDATE legal_holds SET review_on = $3 WHERE tenant_id = $1 AND id = $2`, tenantID, holdID, next.String()); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, tenantID, "retention.hold_review", h.ID, "review_on="+next.String())
	})
	if err != nil {
		return Hold{}, verwerker.Wrap("retention: review hold", err)
	}
	return h, nil
}

// Holds lists the customer's holds, active ones first, then by placement,
// newest first; lifted ones only when all is set.
func (s *Service) Holds(ctx context.Context, tenantID string, all bool) ([]Hold, error) {
	var out []Hold
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		out, err = holdsIn(ctx, tx, tenantID, all)
		return err
	})
	now := s.clock.Now()
	for i := range out {
		out[i].ReviewPassed = out[i].PastReview(now)
	}
	return out, verwerker.Wrap("retention: holds", err)
}

func holdsIn(ctx context.Context, tx pgx.Tx, tenantID string, all bool) ([]Hold, error) {
	rows, err := tx.Query(ctx, `SELECT `+holdColumns+` FROM legal_holds WHERE ($1 = '*' OR tenant_id = $1) AND ($2 OR lifted_at IS NULL)
		ORDER BY lifted_at IS NOT NULL, placed_at DESC, id DESC LIMIT 10000`, tenantID, all)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hold, error) { return scanHold(r) })
}

// held folds active holds into what records must skip.
func held(hs []Hold) records.Held {
	var h records.Held
	for _, x := range hs {
		if !x.Active() {
			continue
		}
		switch x.Scope {
		case ScopeTenant:
			h.All = true
		case ScopeSubject:
			h.Subjects = append(h.Subjects, x.SubjectID)
		case ScopeCategory:
			h.Categories = append(h.Categories, x.Category)
		}
	}
	return h
}

// HoldsPastReview lists every active hold of every customer whose review
// day has passed: an alarm for the DPO.
func (s *Service) HoldsPastReview(ctx context.Context) ([]Hold, error) {
	now := s.clock.Now()
	var out []Hold
	err := s.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		hs, err := holdsIn(ctx, tx, "*", false)
		for _, h := range hs {
			if h.ReviewPassed = h.PastReview(now); h.ReviewPassed {
				out = append(out, h)
			}
		}
		return err
	})
	return out, verwerker.Wrap("retention: holds past review", err)
}

// HeldCategories returns, for one subject of a tenant, the data categories
// that must not be deleted now and why (a legal hold's reason, or a
// statutory retention ground such as "AWR art. 52(4): 7 years"); the key
// "*" means every category of that subject. Subject ids are the internal
// subject ids (subjects.id), not the chat service's references.
func (s *Service) HeldCategories(ctx context.Context, tenantID, subjectID string) (map[string]string, error) {
	out := map[string]string{}
	now := s.clock.Now()
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		hs, err := holdsIn(ctx, tx, tenantID, false)
		if err != nil {
			return err
		}
		cats, err := records.StatutoryCategories(ctx, tx, tenantID, subjectID, now)
		if err != nil {
			return err
		}
		for _, c := range cats {
			out[c] = records.StatutoryGround
		}
		for _, h := range hs {
			why := "legal hold " + h.ID + ": " + h.Reason
			switch {
			case h.Scope == ScopeTenant, h.Scope == ScopeSubject && h.SubjectID == subjectID:
				out["*"] = why
			case h.Scope == ScopeCategory:
				out[h.Category] = why
			}
		}
		return nil
	})
	return out, verwerker.Wrap("retention: held categories", err)
}

package dpa

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/tenant"
)

// Service keeps the customers' processing agreements. It owns the
// dpa_versions table. Every change is audited in the same transaction.
type Service struct {
	db    *store.DB
	clock verwerker.Clock
	audit *audit.Log
	subs  Subprocessors
	// Processor names the company in the documents and the record of
	// processing.
	Processor Processor
}

// Processor is the company as it appears in the documents.
type Processor struct {
	Name    string
	Contact string // e-mail address of its privacy contact or DPO
}

// DefaultProcessor is the processor named when none is configured.
var DefaultProcessor = Processor{Name: "De verwerker (the processor)", Contact: "privacy@verwerker.example"}

// NewService returns a Service on db using clock for every "now"; changes
// are recorded in log. subs is the subprocessor registry
// (subprocessor.Lists): scopes name its entries, an activation sets the
// customer's effective list, and decisions and the record read it.
func NewService(db *store.DB, clock verwerker.Clock, log *audit.Log, subs Subprocessors) *Service {
	return &Service{db: db, clock: clock, audit: log, subs: subs, Processor: DefaultProcessor}
}

var errNotFound = verwerker.Errorf(verwerker.ENOTFOUND, "processing agreement version not found")

const columns = `tenant_id, version, id, status, controller_name, scope, created_at, created_by, updated_at,
	offered_at, coalesce(offered_by, ''), coalesce(sha256_nl, ''), coalesce(sha256_en, ''),
	accepted_at, coalesce(accepted_by, ''), coalesce(accepted_sha256, ''), coalesce(accepted_lang, ''),
	activated_at, superseded_at, terminated_at`

func scan(row pgx.Row) (Version, error) {
	var v Version
	var scope []byte
	err := row.Scan(&v.TenantID, &v.Number, &v.ID, &v.Status, &v.ControllerName, &scope, &v.CreatedAt, &v.CreatedBy, &v.UpdatedAt,
		&v.OfferedAt, &v.OfferedBy, &v.SHA256NL, &v.SHA256EN,
		&v.AcceptedAt, &v.AcceptedBy, &v.AcceptedSHA256, &v.AcceptedLang,
		&v.ActivatedAt, &v.SupersededAt, &v.TerminatedAt)
	if err != nil {
		return v, err
	}
	return v, json.Unmarshal(scope, &v.Scope)
}

// tx runs fn in a transaction scoped to tenantID, mapping an unknown tenant
// id to ENOTFOUND and unexpected errors to EINTERNAL.
func (s *Service) tx(ctx context.Context, op, tenantID string, fn func(tx pgx.Tx) error) error {
	if !verwerker.ValidID(verwerker.PrefixTenant, tenantID) {
		return errNotFound
	}
	return verwerker.Wrap("dpa: "+op, s.db.InTenantTx(ctx, tenantID, fn))
}

func get(ctx context.Context, tx pgx.Tx, tenantID string, number int, lock bool) (Version, error) {
	q := `SELECT ` + columns + ` FROM dpa_versions WHERE tenant_id = $1 AND version = $2`
	if lock {
		q += ` FOR UPDATE`
	}
	v, err := scan(tx.QueryRow(ctx, q, tenantID, number))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, errNotFound
	}
	return v, err
}

func marshalScope(sc Scope) ([]byte, error) {
	for _, l := range []*[]string{&sc.Purposes, &sc.Regions, &sc.Subprocessors} {
		if *l == nil {
			*l = []string{}
		}
	}
	if sc.Transfers == nil {
		sc.Transfers = []Transfer{}
	}
	return json.Marshal(sc)
}

// Create validates sc and stores it as the customer's next version, a
// draft. The customer's contract must be running.
func (s *Service) Create(ctx context.Context, tenantID string, sc Scope) (Version, error) {
	if !verwerker.ValidID(verwerker.PrefixTenant, tenantID) {
		return Version{}, verwerker.Errorf(verwerker.ENOTFOUND, "tenant not found")
	}
	if err := sc.Normalize(); err != nil {
		return Version{}, err
	}
	scope, err := marshalScope(sc)
	if err != nil {
		return Version{}, verwerker.Internal("dpa: create", err)
	}
	now := s.clock.Now().UTC()
	var v Version
	err = s.tx(ctx, "create", tenantID, func(tx pgx.Tx) error {
		// Locking the tenant row numbers the versions one at a time.
		t, err := tenant.Read(ctx, tx, tenantID, now, true)
		if err != nil {
			return err
		}
		name := t.Name
		if t.Status != tenant.StatusActive {
			return verwerker.Errorf(verwerker.ECONFLICT, "the tenant's contract has been terminated")
		}
		if err := s.checkRegistered(ctx, tx, sc.Subprocessors); err != nil {
			return err
		}
		id := verwerker.NewID(verwerker.PrefixAgreement, now)
		v, err = scan(tx.QueryRow(ctx, `INSERT INTO dpa_versions (tenant_id, version, id, controller_name, scope, created_at, created_by, updated_at)
			VALUES ($1, (SELECT coalesce(max(version), 0) + 1 FROM dpa_versions WHERE tenant_id = $1), $2, $3, $4, $5, $6, $5)
			RETURNING `+columns, tenantID, id, name, scope, now, audit.Actor(ctx)))
		if err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, tenantID, "dpa.create", v.ID, "version="+strconv.Itoa(v.Number))
	})
	return v, err
}

// Update replaces the scope of a draft. Any other status is an ECONFLICT:
// an offered version never changes, a change is a new version.
func (s *Service) Update(ctx context.Context, tenantID string, number int, sc Scope) (Version, error) {
	if err := sc.Normalize(); err != nil {
		return Version{}, err
	}
	scope, err := marshalScope(sc)
	if err != nil {
		return Version{}, verwerker.Internal("dpa: update", err)
	}
	var v Version
	err = s.tx(ctx, "update", tenantID, func(tx pgx.Tx) error {
		cur, err := get(ctx, tx, tenantID, number, true)
		if err != nil {
			return err
		}
		if cur.Status != StatusDraft {
			return verwerker.Errorf(verwerker.ECONFLICT, "only a draft can be edited; create a new version instead")
		}
		if err := s.checkRegistered(ctx, tx, sc.Subprocessors); err != nil {
			return err
		}
		v, err = scan(tx.QueryRow(ctx, `UPDATE dpa_versions SET scope = $3, updated_at = $4
			WHERE tenant_id = $1 AND version = $2 RETURNING `+columns, tenantID, number, scope, s.clock.Now().UTC()))
		if err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, tenantID, "dpa.update", v.ID, "")
	})
	return v, err
}

// List returns every version of the customer's agreement, newest first.
func (s *Service) List(ctx context.Context, tenantID string) ([]Version, error) {
	var out []Version
	err := s.tx(ctx, "list", tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+columns+` FROM dpa_versions WHERE tenant_id = $1 ORDER BY version DESC`, tenantID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Version, error) { return scan(r) })
		return err
	})
	return out, err
}

// Get returns one version, or ENOTFOUND.
func (s *Service) Get(ctx context.Context, tenantID string, number int) (Version, error) {
	var v Version
	err := s.tx(ctx, "get", tenantID, func(tx pgx.Tx) error {
		var err error
		v, err = get(ctx, tx, tenantID, number, false)
		return err
	})
	return v, err
}

// Active returns the customer's active version, or ENOTFOUND when it has
// none (then no processing on its behalf is allowed). It is the decision
// engine's entry point.
func (s *Service) Active(ctx context.Context, tenantID string) (Version, error) {
	var v Version
	err := s.tx(ctx, "active", tenantID, func(tx pgx.Tx) error {
		var err error
		v, err = scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM dpa_versions WHERE tenant_id = $1 AND status = 'active'`, tenantID))
		if errors.Is(err, pgx.ErrNoRows) {
			return verwerker.Errorf(verwerker.ENOTFOUND, "the tenant has no active processing agreement")
		}
		return err
	})
	return v, err
}

// Document returns the version's document in lang (LangNL or LangEN) and
// its SHA-256 in lowercase hex. From the offer on, it is the exact text
// offered, stored with the version; a draft is rendered afresh and marked
// as a draft.
func (s *Service) Document(ctx context.Context, tenantID string, number int, lang string) ([]byte, string, error) {
	if lang != LangNL && lang != LangEN {
		return nil, "", verwerker.Invalid("unknown language", verwerker.FieldError{Field: "lang", Message: "must be nl or en"})
	}
	var doc []byte
	err := s.tx(ctx, "document", tenantID, func(tx pgx.Tx) error {
		v, err := get(ctx, tx, tenantID, number, false)
		if err != nil {
			return err
		}
		if v.Status == StatusDraft {
			doc, err = s.render(v, lang, true)
			return err
		}
		col := "document_en"
		if lang == LangNL {
			col = "document_nl"
		}
		return tx.QueryRow(ctx, `SELECT `+col+` FROM dpa_versions WHERE tenant_id = $1 AND version = $2`, tenantID, number).Scan(&doc)
	})
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(doc)
	return doc, hex.EncodeToString(sum[:]), nil
}

// transition moves a version from one of the statuses in from to to,
// setting the timestamp column at, and audits it.
func (s *Service) transition(ctx context.Context, tenantID string, number int, op string, from []Status, to Status, set string, args ...any) (Version, error) {
	var v Version
	err := s.tx(ctx, op, tenantID, func(tx pgx.Tx) error {
		cur, err := get(ctx, tx, tenantID, number, true)
		if err != nil {
			return err
		}
		ok := false
		for _, f := range from {
			ok = ok || cur.Status == f
		}
		if !ok {
			return verwerker.Errorf(verwerker.ECONFLICT, "a version that is %s cannot be %s", cur.Status, to)
		}
		v, err = scan(tx.QueryRow(ctx, `UPDATE dpa_versions SET status = $3, `+set+`
			WHERE tenant_id = $1 AND version = $2 RETURNING `+columns, append([]any{tenantID, number, string(to)}, args...)...))
		if err != nil {
			return err
		}
		if cur.Status == StatusActive {
			if _, err := store.TouchDecisionState(ctx, tx, tenantID); err != nil {
				return err
			}
		}
		return s.audit.Record(ctx, tx, tenantID, "dpa."+op, v.ID, "")
	})
	return v, err
}

// Offer fixes a draft: renders its documents in Dutch and English, stores
// them with their SHA-256 and offers the version to the customer.
func (s *Service) Offer(ctx context.Context, tenantID string, number int) (Version, error) {
	var v Version
	err := s.tx(ctx, "offer", tenantID, func(tx pgx.Tx) error {
		cur, err := get(ctx, tx, tenantID, number, true)
		if err != nil {
			return err
		}
		if cur.Status != StatusDraft {
			return verwerker.Errorf(verwerker.ECONFLICT, "only a draft can be offered")
		}
		now := s.clock.Now().UTC()
		nl, err := s.render(cur, LangNL, false)
		if err != nil {
			return err
		}
		en, err := s.render(cur, LangEN, false)
		if err != nil {
			return err
		}
		hnl, hen := sha256.Sum256(nl), sha256.Sum256(en)
		v, err = scan(tx.QueryRow(ctx, `UPDATE dpa_versions SET status = 'offered', offered_at = $3, offered_by = $4,
				document_nl = $5, document_en = $6, sha256_nl = $7, sha256_en = $8, updated_at = $3
			WHERE tenant_id = $1 AND version = $2 RETURNING `+columns,
			tenantID, number, now, audit.Actor(ctx), string(nl), string(en), hex.EncodeToString(hnl[:]), hex.EncodeToString(hen[:])))
		if err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, tenantID, "dpa.offer", v.ID, "")
	})
	return v, err
}

// Accept records the customer's acceptance of an offered version: the
// calling principal, now, and which text it accepted. textSHA256 is the
// SHA-256 (hex) of the document the controller saw, in either language; a
// hash of neither is an ECONFLICT (the text changed or is not this
// version's).
func (s *Service) Accept(ctx context.Context, tenantID string, number int, textSHA256 string) (Version, error) {
	p, ok := verwerker.PrincipalFrom(ctx)
	if !ok {
		return Version{}, verwerker.Errorf(verwerker.EFORBIDDEN, "only the customer's administrator can accept")
	}
	var v Version
	err := s.tx(ctx, "accept", tenantID, func(tx pgx.Tx) error {
		cur, err := get(ctx, tx, tenantID, number, true)
		if err != nil {
			return err
		}
		if cur.Status != StatusOffered {
			return verwerker.Errorf(verwerker.ECONFLICT, "only an offered version can be accepted")
		}
		lang := ""
		switch textSHA256 {
		case cur.SHA256NL:
			lang = LangNL
		case cur.SHA256EN:
			lang = LangEN
		default:
			return &verwerker.Error{Code: verwerker.ECONFLICT, Message: "the text hash is not that of this version's document",
				Fields: []verwerker.FieldError{{Field: "document_sha256", Message: "does not match the offered document in Dutch or English"}}}
		}
		now := s.clock.Now().UTC()
		v, err = scan(tx.QueryRow(ctx, `UPDATE dpa_versions SET status = 'accepted', accepted_at = $3, accepted_by = $4,
				accepted_sha256 = $5, accepted_lang = $6, updated_at = $3
			WHERE tenant_id = $1 AND version = $2 RETURNING `+columns, tenantID, number, now, p.ID, textSHA256, lang))
		if err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, tenantID, "dpa.accept", v.ID, "lang="+lang)
	})
	return v, err
}

// Activate makes an accepted version the customer's active one and
// supersedes the previous active version in the same transaction. A version
// older than the active one cannot be activated. Of concurrent activations
// exactly one wins; the others get ECONFLICT.
func (s *Service) Activate(ctx context.Context, tenantID string, number int) (Version, error) {
	var v Version
	err := s.tx(ctx, "activate", tenantID, func(tx pgx.Tx) error {
		cur, err := get(ctx, tx, tenantID, number, true)
		if err != nil {
			return err
		}
		if cur.Status != StatusAccepted {
			return verwerker.Errorf(verwerker.ECONFLICT, "only an accepted version can be activated")
		}
		now := s.clock.Now().UTC()
		var prevID string
		var prevNumber int
		err = tx.QueryRow(ctx, `UPDATE dpa_versions SET status = 'superseded', superseded_at = $2, updated_at = $2
			WHERE tenant_id = $1 AND status = 'active' RETURNING id, version`, tenantID, now).Scan(&prevID, &prevNumber)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		case prevNumber > number:
			return verwerker.Errorf(verwerker.ECONFLICT, "a newer version is active")
		default:
			if err := s.audit.Record(ctx, tx, tenantID, "dpa.supersede", prevID, "by="+cur.ID); err != nil {
				return err
			}
		}
		v, err = scan(tx.QueryRow(ctx, `UPDATE dpa_versions SET status = 'active', activated_at = $3, updated_at = $3
			WHERE tenant_id = $1 AND version = $2 RETURNING `+columns, tenantID, number, now))
		if store.IsUniqueViolation(err, "dpa_versions_one_active") {
			return verwerker.Errorf(verwerker.ECONFLICT, "another version was activated at the same time")
		}
		if err != nil {
			return err
		}
		// The version's authorised subprocessors become the customer's
		// effective list, and every replica's decisions follow.
		if err := s.subs.Authorise(ctx, tx, tenantID, v.ID, v.Scope.Subprocessors, now); err != nil {
			return err
		}
		if _, err := store.TouchDecisionState(ctx, tx, tenantID); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, tenantID, "dpa.activate", v.ID, "")
	})
	return v, err
}

// Terminate ends an offered, accepted or active version. Terminating the
// active version leaves the customer without one: no processing on its
// behalf is allowed until another version is active.
func (s *Service) Terminate(ctx context.Context, tenantID string, number int) (Version, error) {
	now := s.clock.Now().UTC()
	return s.transition(ctx, tenantID, number, "terminate", []Status{StatusOffered, StatusAccepted, StatusActive}, StatusTerminated,
		`terminated_at = $4, updated_at = $4`, now)
}

// Offered returns every customer's versions offered but not yet accepted,
// oldest offer first: what the DPO follows up.
func (s *Service) Offered(ctx context.Context) ([]Version, error) {
	var out []Version
	err := verwerker.Wrap("dpa: offered", s.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+columns+` FROM dpa_versions WHERE status = 'offered' ORDER BY offered_at, tenant_id LIMIT 1000`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Version, error) { return scan(r) })
		return err
	}))
	return out, err
}

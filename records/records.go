package records

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/subject"
)

// Record kinds.
const (
	KindConversation = "chat.conversation"
	KindMessage      = "chat.message"
	KindAccount      = "admin.account"
	KindUser         = "admin.user"
	KindLoginEvent   = "admin.login_event"
	KindInvoice      = "admin.invoice"
)

// Kinds lists every record kind.
var Kinds = []string{KindConversation, KindMessage, KindAccount, KindUser, KindLoginEvent, KindInvoice}

// MaxContentBytes is the largest content of one record, as JSON.
const MaxContentBytes = 64 << 10

// MaxBatch is the most records one Write may hold.
const MaxBatch = decision.MaxBatch

// Item is one record to store.
type Item struct {
	// SubjectRef is the chat service's pseudonymous reference of the
	// subject the record is about; stored only as an HMAC.
	SubjectRef string
	// Kind is one of Kinds.
	Kind string
	// ConversationID optionally names the chat.conversation record (of the
	// same subject) a chat.message belongs to.
	ConversationID string
	// Category, Purpose, Region, Subprocessor, SpecialCategory and
	// SuspectedMinor are asked of the decision engine as the decision API
	// asks them.
	Category, Purpose, Region, Subprocessor, SpecialCategory string
	SuspectedMinor                                           bool
	// Content is the record itself: a JSON object or string, at most
	// MaxContentBytes.
	Content json.RawMessage
}

// Stored describes a stored record.
type Stored struct {
	// ID names the record ("rec_01J...").
	ID string
	// SubjectID is the subject's pseudonymous id.
	SubjectID string
	// DecisionID and DPAVersion name the decision that allowed it.
	DecisionID string
	DPAVersion int
	// RetentionRule and DeleteAfter say how long it may be kept; DeleteAfter
	// is nil for rules that run from the contract's end.
	RetentionRule string
	DeleteAfter   *time.Time
	CreatedAt     time.Time
}

// DeniedError is the error of a write the decision engine denied. Nothing
// was stored; the denial was audited under the decision's id. Its code is
// EFORBIDDEN.
type DeniedError struct {
	// Index is the position of the first denied item.
	Index int
	// Decision is its decision, with the reasons.
	Decision decision.Decision
}

// Error describes the denial with codes and ids only.
func (e *DeniedError) Error() string { return e.verr().Message }

// Unwrap gives the *verwerker.Error, so ErrorCode and ErrorMessage work.
func (e *DeniedError) Unwrap() error { return e.verr() }

func (e *DeniedError) verr() *verwerker.Error {
	var b strings.Builder
	fmt.Fprintf(&b, "processing denied by decision %s (DPA version %d)", e.Decision.ID, e.Decision.DPAVersion)
	if e.Index > 0 {
		fmt.Fprintf(&b, " for item %d", e.Index)
	}
	for i, r := range e.Decision.Reasons {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%s%s (%s) %s", sep, r.Code, r.Ref, r.Message)
	}
	return &verwerker.Error{Code: verwerker.EFORBIDDEN, Message: b.String()}
}

// Store keeps records. It owns the tables subject_keys, records and
// deletion_certificates.
type Store struct {
	db        *store.DB
	keys      *keys.Manager
	decisions *decision.Service
	subjects  *subject.Service
	audit     *audit.Log
	clock     verwerker.Clock
	log       *slog.Logger

	jobs  atomic.Pointer[river.Client[pgx.Tx]]
	ready sync.Map // tenant -> true once its key and decision_state row exist
}

// New returns a Store on db sealing with mgr's keys, deciding with
// decisions and auditing erasures in log.
func New(db *store.DB, mgr *keys.Manager, decisions *decision.Service, subjects *subject.Service, log *audit.Log, clock verwerker.Clock, logger *slog.Logger) *Store {
	if clock == nil {
		clock = verwerker.SystemClock{}
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Store{db: db, keys: mgr, decisions: decisions, subjects: subjects, audit: log, clock: clock, log: logger}
}

// Keys returns the key manager the store seals with.
func (s *Store) Keys() *keys.Manager { return s.keys }

// validate checks items and compacts their content.
func (s *Store) validate(items []Item) error {
	if len(items) == 0 {
		return verwerker.Invalid("no records to store", verwerker.FieldError{Field: "items", Message: "must hold at least one record"})
	}
	if len(items) > MaxBatch {
		return &verwerker.Error{Code: verwerker.ETOOLARGE, Message: fmt.Sprintf("a batch holds at most %d records", MaxBatch),
			Fields: []verwerker.FieldError{{Field: "items", Message: fmt.Sprintf("must hold at most %d records", MaxBatch)}}}
	}
	var fields []verwerker.FieldError
	for i := range items {
		it := &items[i]
		prefix := ""
		if len(items) > 1 {
			prefix = fmt.Sprintf("items[%d].", i)
		}
		bad := func(f, msg string) { fields = append(fields, verwerker.FieldError{Field: prefix + f, Message: msg}) }
		if msg := subject.CheckRef(it.SubjectRef); msg != "" {
			bad("subject_ref", msg)
		}
		if !slices.Contains(Kinds, it.Kind) {
			bad("kind", "must be one of "+strings.Join(Kinds, ", "))
		}
		if it.ConversationID != "" && (it.Kind != KindMessage || !verwerker.ValidID(verwerker.PrefixRecord, it.ConversationID)) {
			bad("conversation_id", "must be the id of a chat.conversation record, and only on a chat.message")
		}
		c := bytes.TrimSpace(it.Content)
		switch {
		case len(c) == 0:
			bad("content", "is required")
		case len(c) > MaxContentBytes:
			bad("content", fmt.Sprintf("must be at most %d bytes of JSON", MaxContentBytes))
		case (c[0] != '{' && c[0] != '"') || !json.Valid(c):
			bad("content", "must be a JSON object or string")
		default:
			var buf bytes.Buffer
			buf.Grow(len(c))
			_ = json.Compact(&buf, c)
			it.Content = buf.Bytes()
		}
	}
	if len(fields) > 0 {
		return verwerker.Invalid("the records are not valid", fields...)
	}
	return nil
}

// ensureTenant makes the tenant's key (idempotent) and its decision_state
// row, once per tenant and process, so that the write transaction can lock
// the row the decision depends on.
func (s *Store) ensureTenant(ctx context.Context, tenant string) error {
	if _, ok := s.ready.Load(tenant); ok {
		return nil
	}
	if _, err := s.keys.CreateTenantKey(ctx, tenant); err != nil {
		return err
	}
	err := s.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		return store.EnsureDecisionState(ctx, tx, tenant)
	})
	if err != nil {
		return verwerker.Wrap("records: write", err)
	}
	s.ready.Store(tenant, true)
	return nil
}

// errStale says the decision's inputs changed before the write could lock
// them; the write decides again.
var errStale = errors.New("records: decision inputs changed")

// Write stores items for tenant, all or nothing. Each item is decided by
// the decision engine exactly as POST /v1/decisions decides it (version is
// the tenant's decision-state version the caller knows, -1 for none); if
// any is denied, nothing is stored and the error is a *DeniedError (the
// denial is audited by the decision service). The write transaction locks
// the tenant's decision state and the subjects' rows and commits only if
// they are what the decision saw; otherwise it decides again (up to three
// times). If the keyring is unavailable the error is EUNAVAILABLE and
// nothing is stored.
func (s *Store) Write(ctx context.Context, tenant string, version int64, items []Item) ([]Stored, error) {
	if err := s.validate(items); err != nil {
		return nil, err
	}
	if err := s.ensureTenant(ctx, tenant); err != nil {
		return nil, err
	}
	reqs := make([]decision.Request, len(items))
	var refs []string
	for i, it := range items {
		reqs[i] = decision.Request{Category: it.Category, Purpose: it.Purpose, Region: it.Region, Subprocessor: it.Subprocessor,
			SpecialCategory: it.SpecialCategory, SuspectedMinor: it.SuspectedMinor, SubjectRef: it.SubjectRef}
		refs = append(refs, it.SubjectRef)
	}
	slices.Sort(refs)
	refs = slices.Compact(refs) // sorted: rows are locked in one order
	// A credential answered from memory may carry an older version than
	// this replica has heard of: start from the newest known, so that the
	// write does not decide twice.
	if version >= 0 {
		version = max(version, s.decisions.Known(tenant))
	}
	for attempt := range 3 {
		if version < 0 {
			v, err := store.DecisionStateVersion(ctx, s.db.Pool, tenant)
			if err != nil {
				return nil, &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "database unavailable", Err: err}
			}
			version = v
		}
		seen, err := s.subjects.Lookup(ctx, tenant, refs)
		if err != nil {
			return nil, err
		}
		decide := s.decisions.Decide
		if attempt > 0 {
			decide = s.decisions.Redecide // counted once per write
		}
		ds, err := decide(ctx, tenant, version, reqs)
		if err != nil {
			return nil, err
		}
		for i, d := range ds {
			if !d.Allow {
				return nil, &DeniedError{Index: i, Decision: d}
			}
		}
		out, current, err := s.commit(ctx, tenant, version, refs, items, ds, seen)
		if errors.Is(err, errStale) {
			version = current
			continue
		}
		return out, err
	}
	return nil, verwerker.Errorf(verwerker.ECONFLICT, "the customer's processing state kept changing during the write; nothing was stored, please retry")
}

// commit seals and inserts the allowed items in one transaction that first
// locks the decision's inputs. It returns errStale and the current version
// when they changed.
func (s *Store) commit(ctx context.Context, tenant string, version int64, refs []string, items []Item, ds []decision.Decision, seen map[string]subject.State) ([]Stored, int64, error) {
	var out []Stored
	var current int64
	var lent []*keys.Key
	defer func() { keys.ReleaseAll(lent) }()
	err := s.db.InTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		keys.ReleaseAll(lent)
		lent, out = nil, nil
		// The customer's decision state: a change (agreement, contract,
		// subprocessor objection) waits for this transaction.
		var err error
		if current, err = store.LockDecisionState(ctx, tx, tenant); err != nil {
			return err
		}
		if current != version {
			return errStale
		}
		now := s.clock.Now().UTC()
		for _, d := range ds {
			if now.UnixNano() >= d.ValidUntil {
				// The customer's contract ended since the decision.
				return errStale
			}
		}
		subjectOf := make(map[string]string, len(refs))
		ids := make([]string, 0, len(refs))
		minor := map[string]bool{}
		for _, ref := range refs {
			st, err := s.subjects.Touch(ctx, tx, tenant, ref, now)
			if err != nil {
				return err
			}
			minor[ref] = st.MinorFlaggedAt != nil
			was := seen[ref]
			if st.Restricted != was.Restricted || !slices.Equal(st.ObjectedPurposes, nonNil(was.ObjectedPurposes)) {
				return errStale // an instruction arrived meanwhile
			}
			subjectOf[ref] = st.ID
			ids = append(ids, st.ID)
		}
		keyOf, err := s.subjectKeys(ctx, tx, tenant, ids, now, &lent)
		if err != nil {
			return err
		}
		if err := checkConversations(ctx, tx, tenant, items, subjectOf); err != nil {
			return err
		}
		n := len(items)
		cols := struct {
			id, subject, kind, conv, cat, purpose, region, decision, rule []string
			dpa                                                           []int32
			deleteAfter                                                   []*time.Time
			sealed                                                        [][]byte
		}{}
		out = make([]Stored, n)
		for i, it := range items {
			d := ds[i]
			sid := subjectOf[it.SubjectRef]
			sealed, err := keyOf[sid].Seal(keys.AAD{Tenant: tenant, Subject: sid, Kind: it.Kind}, it.Content)
			if err != nil {
				return err
			}
			st := Stored{ID: verwerker.NewID(verwerker.PrefixRecord, now), SubjectID: sid, DecisionID: d.ID, DPAVersion: d.DPAVersion, CreatedAt: now}
			if o := d.Obligations; o != nil {
				st.RetentionRule = o.Retention
				if o.DeletionDeadline != nil {
					due := o.DeletionDeadline.Due
					st.DeleteAfter = &due
				}
			}
			statutory(&st, it.Kind, now)
			out[i] = st
			cols.id, cols.subject, cols.kind = append(cols.id, st.ID), append(cols.subject, sid), append(cols.kind, it.Kind)
			cols.conv = append(cols.conv, it.ConversationID)
			cols.cat, cols.purpose, cols.region = append(cols.cat, it.Category), append(cols.purpose, it.Purpose), append(cols.region, it.Region)
			cols.decision, cols.rule, cols.dpa = append(cols.decision, d.ID), append(cols.rule, st.RetentionRule), append(cols.dpa, int32(d.DPAVersion))
			cols.deleteAfter, cols.sealed = append(cols.deleteAfter, st.DeleteAfter), append(cols.sealed, sealed)
		}
		// COPY is not available on tables with row-level security; one
		// INSERT over arrays is one round trip too.
		_, err = tx.Exec(ctx, `INSERT INTO records (tenant_id, id, subject_id, kind, conversation_id, category, purpose, region,
				dpa_version, decision_id, retention_rule, delete_after, created_at, sealed)
			SELECT $1, id, subject_id, kind, nullif(conv, ''), category, purpose, region, dpa, decision_id, rule, delete_after, $2, sealed
			FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int[], $11::text[],
				$12::text[], $13::timestamptz[], $14::bytea[]) WITH ORDINALITY
				AS t(id, subject_id, kind, conv, category, purpose, region, dpa, decision_id, rule, delete_after, sealed, ord)
			ORDER BY ord`,
			tenant, now, cols.id, cols.subject, cols.kind, cols.conv, cols.cat, cols.purpose, cols.region, cols.dpa, cols.decision,
			cols.rule, cols.deleteAfter, cols.sealed)
		if err != nil {
			return err
		}
		// The interaction postpones the deadline of the subject's earlier
		// records under the same rule (retention recomputes at write).
		var later *time.Time
		var touched []string
		for i, it := range items {
			st := out[i]
			if st.RetentionRule != dpa.Retention30DaysAfterLastInteraction || st.DeleteAfter == nil || it.SuspectedMinor || minor[it.SubjectRef] {
				continue
			}
			if later == nil || st.DeleteAfter.After(*later) {
				later = st.DeleteAfter
			}
			touched = append(touched, st.SubjectID)
		}
		if later == nil {
			return nil
		}
		return postpone(ctx, tx, tenant, touched, *later)
	})
	if errors.Is(err, errStale) {
		return nil, current, err
	}
	if err != nil {
		return nil, 0, verwerker.Wrap("records: write", err)
	}
	return out, current, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// subjectKeys lends the data key of each subject, making one (and storing
// its wrapped form in tx) for a subject that has none. Every lent key is
// appended to lent.
func (s *Store) subjectKeys(ctx context.Context, tx pgx.Tx, tenant string, ids []string, now time.Time, lent *[]*keys.Key) (map[string]*keys.Key, error) {
	rows, err := tx.Query(ctx, `SELECT subject_id, wrapped FROM subject_keys WHERE tenant_id = $1 AND subject_id = ANY($2)`, tenant, ids)
	if err != nil {
		return nil, err
	}
	var have []string
	var wrapped [][]byte
	for rows.Next() {
		var id, w string
		if err := rows.Scan(&id, &w); err != nil {
			rows.Close()
			return nil, err
		}
		have, wrapped = append(have, id), append(wrapped, []byte(w))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make(map[string]*keys.Key, len(ids))
	if len(wrapped) > 0 {
		ks, err := s.keys.KeysTx(ctx, tx, tenant, wrapped)
		*lent = append(*lent, ks...)
		if err != nil {
			return nil, err
		}
		for i, id := range have {
			out[id] = ks[i]
		}
	}
	for _, id := range ids {
		if out[id] != nil {
			continue
		}
		k, err := s.keys.NewDataKeyTx(ctx, tx, tenant)
		if err != nil {
			return nil, err
		}
		*lent = append(*lent, k)
		if _, err := tx.Exec(ctx, `INSERT INTO subject_keys (tenant_id, subject_id, wrapped, key_version, created_at) VALUES ($1, $2, $3, $4, $5)`,
			tenant, id, string(k.Wrapped()), k.Version(), now); err != nil {
			return nil, err
		}
		out[id] = k
	}
	return out, nil
}

// checkConversations makes sure every conversation_id names a
// chat.conversation record of the item's subject.
func checkConversations(ctx context.Context, tx pgx.Tx, tenant string, items []Item, subjectOf map[string]string) error {
	want := map[string]string{} // conversation -> subject
	var fields []verwerker.FieldError
	for i, it := range items {
		if it.ConversationID == "" {
			continue
		}
		sid := subjectOf[it.SubjectRef]
		if prev, ok := want[it.ConversationID]; ok && prev != sid {
			fields = append(fields, verwerker.FieldError{Field: fmt.Sprintf("items[%d].conversation_id", i), Message: "belongs to another subject"})
		}
		want[it.ConversationID] = sid
	}
	if len(want) == 0 {
		return nil
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	rows, err := tx.Query(ctx, `SELECT id, subject_id FROM records WHERE tenant_id = $1 AND id = ANY($2) AND kind = 'chat.conversation'`, tenant, ids)
	if err != nil {
		return err
	}
	found := map[string]string{}
	for rows.Next() {
		var id, sid string
		if err := rows.Scan(&id, &sid); err != nil {
			rows.Close()
			return err
		}
		found[id] = sid
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i, it := range items {
		if it.ConversationID != "" && found[it.ConversationID] != subjectOf[it.SubjectRef] {
			f := "conversation_id"
			if len(items) > 1 {
				f = fmt.Sprintf("items[%d].conversation_id", i)
			}
			fields = append(fields, verwerker.FieldError{Field: f, Message: "must name a chat.conversation record of the same subject"})
		}
	}
	if len(fields) > 0 {
		return verwerker.Invalid("the records are not valid", fields...)
	}
	return nil
}

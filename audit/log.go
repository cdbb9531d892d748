package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/store"
)

// PrefixEvent is the id prefix of audit events.
const PrefixEvent = "aud"

// MaxBatch is the most events one group commit writes.
const MaxBatch = 2000

// Log appends events to the audit chains and verifies them.
type Log struct {
	db    *store.DB
	clock verwerker.Clock
	keys  atomic.Pointer[keys.KeySet]
	// jobs enqueues verifications (UseClient).
	jobs atomic.Pointer[river.Client[pgx.Tx]]

	reqs     chan *pending
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

type pending struct {
	ev   Event
	done chan error
}

// Option configures a Log.
type Option func(*Log)

// WithKeys sets the public keys Verify trusts for checkpoint signatures.
// Without it no key is trusted, and a chain with checkpoints does not
// verify.
func WithKeys(ks *keys.KeySet) Option {
	return func(l *Log) { l.keys.Store(ks) }
}

// NewLog returns a Log and starts its group-commit writer. Close stops it.
func NewLog(db *store.DB, clock verwerker.Clock, opts ...Option) *Log {
	l := &Log{db: db, clock: clock, reqs: make(chan *pending, 4*MaxBatch), stop: make(chan struct{}), done: make(chan struct{})}
	for _, o := range opts {
		o(l)
	}
	go l.writer()
	return l
}

// Keys returns the public keys Verify trusts; nil when none.
func (l *Log) Keys() *keys.KeySet { return l.keys.Load() }

// SetKeys replaces the public keys Verify trusts, for instance after a key
// rotation. It is safe to call while the Log is in use.
func (l *Log) SetKeys(ks *keys.KeySet) { l.keys.Store(ks) }

// Close stops the writer after the events already submitted are written.
func (l *Log) Close() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
}

// Append adds e to its chain and returns once it is committed. Concurrent
// Appends are batched into one transaction (group commit). Seq, ID, At,
// PrevHash and Hash are assigned by the log.
func (l *Log) Append(ctx context.Context, e Event) (Event, error) {
	if err := l.prepare(&e); err != nil {
		return Event{}, err
	}
	p := &pending{ev: e, done: make(chan error, 1)}
	select {
	case l.reqs <- p:
	case <-l.stop:
		return Event{}, verwerker.Errorf(verwerker.EUNAVAILABLE, "audit log is closed")
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
	select {
	case err := <-p.done:
		return p.ev, err
	case <-ctx.Done():
		// The event may still be written; the caller only stops waiting.
		return Event{}, ctx.Err()
	}
}

// Record appends a successful event to chain inside the caller's
// transaction, so a change and its audit event commit together or not at
// all: action on resource by the principal of ctx (Actor), with reason in
// codes and ids, never personal data. It is what a domain service calls
// after each change it makes. A nil Log records nothing, for services built
// without a trail.
func (l *Log) Record(ctx context.Context, tx pgx.Tx, chain, action, resource, reason string) error {
	return l.RecordOutcome(ctx, tx, chain, action, resource, Success, reason)
}

// RecordOutcome is Record for an action that ended as outcome, e.g. a
// denied sign-in.
func (l *Log) RecordOutcome(ctx context.Context, tx pgx.Tx, chain, action, resource string, outcome Outcome, reason string) error {
	if l == nil {
		return nil
	}
	_, err := l.AppendTx(ctx, tx, Event{Chain: chain, Actor: Actor(ctx), Action: action, Resource: resource, Outcome: outcome, Reason: reason})
	return err
}

// AppendTx adds e to its chain inside the caller's transaction, so a state
// change and its audit event commit together or not at all.
func (l *Log) AppendTx(ctx context.Context, tx pgx.Tx, e Event) (Event, error) {
	if err := l.prepare(&e); err != nil {
		return Event{}, err
	}
	batch := []*pending{{ev: e}}
	if err := appendBatch(ctx, tx, batch, false); err != nil {
		return Event{}, err
	}
	return batch[0].ev, nil
}

// AppendAllTx is AppendTx for many events at once, in the order given,
// across any chains: one lock of the chains' heads and one copy, however
// many events (a notice to a thousand customers is four statements, not
// four thousand). Each event's Actor defaults to the principal of ctx. A
// nil Log appends nothing.
func (l *Log) AppendAllTx(ctx context.Context, tx pgx.Tx, events []Event) error {
	if l == nil || len(events) == 0 {
		return nil
	}
	batch := make([]*pending, len(events))
	for i, e := range events {
		if e.Actor == "" {
			e.Actor = Actor(ctx)
		}
		if e.Outcome == "" {
			e.Outcome = Success
		}
		if err := l.prepare(&e); err != nil {
			return err
		}
		batch[i] = &pending{ev: e}
	}
	return appendBatch(ctx, tx, batch, false)
}

func (l *Log) prepare(e *Event) error {
	if err := e.check(); err != nil {
		return err
	}
	e.At = l.clock.Now().UTC().Truncate(time.Microsecond)
	e.ID = verwerker.NewID(PrefixEvent, e.At)
	return nil
}

// writer collects waiting appends into batches and commits each batch in
// one transaction.
func (l *Log) writer() {
	defer close(l.done)
	batch := make([]*pending, 0, MaxBatch)
	for {
		batch = batch[:0]
		select {
		case p := <-l.reqs:
			batch = append(batch, p)
		case <-l.stop:
			// Drain what was submitted before Close.
			for {
				select {
				case p := <-l.reqs:
					batch = append(batch, p)
					if len(batch) == MaxBatch {
						l.commit(batch)
						batch = batch[:0]
					}
				default:
					if len(batch) > 0 {
						l.commit(batch)
					}
					return
				}
			}
		}
	fill:
		for len(batch) < MaxBatch {
			select {
			case p := <-l.reqs:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		l.commit(batch)
	}
}

func (l *Log) commit(batch []*pending) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := l.db.InTx(ctx, func(tx pgx.Tx) error { return appendBatch(ctx, tx, batch, true) })
	if err != nil {
		err = fmt.Errorf("audit: append: %w", err)
	}
	for _, p := range batch {
		p.done <- err
	}
}

// appendBatch locks the heads of the chains in the batch (in chain order, so
// concurrent batches cannot deadlock), links each event to its predecessor,
// copies the events in and moves the heads.
func appendBatch(ctx context.Context, tx pgx.Tx, batch []*pending, useCopy bool) error {
	chains := make([]string, 0, 4)
	seen := map[string]bool{}
	for _, p := range batch {
		if !seen[p.ev.Chain] {
			seen[p.ev.Chain] = true
			chains = append(chains, p.ev.Chain)
		}
	}
	sort.Strings(chains)
	if _, err := tx.Exec(ctx, `INSERT INTO audit_heads (chain, seq, hash)
		SELECT c, 0, $2 FROM unnest($1::text[]) AS c ON CONFLICT (chain) DO NOTHING`, chains, Genesis); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT chain, seq, hash FROM audit_heads WHERE chain = ANY($1) ORDER BY chain FOR UPDATE`, chains)
	if err != nil {
		return err
	}
	type head struct {
		seq  int64
		hash []byte
	}
	heads := map[string]*head{}
	for rows.Next() {
		var c string
		h := &head{}
		if err := rows.Scan(&c, &h.seq, &h.hash); err != nil {
			rows.Close()
			return err
		}
		heads[c] = h
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	copyRows := make([][]any, len(batch))
	for i, p := range batch {
		h := heads[p.ev.Chain]
		h.seq++
		p.ev.Seq = h.seq
		p.ev.PrevHash = h.hash
		p.ev.Hash = ComputeHash(h.hash, p.ev.Canonical())
		h.hash = p.ev.Hash
		e := &p.ev
		copyRows[i] = []any{e.Chain, e.Seq, e.ID, e.At, e.Actor, e.Action, e.Resource, string(e.Outcome), e.Reason, e.PrevHash, e.Hash}
	}
	if err := insertEvents(ctx, tx, copyRows, useCopy); err != nil {
		return err
	}
	seqs := make([]int64, len(chains))
	hashes := make([][]byte, len(chains))
	for i, c := range chains {
		seqs[i], hashes[i] = heads[c].seq, heads[c].hash
	}
	_, err = tx.Exec(ctx, `UPDATE audit_heads h SET seq = u.seq, hash = u.hash
		FROM unnest($1::text[], $2::bigint[], $3::bytea[]) AS u(chain, seq, hash) WHERE h.chain = u.chain`, chains, seqs, hashes)
	return err
}

// Report is the result of verifying a chain. Its JSON form is the one of
// GET /v1/tenants/{tenant_id}/audit/verification: hashes in lowercase hex,
// times in UTC with six fractional digits.
type Report struct {
	Chain  string `json:"chain"`
	Events int64  `json:"events"`
	// HeadSeq and HeadHash are the last verified event's position and hash.
	HeadSeq  int64  `json:"head_seq"`
	HeadHash []byte `json:"head_hash"`
	// OK is true when every event links and hashes correctly and every
	// checkpoint verifies.
	OK bool `json:"ok"`
	// FirstBad is the sequence number of the first event that does not
	// verify; 0 when OK, and 0 when only a checkpoint's signature is bad.
	FirstBad int64 `json:"first_bad,omitempty"`
	// Problem says what is wrong with FirstBad or BadCheckpoint.
	Problem string `json:"problem,omitempty"`
	// Checkpoints is how many signed checkpoints the chain has.
	Checkpoints int `json:"checkpoints"`
	// LastCheckpointSeq and LastCheckpointAt are the event and signing time
	// of the last checkpoint that verified: the chain up to that event is
	// exactly as it was when it was signed. 0 when none verified.
	LastCheckpointSeq int64     `json:"last_checkpoint_seq"`
	LastCheckpointAt  time.Time `json:"last_checkpoint_at,omitzero"`
	// BadCheckpoint is the event sequence number of the first checkpoint that
	// does not verify: its signature is wrong or by an unknown key, or the
	// chain no longer holds the hash it signed. 0 when none.
	BadCheckpoint int64 `json:"bad_checkpoint,omitempty"`
}

// MarshalJSON writes head_hash in hex, as the API and the export do, and
// last_checkpoint_at as the API does.
func (r Report) MarshalJSON() ([]byte, error) {
	out := struct {
		Chain             string `json:"chain"`
		Events            int64  `json:"events"`
		HeadSeq           int64  `json:"head_seq"`
		HeadHash          string `json:"head_hash"`
		OK                bool   `json:"ok"`
		FirstBad          int64  `json:"first_bad,omitempty"`
		Problem           string `json:"problem,omitempty"`
		Checkpoints       int    `json:"checkpoints"`
		LastCheckpointSeq int64  `json:"last_checkpoint_seq"`
		LastCheckpointAt  string `json:"last_checkpoint_at,omitempty"`
		BadCheckpoint     int64  `json:"bad_checkpoint,omitempty"`
	}{r.Chain, r.Events, r.HeadSeq, hex.EncodeToString(r.HeadHash), r.OK, r.FirstBad, r.Problem,
		r.Checkpoints, r.LastCheckpointSeq, "", r.BadCheckpoint}
	if !r.LastCheckpointAt.IsZero() {
		out.LastCheckpointAt = r.LastCheckpointAt.UTC().Format(timeFormat)
	}
	return json.Marshal(out)
}

// Verify recomputes chain from its first event, streaming, and names the
// first event whose sequence, link or hash is wrong, or a head that does
// not match the last event. It also checks the chain's signed checkpoints
// in order: each signature must verify with a trusted key (WithKeys), and
// the event a checkpoint names must exist and have the hash it signed. A
// chain rewritten consistently, every hash recomputed, fails at the first
// checkpoint after the change; a chain cut short below a checkpoint fails
// at its first missing event.
func (l *Log) Verify(ctx context.Context, chain string) (Report, error) {
	return l.verify(ctx, chain, nil)
}

// progressEvery is how many events verify reads between two calls of its
// progress function.
const progressEvery = 1000

// verify is Verify, calling progress (when not nil) with the number of
// events read every progressEvery events; an error from progress stops it.
func (l *Log) verify(ctx context.Context, chain string, progress func(events int64) error) (Report, error) {
	r := Report{Chain: chain, HeadHash: Genesis}
	cps, err := l.Checkpoints(ctx, chain, 0, math.MaxInt32)
	if err != nil {
		return r, err
	}
	r.Checkpoints = len(cps)
	rows, err := l.db.Pool.Query(ctx, `SELECT `+eventColumns+` FROM audit_events WHERE chain = $1 ORDER BY seq`, chain)
	if err != nil {
		return r, verwerker.Internal("audit: verify", err)
	}
	defer rows.Close()
	bad := func(seq int64, problem string) {
		if r.FirstBad == 0 {
			r.FirstBad, r.Problem = seq, problem
		}
	}
	next := 0 // the next checkpoint to check
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return r, verwerker.Internal("audit: verify", err)
		}
		r.Events++
		if progress != nil && r.Events%progressEvery == 0 {
			if err := progress(r.Events); err != nil {
				return r, err
			}
		}
		switch {
		case e.Seq != r.HeadSeq+1:
			bad(r.HeadSeq+1, fmt.Sprintf("event %d is missing", r.HeadSeq+1))
		case !bytes.Equal(e.PrevHash, r.HeadHash):
			bad(e.Seq, "prev_hash does not match the previous event's hash")
		case !bytes.Equal(ComputeHash(e.PrevHash, e.Canonical()), e.Hash):
			bad(e.Seq, "hash does not match the event's contents")
		}
		if r.FirstBad != 0 {
			break
		}
		r.HeadSeq, r.HeadHash = e.Seq, e.Hash
		for ; next < len(cps) && cps[next].Seq <= e.Seq && r.BadCheckpoint == 0; next++ {
			l.checkCheckpoint(&r, &cps[next], &e)
		}
		if r.BadCheckpoint != 0 {
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return r, verwerker.Internal("audit: verify", err)
	}
	if r.FirstBad == 0 && r.BadCheckpoint == 0 && next < len(cps) {
		// A checkpoint beyond the last event: the chain was cut short.
		l.checkCheckpoint(&r, &cps[next], nil)
	}
	if r.FirstBad == 0 && r.BadCheckpoint == 0 {
		var seq int64
		var hash []byte
		err := l.db.Pool.QueryRow(ctx, `SELECT seq, hash FROM audit_heads WHERE chain = $1`, chain).Scan(&seq, &hash)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if r.Events > 0 {
				bad(1, "the chain has no head")
			}
		case err != nil:
			return r, verwerker.Internal("audit: verify", err)
		case seq != r.HeadSeq || !bytes.Equal(hash, r.HeadHash):
			bad(r.HeadSeq+1, fmt.Sprintf("the head is at event %d but the chain ends at event %d: events were removed", seq, r.HeadSeq))
		}
	}
	r.OK = r.FirstBad == 0 && r.BadCheckpoint == 0
	return r, nil
}

// checkCheckpoint checks cp against e, the verified event at cp.Seq, or
// against the end of the chain when e is nil, and records the first
// problem in r.
func (l *Log) checkCheckpoint(r *Report, cp *Checkpoint, e *Event) {
	at := cp.SignedAt.UTC().Format(timeFormat)
	fail := func(firstBad int64, problem string) {
		r.BadCheckpoint, r.FirstBad, r.Problem = cp.Seq, firstBad, problem
	}
	pub, ok := l.Keys().Lookup(cp.KeyID)
	switch {
	case !ok:
		fail(0, fmt.Sprintf("the checkpoint of event %d signed at %s names key %s, which is not a trusted signing key", cp.Seq, at, cp.KeyID))
		return
	case len(cp.Signature) != ed25519.SignatureSize || !ed25519.Verify(pub, cp.Message(), cp.Signature):
		fail(0, fmt.Sprintf("the signature of the checkpoint of event %d signed at %s does not verify with key %s", cp.Seq, at, cp.KeyID))
		return
	case e == nil:
		fail(r.HeadSeq+1, fmt.Sprintf("the chain ends at event %d but a checkpoint signed at %s covers event %d: events were removed", r.HeadSeq, at, cp.Seq))
		return
	case cp.Seq != e.Seq:
		fail(0, fmt.Sprintf("the checkpoint of event %d signed at %s names no event", cp.Seq, at))
		return
	case !bytes.Equal(cp.Hash, e.Hash):
		fail(e.Seq, fmt.Sprintf("event %d does not have the hash signed at %s: one or more of events %d to %d were changed after they were signed",
			e.Seq, at, r.LastCheckpointSeq+1, e.Seq))
		return
	}
	r.LastCheckpointSeq, r.LastCheckpointAt = cp.Seq, cp.SignedAt
}

// Chains returns the names of every chain that has events.
func (l *Log) Chains(ctx context.Context) ([]string, error) {
	rows, err := l.db.Pool.Query(ctx, `SELECT chain FROM audit_heads ORDER BY chain`)
	if err != nil {
		return nil, verwerker.Internal("audit: chains", err)
	}
	chains, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, verwerker.Internal("audit: chains", err)
	}
	return chains, nil
}

// Events returns up to limit events of chain with seq greater than after,
// in order, for export and independent verification.
func (l *Log) Events(ctx context.Context, chain string, after int64, limit int) ([]Event, error) {
	var events []Event
	err := l.db.InTenantTx(ctx, chain, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+eventColumns+` FROM audit_events WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3`, chain, after, limit)
		if err != nil {
			return verwerker.Internal("audit: events", err)
		}
		events, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) { return scanEvent(r) })
		if err != nil {
			return verwerker.Internal("audit: events", err)
		}
		return nil
	})
	return events, err
}

// insertEvents writes rows of audit_events. Large batches (group commit)
// use COPY; small ones, such as one event inside a tenant-scoped
// transaction, use INSERT, because COPY is not allowed under row-level
// security.
func insertEvents(ctx context.Context, tx pgx.Tx, rows [][]any, useCopy bool) error {
	if len(rows) > 16 && !useCopy {
		// COPY is refused under row-level security (tenant transactions):
		// one INSERT over arrays instead.
		cols := make([]any, 11)
		for i := range cols {
			col := make([]any, len(rows))
			for j, r := range rows {
				col[j] = r[i]
			}
			cols[i] = col
		}
		_, err := tx.Exec(ctx, `INSERT INTO audit_events (chain, seq, id, at, actor, action, resource, outcome, reason, prev_hash, hash)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bytea[], $11::bytea[])`,
			cols...)
		return err
	}
	if len(rows) > 16 {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_events"},
			[]string{"chain", "seq", "id", "at", "actor", "action", "resource", "outcome", "reason", "prev_hash", "hash"},
			pgx.CopyFromRows(rows))
		return err
	}
	for _, r := range rows {
		if _, err := tx.Exec(ctx, `INSERT INTO audit_events (chain, seq, id, at, actor, action, resource, outcome, reason, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, r...); err != nil {
			return err
		}
	}
	return nil
}

const eventColumns = `chain, seq, id, at, actor, action, resource, outcome, reason, prev_hash, hash`

func scanEvent(row pgx.Row) (Event, error) {
	var e Event
	var outcome string
	err := row.Scan(&e.Chain, &e.Seq, &e.ID, &e.At, &e.Actor, &e.Action, &e.Resource, &outcome, &e.Reason, &e.PrevHash, &e.Hash)
	e.Outcome = Outcome(outcome)
	e.At = e.At.UTC()
	return e, err
}

// LastEvent returns chain's newest event of action, or nil when there is
// none: for example the last verification (ActionVerify) the dashboard
// shows.
func (l *Log) LastEvent(ctx context.Context, chain, action string) (*Event, error) {
	var out *Event
	err := l.db.InTenantTx(ctx, chain, func(tx pgx.Tx) error {
		e, err := scanEvent(tx.QueryRow(ctx, `SELECT `+eventColumns+` FROM audit_events WHERE chain = $1 AND action = $2
			ORDER BY seq DESC LIMIT 1`, chain, action))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return verwerker.Internal("audit: last event", err)
		}
		out = &e
		return nil
	})
	return out, err
}

// ActionVerify is the action of the event that records a verification of
// a chain asked for by a person (its outcome and figures in the reason).
const ActionVerify = "audit.verify"

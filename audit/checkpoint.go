package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/store"
)

// CheckpointFormat is the first line of every signed checkpoint message; it
// names the format's version.
const CheckpointFormat = "verwerker-audit-checkpoint/v1"

// Checkpoint is a signed statement that event Seq of Chain had hash Hash at
// SignedAt. Because each event's hash covers every event before it, the
// signature vouches for the whole chain up to Seq: whoever later rewrites
// or removes any of those events, even recomputing every hash, cannot make
// the chain match the checkpoint again without the signing key.
type Checkpoint struct {
	// Chain is the tenant id, or PlatformChain.
	Chain string `json:"chain"`
	// Seq is the sequence number of the event signed: the chain's head when
	// the checkpoint was made.
	Seq int64 `json:"seq"`
	// Hash is that event's hash.
	Hash []byte `json:"hash"`
	// SignedAt is when the checkpoint was signed, to the microsecond, in UTC.
	SignedAt time.Time `json:"signed_at"`
	// KeyID names the key that signed.
	KeyID string `json:"key_id"`
	// Signature is the Ed25519 signature of Message().
	Signature []byte `json:"signature"`
}

// Message returns the exact bytes signed: five lines, each ending in a
// line feed (0x0A), with no other whitespace:
//
//	verwerker-audit-checkpoint/v1
//	chain=<chain>
//	seq=<seq in decimal>
//	hash=<hash in 64 lowercase hex digits>
//	signed_at=<signed_at as YYYY-MM-DDTHH:MM:SS.ffffffZ, UTC, six fractional digits>
//
// A verifier rebuilds it with printf from a checkpoint's fields and checks
// the signature with any Ed25519 implementation.
func (c *Checkpoint) Message() []byte {
	var b strings.Builder
	b.WriteString(CheckpointFormat + "\n")
	b.WriteString("chain=" + c.Chain + "\n")
	b.WriteString("seq=" + strconv.FormatInt(c.Seq, 10) + "\n")
	b.WriteString("hash=" + hex.EncodeToString(c.Hash) + "\n")
	b.WriteString("signed_at=" + c.SignedAt.UTC().Format(timeFormat) + "\n")
	return []byte(b.String())
}

// Checkpointer signs the heads of the audit chains and stores the
// checkpoints. Any number of replicas may run one: a chain's head is
// checkpointed at most once.
type Checkpointer struct {
	db     *store.DB
	clock  verwerker.Clock
	signer keys.Signer
}

// NewCheckpointer returns a Checkpointer that signs with signer.
func NewCheckpointer(db *store.DB, clock verwerker.Clock, signer keys.Signer) *Checkpointer {
	return &Checkpointer{db: db, clock: clock, signer: signer}
}

// KeyID returns the id of the key the checkpointer signs with.
func (c *Checkpointer) KeyID() string { return c.signer.KeyID() }

// Checkpoint signs and stores a checkpoint of the head of every chain whose
// head moved since its last checkpoint, and returns how many it stored.
// Before signing it checks that the events since the last checkpoint link
// from that checkpoint's hash to the head, so it never vouches for a chain
// that was changed below its previous checkpoint. Chains that fail that
// check are not signed; the others are, and the error names the failed
// chains.
func (c *Checkpointer) Checkpoint(ctx context.Context) (int, error) {
	type due struct {
		chain          string
		seq, lastSeq   int64
		hash, lastHash []byte
	}
	rows, err := c.db.Pool.Query(ctx, `
		SELECT h.chain, h.seq, h.hash, COALESCE(c.seq, 0), COALESCE(c.hash, $1)
		FROM audit_heads h
		LEFT JOIN LATERAL (
			SELECT seq, hash FROM audit_checkpoints WHERE chain = h.chain ORDER BY seq DESC LIMIT 1
		) c ON true
		WHERE h.seq <> COALESCE(c.seq, 0) OR h.hash <> COALESCE(c.hash, $1)
		ORDER BY h.chain`, Genesis)
	if err != nil {
		return 0, verwerker.Internal("audit: checkpoint", err)
	}
	var dues []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.chain, &d.seq, &d.hash, &d.lastSeq, &d.lastHash); err != nil {
			rows.Close()
			return 0, verwerker.Internal("audit: checkpoint", err)
		}
		dues = append(dues, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, verwerker.Internal("audit: checkpoint", err)
	}

	signedAt := c.clock.Now().UTC().Truncate(time.Microsecond)
	n := 0
	var refused []string
	for _, d := range dues {
		ok, err := c.extends(ctx, d.chain, d.lastSeq, d.lastHash, d.seq, d.hash)
		if err != nil {
			return n, err
		}
		if !ok {
			refused = append(refused, d.chain)
			continue
		}
		cp := Checkpoint{Chain: d.chain, Seq: d.seq, Hash: d.hash, SignedAt: signedAt, KeyID: c.signer.KeyID()}
		if cp.Signature, err = c.signer.Sign(ctx, cp.Message()); err != nil {
			return n, &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "the signing key is not available", Err: fmt.Errorf("audit: checkpoint: sign: %w", err)}
		}
		tag, err := c.db.Pool.Exec(ctx, `INSERT INTO audit_checkpoints (chain, seq, hash, signed_at, key_id, signature)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chain, seq) DO NOTHING`,
			cp.Chain, cp.Seq, cp.Hash, cp.SignedAt, cp.KeyID, cp.Signature)
		if err != nil {
			return n, verwerker.Internal("audit: checkpoint", err)
		}
		n += int(tag.RowsAffected())
	}
	if len(refused) > 0 {
		return n, verwerker.Errorf(verwerker.ECONFLICT,
			"%d audit chains do not extend their last checkpoint and were not signed; run `verwerker audit verify`: %s",
			len(refused), strings.Join(refused, ", "))
	}
	return n, nil
}

// extends reports whether the events after fromSeq link from fromHash to
// the head (toSeq, toHash), contiguously and each hashing correctly.
func (c *Checkpointer) extends(ctx context.Context, chain string, fromSeq int64, fromHash []byte, toSeq int64, toHash []byte) (bool, error) {
	if toSeq <= fromSeq {
		return false, nil
	}
	rows, err := c.db.Pool.Query(ctx, `SELECT `+eventColumns+` FROM audit_events
		WHERE chain = $1 AND seq > $2 AND seq <= $3 ORDER BY seq`, chain, fromSeq, toSeq)
	if err != nil {
		return false, verwerker.Internal("audit: checkpoint", err)
	}
	defer rows.Close()
	seq, hash := fromSeq, fromHash
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return false, verwerker.Internal("audit: checkpoint", err)
		}
		if e.Seq != seq+1 || !bytes.Equal(e.PrevHash, hash) || !bytes.Equal(ComputeHash(e.PrevHash, e.Canonical()), e.Hash) {
			return false, nil
		}
		seq, hash = e.Seq, e.Hash
	}
	if err := rows.Err(); err != nil {
		return false, verwerker.Internal("audit: checkpoint", err)
	}
	return seq == toSeq && bytes.Equal(hash, toHash), nil
}

// Run checkpoints at once and then every interval until ctx ends. Failures
// are logged, with chain ids but never event contents, and retried at the
// next interval.
func (c *Checkpointer) Run(ctx context.Context, interval time.Duration, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := c.Checkpoint(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			logger.Error("audit: checkpointing failed", "signed", n, "key_id", c.signer.KeyID(), "error", err.Error())
		case n > 0:
			logger.Info("audit: checkpoints signed", "signed", n, "key_id", c.signer.KeyID())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Checkpoints returns up to limit checkpoints of chain with seq greater than
// after, in order, for export and independent verification.
func (l *Log) Checkpoints(ctx context.Context, chain string, after int64, limit int) ([]Checkpoint, error) {
	var cps []Checkpoint
	err := l.db.InTenantTx(ctx, chain, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT chain, seq, hash, signed_at, key_id, signature FROM audit_checkpoints
			WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3`, chain, after, limit)
		if err != nil {
			return verwerker.Internal("audit: checkpoints", err)
		}
		cps, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Checkpoint, error) {
			var c Checkpoint
			err := r.Scan(&c.Chain, &c.Seq, &c.Hash, &c.SignedAt, &c.KeyID, &c.Signature)
			c.SignedAt = c.SignedAt.UTC()
			return c, err
		})
		if err != nil {
			return verwerker.Internal("audit: checkpoints", err)
		}
		return nil
	})
	return cps, err
}

// LastCheckpoint returns chain's newest checkpoint, or nil when it has
// none: the dashboard's sign of the chain's health.
func (l *Log) LastCheckpoint(ctx context.Context, chain string) (*Checkpoint, error) {
	var out *Checkpoint
	err := l.db.InTenantTx(ctx, chain, func(tx pgx.Tx) error {
		var c Checkpoint
		err := tx.QueryRow(ctx, `SELECT chain, seq, hash, signed_at, key_id, signature FROM audit_checkpoints
			WHERE chain = $1 ORDER BY seq DESC LIMIT 1`, chain).Scan(&c.Chain, &c.Seq, &c.Hash, &c.SignedAt, &c.KeyID, &c.Signature)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return verwerker.Internal("audit: last checkpoint", err)
		}
		c.SignedAt = c.SignedAt.UTC()
		out = &c
		return nil
	})
	return out, err
}

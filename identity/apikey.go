package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
)

// TokenPrefix starts every API key, so that secret scanners recognise one.
const TokenPrefix = "vwk_"

// Key is an issued API key. The secret is not part of it: it is shown once,
// by Issue.
type Key struct {
	ID     string
	Prefix string
	Label  string
	// Role and Domain are the grant of a machine key; empty for a personal
	// key, which acts with its owner's roles.
	Role   string
	Domain string
	// UserID is the owner of a personal key.
	UserID string
	// CreatedBy is who issued the key: the user id of a person (since
	// keys are issued only from a signed-in session with a verified second
	// factor), "system" for tools such as the demo seed, or "unknown" for
	// keys from before this was recorded.
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt *time.Time
	RevokedAt *time.Time
}

// NewKey is the input for issuing a key.
type NewKey struct {
	// Label says what the key is for ("chat service production"). It must
	// not name a person.
	Label string
	// Role is one of the policy roles (machine keys).
	Role string
	// Domain is a tenant id for tenant roles, verwerker.PlatformDomain for
	// platform roles (machine keys).
	Domain string
	// UserID makes a personal key of that person instead: no role of its
	// own, the person's roles.
	UserID string
	// ExpiresAt is optional for machine keys, except that a key with an
	// administrative role (policy.IsAdminRole) expires within
	// MaxAdminKeyLife, and at that maximum when none is given. Personal keys
	// expire within MaxPersonalKeyLife.
	ExpiresAt *time.Time
}

// MaxPersonalKeyLife is the longest a personal API key may live.
const MaxPersonalKeyLife = 366 * 24 * time.Hour

// MaxAdminKeyLife is the longest a machine key with an administrative role
// (one that may issue keys, create or disable accounts or set roles:
// platform_admin, controller_admin) may live. A stolen administrative key
// thus dies on its own, and such keys are replaced on a schedule.
const MaxAdminKeyLife = 90 * 24 * time.Hour

// ErrSessionRequired refuses issuing keys and creating accounts to anyone
// but a person signed in with a verified second factor: an API key,
// personal or machine, could otherwise mint credentials that outlive it and
// its owner's second factor.
var ErrSessionRequired = verwerker.Errorf(verwerker.EFORBIDDEN,
	"creating API keys and accounts needs a signed-in session with a verified second factor (TOTP); API keys, personal ones included, cannot do it")

// requireSession returns ErrSessionRequired unless the caller in ctx is a
// person's session with a verified second factor. Without a caller in ctx
// (operator tools, the demo seed) it allows.
func requireSession(ctx context.Context) error {
	p, ok := verwerker.PrincipalFrom(ctx)
	if !ok || (p.Kind == verwerker.PrincipalUser && !p.MFAPending) {
		return nil
	}
	return ErrSessionRequired
}

// Keys issues, checks and revokes API keys.
type Keys struct {
	db      *store.DB
	clock   verwerker.Clock
	audit   *audit.Log
	lookups *lookups
	cache   *keyCache
}

// NewKeys returns a Keys on db. Issuing and revoking are audited in log
// (nil: not audited, for tools and tests).
func NewKeys(db *store.DB, clock verwerker.Clock, log *audit.Log) *Keys {
	return &Keys{db: db, clock: clock, audit: log, lookups: &lookups{db: db.Pool}, cache: newKeyCache()}
}

// Issue creates a key and returns it with its token. The token is not
// stored and cannot be shown again. A machine key's role is granted in the
// same transaction.
//
// Only a person's session with a verified second factor may issue keys
// (ErrSessionRequired); the key records that person as its creator.
func (k *Keys) Issue(ctx context.Context, n NewKey) (Key, string, error) {
	if err := requireSession(ctx); err != nil {
		return Key{}, "", err
	}
	var fields []verwerker.FieldError
	n.Label = strings.TrimSpace(n.Label)
	if l := utf8.RuneCountInString(n.Label); l < 1 || l > 100 {
		fields = append(fields, verwerker.FieldError{Field: "label", Message: "must be 1 to 100 characters"})
	}
	now := k.clock.Now().UTC()
	if n.UserID == "" {
		if err := (policy.Grant{Role: n.Role, Domain: n.Domain}).Check(); err != nil {
			fields = append(fields, verwerker.ErrorFields(err)...)
		}
		if policy.IsAdminRole(n.Role) {
			limit := now.Add(MaxAdminKeyLife)
			if n.ExpiresAt == nil {
				n.ExpiresAt = &limit
			} else if n.ExpiresAt.After(limit) {
				fields = append(fields, verwerker.FieldError{Field: "expires_at", Message: "a key with an administrative role expires within 90 days"})
			}
		}
	} else {
		n.Role, n.Domain = "", ""
		if n.ExpiresAt == nil || n.ExpiresAt.After(now.Add(MaxPersonalKeyLife)) {
			fields = append(fields, verwerker.FieldError{Field: "expires_at", Message: "a personal key expires within 366 days"})
		}
	}
	if n.ExpiresAt != nil && !n.ExpiresAt.After(now) {
		fields = append(fields, verwerker.FieldError{Field: "expires_at", Message: "must be in the future"})
	}
	if len(fields) > 0 {
		return Key{}, "", verwerker.Invalid("the key is not valid", fields...)
	}
	prefix, secret := hex.EncodeToString(randomBytes(6)), base64.RawURLEncoding.EncodeToString(randomBytes(32))
	hash := sha256.Sum256([]byte(secret))
	key := Key{ID: verwerker.NewID(verwerker.PrefixAPIKey, now), Prefix: prefix, Label: n.Label, Role: n.Role,
		Domain: n.Domain, UserID: n.UserID, CreatedBy: audit.Actor(ctx), CreatedAt: now, ExpiresAt: n.ExpiresAt}
	err := k.db.InTx(ctx, func(tx pgx.Tx) error {
		chain := n.Domain
		if n.UserID != "" {
			if err := tx.QueryRow(ctx, `SELECT home_domain FROM users WHERE id = $1 AND disabled_at IS NULL`, n.UserID).Scan(&chain); err != nil {
				return verwerker.Errorf(verwerker.ENOTFOUND, "account not found")
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, prefix, secret_hash, label, role, domain, user_id, created_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, key.ID, prefix, hash[:], key.Label, key.Role, key.Domain,
			nullable(n.UserID), key.CreatedBy, now, n.ExpiresAt)
		if err != nil {
			return verwerker.Internal("identity: issue key", err)
		}
		if n.UserID == "" {
			if err := policy.AddGrant(ctx, tx, policy.Grant{Subject: key.ID, Role: n.Role, Domain: n.Domain}); err != nil {
				return err
			}
		}
		return k.audit.Record(ctx, tx, chain, "apikey.issue", key.ID, key.Role)
	})
	if err != nil {
		return Key{}, "", err
	}
	return key, TokenPrefix + prefix + "_" + secret, nil
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// KeyOwner selects whose keys to list or revoke: the machine keys of a
// domain, or the personal keys of a person.
type KeyOwner struct {
	Domain string
	UserID string
}

// Revoke revokes a key of owner at once, on every replica: the key and its
// grant are gone before the next request is checked. Revoking twice is
// harmless; a key of another owner is not found.
func (k *Keys) Revoke(ctx context.Context, owner KeyOwner, id string) (Key, error) {
	now := k.clock.Now().UTC()
	var key Key
	err := k.inScope(ctx, owner, func(tx pgx.Tx) error {
		var err error
		key, err = scanKey(tx.QueryRow(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1
			AND (($3 <> '' AND domain = $3 AND user_id IS NULL) OR ($4 <> '' AND user_id = $4))
			RETURNING `+keyColumns, id, now, owner.Domain, owner.UserID))
		if errors.Is(err, pgx.ErrNoRows) {
			return verwerker.Errorf(verwerker.ENOTFOUND, "key not found")
		}
		if err != nil {
			return verwerker.Internal("identity: revoke key", err)
		}
		// The grant (machine keys) goes, and the policy version rises in
		// any case: replicas drop the key from memory (personal keys have
		// no grant of their own).
		if _, err := policy.RemoveGrants(ctx, tx, id, ""); err != nil {
			return err
		}
		if err := policy.RaiseVersion(ctx, tx); err != nil {
			return err
		}
		chain := owner.Domain
		if owner.UserID != "" {
			if err := tx.QueryRow(ctx, `SELECT home_domain FROM users WHERE id = $1`, owner.UserID).Scan(&chain); err != nil {
				return verwerker.Internal("identity: revoke key", err)
			}
		}
		return k.audit.Record(ctx, tx, chain, "apikey.revoke", id, "")
	})
	return key, err
}

const keyColumns = `id, prefix, label, role, domain, coalesce(user_id, ''), created_by, created_at, expires_at, revoked_at`

func scanKey(row pgx.Row) (Key, error) {
	var key Key
	err := row.Scan(&key.ID, &key.Prefix, &key.Label, &key.Role, &key.Domain, &key.UserID, &key.CreatedBy, &key.CreatedAt, &key.ExpiresAt, &key.RevokedAt)
	return key, err
}

// Get returns a key of owner, revoked or not; a key of another owner is
// not found.
func (k *Keys) Get(ctx context.Context, owner KeyOwner, id string) (Key, error) {
	var key Key
	err := k.inScope(ctx, owner, func(tx pgx.Tx) error {
		var err error
		key, err = scanKey(tx.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = $1
			AND (($2 <> '' AND domain = $2 AND user_id IS NULL) OR ($3 <> '' AND user_id = $3))`, id, owner.Domain, owner.UserID))
		if errors.Is(err, pgx.ErrNoRows) {
			return verwerker.Errorf(verwerker.ENOTFOUND, "key not found")
		}
		if err != nil {
			return verwerker.Internal("identity: get key", err)
		}
		return nil
	})
	return key, err
}

// List returns owner's keys, newest first, revoked ones included.
func (k *Keys) List(ctx context.Context, owner KeyOwner) ([]Key, error) {
	var keys []Key
	err := k.inScope(ctx, owner, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+keyColumns+` FROM api_keys
			WHERE ($1 <> '' AND domain = $1 AND user_id IS NULL) OR ($2 <> '' AND user_id = $2) ORDER BY id DESC LIMIT 1000`,
			owner.Domain, owner.UserID)
		if err != nil {
			return verwerker.Internal("identity: list keys", err)
		}
		keys, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Key, error) { return scanKey(r) })
		if err != nil {
			return verwerker.Internal("identity: list keys", err)
		}
		return nil
	})
	return keys, err
}

// inScope runs fn in a transaction limited by row-level security to the
// owner's domain; personal keys are not tenant rows.
func (k *Keys) inScope(ctx context.Context, owner KeyOwner, fn func(tx pgx.Tx) error) error {
	if owner.Domain != "" {
		return k.db.InTenantTx(ctx, owner.Domain, fn)
	}
	return k.db.InTx(ctx, fn)
}

var errBadCredentials = verwerker.Errorf(verwerker.EUNAUTHORIZED, "valid credentials are required")

// Check returns the principal of a token. Unknown, malformed, expired and
// revoked tokens all give the same EUNAUTHORIZED error.
func (k *Keys) Check(ctx context.Context, token string) (verwerker.Principal, error) {
	rest, ok := strings.CutPrefix(token, TokenPrefix)
	prefix, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(prefix) != 12 || len(secret) != 43 {
		return verwerker.Principal{}, errBadCredentials
	}
	r, ok := k.cache.get(prefix)
	if !ok {
		var err error
		if r, err = k.lookups.get(ctx, prefix); err != nil {
			return verwerker.Principal{}, &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "credentials cannot be checked now", Err: err}
		}
		k.cache.put(prefix, r)
	}
	if !r.found {
		return verwerker.Principal{}, errBadCredentials
	}
	p := verwerker.Principal{Kind: verwerker.PrincipalAPIKey, Credential: r.id, Role: r.role, Domain: r.domain,
		PolicyVersion: r.policy, DecisionVersion: r.decisionV}
	hash, expiresAt, revokedAt, userID, disabled := r.hash, r.expiresAt, r.revokedAt, r.userID, r.disabled
	sum := sha256.Sum256([]byte(secret))
	now := k.clock.Now()
	if subtle.ConstantTimeCompare(sum[:], hash) != 1 || revokedAt != nil || disabled != nil || (expiresAt != nil && !now.Before(*expiresAt)) {
		return verwerker.Principal{}, errBadCredentials
	}
	p.ID = p.Credential
	if userID != nil {
		p.ID = *userID
	}
	return p, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

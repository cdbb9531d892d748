package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
)

// TokenPrefix starts every API key, so that secret scanners recognise one.
const TokenPrefix = "vwk_"

// Key is an issued API key. The secret is not part of it: it is shown once,
// by Issue.
type Key struct {
	ID        string
	Prefix    string
	Label     string
	Role      string
	Domain    string
	CreatedAt time.Time
	ExpiresAt *time.Time
	RevokedAt *time.Time
}

// NewKey is the input for issuing a key.
type NewKey struct {
	// Label says what the key is for ("chat service production"). It must
	// not name a person.
	Label string
	// Role is one of the policy roles.
	Role string
	// Domain is a tenant id for tenant roles, verwerker.PlatformDomain for
	// platform roles.
	Domain string
	// ExpiresAt is optional.
	ExpiresAt *time.Time
}

// Keys issues, checks and revokes API keys.
type Keys struct {
	db    *store.DB
	clock verwerker.Clock
}

// NewKeys returns a Keys on db.
func NewKeys(db *store.DB, clock verwerker.Clock) *Keys { return &Keys{db: db, clock: clock} }

// Issue creates a key and returns it with its token. The token is not
// stored and cannot be shown again.
func (k *Keys) Issue(ctx context.Context, n NewKey) (Key, string, error) {
	var fields []verwerker.FieldError
	n.Label = strings.TrimSpace(n.Label)
	if l := utf8.RuneCountInString(n.Label); l < 1 || l > 100 {
		fields = append(fields, verwerker.FieldError{Field: "label", Message: "must be 1 to 100 characters"})
	}
	switch {
	case !policy.IsRole(n.Role):
		fields = append(fields, verwerker.FieldError{Field: "role", Message: "is not a known role"})
	case policy.IsPlatformRole(n.Role) && n.Domain != verwerker.PlatformDomain:
		fields = append(fields, verwerker.FieldError{Field: "domain", Message: "a platform role is held in the platform domain"})
	case !policy.IsPlatformRole(n.Role) && !verwerker.ValidID(verwerker.PrefixTenant, n.Domain):
		fields = append(fields, verwerker.FieldError{Field: "domain", Message: "a tenant role is held in one tenant's domain"})
	}
	now := k.clock.Now().UTC()
	if n.ExpiresAt != nil && !n.ExpiresAt.After(now) {
		fields = append(fields, verwerker.FieldError{Field: "expires_at", Message: "must be in the future"})
	}
	if len(fields) > 0 {
		return Key{}, "", verwerker.Invalid("the key is not valid", fields...)
	}
	prefix, secret := hex.EncodeToString(randomBytes(6)), base64.RawURLEncoding.EncodeToString(randomBytes(32))
	hash := sha256.Sum256([]byte(secret))
	key := Key{ID: verwerker.NewID(verwerker.PrefixAPIKey, now), Prefix: prefix, Label: n.Label, Role: n.Role,
		Domain: n.Domain, CreatedAt: now, ExpiresAt: n.ExpiresAt}
	_, err := k.db.Pool.Exec(ctx, `INSERT INTO api_keys (id, prefix, secret_hash, label, role, domain, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, key.ID, prefix, hash[:], key.Label, key.Role, key.Domain, now, n.ExpiresAt)
	if err != nil {
		return Key{}, "", verwerker.Internal("identity: issue key", err)
	}
	return key, TokenPrefix + prefix + "_" + secret, nil
}

// Revoke revokes a key at once. Revoking twice is harmless.
func (k *Keys) Revoke(ctx context.Context, id string) error {
	tag, err := k.db.Pool.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`, id, k.clock.Now().UTC())
	if err != nil {
		return verwerker.Internal("identity: revoke key", err)
	}
	if tag.RowsAffected() == 0 {
		return verwerker.Errorf(verwerker.ENOTFOUND, "key not found")
	}
	return nil
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
	var (
		p         = verwerker.Principal{Kind: verwerker.PrincipalAPIKey}
		hash      []byte
		expiresAt *time.Time
		revokedAt *time.Time
	)
	err := k.db.Pool.QueryRow(ctx, `SELECT id, secret_hash, role, domain, expires_at, revoked_at FROM api_keys WHERE prefix = $1`, prefix).
		Scan(&p.ID, &hash, &p.Role, &p.Domain, &expiresAt, &revokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return verwerker.Principal{}, errBadCredentials
	}
	if err != nil {
		return verwerker.Principal{}, &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "credentials cannot be checked now", Err: err}
	}
	sum := sha256.Sum256([]byte(secret))
	now := k.clock.Now()
	if subtle.ConstantTimeCompare(sum[:], hash) != 1 || revokedAt != nil || (expiresAt != nil && !now.Before(*expiresAt)) {
		return verwerker.Principal{}, errBadCredentials
	}
	return p, nil
}

// Authenticate reads the bearer token of r and checks it.
func (k *Keys) Authenticate(ctx context.Context, r *http.Request) (verwerker.Principal, error) {
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return verwerker.Principal{}, errBadCredentials
	}
	return k.Check(ctx, strings.TrimSpace(token))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

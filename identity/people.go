package identity

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
)

// Token prefixes of people's secrets, so secret scanners recognise them.
const (
	SessionTokenPrefix = "vws_"
	SetupTokenPrefix   = "vwu_"
)

// User is a person's account. Email is personal data of the account holder;
// it is shown to administrators of the account's domain and never written
// to audit events or logs.
type User struct {
	ID          string
	Email       string
	DisplayName string
	// HomeDomain is the tenant id, or verwerker.PlatformDomain, whose
	// administrators manage the account.
	HomeDomain  string
	PasswordSet bool
	TOTPEnabled bool
	CreatedAt   time.Time
	DisabledAt  *time.Time
}

// NewUser is the input for creating an account.
type NewUser struct {
	Email       string
	DisplayName string
	// Role and Domain are the first grant: a platform role in the platform
	// domain, or a tenant role in a tenant's domain.
	Role   string
	Domain string
}

// Session is a person's signed-in session.
type Session struct {
	ID         string
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	MFA        bool
	RevokedAt  *time.Time
}

// Login is the input of a password login.
type Login struct {
	Email    string
	Password string
	// OTP is the current code of the person's authenticator app; required
	// once two-factor authentication is enrolled.
	OTP string
	// ClientAddr is the client's network address (behind trusted proxies,
	// the address they forwarded), used only for throttling and stored
	// only inside hashes. IPv6 addresses count per /64, the block one
	// subscriber gets.
	ClientAddr string
}

// Throttle limits password guessing. Failures are counted within Window
// under three keys, and a key that reaches its limit refuses further
// attempts for Lock, whatever the password (429 with Retry-After):
//
//   - Account: failures for one e-mail address from one client address.
//     This locks the guesser, not the account: the person signs in from
//     their own address as usual.
//   - Addr: failures from one client address, for any e-mail addresses,
//     known or not. This locks that address only.
//   - AccountAllAddrs: failures for one e-mail address from all client
//     addresses together, bounding a guesser with many addresses. Since one
//     address adds at most Account failures, locking a real account out
//     takes AccountAllAddrs/Account different addresses, all naming that
//     account's own e-mail address.
//
// Every key is an e-mail address or a client address, never whether the
// account exists, so an unknown account answers exactly like a known one,
// also when locked; and failures naming e-mail addresses that have no
// account (invented ones) raise only those addresses' counters and the
// sender's: they can never lock out a real account, nor anyone signing in
// from another address.
type Throttle struct {
	Account         int
	Addr            int
	AccountAllAddrs int
	Window          time.Duration
	Lock            time.Duration
}

// DefaultThrottle allows, within fifteen minutes, five failures per account
// and client address, fifty per client address and a hundred per account
// from all addresses together, then locks for fifteen minutes.
var DefaultThrottle = Throttle{Account: 5, Addr: 50, AccountAllAddrs: 100, Window: 15 * time.Minute, Lock: 15 * time.Minute}

// People manages people's accounts, passwords, TOTP second factors and
// sessions.
type People struct {
	db    *store.DB
	clock verwerker.Clock
	audit *audit.Log

	// Argon2 is the password hashing cost.
	Argon2 Argon2Params
	// Throttle limits failed logins.
	Throttle Throttle
	// Issuer names verwerker in authenticator apps.
	Issuer string
	// SessionIdle ends a session not used for this long; SessionMax ends
	// every session this long after login.
	SessionIdle, SessionMax time.Duration
	// SetupValid is how long a set-up token works.
	SetupValid time.Duration

	dummyOnce sync.Once
	dummyHash string
}

// NewPeople returns People with the default settings.
func NewPeople(db *store.DB, clock verwerker.Clock, log *audit.Log) *People {
	p := &People{db: db, clock: clock, audit: log, Argon2: DefaultArgon2, Throttle: DefaultThrottle,
		Issuer: "verwerker", SessionIdle: 30 * time.Minute, SessionMax: 12 * time.Hour, SetupValid: 72 * time.Hour}
	return p
}

var (
	errBadLogin   = verwerker.Errorf(verwerker.EUNAUTHORIZED, "the e-mail address, password or code is not correct")
	errOTPNeeded  = &verwerker.Error{Code: verwerker.EUNAUTHORIZED, Message: "a one-time code from the authenticator app is required", Fields: []verwerker.FieldError{{Field: "otp", Message: "is required for this account"}}}
	errBadSession = verwerker.Errorf(verwerker.EUNAUTHORIZED, "the session has ended; please sign in again")
)

const userColumns = `id, email, display_name, home_domain, password_hash IS NOT NULL, totp_enabled_at IS NOT NULL, created_at, disabled_at`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.DisplayName, &u.HomeDomain, &u.PasswordSet, &u.TOTPEnabled, &u.CreatedAt, &u.DisabledAt)
	return u, err
}

// Create makes an account with its first role and returns it with a
// one-time set-up token, with which the person chooses a password. The
// token is not stored and cannot be shown again. Only a person's session
// with a verified second factor may create accounts (ErrSessionRequired).
func (p *People) Create(ctx context.Context, n NewUser) (User, string, error) {
	if err := requireSession(ctx); err != nil {
		return User{}, "", err
	}
	var fields []verwerker.FieldError
	email := strings.TrimSpace(n.Email)
	if msg := verwerker.CheckEmail(email); msg != "" {
		fields = append(fields, verwerker.FieldError{Field: "email", Message: msg})
	}
	n.DisplayName = strings.TrimSpace(n.DisplayName)
	if l := utf8.RuneCountInString(n.DisplayName); l < 1 || l > 100 {
		fields = append(fields, verwerker.FieldError{Field: "display_name", Message: "must be 1 to 100 characters"})
	}
	if err := (policy.Grant{Role: n.Role, Domain: n.Domain}).Check(); err != nil {
		fields = append(fields, verwerker.ErrorFields(err)...)
	}
	if len(fields) > 0 {
		return User{}, "", verwerker.Invalid("the account is not valid", fields...)
	}
	now := p.clock.Now().UTC()
	u := User{ID: verwerker.NewID(verwerker.PrefixUser, now), Email: email, DisplayName: n.DisplayName, HomeDomain: n.Domain, CreatedAt: now}
	token, hash := newSecret(SetupTokenPrefix)
	err := p.db.InTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO users (id, email, display_name, home_domain, setup_hash, setup_expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, u.ID, u.Email, u.DisplayName, u.HomeDomain, hash, now.Add(p.SetupValid), now)
		if store.IsUniqueViolation(err, "users_email") {
			return verwerker.Invalid("the account is not valid", verwerker.FieldError{Field: "email", Message: "is already used by another account"})
		}
		if err != nil {
			return verwerker.Internal("identity: create user", err)
		}
		if err := policy.AddGrant(ctx, tx, policy.Grant{Subject: u.ID, Role: n.Role, Domain: n.Domain}); err != nil {
			return err
		}
		return p.audit.Record(ctx, tx, n.Domain, "user.create", u.ID, "role "+n.Role)
	})
	if err != nil {
		return User{}, "", err
	}
	return u, token, nil
}

// Get returns an account.
func (p *People) Get(ctx context.Context, id string) (User, error) {
	u, err := scanUser(p.db.Pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, verwerker.Errorf(verwerker.ENOTFOUND, "account not found")
	}
	if err != nil {
		return User{}, verwerker.Internal("identity: get user", err)
	}
	return u, nil
}

// SetUp sets the password of the account a set-up token was issued for.
// The token works once.
func (p *People) SetUp(ctx context.Context, token, password string) error {
	if err := checkPasswordPolicy(password); err != nil {
		return err
	}
	encoded := hashPassword(password, p.Argon2)
	now := p.clock.Now().UTC()
	sum := sha256.Sum256([]byte(token))
	return p.db.InTx(ctx, func(tx pgx.Tx) error {
		var id, domain string
		err := tx.QueryRow(ctx, `UPDATE users SET password_hash = $2, setup_hash = NULL, setup_expires_at = NULL
			WHERE setup_hash = $1 AND setup_expires_at > $3 AND disabled_at IS NULL RETURNING id, home_domain`, sum[:], encoded, now).Scan(&id, &domain)
		if errors.Is(err, pgx.ErrNoRows) {
			return verwerker.Invalid("the set-up token is not valid", verwerker.FieldError{Field: "token", Message: "is unknown, used or expired"})
		}
		if err != nil {
			return verwerker.Internal("identity: set up", err)
		}
		return p.audit.Record(ctx, tx, domain, "user.setup", id, "password set")
	})
}

// DisableOptions say what disabling an account does beyond ending its
// sessions, personal keys and roles.
type DisableOptions struct {
	// RevokeCreatedKeys also revokes every machine key the account issued
	// (and, for keys issued by such keys before keys could only be issued
	// from sessions, theirs). Without it they keep working and are listed
	// as KeyKept.
	RevokeCreatedKeys bool
}

// What disabling an account did to a key it created or owned.
const (
	KeyRevoked        = "revoked"         // revoked by this call
	KeyAlreadyRevoked = "already_revoked" // revoked before
	KeyExpired        = "expired"         // kept, but no longer works
	KeyKept           = "kept"            // still works: RevokeCreatedKeys was not asked for
)

// KeyOutcome is what disabling an account did to one key.
type KeyOutcome struct {
	Key Key
	// Outcome is KeyRevoked, KeyAlreadyRevoked, KeyExpired or KeyKept.
	Outcome string
}

// Disabled is a disabled account with the keys it created or owned.
type Disabled struct {
	User User
	// Keys are the account's personal keys (always revoked) and the
	// machine keys it issued, oldest first.
	Keys []KeyOutcome
}

// Disable ends an account: its sessions and personal keys stop working at
// once, on every replica, and its roles are taken away. The machine keys it
// issued are listed, and revoked too with opts.RevokeCreatedKeys; disabling
// an account again with that option revokes what the first call kept. Each
// revocation is an audit event in the key's chain. Its audit history stays.
func (p *People) Disable(ctx context.Context, id string, opts DisableOptions) (Disabled, error) {
	now := p.clock.Now().UTC()
	var d Disabled
	err := p.db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		d.User, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET disabled_at = coalesce(disabled_at, $2) WHERE id = $1
			RETURNING `+userColumns, id, now))
		if errors.Is(err, pgx.ErrNoRows) {
			return verwerker.Errorf(verwerker.ENOTFOUND, "account not found")
		}
		if err != nil {
			return verwerker.Internal("identity: disable user", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, id, now); err != nil {
			return verwerker.Internal("identity: disable user", err)
		}
		if d.Keys, err = p.disableKeys(ctx, tx, d.User, opts, now); err != nil {
			return err
		}
		if _, err := policy.RemoveGrants(ctx, tx, id, ""); err != nil {
			return err
		}
		// Also without grants: replicas drop the person's keys from memory.
		if err := policy.RaiseVersion(ctx, tx); err != nil {
			return err
		}
		counts := map[string]int{}
		for _, k := range d.Keys {
			counts[k.Outcome]++
		}
		return p.audit.Record(ctx, tx, d.User.HomeDomain, "user.disable", id,
			fmt.Sprintf("keys revoked %d, already revoked %d, kept %d, expired %d",
				counts[KeyRevoked], counts[KeyAlreadyRevoked], counts[KeyKept], counts[KeyExpired]))
	})
	return d, err
}

// disableKeys revokes u's personal keys and, if asked, the machine keys u
// issued, and says what happened to each.
func (p *People) disableKeys(ctx context.Context, tx pgx.Tx, u User, opts DisableOptions, now time.Time) ([]KeyOutcome, error) {
	rows, err := tx.Query(ctx, `WITH RECURSIVE created(id) AS (
			SELECT id FROM api_keys WHERE user_id = $1 OR created_by = $1
			UNION SELECT k.id FROM api_keys k JOIN created c ON k.created_by = c.id)
		SELECT `+keyColumns+` FROM api_keys WHERE id IN (SELECT id FROM created) ORDER BY id FOR UPDATE`, u.ID)
	if err != nil {
		return nil, verwerker.Internal("identity: disable user", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Key, error) { return scanKey(r) })
	if err != nil {
		return nil, verwerker.Internal("identity: disable user", err)
	}
	out := make([]KeyOutcome, 0, len(keys))
	for _, k := range keys {
		personal := k.UserID == u.ID
		switch {
		case k.RevokedAt != nil:
			out = append(out, KeyOutcome{Key: k, Outcome: KeyAlreadyRevoked})
			continue
		case !personal && !opts.RevokeCreatedKeys:
			outcome := KeyKept
			if k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
				outcome = KeyExpired
			}
			out = append(out, KeyOutcome{Key: k, Outcome: outcome})
			continue
		}
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $2 WHERE id = $1`, k.ID, now); err != nil {
			return nil, verwerker.Internal("identity: disable user", err)
		}
		k.RevokedAt = &now
		chain, reason := k.Domain, "creator disabled"
		if personal {
			chain, reason = u.HomeDomain, "owner disabled"
		} else if _, err := policy.RemoveGrants(ctx, tx, k.ID, ""); err != nil {
			return nil, err
		}
		if err := p.audit.Record(ctx, tx, chain, "apikey.revoke", k.ID, reason); err != nil {
			return nil, err
		}
		out = append(out, KeyOutcome{Key: k, Outcome: KeyRevoked})
	}
	return out, nil
}

// Login checks a password (and the TOTP code once enrolled) and starts a
// session. Failures are throttled (see Throttle) per account and client
// address, per client address and per account; unknown accounts cost the
// same time and get the same answers as known ones.
func (p *People) Login(ctx context.Context, in Login) (Session, string, error) {
	now := p.clock.Now().UTC()
	account, addr := strings.ToLower(strings.TrimSpace(in.Email)), throttleAddr(in.ClientAddr)
	keys := [][]byte{throttleKey("account-addr", account+"\x00"+addr), throttleKey("addr", addr), throttleKey("account", account)}
	if wait, err := p.locked(ctx, keys, now); err != nil {
		return Session{}, "", err
	} else if wait > 0 {
		return Session{}, "", &verwerker.Error{Code: verwerker.ETHROTTLED, Message: "too many failed sign-ins; try again later", RetryAfter: wait}
	}
	var (
		id, domain, hash string
		secret           []byte
		lastStep         int64
		disabled         *time.Time
		pwHash           *string
	)
	err := p.db.Pool.QueryRow(ctx, `SELECT id, home_domain, password_hash, totp_secret, totp_last_step, disabled_at
		FROM users WHERE lower(email) = lower($1)`, strings.TrimSpace(in.Email)).Scan(&id, &domain, &pwHash, &secret, &lastStep, &disabled)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Session{}, "", &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "sign-in is not possible now", Err: err}
	}
	hash = p.dummy()
	if pwHash != nil {
		hash = *pwHash
	}
	ok := checkPassword(in.Password, hash) && pwHash != nil && disabled == nil
	if ok && secret != nil {
		if strings.TrimSpace(in.OTP) == "" {
			return Session{}, "", errOTPNeeded
		}
		var step int64
		step, ok = checkTOTP(secret, strings.TrimSpace(in.OTP), now, lastStep)
		if ok {
			tag, err := p.db.Pool.Exec(ctx, `UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2`, id, step)
			ok = err == nil && tag.RowsAffected() == 1 // a concurrent login used this code first
		}
	}
	if !ok {
		if err := p.fail(ctx, keys, now, id); err != nil {
			return Session{}, "", err
		}
		return Session{}, "", errBadLogin
	}
	token, tokenHash := newSecret(SessionTokenPrefix)
	s := Session{ID: verwerker.NewID(verwerker.PrefixSession, now), UserID: id, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(p.SessionMax), MFA: secret != nil}
	err = p.db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM login_throttle WHERE key = $1`, keys[0]); err != nil {
			return verwerker.Internal("identity: login", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sessions (id, token_hash, user_id, created_at, last_seen_at, expires_at, mfa)
			VALUES ($1, $2, $3, $4, $4, $5, $6)`, s.ID, tokenHash, id, now, s.ExpiresAt, s.MFA); err != nil {
			return verwerker.Internal("identity: login", err)
		}
		return p.audit.Record(verwerker.WithPrincipal(ctx, verwerker.Principal{ID: id}), tx, domain, "auth.login", s.ID, mfaReason(s.MFA))
	})
	if err != nil {
		return Session{}, "", err
	}
	return s, token, nil
}

func mfaReason(mfa bool) string {
	if mfa {
		return "password and totp"
	}
	return "password; totp enrolment pending"
}

// dummy is a valid hash of a random password, checked for unknown accounts
// so they take as long as known ones.
func (p *People) dummy() string {
	p.dummyOnce.Do(func() {
		p.dummyHash = hashPassword(base64.RawURLEncoding.EncodeToString(randomBytes(16)), p.Argon2)
	})
	return p.dummyHash
}

func throttleKey(kind, v string) []byte {
	sum := sha256.Sum256([]byte("verwerker-login\x00" + kind + "\x00" + v))
	return sum[:]
}

// throttleAddr is the part of a client address failures are counted
// under: an IPv4 address, or the /64 of an IPv6 address (one subscriber
// gets a whole /64, so single addresses would cost an attacker nothing).
func throttleAddr(client string) string {
	a, err := netip.ParseAddr(client)
	if err != nil {
		return client
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// locked returns how long the longest lock among keys still lasts.
func (p *People) locked(ctx context.Context, keys [][]byte, now time.Time) (time.Duration, error) {
	var until *time.Time
	err := p.db.Pool.QueryRow(ctx, `SELECT max(locked_until) FROM login_throttle WHERE key = ANY($1) AND locked_until > $2`, keys, now).Scan(&until)
	if err != nil {
		return 0, &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "sign-in is not possible now", Err: err}
	}
	if until == nil {
		return 0, nil
	}
	return until.Sub(now), nil
}

// fail counts a failed login under keys (see Throttle), locks what reached
// its limit, and audits the failure (the account id if it exists, never
// the e-mail address).
func (p *People) fail(ctx context.Context, keys [][]byte, now time.Time, userID string) error {
	limits := []int{p.Throttle.Account, p.Throttle.Addr, p.Throttle.AccountAllAddrs}
	return p.db.InTx(ctx, func(tx pgx.Tx) error {
		for i, key := range keys {
			_, err := tx.Exec(ctx, `INSERT INTO login_throttle AS t (key, failures, window_start) VALUES ($1, 1, $2)
				ON CONFLICT (key) DO UPDATE SET
					failures = CASE WHEN t.window_start <= $2 - make_interval(secs => $3) THEN 1 ELSE t.failures + 1 END,
					window_start = CASE WHEN t.window_start <= $2 - make_interval(secs => $3) THEN $2 ELSE t.window_start END`,
				key, now, p.Throttle.Window.Seconds())
			if err != nil {
				return verwerker.Internal("identity: count failure", err)
			}
			if _, err := tx.Exec(ctx, `UPDATE login_throttle SET locked_until = $3 WHERE key = $1 AND failures >= $2`,
				key, limits[i], now.Add(p.Throttle.Lock)); err != nil {
				return verwerker.Internal("identity: lock", err)
			}
		}
		resource := userID
		if resource == "" {
			resource = "unknown"
		}
		ctx := verwerker.WithPrincipal(ctx, verwerker.Principal{ID: "anonymous"})
		return p.audit.RecordOutcome(ctx, tx, audit.PlatformChain, "auth.login", resource, audit.Denied, "bad credentials")
	})
}

// Authenticate returns the principal of a session token.
func (p *People) Authenticate(ctx context.Context, token string) (verwerker.Principal, error) {
	if !strings.HasPrefix(token, SessionTokenPrefix) || len(token) != len(SessionTokenPrefix)+43 {
		return verwerker.Principal{}, errBadSession
	}
	sum := sha256.Sum256([]byte(token))
	var (
		s        Session
		disabled *time.Time
		version  int64
	)
	err := p.db.Pool.QueryRow(ctx, `SELECT s.id, s.user_id, s.last_seen_at, s.expires_at, s.mfa, s.revoked_at, u.disabled_at,
			(SELECT version FROM authz_version)
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1`, sum[:]).
		Scan(&s.ID, &s.UserID, &s.LastSeenAt, &s.ExpiresAt, &s.MFA, &s.RevokedAt, &disabled, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return verwerker.Principal{}, errBadSession
	}
	if err != nil {
		return verwerker.Principal{}, &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "credentials cannot be checked now", Err: err}
	}
	now := p.clock.Now().UTC()
	if s.RevokedAt != nil || disabled != nil || !now.Before(s.ExpiresAt) || !now.Before(s.LastSeenAt.Add(p.SessionIdle)) {
		return verwerker.Principal{}, errBadSession
	}
	if now.Sub(s.LastSeenAt) > time.Minute {
		if _, err := p.db.Pool.Exec(ctx, `UPDATE sessions SET last_seen_at = $2 WHERE id = $1`, s.ID, now); err != nil {
			return verwerker.Principal{}, &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "credentials cannot be checked now", Err: err}
		}
	}
	return verwerker.Principal{ID: s.UserID, Kind: verwerker.PrincipalUser, Credential: s.ID, PolicyVersion: version, MFAPending: !s.MFA}, nil
}

// Sessions lists a person's sessions that have not ended, newest first.
func (p *People) Sessions(ctx context.Context, userID string) ([]Session, error) {
	now := p.clock.Now().UTC()
	rows, err := p.db.Pool.Query(ctx, `SELECT id, user_id, created_at, last_seen_at, expires_at, mfa, revoked_at FROM sessions
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_seen_at > $3 ORDER BY created_at DESC LIMIT 100`,
		userID, now, now.Add(-p.SessionIdle))
	if err != nil {
		return nil, verwerker.Internal("identity: list sessions", err)
	}
	ss, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Session, error) {
		var s Session
		return s, r.Scan(&s.ID, &s.UserID, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &s.MFA, &s.RevokedAt)
	})
	if err != nil {
		return nil, verwerker.Internal("identity: list sessions", err)
	}
	return ss, nil
}

// RevokeSession ends one of a person's sessions at once (logout is
// revoking one's own current session).
func (p *People) RevokeSession(ctx context.Context, userID, sessionID string) error {
	now := p.clock.Now().UTC()
	return p.db.InTx(ctx, func(tx pgx.Tx) error {
		var domain string
		err := tx.QueryRow(ctx, `UPDATE sessions s SET revoked_at = coalesce(s.revoked_at, $3) FROM users u
			WHERE s.id = $1 AND s.user_id = $2 AND u.id = s.user_id RETURNING u.home_domain`, sessionID, userID, now).Scan(&domain)
		if errors.Is(err, pgx.ErrNoRows) {
			return verwerker.Errorf(verwerker.ENOTFOUND, "session not found")
		}
		if err != nil {
			return verwerker.Internal("identity: revoke session", err)
		}
		return p.audit.Record(ctx, tx, domain, "auth.session.revoke", sessionID, "")
	})
}

// Enrolment is an offered TOTP secret, to be confirmed with a code.
type Enrolment struct {
	// Secret is the base32 secret for manual entry.
	Secret string
	// URI is the otpauth:// URI for a QR code.
	URI string
}

// EnrollTOTP offers a new TOTP secret to a person who has none yet.
func (p *People) EnrollTOTP(ctx context.Context, userID string) (Enrolment, error) {
	secret := randomBytes(20)
	var email string
	err := p.db.Pool.QueryRow(ctx, `UPDATE users SET totp_pending = $2 WHERE id = $1 AND totp_enabled_at IS NULL RETURNING email`,
		userID, secret).Scan(&email)
	if errors.Is(err, pgx.ErrNoRows) {
		return Enrolment{}, verwerker.Errorf(verwerker.ECONFLICT, "two-factor authentication is already enrolled")
	}
	if err != nil {
		return Enrolment{}, verwerker.Internal("identity: enrol totp", err)
	}
	return Enrolment{Secret: totpEncoding.EncodeToString(secret), URI: otpauthURI(p.Issuer, email, secret)}, nil
}

// ConfirmTOTP enables the offered secret once code proves the person's app
// holds it, and completes two-factor authentication for sessionID.
func (p *People) ConfirmTOTP(ctx context.Context, userID, sessionID, code string) error {
	now := p.clock.Now().UTC()
	return p.db.InTx(ctx, func(tx pgx.Tx) error {
		var pending []byte
		var domain string
		err := tx.QueryRow(ctx, `SELECT totp_pending, home_domain FROM users WHERE id = $1 AND totp_enabled_at IS NULL FOR UPDATE`, userID).Scan(&pending, &domain)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && pending == nil) {
			return verwerker.Errorf(verwerker.ECONFLICT, "no two-factor enrolment is in progress")
		}
		if err != nil {
			return verwerker.Internal("identity: confirm totp", err)
		}
		step, ok := checkTOTP(pending, strings.TrimSpace(code), now, 0)
		if !ok {
			return verwerker.Invalid("the code is not correct", verwerker.FieldError{Field: "code", Message: "does not match the authenticator app's current code"})
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, totp_enabled_at = $2, totp_last_step = $3
			WHERE id = $1`, userID, now, step); err != nil {
			return verwerker.Internal("identity: confirm totp", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE sessions SET mfa = true WHERE id = $1 AND user_id = $2`, sessionID, userID); err != nil {
			return verwerker.Internal("identity: confirm totp", err)
		}
		return p.audit.Record(ctx, tx, domain, "auth.totp.enrol", userID, "")
	})
}

// newSecret returns a token with prefix and its SHA-256 hash.
func newSecret(prefix string) (string, []byte) {
	token := prefix + base64.RawURLEncoding.EncodeToString(randomBytes(32))
	sum := sha256.Sum256([]byte(token))
	return token, sum[:]
}

package identity_test

import (
	"context"
	"encoding/base32"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
)

// start is where every test's clock starts. It is a multiple of 30 s, so a
// TOTP step begins exactly here.
var start = time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)

const goodPassword = "correct horse battery staple"

// env is one test's people service on its own database.
type env struct {
	db     *store.DB
	clock  *verwerker.ManualClock
	people *identity.People
	keys   *identity.Keys
	tenant string // a tenant id for tenant roles (no tenants row is needed)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := storetest.New(t)
	clock := verwerker.NewManualClock(start)
	log := audit.NewLog(db, clock)
	t.Cleanup(log.Close)
	p := identity.NewPeople(db, clock, log)
	// Cheap hashing: the algorithm is under test, not its cost.
	p.Argon2 = identity.Argon2Params{Memory: 64, Time: 1, Threads: 1}
	return &env{db: db, clock: clock, people: p, keys: identity.NewKeys(db, clock, log),
		tenant: verwerker.NewID(verwerker.PrefixTenant, start)}
}

// account creates a controller_admin of the env's tenant and sets its
// password to goodPassword.
func (e *env) account(t *testing.T, email string) identity.User {
	t.Helper()
	ctx := context.Background()
	u, token, err := e.people.Create(ctx, identity.NewUser{Email: email, DisplayName: "Test Person", Role: policy.RoleControllerAdmin, Domain: e.tenant})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(token, identity.SetupTokenPrefix), token)
	require.NoError(t, e.people.SetUp(ctx, token, goodPassword))
	return u
}

func (e *env) login(email, password, otp, addr string) (identity.Session, string, error) {
	return e.people.Login(context.Background(), identity.Login{Email: email, Password: password, OTP: otp, ClientAddr: addr})
}

// enrol enrols TOTP for u with a session started now and returns the
// base32 secret. The clock is moved to the next step, so the confirming
// code is not the current one any more.
func (e *env) enrol(t *testing.T, u identity.User) string {
	t.Helper()
	ctx := context.Background()
	s, _, err := e.login(u.Email, goodPassword, "", "192.0.2.1")
	require.NoError(t, err)
	en, err := e.people.EnrollTOTP(ctx, u.ID)
	require.NoError(t, err)
	code, err := identity.TOTPCode(en.Secret, e.clock.Now())
	require.NoError(t, err)
	require.NoError(t, e.people.ConfirmTOTP(ctx, u.ID, s.ID, code))
	e.clock.Advance(30 * time.Second)
	return en.Secret
}

func requireCode(t *testing.T, err error, code string, fields ...string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, verwerker.ErrorCode(err), "%v", err)
	var got []string
	for _, f := range verwerker.ErrorFields(err) {
		got = append(got, f.Field)
	}
	require.Equal(t, fields, got, "%v", err)
}

func TestPasswordHashRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ada := e.account(t, "ada@example.com")
	bob := e.account(t, "bob@example.com") // same password, different salt

	var hashes []string
	for _, id := range []string{ada.ID, bob.ID} {
		var h string
		require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, id).Scan(&h))
		require.True(t, strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$"), h)
		require.Len(t, strings.Split(h, "$"), 6)
		require.NotContains(t, h, goodPassword)
		hashes = append(hashes, h)
	}
	require.NotEqual(t, hashes[0], hashes[1], "every hash has its own salt")

	s, token, err := e.login("ada@example.com", goodPassword, "", "192.0.2.1")
	require.NoError(t, err)
	require.Equal(t, ada.ID, s.UserID)
	require.False(t, s.MFA)
	require.True(t, strings.HasPrefix(token, identity.SessionTokenPrefix), token)
	require.Equal(t, start.Add(12*time.Hour), s.ExpiresAt)

	_, _, err = e.login("  ADA@Example.COM ", goodPassword, "", "192.0.2.1")
	require.NoError(t, err, "the e-mail address is matched ignoring case and spaces")

	for _, pw := range []string{goodPassword + " ", "Correct horse battery staple", "", strings.Repeat("x", 256)} {
		_, _, err = e.login("ada@example.com", pw, "", "192.0.2.1")
		requireCode(t, err, verwerker.EUNAUTHORIZED)
	}

	// A hash made with other cost parameters still verifies: the
	// parameters are read from the stored string.
	e.people.Argon2 = identity.Argon2Params{Memory: 128, Time: 2, Threads: 2}
	_, _, err = e.login("ada@example.com", goodPassword, "", "192.0.2.1")
	require.NoError(t, err)
}

func TestTOTPCodeRFC6238(t *testing.T) {
	t.Parallel()
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	require.Equal(t, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", secret)
	// RFC 6238 appendix B, SHA-1; the RFC lists 8 digits, authenticator
	// apps show the last 6.
	for unix, want := range map[int64]string{
		59:         "287082",
		1111111109: "081804",
		1111111111: "050471",
		1234567890: "005924",
		2000000000: "279037",
	} {
		got, err := identity.TOTPCode(secret, time.Unix(unix, 0))
		require.NoError(t, err)
		require.Equal(t, want, got, "T=%d", unix)
	}
	_, err := identity.TOTPCode("not base32!", start)
	require.Error(t, err)
}

func TestTOTPEnrolmentAndLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.account(t, "ada@example.com")

	s, token, err := e.login(u.Email, goodPassword, "", "192.0.2.1")
	require.NoError(t, err)
	require.False(t, s.MFA)
	p, err := e.people.Authenticate(ctx, token)
	require.NoError(t, err)
	require.True(t, p.MFAPending, "a session without a second factor is pending")
	require.Equal(t, u.ID, p.ID)
	require.Equal(t, verwerker.PrincipalUser, p.Kind)
	require.Equal(t, s.ID, p.Credential)

	err = e.people.ConfirmTOTP(ctx, u.ID, s.ID, "123456")
	requireCode(t, err, verwerker.ECONFLICT) // nothing offered yet

	en, err := e.people.EnrollTOTP(ctx, u.ID)
	require.NoError(t, err)
	require.Len(t, en.Secret, 32) // 20 bytes, base32 without padding
	require.True(t, strings.HasPrefix(en.URI, "otpauth://totp/verwerker:"), en.URI)
	require.Contains(t, en.URI, "secret="+en.Secret)
	require.Contains(t, en.URI, "issuer=verwerker")

	code, err := identity.TOTPCode(en.Secret, e.clock.Now())
	require.NoError(t, err)
	err = e.people.ConfirmTOTP(ctx, u.ID, s.ID, wrongCode(t, en.Secret, e.clock.Now()))
	requireCode(t, err, verwerker.EINVALID, "code")
	require.NoError(t, e.people.ConfirmTOTP(ctx, u.ID, s.ID, code))

	p, err = e.people.Authenticate(ctx, token)
	require.NoError(t, err)
	require.False(t, p.MFAPending, "confirming completes the second factor of this session")
	got, err := e.people.Get(ctx, u.ID)
	require.NoError(t, err)
	require.True(t, got.TOTPEnabled)

	_, err = e.people.EnrollTOTP(ctx, u.ID)
	requireCode(t, err, verwerker.ECONFLICT)

	// The confirming code was used: it does not log in, even in its step.
	_, _, err = e.login(u.Email, goodPassword, code, "192.0.2.1")
	requireCode(t, err, verwerker.EUNAUTHORIZED)

	e.clock.Advance(30 * time.Second)
	_, _, err = e.login(u.Email, goodPassword, "", "192.0.2.1")
	requireCode(t, err, verwerker.EUNAUTHORIZED, "otp")
	_, _, err = e.login(u.Email, goodPassword, "  ", "192.0.2.1")
	requireCode(t, err, verwerker.EUNAUTHORIZED, "otp")
	_, _, err = e.login(u.Email, "wrong password 123", "", "192.0.2.1")
	requireCode(t, err, verwerker.EUNAUTHORIZED) // no hint that the password is the problem

	_, _, err = e.login(u.Email, goodPassword, wrongCode(t, en.Secret, e.clock.Now()), "192.0.2.1")
	requireCode(t, err, verwerker.EUNAUTHORIZED)
	_, _, err = e.login(u.Email, goodPassword, "12345", "192.0.2.1")
	requireCode(t, err, verwerker.EUNAUTHORIZED)

	code, err = identity.TOTPCode(en.Secret, e.clock.Now())
	require.NoError(t, err)
	s2, token2, err := e.login(u.Email, goodPassword, code, "192.0.2.1")
	require.NoError(t, err)
	require.True(t, s2.MFA)
	p, err = e.people.Authenticate(ctx, token2)
	require.NoError(t, err)
	require.False(t, p.MFAPending)

	// Replay: the same code again within its 30 s step, and a step of the
	// accepted skew that is older than the used one.
	e.clock.Advance(10 * time.Second)
	_, _, err = e.login(u.Email, goodPassword, code, "192.0.2.1")
	requireCode(t, err, verwerker.EUNAUTHORIZED)
	prev, err := identity.TOTPCode(en.Secret, e.clock.Now().Add(-30*time.Second))
	require.NoError(t, err)
	_, _, err = e.login(u.Email, goodPassword, prev, "192.0.2.1")
	requireCode(t, err, verwerker.EUNAUTHORIZED)

	// One step of drift is accepted: the code of the step after now.
	e.clock.Advance(20 * time.Second) // next step
	drift, err := identity.TOTPCode(en.Secret, e.clock.Now().Add(30*time.Second))
	require.NoError(t, err)
	_, _, err = e.login(u.Email, goodPassword, drift, "192.0.2.1")
	require.NoError(t, err, "the next step's code is accepted (clock drift)")
	_, _, err = e.login(u.Email, goodPassword, drift, "192.0.2.1")
	requireCode(t, err, verwerker.EUNAUTHORIZED)
}

// wrongCode is a six-digit code that is none of the codes accepted at now.
func wrongCode(t *testing.T, secret string, now time.Time) string {
	t.Helper()
	valid := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		c, err := identity.TOTPCode(secret, now.Add(d))
		require.NoError(t, err)
		valid[c] = true
	}
	for i := 0; ; i++ {
		c := fmt.Sprintf("%06d", i)
		if !valid[c] {
			return c
		}
	}
}

func TestLoginThrottlePerAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.account(t, "ada@example.com")
	require.Equal(t, identity.DefaultThrottle, e.people.Throttle)
	require.Equal(t, identity.Throttle{Account: 5, Addr: 50, AccountAllAddrs: 100, Window: 15 * time.Minute, Lock: 15 * time.Minute}, identity.DefaultThrottle)

	// Five failures from one address, under varying spellings of the
	// e-mail address: that address is locked for the account.
	for i, email := range []string{"ada@example.com", "ADA@example.com", " ada@example.com", "Ada@Example.com", "ada@EXAMPLE.COM"} {
		_, _, err := e.login(email, fmt.Sprintf("wrong password %d", i), "", "192.0.2.1")
		requireCode(t, err, verwerker.EUNAUTHORIZED)
		e.clock.Advance(time.Second)
	}
	lockedAt := e.clock.Now().Add(-time.Second)

	_, _, err := e.login(u.Email, goodPassword, "", "192.0.2.1")
	requireCode(t, err, verwerker.ETHROTTLED)
	require.Equal(t, lockedAt.Add(15*time.Minute).Sub(e.clock.Now()), verwerker.ErrorRetryAfter(err))
	require.Positive(t, verwerker.ErrorRetryAfter(err))

	// The guesser is locked, not the person: from their own address they
	// sign in as usual.
	_, _, err = e.login(u.Email, goodPassword, "", "198.51.100.7")
	require.NoError(t, err, "failures from another address must not lock the account out")

	e.clock.Advance(14 * time.Minute)
	_, _, err = e.login(u.Email, goodPassword, "", "192.0.2.1")
	requireCode(t, err, verwerker.ETHROTTLED)
	require.Equal(t, 59*time.Second, verwerker.ErrorRetryAfter(err))

	e.clock.Advance(59 * time.Second)
	_, _, err = e.login(u.Email, goodPassword, "", "192.0.2.1")
	require.NoError(t, err, "the lock has ended")

	// A success clears the failures from that address: four more do not
	// lock.
	for i := range 4 {
		_, _, err := e.login(u.Email, fmt.Sprintf("wrong password %d", i), "", "192.0.2.9")
		requireCode(t, err, verwerker.EUNAUTHORIZED)
	}
	_, _, err = e.login(u.Email, goodPassword, "", "192.0.2.9")
	require.NoError(t, err)

	// Failures older than the window do not count.
	for i := range 4 {
		_, _, err := e.login(u.Email, fmt.Sprintf("wrong password %d", i), "", "192.0.2.9")
		requireCode(t, err, verwerker.EUNAUTHORIZED)
	}
	e.clock.Advance(16 * time.Minute)
	_, _, err = e.login(u.Email, "wrong password 5", "", "192.0.2.9")
	requireCode(t, err, verwerker.EUNAUTHORIZED)
	_, _, err = e.login(u.Email, goodPassword, "", "192.0.2.9")
	require.NoError(t, err, "five failures, but not within one window")
}

// TestLoginThrottleAccountAllAddresses: a guesser with many addresses is
// bounded per account; it takes AccountAllAddrs/Account addresses naming
// the account's own e-mail address to lock it, and invented e-mail
// addresses from any number of addresses never lock a real account.
func TestLoginThrottleAccountAllAddresses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.people.Throttle.AccountAllAddrs = 10
	u := e.account(t, "ada@example.com")
	other := e.account(t, "bob@example.com")

	// Invented accounts from many addresses, far more failures in all
	// than any limit: nobody real is locked.
	for i := range 20 {
		addr := fmt.Sprintf("203.0.113.%d", i+1)
		for j := range 5 {
			_, _, err := e.login(fmt.Sprintf("ada.%d.%d@example.com", i, j), "wrong password!", "", addr)
			requireCode(t, err, verwerker.EUNAUTHORIZED)
		}
	}
	_, _, err := e.login(u.Email, goodPassword, "", "198.51.100.7")
	require.NoError(t, err)

	// Ten failures for Ada from two addresses lock Ada everywhere, for the
	// lock's time; Bob is not affected.
	for i := range 10 {
		_, _, err := e.login(u.Email, "wrong password!", "", fmt.Sprintf("192.0.2.%d", i/5+1))
		requireCode(t, err, verwerker.EUNAUTHORIZED)
	}
	_, _, err = e.login(u.Email, goodPassword, "", "198.51.100.8")
	requireCode(t, err, verwerker.ETHROTTLED)
	require.Equal(t, 15*time.Minute, verwerker.ErrorRetryAfter(err))
	_, _, err = e.login(other.Email, goodPassword, "", "198.51.100.8")
	require.NoError(t, err)
	e.clock.Advance(15 * time.Minute)
	_, _, err = e.login(u.Email, goodPassword, "", "198.51.100.8")
	require.NoError(t, err)
}

// TestLoginThrottleIPv6PerSubscriber: IPv6 addresses count per /64, the
// block one subscriber gets, so that changing the address within it does
// not buy guesses.
func TestLoginThrottleIPv6PerSubscriber(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.people.Throttle.Addr = 3
	u := e.account(t, "ada@example.com")
	for i, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		_, _, err := e.login(email, "wrong password!", "", fmt.Sprintf("2001:db8:1:2::%x", i+1))
		requireCode(t, err, verwerker.EUNAUTHORIZED)
	}
	_, _, err := e.login(u.Email, goodPassword, "", "2001:db8:1:2:ffff::9")
	requireCode(t, err, verwerker.ETHROTTLED)
	_, _, err = e.login(u.Email, goodPassword, "", "2001:db8:1:3::1")
	require.NoError(t, err, "another /64 is another subscriber")
}

func TestLoginThrottlePerAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.people.Throttle.Addr = 3
	var users []identity.User
	for i := range 4 {
		users = append(users, e.account(t, fmt.Sprintf("person%d@example.com", i)))
	}

	// One failure each for two accounts and an unknown address: three from
	// one client address.
	for _, email := range []string{users[0].Email, users[1].Email, "nobody@example.com"} {
		_, _, err := e.login(email, "wrong password!", "", "203.0.113.5")
		requireCode(t, err, verwerker.EUNAUTHORIZED)
	}
	_, _, err := e.login(users[3].Email, goodPassword, "", "203.0.113.5")
	requireCode(t, err, verwerker.ETHROTTLED)
	require.Equal(t, 15*time.Minute, verwerker.ErrorRetryAfter(err))

	// The same account from another address is not locked.
	_, _, err = e.login(users[3].Email, goodPassword, "", "203.0.113.6")
	require.NoError(t, err)

	e.clock.Advance(15 * time.Minute)
	_, _, err = e.login(users[3].Email, goodPassword, "", "203.0.113.5")
	require.NoError(t, err)
}

func TestLoginUnknownAccountLooksLikeWrongPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.account(t, "ada@example.com")
	notSetUp, _, err := e.people.Create(ctx, identity.NewUser{Email: "new@example.com", DisplayName: "New", Role: policy.RoleAuditor, Domain: e.tenant})
	require.NoError(t, err)
	disabled := e.account(t, "gone@example.com")
	_, err = e.people.Disable(ctx, disabled.ID, identity.DisableOptions{})
	require.NoError(t, err)

	_, _, wrong := e.login(u.Email, "wrong password!", "", "192.0.2.1")
	requireCode(t, wrong, verwerker.EUNAUTHORIZED)
	for name, in := range map[string]identity.Login{
		"Unknown":        {Email: "nobody@example.com", Password: goodPassword},
		"NotAnAddress":   {Email: "nobody", Password: goodPassword},
		"NoPasswordYet":  {Email: notSetUp.Email, Password: goodPassword},
		"Disabled":       {Email: disabled.Email, Password: goodPassword},
		"EmptyPassword":  {Email: u.Email},
		"UnknownWithOTP": {Email: "nobody@example.com", Password: goodPassword, OTP: "123456"},
	} {
		in.ClientAddr = "192.0.2.2"
		_, _, err := e.people.Login(ctx, in)
		require.Equal(t, wrong.Error(), err.Error(), name)
		require.Equal(t, verwerker.ErrorMessage(wrong), verwerker.ErrorMessage(err), name)
		require.Empty(t, verwerker.ErrorFields(err), name)
	}

	// Unknown accounts are throttled like known ones.
	for range 5 {
		_, _, err := e.login("ghost@example.com", goodPassword, "", "192.0.2.3")
		requireCode(t, err, verwerker.EUNAUTHORIZED)
	}
	_, _, err = e.login("ghost@example.com", goodPassword, "", "192.0.2.3")
	requireCode(t, err, verwerker.ETHROTTLED)
}

func TestSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.account(t, "ada@example.com")
	s, token, err := e.login(u.Email, goodPassword, "", "192.0.2.1")
	require.NoError(t, err)

	for range 3 {
		e.clock.Advance(29 * time.Minute)
		_, err := e.people.Authenticate(ctx, token)
		require.NoError(t, err, "use within 30 minutes keeps the session")
	}
	ss, err := e.people.Sessions(ctx, u.ID)
	require.NoError(t, err)
	require.Len(t, ss, 1)
	require.Equal(t, s.ID, ss[0].ID)
	require.Equal(t, e.clock.Now(), ss[0].LastSeenAt.UTC())

	e.clock.Advance(30 * time.Minute)
	_, err = e.people.Authenticate(ctx, token)
	requireCode(t, err, verwerker.EUNAUTHORIZED)
	ss, err = e.people.Sessions(ctx, u.ID)
	require.NoError(t, err)
	require.Empty(t, ss)

	// Malformed tokens.
	for _, tok := range []string{"", "vws_", token[:len(token)-1], "vwk_" + token[4:], token + "x"} {
		_, err := e.people.Authenticate(ctx, tok)
		requireCode(t, err, verwerker.EUNAUTHORIZED)
	}
}

func TestSessionAbsoluteLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.account(t, "ada@example.com")
	s, token, err := e.login(u.Email, goodPassword, "", "192.0.2.1")
	require.NoError(t, err)
	require.Equal(t, e.clock.Now().Add(12*time.Hour), s.ExpiresAt)

	for e.clock.Now().Add(25 * time.Minute).Before(s.ExpiresAt) {
		e.clock.Advance(25 * time.Minute)
		_, err := e.people.Authenticate(ctx, token)
		require.NoError(t, err, "at %s", e.clock.Now().Sub(s.CreatedAt))
	}
	e.clock.Set(s.ExpiresAt.Add(-time.Second))
	_, err = e.people.Authenticate(ctx, token)
	require.NoError(t, err)
	e.clock.Advance(time.Second)
	_, err = e.people.Authenticate(ctx, token)
	requireCode(t, err, verwerker.EUNAUTHORIZED)
	ss, err := e.people.Sessions(ctx, u.ID)
	require.NoError(t, err)
	require.Empty(t, ss)
}

func TestRevokeSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ada := e.account(t, "ada@example.com")
	bob := e.account(t, "bob@example.com")
	s1, t1, err := e.login(ada.Email, goodPassword, "", "192.0.2.1")
	require.NoError(t, err)
	e.clock.Advance(time.Second)
	s2, t2, err := e.login(ada.Email, goodPassword, "", "192.0.2.1")
	require.NoError(t, err)

	ss, err := e.people.Sessions(ctx, ada.ID)
	require.NoError(t, err)
	require.Len(t, ss, 2)
	require.Equal(t, s2.ID, ss[0].ID, "newest first")

	err = e.people.RevokeSession(ctx, bob.ID, s1.ID)
	requireCode(t, err, verwerker.ENOTFOUND) // not bob's session
	_, err = e.people.Authenticate(ctx, t1)
	require.NoError(t, err)

	require.NoError(t, e.people.RevokeSession(ctx, ada.ID, s1.ID))
	require.NoError(t, e.people.RevokeSession(ctx, ada.ID, s1.ID), "twice is harmless")
	_, err = e.people.Authenticate(ctx, t1)
	requireCode(t, err, verwerker.EUNAUTHORIZED)
	_, err = e.people.Authenticate(ctx, t2)
	require.NoError(t, err, "the other session goes on")
	ss, err = e.people.Sessions(ctx, ada.ID)
	require.NoError(t, err)
	require.Len(t, ss, 1)
}

func TestDisableEndsSessionsAndPersonalKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.account(t, "ada@example.com")
	other := e.account(t, "bob@example.com")
	secret := e.enrol(t, u)

	code, err := identity.TOTPCode(secret, e.clock.Now())
	require.NoError(t, err)
	_, session, err := e.login(u.Email, goodPassword, code, "192.0.2.1")
	require.NoError(t, err)
	exp := e.clock.Now().Add(30 * 24 * time.Hour)
	key, keyToken, err := e.keys.Issue(ctx, identity.NewKey{Label: "my scripts", UserID: u.ID, ExpiresAt: &exp})
	require.NoError(t, err)
	require.Empty(t, key.Role)
	require.Empty(t, key.Domain)
	_, otherSession, err := e.login(other.Email, goodPassword, "", "192.0.2.1")
	require.NoError(t, err)

	p, err := e.keys.Check(ctx, keyToken)
	require.NoError(t, err)
	require.Equal(t, u.ID, p.ID, "a personal key acts as its owner")
	require.Equal(t, key.ID, p.Credential)
	_, err = e.people.Authenticate(ctx, session)
	require.NoError(t, err)

	e.clock.Advance(time.Minute)
	got, err := e.people.Disable(ctx, u.ID, identity.DisableOptions{})
	require.NoError(t, err)
	require.NotNil(t, got.User.DisabledAt)

	_, err = e.people.Authenticate(ctx, session)
	requireCode(t, err, verwerker.EUNAUTHORIZED)
	_, err = e.keys.Check(ctx, keyToken)
	requireCode(t, err, verwerker.EUNAUTHORIZED)
	gs, err := e.people.Grants(ctx, u.ID)
	require.NoError(t, err)
	require.Empty(t, gs, "the roles are taken away")
	e.clock.Advance(30 * time.Second)
	code, err = identity.TOTPCode(secret, e.clock.Now())
	require.NoError(t, err)
	_, _, err = e.login(u.Email, goodPassword, code, "192.0.2.1")
	requireCode(t, err, verwerker.EUNAUTHORIZED)
	_, _, err = e.keys.Issue(ctx, identity.NewKey{Label: "more", UserID: u.ID, ExpiresAt: &exp})
	requireCode(t, err, verwerker.ENOTFOUND)

	_, err = e.people.Authenticate(ctx, otherSession)
	require.NoError(t, err, "other accounts are untouched")

	again, err := e.people.Disable(ctx, u.ID, identity.DisableOptions{})
	require.NoError(t, err, "disabling twice is harmless")
	require.Equal(t, got.User.DisabledAt, again.User.DisabledAt)
	_, err = e.people.Disable(ctx, verwerker.NewID(verwerker.PrefixUser, start), identity.DisableOptions{})
	requireCode(t, err, verwerker.ENOTFOUND)
}

func TestPersonalKeyExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.account(t, "ada@example.com")
	now := e.clock.Now()
	tooLate := now.Add(identity.MaxPersonalKeyLife + time.Second)
	past := now.Add(-time.Second)
	for _, exp := range []*time.Time{nil, &tooLate, &past} {
		_, _, err := e.keys.Issue(ctx, identity.NewKey{Label: "scripts", UserID: u.ID, ExpiresAt: exp})
		requireCode(t, err, verwerker.EINVALID, "expires_at")
	}
	exp := now.Add(identity.MaxPersonalKeyLife)
	_, token, err := e.keys.Issue(ctx, identity.NewKey{Label: "scripts", UserID: u.ID, ExpiresAt: &exp})
	require.NoError(t, err)
	e.clock.Set(exp.Add(-time.Second))
	_, err = e.keys.Check(ctx, token)
	require.NoError(t, err)
	e.clock.Set(exp)
	_, err = e.keys.Check(ctx, token)
	requireCode(t, err, verwerker.EUNAUTHORIZED)
}

func TestSetupToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("WorksOnce", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		u, token, err := e.people.Create(ctx, identity.NewUser{Email: "ada@example.com", DisplayName: "Ada", Role: policy.RoleControllerAdmin, Domain: e.tenant})
		require.NoError(t, err)
		require.False(t, u.PasswordSet)
		require.NoError(t, e.people.SetUp(ctx, token, goodPassword))
		got, err := e.people.Get(ctx, u.ID)
		require.NoError(t, err)
		require.True(t, got.PasswordSet)

		err = e.people.SetUp(ctx, token, "another good password")
		requireCode(t, err, verwerker.EINVALID, "token")
		_, _, err = e.login(u.Email, "another good password", "", "192.0.2.1")
		requireCode(t, err, verwerker.EUNAUTHORIZED)
		_, _, err = e.login(u.Email, goodPassword, "", "192.0.2.1")
		require.NoError(t, err)

		for _, bad := range []string{"", "vwu_nope", token + "x", strings.ToUpper(token)} {
			err := e.people.SetUp(ctx, bad, goodPassword)
			requireCode(t, err, verwerker.EINVALID, "token")
		}
	})

	t.Run("Expires", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, late, err := e.people.Create(ctx, identity.NewUser{Email: "late@example.com", DisplayName: "Late", Role: policy.RoleAuditor, Domain: e.tenant})
		require.NoError(t, err)
		_, inTime, err := e.people.Create(ctx, identity.NewUser{Email: "intime@example.com", DisplayName: "In Time", Role: policy.RoleAuditor, Domain: e.tenant})
		require.NoError(t, err)

		e.clock.Advance(72*time.Hour - time.Second)
		require.NoError(t, e.people.SetUp(ctx, inTime, goodPassword))
		e.clock.Advance(time.Second)
		err = e.people.SetUp(ctx, late, goodPassword)
		requireCode(t, err, verwerker.EINVALID, "token")
	})

	t.Run("PasswordPolicy", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, token, err := e.people.Create(ctx, identity.NewUser{Email: "ada@example.com", DisplayName: "Ada", Role: policy.RoleAuditor, Domain: e.tenant})
		require.NoError(t, err)
		for _, pw := range []string{"", strings.Repeat("a", identity.MinPasswordLen-1), strings.Repeat("a", identity.MaxPasswordLen+1)} {
			err := e.people.SetUp(ctx, token, pw)
			requireCode(t, err, verwerker.EINVALID, "password")
		}
		// A refused password does not use up the token; length is in
		// characters, not bytes.
		require.NoError(t, e.people.SetUp(ctx, token, strings.Repeat("ä", identity.MinPasswordLen)))
		_, _, err = e.login("ada@example.com", strings.Repeat("ä", identity.MinPasswordLen), "", "192.0.2.1")
		require.NoError(t, err)
	})

	t.Run("DisabledAccount", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		u, token, err := e.people.Create(ctx, identity.NewUser{Email: "ada@example.com", DisplayName: "Ada", Role: policy.RoleAuditor, Domain: e.tenant})
		require.NoError(t, err)
		_, err = e.people.Disable(ctx, u.ID, identity.DisableOptions{})
		require.NoError(t, err)
		err = e.people.SetUp(ctx, token, goodPassword)
		requireCode(t, err, verwerker.EINVALID, "token")
	})
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.account(t, "ada@example.com")
	for name, tc := range map[string]struct {
		in     identity.NewUser
		fields []string
	}{
		"NotAnAddress":         {identity.NewUser{Email: "ada", DisplayName: "Ada", Role: policy.RoleAuditor, Domain: e.tenant}, []string{"email"}},
		"WithName":             {identity.NewUser{Email: "Ada <x@example.com>", DisplayName: "Ada", Role: policy.RoleAuditor, Domain: e.tenant}, []string{"email"}},
		"TakenIgnoringCase":    {identity.NewUser{Email: "ADA@example.com", DisplayName: "Ada", Role: policy.RoleAuditor, Domain: e.tenant}, []string{"email"}},
		"NoName":               {identity.NewUser{Email: "x@example.com", DisplayName: "  ", Role: policy.RoleAuditor, Domain: e.tenant}, []string{"display_name"}},
		"PlatformRoleInTenant": {identity.NewUser{Email: "x@example.com", DisplayName: "X", Role: policy.RolePlatformAdmin, Domain: e.tenant}, []string{"role"}},
		"TenantRoleInPlatform": {identity.NewUser{Email: "x@example.com", DisplayName: "X", Role: policy.RoleAuditor, Domain: verwerker.PlatformDomain}, []string{"role"}},
		"UnknownRole":          {identity.NewUser{Email: "x@example.com", DisplayName: "X", Role: "root", Domain: e.tenant}, []string{"role"}},
	} {
		_, _, err := e.people.Create(ctx, tc.in)
		require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err), "%s: %v", name, err)
		var got []string
		for _, f := range verwerker.ErrorFields(err) {
			got = append(got, f.Field)
			require.NotContains(t, f.Message, "example.com", name)
		}
		require.Equal(t, tc.fields, got, name)
	}
}

// TestNoEmailInAudit runs every audited identity operation, failures
// included, and then reads the raw audit table: no e-mail address, hashed
// throttle key or password may be in it.
func TestNoEmailInAudit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.account(t, "ada.lovelace@example.com")
	secret := e.enrol(t, u)
	_, _, err := e.login("ada.lovelace@example.com", "wrong password!", "", "192.0.2.1")
	requireCode(t, err, verwerker.EUNAUTHORIZED)
	_, _, err = e.login("nobody@example.com", "wrong password!", "", "192.0.2.1")
	requireCode(t, err, verwerker.EUNAUTHORIZED)
	_, _, err = e.login("ada.lovelace@example.com", goodPassword, wrongCode(t, secret, e.clock.Now()), "192.0.2.1")
	requireCode(t, err, verwerker.EUNAUTHORIZED)
	code, err := identity.TOTPCode(secret, e.clock.Now())
	require.NoError(t, err)
	s, _, err := e.login("ada.lovelace@example.com", goodPassword, code, "192.0.2.1")
	require.NoError(t, err)
	require.NoError(t, e.people.RevokeSession(ctx, u.ID, s.ID))
	exp := e.clock.Now().Add(time.Hour)
	k, _, err := e.keys.Issue(ctx, identity.NewKey{Label: "scripts", UserID: u.ID, ExpiresAt: &exp})
	require.NoError(t, err)
	_, err = e.keys.Revoke(ctx, identity.KeyOwner{UserID: u.ID}, k.ID)
	require.NoError(t, err)
	_, err = e.people.Disable(ctx, u.ID, identity.DisableOptions{})
	require.NoError(t, err)
	platform, _, err := e.people.Create(ctx, identity.NewUser{Email: "staff@verwerker.example", DisplayName: "Staff", Role: policy.RoleSupport, Domain: verwerker.PlatformDomain})
	require.NoError(t, err)

	rows, err := e.db.Pool.Query(ctx, `SELECT chain, actor, action, resource, outcome, reason FROM audit_events ORDER BY chain, seq`)
	require.NoError(t, err)
	defer rows.Close()
	actions := map[string]int{}
	for rows.Next() {
		var chain, actor, action, resource, outcome, reason string
		require.NoError(t, rows.Scan(&chain, &actor, &action, &resource, &outcome, &reason))
		row := strings.Join([]string{chain, actor, action, resource, outcome, reason}, " | ")
		require.NotContains(t, row, "@", row)
		require.NotContains(t, row, "example", row)
		require.NotContains(t, row, "192.0.2.1", row)
		require.NotContains(t, row, "password!", row)
		actions[action+"/"+outcome]++
	}
	require.NoError(t, rows.Err())
	for _, want := range []string{"user.create/success", "user.setup/success", "auth.login/success", "auth.login/denied",
		"auth.totp.enrol/success", "apikey.issue/success", "apikey.revoke/success", "user.disable/success"} {
		require.Positive(t, actions[want], "%s audited; have %v", want, actions)
	}

	var n int
	require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE position('@' in actor || resource || reason) > 0`).Scan(&n))
	require.Zero(t, n)
	var users int
	require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE resource = $1`, platform.ID).Scan(&users))
	require.Equal(t, 1, users)
	// The throttle holds hashes, not addresses.
	require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM login_throttle
		WHERE position(convert_to('example', 'UTF8') in key) > 0 OR position(convert_to('192.0.2.1', 'UTF8') in key) > 0`).Scan(&n))
	require.Zero(t, n)
}

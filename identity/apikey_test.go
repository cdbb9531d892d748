package identity_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
)

// TestConcurrentKeyChecks: many requests at once (their lookups share
// queries) each get the answer of their own key, a revoked key is refused
// and a token with a right prefix but wrong secret is refused.
func TestConcurrentKeyChecks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	type issued struct {
		key   identity.Key
		token string
	}
	var keys []issued
	for i := 0; i < 20; i++ {
		k, tok, err := e.keys.Issue(ctx, identity.NewKey{Label: "k", Role: policy.RoleChatService, Domain: e.tenant})
		require.NoError(t, err)
		keys = append(keys, issued{k, tok})
	}
	revoked := keys[3]
	_, err := e.keys.Revoke(ctx, identity.KeyOwner{Domain: e.tenant}, revoked.key.ID)
	require.NoError(t, err)
	forged := keys[5].token[:len(keys[5].token)-1] + "A"
	if forged == keys[5].token {
		forged = keys[5].token[:len(keys[5].token)-1] + "B"
	}

	var wg sync.WaitGroup
	for round := 0; round < 20; round++ {
		for i, k := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := e.keys.Check(ctx, k.token)
				if i == 3 {
					require.Equal(t, verwerker.EUNAUTHORIZED, verwerker.ErrorCode(err))
					return
				}
				require.NoError(t, err)
				require.Equal(t, k.key.ID, p.Credential)
				require.Equal(t, e.tenant, p.Domain)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.keys.Check(ctx, forged)
			require.Equal(t, verwerker.EUNAUTHORIZED, verwerker.ErrorCode(err))
		}()
	}
	wg.Wait()
}

// session signs u in with TOTP (secret from e.enrol) and returns the
// context of a request made in that session.
func (e *env) session(t *testing.T, u identity.User, secret string) context.Context {
	t.Helper()
	e.clock.Advance(30 * time.Second)
	code, err := identity.TOTPCode(secret, e.clock.Now())
	require.NoError(t, err)
	_, token, err := e.login(u.Email, goodPassword, code, "192.0.2.1")
	require.NoError(t, err)
	p, err := e.people.Authenticate(context.Background(), token)
	require.NoError(t, err)
	require.False(t, p.MFAPending)
	return verwerker.WithPrincipal(context.Background(), p)
}

// TestOnlyVerifiedSessionsIssueKeysAndCreateAccounts: an API key (a
// person's or a machine's) or a session without a second factor cannot
// mint credentials; a verified session can, and is recorded as the key's
// creator.
func TestOnlyVerifiedSessionsIssueKeysAndCreateAccounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.account(t, "ada@example.com")
	pending, _, err := e.login(u.Email, goodPassword, "", "192.0.2.1")
	require.NoError(t, err)
	secret := e.enrol(t, u)
	ctx := e.session(t, u, secret)
	exp := e.clock.Now().Add(24 * time.Hour)
	personal, _, err := e.keys.Issue(ctx, identity.NewKey{Label: "scripts", UserID: u.ID, ExpiresAt: &exp})
	require.NoError(t, err)
	require.Equal(t, u.ID, personal.CreatedBy)
	machine, _, err := e.keys.Issue(ctx, identity.NewKey{Label: "chat", Role: policy.RoleChatService, Domain: e.tenant})
	require.NoError(t, err)
	require.Equal(t, u.ID, machine.CreatedBy, "the person whose session issued it")
	_, _, err = e.people.Create(ctx, identity.NewUser{Email: "bob@example.com", DisplayName: "Bob", Role: policy.RoleAuditor, Domain: e.tenant})
	require.NoError(t, err)

	for name, p := range map[string]verwerker.Principal{
		"PersonalKey": {ID: u.ID, Kind: verwerker.PrincipalAPIKey, Credential: personal.ID},
		"MachineKey":  {ID: machine.ID, Kind: verwerker.PrincipalAPIKey, Credential: machine.ID, Role: policy.RoleControllerAdmin, Domain: e.tenant},
		"MFAPending":  {ID: u.ID, Kind: verwerker.PrincipalUser, Credential: pending.ID, MFAPending: true},
	} {
		ctx := verwerker.WithPrincipal(context.Background(), p)
		_, _, err := e.keys.Issue(ctx, identity.NewKey{Label: "admin", Role: policy.RoleControllerAdmin, Domain: e.tenant})
		requireCode(t, err, verwerker.EFORBIDDEN)
		require.Contains(t, verwerker.ErrorMessage(err), "second factor", name)
		_, _, err = e.keys.Issue(ctx, identity.NewKey{Label: "more", UserID: u.ID, ExpiresAt: &exp})
		requireCode(t, err, verwerker.EFORBIDDEN)
		_, _, err = e.people.Create(ctx, identity.NewUser{Email: "eve@example.com", DisplayName: "Eve", Role: policy.RoleControllerAdmin, Domain: e.tenant})
		requireCode(t, err, verwerker.EFORBIDDEN)
	}

	// Operator tools (no caller) are the system.
	tool, _, err := e.keys.Issue(context.Background(), identity.NewKey{Label: "seed", Role: policy.RoleChatService, Domain: e.tenant})
	require.NoError(t, err)
	require.Equal(t, "system", tool.CreatedBy)

	keys, err := e.keys.List(context.Background(), identity.KeyOwner{Domain: e.tenant})
	require.NoError(t, err)
	creators := map[string]string{}
	for _, k := range keys {
		creators[k.ID] = k.CreatedBy
	}
	require.Equal(t, map[string]string{machine.ID: u.ID, tool.ID: "system"}, creators)
	got, err := e.keys.Get(context.Background(), identity.KeyOwner{UserID: u.ID}, personal.ID)
	require.NoError(t, err)
	require.Equal(t, u.ID, got.CreatedBy)
	_, err = e.keys.Get(context.Background(), identity.KeyOwner{Domain: e.tenant}, personal.ID)
	requireCode(t, err, verwerker.ENOTFOUND)
}

// TestAdminKeysExpire: a machine key with a role that may issue keys or
// manage accounts lives at most MaxAdminKeyLife, and that long when no
// expiry is given; other roles may live without expiry.
func TestAdminKeysExpire(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	now := e.clock.Now()
	require.Equal(t, 90*24*time.Hour, identity.MaxAdminKeyLife)
	require.True(t, policy.IsAdminRole(policy.RolePlatformAdmin))
	require.True(t, policy.IsAdminRole(policy.RoleControllerAdmin))
	for _, role := range []string{policy.RoleDPO, policy.RoleSupport, policy.RoleControllerViewer, policy.RoleChatService, policy.RoleAuditor} {
		require.False(t, policy.IsAdminRole(role), role)
	}

	for role, domain := range map[string]string{policy.RolePlatformAdmin: verwerker.PlatformDomain, policy.RoleControllerAdmin: e.tenant} {
		tooLate := now.Add(identity.MaxAdminKeyLife + time.Second)
		_, _, err := e.keys.Issue(ctx, identity.NewKey{Label: "admin", Role: role, Domain: domain, ExpiresAt: &tooLate})
		requireCode(t, err, verwerker.EINVALID, "expires_at")

		key, token, err := e.keys.Issue(ctx, identity.NewKey{Label: "admin", Role: role, Domain: domain})
		require.NoError(t, err)
		require.NotNil(t, key.ExpiresAt, role)
		require.Equal(t, now.Add(identity.MaxAdminKeyLife), *key.ExpiresAt, role)
		e.clock.Set(key.ExpiresAt.Add(-time.Second))
		_, err = e.keys.Check(ctx, token)
		require.NoError(t, err)
		e.clock.Set(*key.ExpiresAt)
		_, err = e.keys.Check(ctx, token)
		requireCode(t, err, verwerker.EUNAUTHORIZED)
		e.clock.Set(now)
	}
	chat, _, err := e.keys.Issue(ctx, identity.NewKey{Label: "chat", Role: policy.RoleChatService, Domain: e.tenant})
	require.NoError(t, err)
	require.Nil(t, chat.ExpiresAt)
}

// TestDisableRevokesCreatedKeys: disabling an account lists every key it
// issued and, when asked, revokes them at once, also on a replica that
// answers them from memory; keys issued by those keys (before API keys
// were refused that) go with them. Each revocation is audited.
func TestDisableRevokesCreatedKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.account(t, "ada@example.com")
	bob := e.account(t, "bob@example.com")
	ctx := e.session(t, u, e.enrol(t, u))
	bobCtx := e.session(t, bob, e.enrol(t, bob))

	w := e.db.NewWatcher(store.WatcherOptions{Lease: 5 * time.Second})
	e.keys.Watch(w)
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(rctx) }()
	defer func() { cancel(); <-done }()
	require.Eventually(t, w.Fresh, 10*time.Second, 5*time.Millisecond)

	exp := e.clock.Now().Add(24 * time.Hour)
	soon := e.clock.Now().Add(time.Hour)
	issue := func(ctx context.Context, n identity.NewKey) (identity.Key, string) {
		t.Helper()
		k, tok, err := e.keys.Issue(ctx, n)
		require.NoError(t, err)
		return k, tok
	}
	personal, personalTok := issue(ctx, identity.NewKey{Label: "scripts", UserID: u.ID, ExpiresAt: &exp})
	admin, adminTok := issue(ctx, identity.NewKey{Label: "admin", Role: policy.RoleControllerAdmin, Domain: e.tenant})
	chat, chatTok := issue(ctx, identity.NewKey{Label: "chat", Role: policy.RoleChatService, Domain: e.tenant})
	short, _ := issue(ctx, identity.NewKey{Label: "short", Role: policy.RoleAuditor, Domain: e.tenant, ExpiresAt: &soon})
	// A key the admin key issued in the days when keys could do that.
	legacy, legacyTok := issue(context.Background(), identity.NewKey{Label: "legacy", Role: policy.RoleControllerViewer, Domain: e.tenant})
	_, err := e.db.Pool.Exec(context.Background(), `UPDATE api_keys SET created_by = $2 WHERE id = $1`, legacy.ID, admin.ID)
	require.NoError(t, err)
	_, bobTok := issue(bobCtx, identity.NewKey{Label: "bob's", Role: policy.RoleChatService, Domain: e.tenant})
	require.NoError(t, e.db.Sync(context.Background()))
	for _, tok := range []string{personalTok, adminTok, chatTok, legacyTok, bobTok} {
		_, err := e.keys.Check(context.Background(), tok) // cached now
		require.NoError(t, err)
	}
	e.clock.Advance(2 * time.Hour)

	outcomes := func(d identity.Disabled) map[string]string {
		m := map[string]string{}
		for _, k := range d.Keys {
			m[k.Key.ID] = k.Outcome
		}
		return m
	}
	d, err := e.people.Disable(context.Background(), u.ID, identity.DisableOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]string{personal.ID: identity.KeyRevoked, admin.ID: identity.KeyKept, chat.ID: identity.KeyKept,
		short.ID: identity.KeyExpired, legacy.ID: identity.KeyKept}, outcomes(d))
	require.NoError(t, e.db.Sync(context.Background()))
	_, err = e.keys.Check(context.Background(), personalTok)
	requireCode(t, err, verwerker.EUNAUTHORIZED)
	_, err = e.keys.Check(context.Background(), adminTok)
	require.NoError(t, err, "kept unless asked")

	e.clock.Advance(time.Minute)
	d, err = e.people.Disable(context.Background(), u.ID, identity.DisableOptions{RevokeCreatedKeys: true})
	require.NoError(t, err)
	require.Equal(t, map[string]string{personal.ID: identity.KeyAlreadyRevoked, admin.ID: identity.KeyRevoked, chat.ID: identity.KeyRevoked,
		short.ID: identity.KeyRevoked, legacy.ID: identity.KeyRevoked}, outcomes(d))
	for _, k := range d.Keys {
		require.NotNil(t, k.Key.RevokedAt, k.Key.ID)
	}
	require.NoError(t, e.db.Sync(context.Background()))
	for _, tok := range []string{adminTok, chatTok, legacyTok} {
		_, err = e.keys.Check(context.Background(), tok)
		requireCode(t, err, verwerker.EUNAUTHORIZED)
	}
	_, err = e.keys.Check(context.Background(), bobTok)
	require.NoError(t, err, "another person's keys are untouched")
	gs, err := policy.GrantsIn(context.Background(), e.db.Pool, e.tenant)
	require.NoError(t, err)
	for _, g := range gs {
		require.NotContains(t, []string{admin.ID, chat.ID, short.ID, legacy.ID, u.ID}, g.Subject, "grants of revoked keys are gone")
	}

	var revocations int
	require.NoError(t, e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events
		WHERE chain = $1 AND action = 'apikey.revoke' AND reason = 'creator disabled'`, e.tenant).Scan(&revocations))
	require.Equal(t, 4, revocations)
	var reason string
	require.NoError(t, e.db.Pool.QueryRow(context.Background(), `SELECT reason FROM audit_events
		WHERE action = 'user.disable' AND resource = $1 ORDER BY at DESC LIMIT 1`, u.ID).Scan(&reason))
	require.Equal(t, "keys revoked 4, already revoked 1, kept 0, expired 0", reason)
}

// TestMigrationRecordsCreatorsAndCapsAdminKeys: migration 00015 fills in
// the creator of existing keys from their issuing audit events (or the
// owner of a personal key), and gives existing administrative machine keys
// at most MaxAdminKeyLife from the upgrade.
func TestMigrationRecordsCreatorsAndCapsAdminKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	sqlDB := stdlib.OpenDBFromPool(e.db.Pool)
	t.Cleanup(func() { sqlDB.Close() })
	migrations, err := goose.NewProvider(goose.DialectPostgres, sqlDB, store.Migrations(), goose.WithDisableGlobalRegistry(true))
	require.NoError(t, err)
	_, err = migrations.DownTo(ctx, 14)
	require.NoError(t, err)

	u := e.account(t, "ada@example.com")
	far := time.Now().Add(365 * 24 * time.Hour).UTC().Truncate(time.Microsecond)
	near := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Microsecond)
	insert := func(id, role, domain string, userID *string, expires *time.Time) {
		t.Helper()
		_, err := e.db.Pool.Exec(ctx, `INSERT INTO api_keys (id, prefix, secret_hash, label, role, domain, user_id, created_at, expires_at)
			VALUES ($1, $2, '\x00', 'old', $3, $4, $5, now(), $6)`, id, id[len(id)-12:], role, domain, userID, expires)
		require.NoError(t, err)
	}
	log := audit.NewLog(e.db, e.clock)
	t.Cleanup(log.Close)
	issued := func(id, actor string) {
		t.Helper()
		_, err := log.Append(ctx, audit.Event{Chain: e.tenant, Actor: actor, Action: "apikey.issue",
			Resource: id, Outcome: audit.Success})
		require.NoError(t, err)
	}
	ids := map[string]string{}
	for _, name := range []string{"admin", "adminFar", "adminNear", "platform", "chat", "personal", "revoked"} {
		ids[name] = verwerker.NewID(verwerker.PrefixAPIKey, e.clock.Now())
	}
	insert(ids["admin"], policy.RoleControllerAdmin, e.tenant, nil, nil)
	issued(ids["admin"], u.ID)
	insert(ids["adminFar"], policy.RoleControllerAdmin, e.tenant, nil, &far)
	issued(ids["adminFar"], ids["admin"])
	insert(ids["adminNear"], policy.RoleControllerAdmin, e.tenant, nil, &near)
	insert(ids["platform"], policy.RolePlatformAdmin, verwerker.PlatformDomain, nil, nil)
	insert(ids["chat"], policy.RoleChatService, e.tenant, nil, nil)
	insert(ids["personal"], "", "", &u.ID, &far)
	insert(ids["revoked"], policy.RoleControllerAdmin, e.tenant, nil, nil)
	_, err = e.db.Pool.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE id = $1`, ids["revoked"])
	require.NoError(t, err)

	before := time.Now()
	_, err = migrations.UpTo(ctx, 15)
	require.NoError(t, err)
	after := time.Now()

	creators, expiries := map[string]string{}, map[string]*time.Time{}
	for name, id := range ids {
		var creator string
		var exp *time.Time
		require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT created_by, expires_at FROM api_keys WHERE id = $1`, id).Scan(&creator, &exp))
		creators[name], expiries[name] = creator, exp
	}
	require.Equal(t, map[string]string{"admin": u.ID, "adminFar": ids["admin"], "adminNear": "unknown", "platform": "unknown",
		"chat": "unknown", "personal": u.ID, "revoked": "unknown"}, creators)
	for _, name := range []string{"admin", "adminFar", "platform"} {
		require.NotNil(t, expiries[name], name)
		require.WithinRange(t, *expiries[name], before.Add(identity.MaxAdminKeyLife-time.Second), after.Add(identity.MaxAdminKeyLife+time.Second), name)
	}
	require.Equal(t, near, expiries["adminNear"].UTC(), "an earlier expiry stays")
	require.Equal(t, far, expiries["personal"].UTC(), "personal keys keep theirs")
	require.Nil(t, expiries["chat"])
	require.Nil(t, expiries["revoked"])
	_, err = migrations.Up(ctx)
	require.NoError(t, err)
}

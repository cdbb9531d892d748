package keys_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/keys/vaulttest"
)

// TestTransitPolicyRefusesImplicitCreation proves the Vault side of the
// re-creation guard with verwerker's own token (policy "verwerker"):
// encrypt on an unknown name, which Vault treats as "create", is refused;
// datakey never creates; and even the root token cannot upsert on the mount
// (disable_upsert). A deleted key name stays deleted.
func TestTransitPolicyRefusesImplicitCreation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := vaulttest.Shared(t)
	tr := srv.Transit(t, keys.TransitOptions{})
	// A raw client with a verwerker-policy token, to try what verwerker never does.
	raw := srv.Client(t, srv.AppRole(t))
	self, err := raw.Auth().Token().LookupSelf()
	require.NoError(t, err)
	policies, err := self.TokenPolicies()
	require.NoError(t, err)
	require.Equal(t, []string{"default", "verwerker"}, policies)
	root := srv.Admin(t)

	encrypt := func(c *vault.Client, name string) error {
		_, err := c.Logical().Write("transit/encrypt/"+name, map[string]any{"plaintext": base64.StdEncoding.EncodeToString([]byte("x"))})
		return err
	}
	datakey := func(c *vault.Client, name string) error {
		_, err := c.Logical().Write("transit/datakey/plaintext/"+name, nil)
		return err
	}
	status := func(err error) int {
		var re *vault.ResponseError
		require.ErrorAs(t, err, &re)
		return re.StatusCode
	}

	// Never created.
	name := vaulttest.Name(t)
	require.Equal(t, http.StatusForbidden, status(encrypt(raw, name)), "encrypt on an unknown name needs create")
	require.Equal(t, http.StatusBadRequest, status(datakey(raw, name)), "datakey does not upsert")
	require.Equal(t, http.StatusBadRequest, status(encrypt(root, name)), "disable_upsert refuses even root")
	require.False(t, srv.KeyExists(t, name))

	// Created, used, shredded: the name stays dead.
	require.NoError(t, tr.CreateKey(ctx, name))
	require.NoError(t, encrypt(raw, name), "encrypt on an existing key is allowed")
	require.NoError(t, tr.Destroy(ctx, name))
	require.Equal(t, http.StatusForbidden, status(encrypt(raw, name)))
	require.Equal(t, http.StatusBadRequest, status(datakey(raw, name)))
	_, err = tr.DataKey(ctx, name)
	require.ErrorIs(t, err, keys.ErrNoKey)
	require.False(t, srv.KeyExists(t, name), "the deleted key name was not re-created")

	// Outside verwerker's key names nothing is allowed, and export/backup never.
	other := "someone-elses-key"
	require.Equal(t, http.StatusForbidden, status(encrypt(raw, other)))
	require.NoError(t, tr.CreateKey(ctx, name+"-x"))
	_, err = raw.Logical().Read("transit/export/encryption-key/" + name + "-x")
	require.Equal(t, http.StatusForbidden, status(err))
	_, err = raw.Logical().Read("transit/backup/" + name + "-x")
	require.Equal(t, http.StatusForbidden, status(err))
	_, err = raw.Logical().Write("transit/keys/"+name+"-x/config", map[string]any{"exportable": true})
	require.Equal(t, http.StatusForbidden, status(err), "a key cannot be made exportable")
	_, err = raw.Logical().Write("transit/keys/"+name+"-x/config", map[string]any{"allow_plaintext_backup": true})
	require.Equal(t, http.StatusForbidden, status(err))
	_, err = raw.Logical().Write("transit/restore/"+name+"-y", map[string]any{"backup": "x"})
	require.Equal(t, http.StatusForbidden, status(err), "a deleted key cannot be restored from a backup")
	st, err := tr.Status(ctx, name+"-x")
	require.NoError(t, err)
	require.False(t, st.Exportable)
	require.NoError(t, tr.Destroy(ctx, name+"-x"))
}

// TestTransitUnavailable stops a private Vault in the middle of the test:
// every operation fails closed as EUNAVAILABLE with a RetryAfter, also while
// the restarted Vault is still sealed; after unsealing, the same keyring
// (same login) works again and the keys are intact. Up and the gauge
// verwerker_vault_up follow: down from the first failed request, up again
// from the first successful probe.
func TestTransitUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := vaulttest.Start(t)
	tr := p.Transit(t, keys.TransitOptions{MaxRetries: -1, Timeout: 3 * time.Second, RetryAfter: 7 * time.Second, ProbeEvery: -1})
	gauge := tr.Metrics()

	name := vaulttest.Name(t)
	require.NoError(t, tr.CreateKey(ctx, name))
	dk, err := tr.DataKey(ctx, name)
	require.NoError(t, err)
	require.True(t, tr.Up())
	require.NoError(t, tr.Probe(ctx))
	require.EqualValues(t, 1, testutil.ToFloat64(gauge))

	requireUnavailable := func(what string, err error) {
		t.Helper()
		require.Error(t, err, what)
		require.Equal(t, verwerker.EUNAVAILABLE, verwerker.ErrorCode(err), "%s: %v", what, err)
		require.ErrorIs(t, err, keys.ErrUnavailable, what)
		require.Equal(t, 7*time.Second, verwerker.ErrorRetryAfter(err), what)
		require.Equal(t, "key management unavailable", verwerker.ErrorMessage(err), what)
	}
	checkAll := func(state string) {
		t.Helper()
		_, err := tr.DataKey(ctx, name)
		requireUnavailable(state+": datakey", err)
		_, err = tr.Unwrap(ctx, name, [][]byte{dk.Wrapped})
		requireUnavailable(state+": unwrap", err)
		_, err = tr.Rewrap(ctx, name, [][]byte{dk.Wrapped})
		requireUnavailable(state+": rewrap", err)
		_, err = tr.Rotate(ctx, name)
		requireUnavailable(state+": rotate", err)
		_, err = tr.Status(ctx, name)
		requireUnavailable(state+": status", err)
		requireUnavailable(state+": create", tr.CreateKey(ctx, vaulttest.Name(t)))
		requireUnavailable(state+": destroy", tr.Destroy(ctx, name))
	}

	p.Stop(t)
	checkAll("stopped")
	require.False(t, tr.Up())
	require.EqualValues(t, 0, testutil.ToFloat64(gauge))
	requireUnavailable("probe while stopped", tr.Probe(ctx))

	p.StartAgain(t)
	checkAll("sealed")
	requireUnavailable("probe while sealed", tr.Probe(ctx))
	require.False(t, tr.Up())

	p.Unseal(t)
	require.NoError(t, tr.Probe(ctx))
	require.True(t, tr.Up())
	require.EqualValues(t, 1, testutil.ToFloat64(gauge))
	plain, err := tr.Unwrap(ctx, name, [][]byte{dk.Wrapped})
	require.NoError(t, err, "recovered")
	require.Equal(t, dk.Plaintext, plain[0])
	_, err = tr.DataKey(ctx, name)
	require.NoError(t, err)

	// A keyring that cannot reach Vault at start fails closed too.
	p.Stop(t)
	_, err = keys.NewTransit(ctx, keys.TransitOptions{Address: p.Addr, AppRole: &keys.AppRoleLogin{RoleID: "r", SecretID: "s"},
		MaxRetries: -1, RetryAfter: 7 * time.Second})
	requireUnavailable("login", err)
}

// TestTransitRenewsAndLogsInAgain runs a keyring whose AppRole tokens live
// 2 s and at most 4 s: it keeps working for 7 s, so it renewed its token and
// logged in again when renewal reached the maximum.
func TestTransitRenewsAndLogsInAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := vaulttest.Shared(t)
	admin := srv.Admin(t)
	role := "verwerker-renewal-" + vaulttest.Name(t)
	_, err := admin.Logical().Write("auth/approle/role/"+role, map[string]any{
		"token_policies": "verwerker", "token_ttl": "2s", "token_max_ttl": "4s",
	})
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.Logical().Delete("auth/approle/role/" + role) })

	tr := srv.Transit(t, keys.TransitOptions{AppRole: srv.AppRoleOf(t, role), MaxRetries: -1})
	name := vaulttest.Name(t)
	require.NoError(t, tr.CreateKey(ctx, name))
	deadline := time.Now().Add(7 * time.Second)
	n := 0
	for time.Now().Before(deadline) {
		_, err := tr.DataKey(ctx, name)
		require.NoError(t, err, "after %d requests", n)
		n++
		time.Sleep(200 * time.Millisecond)
	}
	require.NoError(t, tr.Destroy(ctx, name))
}

func TestTransitStaticTokenAndOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := vaulttest.Shared(t)
	tok, err := srv.Admin(t).Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"verwerker"}, TTL: "1h"})
	require.NoError(t, err)
	tr := srv.Transit(t, keys.TransitOptions{Token: tok.Auth.ClientToken})
	require.Equal(t, "vault-transit", tr.Kind())
	name := vaulttest.Name(t)
	require.NoError(t, tr.CreateKey(ctx, name))
	require.NoError(t, tr.Destroy(ctx, name))

	for what, opts := range map[string]keys.TransitOptions{
		"no auth":          {Address: srv.Addr},
		"two auths":        {Address: srv.Addr, Token: "x", AppRole: &keys.AppRoleLogin{RoleID: "r", SecretID: "s"}},
		"approle, no id":   {Address: srv.Addr, AppRole: &keys.AppRoleLogin{SecretID: "s"}},
		"approle, 2 ids":   {Address: srv.Addr, AppRole: &keys.AppRoleLogin{RoleID: "r", SecretID: "s", SecretIDFile: "/f"}},
		"kubernetes, role": {Address: srv.Addr, Kubernetes: &keys.KubernetesLogin{}},
	} {
		_, err := keys.NewTransit(ctx, opts)
		require.Error(t, err, what)
	}
	// Kubernetes auth reads the service-account token at each login.
	_, err = keys.NewTransit(ctx, keys.TransitOptions{Address: srv.Addr, MaxRetries: -1,
		Kubernetes: &keys.KubernetesLogin{Role: "verwerker", TokenPath: t.TempDir() + "/missing"}})
	require.Error(t, err)

	// A bad secret id is not an outage.
	_, err = keys.NewTransit(ctx, keys.TransitOptions{Address: srv.Addr, AppRole: &keys.AppRoleLogin{RoleID: "r", SecretID: "s"}})
	require.Error(t, err)
	require.False(t, errors.Is(err, keys.ErrUnavailable), "%v", err)
}

// TestTransitLargeBatches: full batches (DefaultBatchSize wrapped keys) of
// unwraps and rewraps come back whole, every time. The Vault client's own
// timeout used to cancel the request before a large answer was read, and
// about four in ten such batches failed.
func TestTransitLargeBatches(t *testing.T) {
	v := vaulttest.Shared(t)
	ring := v.Transit(t, keys.TransitOptions{})
	ctx := context.Background()
	name := vaulttest.Name(t)
	require.NoError(t, ring.CreateKey(ctx, name))
	t.Cleanup(func() { _ = ring.Destroy(context.Background(), name) })
	wrapped := make([][]byte, keys.DefaultBatchSize)
	for i := range wrapped {
		dk, err := ring.DataKey(ctx, name)
		require.NoError(t, err)
		wrapped[i] = dk.Wrapped
	}
	for round := range 15 {
		plain, err := ring.Unwrap(ctx, name, wrapped)
		require.NoError(t, err, "round %d", round)
		require.Len(t, plain, len(wrapped))
		re, err := ring.Rewrap(ctx, name, wrapped)
		require.NoError(t, err, "round %d", round)
		require.Len(t, re, len(wrapped))
	}
}

package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/keys/vaulttest"
	"github.com/verwerker/verwerker/store/storetest"
)

// TestAppKeysInVault: with VAULT_ADDR and an AppRole login, the app's tenant
// keys live in Vault Transit, under verwerker's policy.
func TestAppKeysInVault(t *testing.T) {
	v := vaulttest.Shared(t)
	login := v.AppRole(t)
	cfg, _, err := parseConfig("test", []string{"-vault-addr", v.Addr, "-vault-role-id", login.RoleID, "-vault-secret-id", login.SecretID}, io.Discard)
	require.NoError(t, err)
	ctx := context.Background()
	db := storetest.New(t)
	a, err := newApp(ctx, db, cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer a.Close()
	require.Equal(t, "vault-transit", a.Keyring.Kind())

	tenantID := verwerker.NewID(verwerker.PrefixTenant, verwerker.SystemClock{}.Now())
	_, err = db.Pool.Exec(ctx, `INSERT INTO tenants (id, name, country, contact_email, created_at, updated_at) VALUES ($1, 'Vault B.V.', 'NL', 'p@v.example', now(), now())`, tenantID)
	require.NoError(t, err)
	k, err := a.KeyManager.CreateTenantKey(ctx, tenantID)
	require.NoError(t, err)
	require.True(t, v.KeyExists(t, k.Name), "the tenant key is in Vault")
	dk, err := a.KeyManager.NewDataKey(ctx, tenantID)
	require.NoError(t, err)
	dk.Release()

	// Two login methods at once is a configuration error.
	cfg.VaultToken = "s.whatever"
	_, err = newApp(ctx, db, cfg, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "exactly one")
}

// TestAppLocalKeyring: without VAULT_ADDR the local keyring holds the keys.
func TestAppLocalKeyring(t *testing.T) {
	cfg, _, err := parseConfig("test", nil, io.Discard)
	require.NoError(t, err)
	db := storetest.New(t)
	a, err := newApp(context.Background(), db, cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer a.Close()
	require.Equal(t, "local", a.Keyring.Kind())
}

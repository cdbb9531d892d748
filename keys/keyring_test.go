package keys_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/keys/vaulttest"
)

// ring is one keyring implementation under test, with a way to check from
// outside whether a key exists (for Vault: as the administrator).
type ring struct {
	name   string
	ring   keys.Keyring
	exists func(t *testing.T, name string) bool
	prefix string
}

// rings returns both implementations: the local keyring in a temp dir and
// Vault Transit on the shared test server, logged in through AppRole with
// verwerker's policy. Without a test Vault only the local keyring runs.
func rings(t *testing.T) []ring {
	t.Helper()
	local := openLocal(t, filepath.Join(t.TempDir(), "keyring.key"))
	out := []ring{{name: "local", ring: local, prefix: "local:v", exists: func(t *testing.T, name string) bool {
		_, err := local.Status(context.Background(), name)
		return err == nil
	}}}
	if testVault() {
		srv := vaulttest.Shared(t)
		out = append(out, ring{name: "vault-transit", ring: srv.Transit(t, keys.TransitOptions{}), prefix: "vault:v", exists: func(t *testing.T, name string) bool {
			return srv.KeyExists(t, name)
		}})
	} else {
		t.Log("no test Vault (VERWERKER_TEST_VAULT_ADDR unset): testing the local keyring only")
	}
	return out
}

// eachRing runs test once per keyring implementation, in parallel.
func eachRing(t *testing.T, test func(t *testing.T, r ring)) {
	t.Helper()
	for _, r := range rings(t) {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			test(t, r)
		})
	}
}

func openLocal(t *testing.T, path string) *keys.LocalKeyring {
	t.Helper()
	r, err := keys.OpenLocalKeyring(path, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(r.Close)
	return r
}

func TestKeyringDataKeysUnwrapInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	eachRing(t, func(t *testing.T, r ring) {
		name := vaulttest.Name(t)
		require.NoError(t, r.ring.CreateKey(ctx, name))
		st, err := r.ring.Status(ctx, name)
		require.NoError(t, err)
		require.Equal(t, keys.KeyStatus{Name: name, LatestVersion: 1, MinDecryptionVersion: 1}, st,
			"version 1, not exportable, deletion not allowed")

		var dks []keys.DataKey
		var wrapped [][]byte
		for range 5 {
			dk, err := r.ring.DataKey(ctx, name)
			require.NoError(t, err)
			require.Len(t, dk.Plaintext, 32)
			require.Equal(t, 1, dk.Version)
			require.True(t, strings.HasPrefix(string(dk.Wrapped), r.prefix+"1:"), string(dk.Wrapped))
			require.False(t, bytes.Contains(dk.Wrapped, dk.Plaintext))
			v, err := keys.WrappedVersion(dk.Wrapped)
			require.NoError(t, err)
			require.Equal(t, 1, v)
			dks = append(dks, dk)
			wrapped = append(wrapped, dk.Wrapped)
		}
		require.NotEqual(t, dks[0].Plaintext, dks[1].Plaintext)

		plain, err := r.ring.Unwrap(ctx, name, wrapped)
		require.NoError(t, err)
		for i := range dks {
			require.Equal(t, dks[i].Plaintext, plain[i])
		}

		// One bad item fails alone.
		bad := append([][]byte{}, wrapped[0], []byte(r.prefix+"1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), wrapped[2])
		plain, err = r.ring.Unwrap(ctx, name, bad)
		var be *keys.BatchError
		require.ErrorAs(t, err, &be)
		require.NoError(t, be.Errs[0])
		require.ErrorIs(t, be.Errs[1], keys.ErrUnreadable)
		require.NoError(t, be.Errs[2])
		require.Equal(t, dks[0].Plaintext, plain[0])
		require.Nil(t, plain[1])
		require.Equal(t, dks[2].Plaintext, plain[2])
		require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))

		// A data key wrapped under another tenant's key does not unwrap here.
		other := vaulttest.Name(t)
		require.NoError(t, r.ring.CreateKey(ctx, other))
		_, err = r.ring.Unwrap(ctx, other, wrapped[:1])
		require.ErrorIs(t, err, keys.ErrUnreadable)

		// All items bad.
		_, err = r.ring.Unwrap(ctx, name, [][]byte{[]byte("garbage")})
		require.ErrorIs(t, err, keys.ErrUnreadable)
	})
}

// TestKeyringNeverCreatesImplicitly is the guard against a key silently
// appearing under a name verwerker did not create (or shredded): every
// operation but CreateKey on an unknown name fails and leaves no key.
func TestKeyringNeverCreatesImplicitly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	eachRing(t, func(t *testing.T, r ring) {
		name := vaulttest.Name(t)
		_, err := r.ring.DataKey(ctx, name)
		require.ErrorIs(t, err, keys.ErrNoKey)
		require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))
		_, err = r.ring.Unwrap(ctx, name, [][]byte{[]byte(r.prefix + "1:AAAA")})
		require.ErrorIs(t, err, keys.ErrUnreadable)
		_, err = r.ring.Rewrap(ctx, name, [][]byte{[]byte(r.prefix + "1:AAAA")})
		require.ErrorIs(t, err, keys.ErrUnreadable)
		_, err = r.ring.Rotate(ctx, name)
		require.ErrorIs(t, err, keys.ErrNoKey)
		_, err = r.ring.Retire(ctx, name, 1)
		require.ErrorIs(t, err, keys.ErrNoKey)
		_, err = r.ring.Status(ctx, name)
		require.ErrorIs(t, err, keys.ErrNoKey)
		require.NoError(t, r.ring.Destroy(ctx, name), "destroying what is not there is done")
		require.False(t, r.exists(t, name), "no operation created the key")

		require.NoError(t, r.ring.CreateKey(ctx, name))
		err = r.ring.CreateKey(ctx, name)
		require.ErrorIs(t, err, keys.ErrKeyExists, "an existing key is never adopted")
		require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err))
	})
}

func TestKeyringRotateRewrapRetire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	eachRing(t, func(t *testing.T, r ring) {
		name := vaulttest.Name(t)
		require.NoError(t, r.ring.CreateKey(ctx, name))
		dk1, err := r.ring.DataKey(ctx, name)
		require.NoError(t, err)

		st, err := r.ring.Rotate(ctx, name)
		require.NoError(t, err)
		require.Equal(t, 2, st.LatestVersion)
		require.Equal(t, 1, st.MinDecryptionVersion)
		dk2, err := r.ring.DataKey(ctx, name)
		require.NoError(t, err)
		require.Equal(t, 2, dk2.Version)
		require.True(t, strings.HasPrefix(string(dk2.Wrapped), r.prefix+"2:"))

		// Both versions unwrap until the old one is retired.
		plain, err := r.ring.Unwrap(ctx, name, [][]byte{dk1.Wrapped, dk2.Wrapped})
		require.NoError(t, err)
		require.Equal(t, [][]byte{dk1.Plaintext, dk2.Plaintext}, plain)

		re, err := r.ring.Rewrap(ctx, name, [][]byte{dk1.Wrapped, dk2.Wrapped})
		require.NoError(t, err)
		for _, w := range re {
			v, err := keys.WrappedVersion(w)
			require.NoError(t, err)
			require.Equal(t, 2, v)
		}
		require.NotEqual(t, dk1.Wrapped, re[0])

		st, err = r.ring.Retire(ctx, name, 2)
		require.NoError(t, err)
		require.Equal(t, 2, st.LatestVersion)
		require.Equal(t, 2, st.MinDecryptionVersion)
		require.Equal(t, 2, st.MinAvailableVersion, "version 1 is deleted from the keyring")

		// The wrapped key saved before the rotation (a backup) is dead...
		_, err = r.ring.Unwrap(ctx, name, [][]byte{dk1.Wrapped})
		require.ErrorIs(t, err, keys.ErrUnreadable)
		_, err = r.ring.Rewrap(ctx, name, [][]byte{dk1.Wrapped})
		require.ErrorIs(t, err, keys.ErrUnreadable)
		// ...the rewrapped one lives.
		plain, err = r.ring.Unwrap(ctx, name, re)
		require.NoError(t, err)
		require.Equal(t, [][]byte{dk1.Plaintext, dk2.Plaintext}, plain)

		// Retiring again or lower changes nothing; beyond the latest is an error.
		st2, err := r.ring.Retire(ctx, name, 1)
		require.NoError(t, err)
		require.Equal(t, st, st2)
		_, err = r.ring.Retire(ctx, name, 3)
		require.Error(t, err)
	})
}

func TestKeyringDestroy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	eachRing(t, func(t *testing.T, r ring) {
		name := vaulttest.Name(t)
		require.NoError(t, r.ring.CreateKey(ctx, name))
		dk, err := r.ring.DataKey(ctx, name)
		require.NoError(t, err)
		_, err = r.ring.Rotate(ctx, name)
		require.NoError(t, err)

		require.NoError(t, r.ring.Destroy(ctx, name))
		require.False(t, r.exists(t, name))
		_, err = r.ring.Unwrap(ctx, name, [][]byte{dk.Wrapped})
		require.ErrorIs(t, err, keys.ErrUnreadable, "a wrapped key saved before is useless")
		_, err = r.ring.DataKey(ctx, name)
		require.ErrorIs(t, err, keys.ErrNoKey)
		require.False(t, r.exists(t, name), "asking for a data key did not bring the key back")
		require.NoError(t, r.ring.Destroy(ctx, name))
	})
}

func TestLocalKeyringFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "keyring.key")

	var logs bytes.Buffer
	r, err := keys.OpenLocalKeyring(path, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	require.Contains(t, logs.String(), "local keyring: not for production")
	require.Contains(t, logs.String(), "level=WARN")
	requireMode(t, path, 0o600)
	requireMode(t, filepath.Dir(path), 0o700)
	requireSize(t, path, 32)

	name := vaulttest.Name(t)
	require.NoError(t, r.CreateKey(ctx, name))
	requireMode(t, path+".keys", 0o600)
	dk, err := r.DataKey(ctx, name)
	require.NoError(t, err)
	_, err = r.Rotate(ctx, name)
	require.NoError(t, err)
	gone := vaulttest.Name(t)
	require.NoError(t, r.CreateKey(ctx, gone))
	require.NoError(t, r.Destroy(ctx, gone))
	r.Close()

	// The keys survive a restart; the master key never appears in the state file.
	master := readFile(t, path)
	require.False(t, bytes.Contains(readFile(t, path+".keys"), master))
	r2 := openLocal(t, path)
	st, err := r2.Status(ctx, name)
	require.NoError(t, err)
	require.Equal(t, 2, st.LatestVersion)
	plain, err := r2.Unwrap(ctx, name, [][]byte{dk.Wrapped})
	require.NoError(t, err)
	require.Equal(t, dk.Plaintext, plain[0])
	_, err = r2.Status(ctx, gone)
	require.ErrorIs(t, err, keys.ErrNoKey)

	// Another master key cannot open the state.
	other := filepath.Join(dir, "other.key")
	openLocal(t, other)
	copyFile(t, path+".keys", other+".keys")
	_, err = keys.OpenLocalKeyring(other, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "does not open with the master key")

	// Files others can read are refused.
	chmod(t, path, 0o644)
	_, err = keys.OpenLocalKeyring(path, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "group or others")
	chmod(t, path, 0o600)
	chmod(t, path+".keys", 0o640)
	_, err = keys.OpenLocalKeyring(path, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "readable by its owner only")
}

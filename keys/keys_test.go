package keys_test

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/keys"
)

// rfc8032 is test 1 of RFC 8032 section 7.1: the empty message.
var rfc8032 = struct{ seed, pub, sig string }{
	seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
	pub:  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
	sig:  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func TestLocalSignerIsPureEd25519(t *testing.T) {
	t.Parallel()
	s, err := keys.NewLocalSigner(mustHex(t, rfc8032.seed))
	require.NoError(t, err)
	require.Equal(t, rfc8032.pub, hex.EncodeToString(s.PublicKey()))
	sig, err := s.Sign(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, rfc8032.sig, hex.EncodeToString(sig))
	require.Regexp(t, `^ed25519:[0-9a-f]{16}$`, s.KeyID())
	require.Equal(t, keys.KeyID(s.PublicKey()), s.KeyID())

	msg := []byte("verwerker-audit-checkpoint/v1\n")
	sig, err = s.Sign(context.Background(), msg)
	require.NoError(t, err)
	require.True(t, ed25519.Verify(s.PublicKey(), msg, sig))

	// The public key cannot be used to change the signer.
	pub := s.PublicKey()
	pub[0] ^= 1
	require.Equal(t, rfc8032.pub, hex.EncodeToString(s.PublicKey()))

	_, err = keys.NewLocalSigner(make([]byte, 31))
	require.Error(t, err)
}

func TestLoadOrCreateLocalSigner(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "audit-signing.key")

	s1, created, err := keys.LoadOrCreateLocalSigner(path)
	require.NoError(t, err)
	require.True(t, created)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	require.EqualValues(t, ed25519.SeedSize, st.Size())
	st, err = os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	left, err := filepath.Glob(filepath.Join(dir, "sub", ".*"))
	require.NoError(t, err)
	require.Empty(t, left, "no temporary files left behind")

	s2, created, err := keys.LoadOrCreateLocalSigner(path)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, s1.KeyID(), s2.KeyID())
	s3, err := keys.LoadLocalSigner(path)
	require.NoError(t, err)
	require.Equal(t, s1.KeyID(), s3.KeyID())
}

func TestLoadOrCreateLocalSignerConcurrently(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit-signing.key")
	ids := make([]string, 16)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			s, _, err := keys.LoadOrCreateLocalSigner(path)
			if err == nil {
				ids[i] = s.KeyID()
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		require.Equal(t, ids[0], id, "every process ends up with the same key")
	}
	require.NotEmpty(t, ids[0])
}

func TestLoadLocalSignerRefusesBadFiles(t *testing.T) {
	t.Parallel()
	seed := mustHex(t, rfc8032.seed)
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		want    string
	}{
		{"group readable", seed, 0o640, "group or others"},
		{"world readable", seed, 0o604, "group or others"},
		{"group writable", seed, 0o620, "group or others"},
		{"too short", seed[:31], 0o600, "exactly 32 bytes"},
		{"too long", append(append([]byte{}, seed...), '\n'), 0o600, "exactly 32 bytes"},
		{"read-only for the owner is fine", seed, 0o400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "key")
			require.NoError(t, os.WriteFile(path, tt.content, 0o600))
			require.NoError(t, os.Chmod(path, tt.mode))
			s, err := keys.LoadLocalSigner(path)
			if tt.want == "" {
				require.NoError(t, err)
				require.Equal(t, rfc8032.pub, hex.EncodeToString(s.PublicKey()))
				return
			}
			require.ErrorContains(t, err, tt.want)
			// LoadOrCreate never replaces a file it refuses.
			_, _, err = keys.LoadOrCreateLocalSigner(path)
			require.ErrorContains(t, err, tt.want)
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, tt.content, got)
		})
	}

	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "key")
		require.NoError(t, os.Mkdir(dir, 0o700))
		_, err := keys.LoadLocalSigner(dir)
		require.ErrorContains(t, err, "not a regular file")
	})
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		_, err := keys.LoadLocalSigner(filepath.Join(t.TempDir(), "nope"))
		require.ErrorIs(t, err, os.ErrNotExist)
	})
}

func TestKeySet(t *testing.T) {
	t.Parallel()
	a, err := keys.GenerateLocalSigner()
	require.NoError(t, err)
	b, err := keys.GenerateLocalSigner()
	require.NoError(t, err)

	ks, err := keys.NewKeySet(keys.PublicKeyOf(b), keys.PublicKeyOf(a), keys.PublicKeyOf(a))
	require.NoError(t, err)
	list := ks.Keys()
	require.Len(t, list, 2, "a key listed twice is kept once")
	require.Less(t, list[0].ID, list[1].ID)
	got, ok := ks.Lookup(a.KeyID())
	require.True(t, ok)
	require.Equal(t, a.PublicKey(), got)
	_, ok = ks.Lookup("ed25519:0000000000000000")
	require.False(t, ok)

	var none *keys.KeySet
	_, ok = none.Lookup(a.KeyID())
	require.False(t, ok)
	require.Empty(t, none.Keys())

	for name, k := range map[string]keys.PublicKey{
		"empty id":   {ID: "", Key: a.PublicKey()},
		"short key":  {ID: "x", Key: a.PublicKey()[:31]},
		"id clashes": {ID: a.KeyID(), Key: b.PublicKey()},
	} {
		_, err := keys.NewKeySet(keys.PublicKeyOf(a), k)
		require.Error(t, err, name)
	}
}

// TestPublicKeyPEM: the PEM form is a SubjectPublicKeyInfo that parses back
// to the same key, which is what `openssl pkeyutl -pubin` needs.
func TestPublicKeyPEM(t *testing.T) {
	t.Parallel()
	s, err := keys.NewLocalSigner(mustHex(t, rfc8032.seed))
	require.NoError(t, err)
	p := keys.PublicKeyOf(s).PEM()
	require.Regexp(t, regexp.MustCompile(`^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=]+\n-----END PUBLIC KEY-----\n$`), p)
	block, rest := pem.Decode([]byte(p))
	require.NotNil(t, block)
	require.Empty(t, rest)
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	require.NoError(t, err)
	require.Equal(t, ed25519.PublicKey(mustHex(t, rfc8032.pub)), pub)
}

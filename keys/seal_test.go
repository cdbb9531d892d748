package keys_test

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/keys"
)

func randomKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	key := randomKey(t)
	aad := keys.AAD{Tenant: "tnt_A", Subject: "sub_1", Kind: "chat_message"}
	msg := []byte("Hallo, ik heb een vraag over mijn bestelling.")

	sealed, err := keys.Seal(key, aad, msg)
	require.NoError(t, err)
	require.Len(t, sealed, len(msg)+keys.SealedOverhead)
	require.Equal(t, byte(0x01), sealed[0], "format version byte")
	require.False(t, bytes.Contains(sealed, msg))

	again, err := keys.Seal(key, aad, msg)
	require.NoError(t, err)
	require.NotEqual(t, sealed, again, "a random nonce per seal")

	got, err := keys.Open(key, aad, sealed)
	require.NoError(t, err)
	require.Equal(t, msg, got)

	empty, err := keys.Seal(key, aad, nil)
	require.NoError(t, err)
	got, err = keys.Open(key, aad, empty)
	require.NoError(t, err)
	require.Empty(t, got)
}

// TestOpenRefuses: the tenant, subject and kind are authenticated, the
// encoding of the three is unambiguous, and any change is caught.
func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	key := randomKey(t)
	aad := keys.AAD{Tenant: "tnt_A", Subject: "sub_1", Kind: "chat"}
	sealed, err := keys.Seal(key, aad, []byte("bericht"))
	require.NoError(t, err)

	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	cases := map[string]struct {
		key    []byte
		aad    keys.AAD
		sealed []byte
	}{
		"other tenant":          {key, keys.AAD{Tenant: "tnt_B", Subject: "sub_1", Kind: "chat"}, sealed},
		"other subject":         {key, keys.AAD{Tenant: "tnt_A", Subject: "sub_2", Kind: "chat"}, sealed},
		"other kind":            {key, keys.AAD{Tenant: "tnt_A", Subject: "sub_1", Kind: "invoice"}, sealed},
		"shifted field borders": {key, keys.AAD{Tenant: "tnt_As", Subject: "ub_1", Kind: "chat"}, sealed},
		"other key":             {randomKey(t), aad, sealed},
		"changed version byte":  {key, aad, flip(0)},
		"changed nonce":         {key, aad, flip(3)},
		"changed ciphertext":    {key, aad, flip(len(sealed) - 20)},
		"changed tag":           {key, aad, flip(len(sealed) - 1)},
		"truncated":             {key, aad, sealed[:keys.SealedOverhead-1]},
		"empty":                 {key, aad, nil},
	}
	for name, c := range cases {
		_, err := keys.Open(c.key, c.aad, c.sealed)
		require.ErrorIs(t, err, keys.ErrSealed, name)
		require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err), name)
	}

	_, err = keys.Seal(key[:16], aad, nil)
	require.Error(t, err, "only 256-bit keys")
}

func TestWrappedVersion(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"vault:v1:abc=": 1, "vault:v12:x": 12, "local:v3:zz": 3} {
		v, err := keys.WrappedVersion([]byte(in))
		require.NoError(t, err, in)
		require.Equal(t, want, v, in)
	}
	for _, in := range []string{"", "vault:", "vault:v0:x", "vault:vx:y", "other:v1:x", "vault:v1"} {
		_, err := keys.WrappedVersion([]byte(in))
		require.Error(t, err, in)
	}
}

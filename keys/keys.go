package keys

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"sort"
)

// AlgorithmEd25519 names the only signature algorithm verwerker uses:
// Ed25519 (RFC 8032), pure, over the whole message.
const AlgorithmEd25519 = "Ed25519"

// Signer signs messages with a private key it never reveals.
type Signer interface {
	// KeyID names the key. It is stored with every signature, so that
	// verification can find the public key after a rotation.
	KeyID() string
	// PublicKey returns the Ed25519 public key that verifies the signatures.
	PublicKey() ed25519.PublicKey
	// Sign returns the Ed25519 signature of msg (64 bytes).
	Sign(ctx context.Context, msg []byte) ([]byte, error)
}

// KeyID derives a key id from an Ed25519 public key: "ed25519:" followed by
// the first 16 hex digits of the SHA-256 of the 32 public key bytes. Anyone
// holding the public key can recompute it.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(sum[:8])
}

// PublicKey is a verification key with its id.
type PublicKey struct {
	// ID is the key id signatures name.
	ID string
	// Key is the Ed25519 public key.
	Key ed25519.PublicKey
}

// PEM returns the key as a PEM "PUBLIC KEY" block (SubjectPublicKeyInfo), the
// form `openssl pkeyutl -pubin` reads.
func (k PublicKey) PEM() string {
	der, err := x509.MarshalPKIXPublicKey(k.Key)
	if err != nil {
		// Only a key of the wrong length fails, and NewKeySet refuses those.
		panic(fmt.Sprintf("keys: marshal public key: %v", err))
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// PublicKeyOf returns the id and public key of s.
func PublicKeyOf(s Signer) PublicKey {
	return PublicKey{ID: s.KeyID(), Key: s.PublicKey()}
}

// KeySet is the set of public keys verification trusts, by key id. It is
// immutable and safe for concurrent use. A nil *KeySet trusts no key.
type KeySet struct {
	byID map[string]ed25519.PublicKey
	keys []PublicKey
}

// NewKeySet returns a set of the given keys. A key listed twice is kept
// once; two different keys under one id, an empty id or a key that is not
// 32 bytes is an error.
func NewKeySet(keys ...PublicKey) (*KeySet, error) {
	s := &KeySet{byID: map[string]ed25519.PublicKey{}}
	for _, k := range keys {
		if k.ID == "" {
			return nil, fmt.Errorf("keys: a public key without an id")
		}
		if len(k.Key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("keys: public key %s is %d bytes, not %d", k.ID, len(k.Key), ed25519.PublicKeySize)
		}
		if have, ok := s.byID[k.ID]; ok {
			if !have.Equal(k.Key) {
				return nil, fmt.Errorf("keys: two different public keys with id %s", k.ID)
			}
			continue
		}
		pub := append(ed25519.PublicKey(nil), k.Key...)
		s.byID[k.ID] = pub
		s.keys = append(s.keys, PublicKey{ID: k.ID, Key: pub})
	}
	sort.Slice(s.keys, func(i, j int) bool { return s.keys[i].ID < s.keys[j].ID })
	return s, nil
}

// Lookup returns the public key with id, if the set trusts it.
func (s *KeySet) Lookup(id string) (ed25519.PublicKey, bool) {
	if s == nil {
		return nil, false
	}
	k, ok := s.byID[id]
	return k, ok
}

// Keys lists the trusted keys, ordered by id.
func (s *KeySet) Keys() []PublicKey {
	if s == nil {
		return nil
	}
	return append([]PublicKey(nil), s.keys...)
}

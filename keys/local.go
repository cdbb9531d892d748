package keys

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
)

// LocalSigner signs with an Ed25519 private key held in memory, loaded from
// or created in a local file. It is the embedded default for development and
// single-host installations: the key is only as safe as the file, and every
// replica must use the same file. Production uses Vault Transit once it is
// available.
type LocalSigner struct {
	id   string
	priv ed25519.PrivateKey
}

// NewLocalSigner returns a signer for the Ed25519 private key derived from a
// 32-byte seed (RFC 8032).
func NewLocalSigner(seed []byte) (*LocalSigner, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("keys: an Ed25519 seed is %d bytes, not %d", ed25519.SeedSize, len(seed))
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return &LocalSigner{id: KeyID(priv.Public().(ed25519.PublicKey)), priv: priv}, nil
}

// GenerateLocalSigner returns a signer for a new random key that lives only
// in memory.
func GenerateLocalSigner() (*LocalSigner, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("keys: generate: %w", err)
	}
	return NewLocalSigner(seed)
}

// KeyID returns the key id derived from the public key (see KeyID).
func (s *LocalSigner) KeyID() string { return s.id }

// PublicKey returns the public key.
func (s *LocalSigner) PublicKey() ed25519.PublicKey {
	return append(ed25519.PublicKey(nil), s.priv.Public().(ed25519.PublicKey)...)
}

// Sign returns the Ed25519 signature of msg.
func (s *LocalSigner) Sign(_ context.Context, msg []byte) ([]byte, error) {
	return ed25519.Sign(s.priv, msg), nil
}

// LoadLocalSigner reads a key file: exactly the 32 bytes of an Ed25519 seed,
// a regular file with no group or other permissions (0600 or 0400). It
// refuses any other file rather than use a key others may have read.
func LoadLocalSigner(path string) (*LocalSigner, error) {
	seed, err := readSecretFile(path, ed25519.SeedSize, "an Ed25519 seed")
	if err != nil {
		return nil, err
	}
	return NewLocalSigner(seed)
}

// LoadOrCreateLocalSigner loads the key file at path (see LoadLocalSigner)
// or, when there is none, generates a key and writes its seed there with
// mode 0600, creating missing directories with mode 0700. created reports
// whether a new key was made. Two processes creating the same file at once
// end up with the same key: the file appears atomically and only once.
func LoadOrCreateLocalSigner(path string) (s *LocalSigner, created bool, err error) {
	seed, created, err := loadOrCreateSecretFile(path, ed25519.SeedSize, "an Ed25519 seed")
	if err != nil {
		return nil, false, err
	}
	s, err = NewLocalSigner(seed)
	return s, created, err
}

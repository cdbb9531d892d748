package keys

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
	seed, err := ReadSecretFile(path, ed25519.SeedSize)
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
	seed, created, err := LoadOrCreateSecretFile(path, ed25519.SeedSize)
	if err != nil {
		return nil, false, err
	}
	s, err = NewLocalSigner(seed)
	return s, created, err
}

// ReadSecretFile reads a secret key file: exactly size bytes, a regular
// file with no group or other permissions (0600 or 0400). It refuses any
// other file rather than use a key others may have read.
func ReadSecretFile(path string, size int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("keys: %s is not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keys: %s is accessible to group or others (mode %04o); it must be readable by its owner only: chmod 600 %s",
			path, st.Mode().Perm(), path)
	}
	secret, err := io.ReadAll(io.LimitReader(f, int64(size)+1))
	if err != nil {
		return nil, fmt.Errorf("keys: read %s: %w", path, err)
	}
	if len(secret) != size {
		return nil, fmt.Errorf("keys: %s must hold exactly %d bytes", path, size)
	}
	return secret, nil
}

// LoadOrCreateSecretFile reads the secret key file at path (see
// ReadSecretFile) or, when there is none, writes size random bytes there
// with mode 0600, creating missing directories with mode 0700. created
// reports whether a new secret was made. Two processes creating the same
// file at once end up with the same secret: the file appears atomically and
// only once.
func LoadOrCreateSecretFile(path string, size int) (secret []byte, created bool, err error) {
	secret, err = ReadSecretFile(path, size)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return secret, false, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("keys: %w", err)
	}
	secret = make([]byte, size)
	if _, err := rand.Read(secret); err != nil {
		return nil, false, fmt.Errorf("keys: generate: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".secret-*")
	if err != nil {
		return nil, false, fmt.Errorf("keys: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("keys: %w", err)
	}
	if _, err := tmp.Write(secret); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("keys: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("keys: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, false, fmt.Errorf("keys: %w", err)
	}
	// A hard link never replaces an existing file: whoever links first wins,
	// and everyone else loads the winner's secret.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			secret, err = ReadSecretFile(path, size)
			return secret, false, err
		}
		return nil, false, fmt.Errorf("keys: %w", err)
	}
	return secret, true, nil
}

// TenantKeyRef names the key a tenant's data is encrypted under: the Vault
// Transit key "transit/keys/tenant-<tenant id>". Decisions return it as the
// key to encrypt with.
func TenantKeyRef(tenantID string) string { return "transit/keys/tenant-" + tenantID }

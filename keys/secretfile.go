package keys

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// readSecretFile reads a file that holds exactly size secret bytes: a
// regular file with no group or other permissions (0600 or 0400). It
// refuses any other file rather than use a key others may have read. what
// names the content in errors ("an Ed25519 seed").
func readSecretFile(path string, size int, what string) ([]byte, error) {
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
	b, err := io.ReadAll(io.LimitReader(f, int64(size)+1))
	if err != nil {
		return nil, fmt.Errorf("keys: read %s: %w", path, err)
	}
	if len(b) != size {
		clear(b)
		return nil, fmt.Errorf("keys: %s must hold exactly %d bytes (%s)", path, size, what)
	}
	return b, nil
}

// loadOrCreateSecretFile reads the secret file at path (see readSecretFile)
// or, when there is none, fills size random bytes and writes them there
// with mode 0600, creating missing directories with mode 0700. created
// reports whether the secret is new. Two processes creating the same file at
// once end up with the same secret: the file appears atomically and only
// once.
func loadOrCreateSecretFile(path string, size int, what string) (secret []byte, created bool, err error) {
	secret, err = readSecretFile(path, size, what)
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
	if err := writeFileAtomic(path, secret, false); err != nil {
		clear(secret)
		if errors.Is(err, fs.ErrExist) {
			secret, err = readSecretFile(path, size, what)
			return secret, false, err
		}
		return nil, false, err
	}
	return secret, true, nil
}

// writeFileAtomic writes data to a new file with mode 0600 next to path,
// syncs it and puts it in place: with replace, by renaming over path; without,
// by a hard link, which never replaces an existing file (the error then
// wraps fs.ErrExist), so whoever links first wins.
func writeFileAtomic(path string, data []byte, replace bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("keys: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("keys: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keys: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if replace {
		err = os.Rename(tmp.Name(), path)
	} else {
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new name durable; best effort
		d.Close()
	}
	return nil
}

// ReadSecretFile reads a secret key file: exactly size bytes, a regular
// file readable by its owner only (0600 or 0400). It refuses any other file
// rather than use a key others may have read.
func ReadSecretFile(path string, size int) ([]byte, error) {
	return readSecretFile(path, size, "a secret key")
}

// LoadOrCreateSecretFile reads the secret key file at path (see
// ReadSecretFile) or, when there is none, writes size random bytes there
// with mode 0600, creating missing directories with mode 0700. created
// reports whether a new secret was made. Two processes creating the same
// file at once end up with the same secret.
func LoadOrCreateSecretFile(path string, size int) (secret []byte, created bool, err error) {
	return loadOrCreateSecretFile(path, size, "a secret key")
}

// TenantKeyRef names the key a tenant's data is encrypted under, as
// decisions return it: the tenant's key-encryption key recorded in
// tenant_keys (its keyring name is random and never reused; Manager
// resolves it). It names no key material.
func TenantKeyRef(tenantID string) string { return "tenant_keys/" + tenantID }

package keys

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Keyring holds key-encryption keys (KEKs) by name and uses them without
// ever revealing them: it makes data keys, unwraps and rewraps them, rotates,
// retires old versions and destroys keys. There are two implementations:
// Transit (HashiCorp Vault's Transit engine, for production) and Local (a
// master key in a file, for `verwerker dev` only).
//
// A keyring never creates a key implicitly: every operation but CreateKey
// on a name without a key fails with ErrNoKey. Errors are *verwerker.Error
// values holding ErrUnavailable, ErrNoKey, ErrUnreadable, ErrKeyExists or
// ErrDenied.
//
// Wrapped keys are text: "<scheme>:v<version>:<base64>" ("vault:v3:..." for
// Transit, "local:v3:..." for Local), so WrappedVersion can read the KEK
// version without the keyring.
type Keyring interface {
	// Kind names the implementation as stored in tenant_keys.keyring:
	// "vault-transit" or "local".
	Kind() string
	// CreateKey makes a new, non-exportable AES-256-GCM key named name that
	// cannot be deleted except by Destroy. It fails with ErrKeyExists if
	// the name is taken.
	CreateKey(ctx context.Context, name string) error
	// DataKey generates a random 256-bit data key and returns it in plain
	// and wrapped under the latest version of key name.
	DataKey(ctx context.Context, name string) (DataKey, error)
	// Unwrap returns the plaintext data keys of wrapped, in order, in one
	// round trip. When some items fail and others do not, it returns the
	// keys it could unwrap (nil for the others) and a *BatchError.
	Unwrap(ctx context.Context, name string, wrapped [][]byte) ([][]byte, error)
	// Rewrap re-encrypts wrapped data keys under the latest version of key
	// name without revealing them, in one round trip; partial failures as
	// for Unwrap.
	Rewrap(ctx context.Context, name string, wrapped [][]byte) ([][]byte, error)
	// Rotate adds a new latest version to key name and returns its status.
	Rotate(ctx context.Context, name string) (KeyStatus, error)
	// Retire raises the minimum decryption version of key name to
	// minVersion (at most the latest version) and deletes every older
	// version from the keyring, so data keys wrapped under them can never be
	// unwrapped again. It returns the new status.
	Retire(ctx context.Context, name string, minVersion int) (KeyStatus, error)
	// Destroy allows deletion of key name and deletes it with every
	// version. Destroying a key that does not exist is not an error.
	Destroy(ctx context.Context, name string) error
	// Status reports the versions and settings of key name.
	Status(ctx context.Context, name string) (KeyStatus, error)
}

// DataKey is a fresh data key: Plaintext for sealing now (zero it when
// done), Wrapped for storing.
type DataKey struct {
	// Plaintext is the 32-byte AES-256 key.
	Plaintext []byte
	// Wrapped is Plaintext encrypted under the tenant key; the only form
	// that is ever stored.
	Wrapped []byte
	// Version is the tenant key version Wrapped was made under.
	Version int
}

// KeyStatus describes a key in a keyring.
type KeyStatus struct {
	// Name is the key's name in the keyring.
	Name string
	// LatestVersion is the version new data keys are wrapped under.
	LatestVersion int
	// MinDecryptionVersion is the oldest version that still unwraps.
	MinDecryptionVersion int
	// MinAvailableVersion is the oldest version the keyring still holds;
	// older versions were deleted (trimmed). 0 means none were trimmed.
	MinAvailableVersion int
	// Exportable reports whether the key material can be exported; it is
	// always false for keys verwerker made.
	Exportable bool
	// DeletionAllowed reports whether the key may be deleted; it is false
	// except during Destroy.
	DeletionAllowed bool
}

// WrappedVersion returns the key version a wrapped data key was made under,
// from its "<scheme>:v<version>:" prefix.
func WrappedVersion(wrapped []byte) (int, error) {
	s := string(wrapped)
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || (scheme != "vault" && scheme != "local") || !strings.HasPrefix(rest, "v") {
		return 0, fmt.Errorf("keys: not a wrapped key")
	}
	v, _, ok := strings.Cut(rest[1:], ":")
	n, err := strconv.Atoi(v)
	if !ok || err != nil || n < 1 {
		return 0, fmt.Errorf("keys: not a wrapped key")
	}
	return n, nil
}

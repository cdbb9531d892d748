package keys

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/verwerker/verwerker"
)

// LocalKeyring is the Keyring of `verwerker dev`: NOT FOR PRODUCTION. A
// 32-byte master key lives in a file readable by its owner only (0600); the
// tenant keys, sealed under the master key with AES-256-GCM, live next to
// it in "<file>.keys" (also 0600). It behaves like Transit (versions,
// rotation, retirement, destruction, no implicit creation), but a key it
// deletes may survive in the file system's free blocks and in every copy
// of the two files, and only one process may use the files at a time.
type LocalKeyring struct {
	mu     sync.Mutex
	path   string // the state file
	master []byte
	keys   map[string]*localKey
}

type localKey struct {
	Latest          int               `json:"latest"`
	MinDecryption   int               `json:"min_decryption"`
	MinAvailable    int               `json:"min_available"`
	DeletionAllowed bool              `json:"deletion_allowed"`
	Versions        map[string]string `json:"versions"` // version -> base64(nonce|sealed key)

	plain map[int][]byte // the unsealed versions
}

type localState struct {
	Format string               `json:"format"`
	Keys   map[string]*localKey `json:"keys"`
}

const localFormat = "verwerker-local-keyring/v1"

// OpenLocalKeyring opens the local keyring whose master key is the file at
// path, creating the master key (mode 0600, directories 0700) when it is
// missing. It logs a warning that the local keyring is not for production.
func OpenLocalKeyring(path string, log *slog.Logger) (*LocalKeyring, error) {
	master, created, err := loadOrCreateSecretFile(path, 32, "a 256-bit master key")
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	log.Warn("local keyring: not for production; tenant keys are protected by a master key in a local file, use Vault Transit (VAULT_ADDR) in production",
		"file", path, "created", created)
	r := &LocalKeyring{path: path + ".keys", master: master, keys: map[string]*localKey{}}
	b, err := readStateFile(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	var st localState
	if err := json.Unmarshal(b, &st); err != nil || st.Format != localFormat {
		return nil, fmt.Errorf("keys: %s is not a %s file", r.path, localFormat)
	}
	for name, k := range st.Keys {
		k.plain = map[int][]byte{}
		for vs, sealed := range k.Versions {
			v, err := strconv.Atoi(vs)
			if err != nil {
				return nil, fmt.Errorf("keys: %s: bad version %q", r.path, vs)
			}
			raw, err := base64.StdEncoding.DecodeString(sealed)
			if err != nil {
				return nil, fmt.Errorf("keys: %s: bad key %s v%d", r.path, name, v)
			}
			kek, err := Open(master, kekAAD(name, v), raw)
			if err != nil {
				return nil, fmt.Errorf("keys: %s: key %s v%d does not open with the master key %s", r.path, name, v, path)
			}
			k.plain[v] = kek
		}
		r.keys[name] = k
	}
	return r, nil
}

func readStateFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keys: %s must be a regular file readable by its owner only: chmod 600 %s", path, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return b, nil
}

// kekAAD binds a sealed tenant key to its name and version.
func kekAAD(name string, version int) AAD {
	return AAD{Tenant: "local-keyring", Subject: name, Kind: "kek-v" + strconv.Itoa(version)}
}

// dataKeyAAD binds a wrapped data key to the tenant key's name.
func dataKeyAAD(name string) AAD {
	return AAD{Tenant: "local-keyring", Subject: name, Kind: "data-key"}
}

// save writes the whole state atomically. Callers hold r.mu.
func (r *LocalKeyring) save() error { return r.saveKeys(r.keys) }

func (r *LocalKeyring) saveKeys(keys map[string]*localKey) error {
	st := localState{Format: localFormat, Keys: keys}
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(r.path, b, true)
}

// Kind returns "local".
func (r *LocalKeyring) Kind() string { return "local" }

// Close zeroes the keys in memory.
func (r *LocalKeyring) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.keys {
		for _, p := range k.plain {
			clear(p)
		}
	}
	clear(r.master)
}

func (r *LocalKeyring) key(name string, op string) (*localKey, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	k, ok := r.keys[name]
	if !ok {
		return nil, keyErr(ErrNoKey, op, nil)
	}
	return k, nil
}

// addVersion makes version v of k. Callers hold r.mu.
func (r *LocalKeyring) addVersion(name string, k *localKey, v int) error {
	kek := make([]byte, 32)
	if _, err := rand.Read(kek); err != nil {
		return err
	}
	sealed, err := Seal(r.master, kekAAD(name, v), kek)
	if err != nil {
		return err
	}
	k.Versions[strconv.Itoa(v)] = base64.StdEncoding.EncodeToString(sealed)
	k.plain[v] = kek
	k.Latest = v
	return nil
}

func (k *localKey) status(name string) KeyStatus {
	return KeyStatus{Name: name, LatestVersion: k.Latest, MinDecryptionVersion: k.MinDecryption,
		MinAvailableVersion: k.MinAvailable, DeletionAllowed: k.DeletionAllowed}
}

// CreateKey makes tenant key name with version 1.
func (r *LocalKeyring) CreateKey(_ context.Context, name string) error {
	op := "keys: local create key"
	if err := checkName(name); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.keys[name]; ok {
		return keyErr(ErrKeyExists, op, nil)
	}
	k := &localKey{MinDecryption: 1, Versions: map[string]string{}, plain: map[int][]byte{}}
	if err := r.addVersion(name, k, 1); err != nil {
		return verwerker.Internal(op, err)
	}
	r.keys[name] = k
	if err := r.save(); err != nil {
		delete(r.keys, name)
		return verwerker.Internal(op, err)
	}
	return nil
}

// Status reports key name.
func (r *LocalKeyring) Status(_ context.Context, name string) (KeyStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, err := r.key(name, "keys: local key status")
	if err != nil {
		return KeyStatus{}, err
	}
	return k.status(name), nil
}

// wrap seals a data key under version v of k. Callers hold r.mu.
func (r *LocalKeyring) wrap(name string, k *localKey, v int, dk []byte) ([]byte, error) {
	sealed, err := Seal(k.plain[v], dataKeyAAD(name), dk)
	if err != nil {
		return nil, err
	}
	return []byte("local:v" + strconv.Itoa(v) + ":" + base64.StdEncoding.EncodeToString(sealed)), nil
}

// unwrap opens a wrapped data key. Callers hold r.mu.
func (r *LocalKeyring) unwrap(name string, k *localKey, wrapped []byte, op string) ([]byte, error) {
	v, err := WrappedVersion(wrapped)
	if err != nil || !strings.HasPrefix(string(wrapped), "local:") {
		return nil, keyErr(ErrUnreadable, op, errors.New("not a local wrapped key"))
	}
	kek, ok := k.plain[v]
	if !ok || v < k.MinDecryption {
		return nil, keyErr(ErrUnreadable, op, fmt.Errorf("key version %d is retired or unknown", v))
	}
	_, b64, _ := strings.Cut(string(wrapped)[len("local:v"):], ":")
	sealed, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, keyErr(ErrUnreadable, op, err)
	}
	dk, err := Open(kek, dataKeyAAD(name), sealed)
	if err != nil || len(dk) != 32 {
		return nil, keyErr(ErrUnreadable, op, errors.New("wrapped key does not open"))
	}
	return dk, nil
}

// DataKey makes a random data key wrapped under the latest version.
func (r *LocalKeyring) DataKey(_ context.Context, name string) (DataKey, error) {
	op := "keys: local datakey"
	r.mu.Lock()
	defer r.mu.Unlock()
	k, err := r.key(name, op)
	if err != nil {
		return DataKey{}, err
	}
	dk := make([]byte, 32)
	if _, err := rand.Read(dk); err != nil {
		return DataKey{}, verwerker.Internal(op, err)
	}
	w, err := r.wrap(name, k, k.Latest, dk)
	if err != nil {
		return DataKey{}, verwerker.Internal(op, err)
	}
	return DataKey{Plaintext: dk, Wrapped: w, Version: k.Latest}, nil
}

// each runs fn on every wrapped key of key name under the lock, collecting
// per-item results and errors.
func (r *LocalKeyring) each(name, op string, wrapped [][]byte, fn func(k *localKey, w []byte) ([]byte, error)) ([][]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, err := r.key(name, op)
	if err != nil {
		return nil, keyErr(ErrUnreadable, op, err)
	}
	out := make([][]byte, len(wrapped))
	errs := make([]error, len(wrapped))
	for i, w := range wrapped {
		out[i], errs[i] = fn(k, w)
	}
	return out, batchResult(errs)
}

// Unwrap opens wrapped data keys.
func (r *LocalKeyring) Unwrap(_ context.Context, name string, wrapped [][]byte) ([][]byte, error) {
	op := "keys: local unwrap"
	return r.each(name, op, wrapped, func(k *localKey, w []byte) ([]byte, error) { return r.unwrap(name, k, w, op) })
}

// Rewrap re-wraps data keys under the latest version.
func (r *LocalKeyring) Rewrap(_ context.Context, name string, wrapped [][]byte) ([][]byte, error) {
	op := "keys: local rewrap"
	return r.each(name, op, wrapped, func(k *localKey, w []byte) ([]byte, error) {
		dk, err := r.unwrap(name, k, w, op)
		if err != nil {
			return nil, err
		}
		defer clear(dk)
		return r.wrap(name, k, k.Latest, dk)
	})
}

// Rotate adds a version.
func (r *LocalKeyring) Rotate(_ context.Context, name string) (KeyStatus, error) {
	op := "keys: local rotate"
	r.mu.Lock()
	defer r.mu.Unlock()
	k, err := r.key(name, op)
	if err != nil {
		return KeyStatus{}, err
	}
	prev := k.Latest
	if err := r.addVersion(name, k, prev+1); err != nil {
		return KeyStatus{}, verwerker.Internal(op, err)
	}
	if err := r.save(); err != nil {
		// Never hand out data keys under a version the file does not hold.
		clear(k.plain[prev+1])
		delete(k.plain, prev+1)
		delete(k.Versions, strconv.Itoa(prev+1))
		k.Latest = prev
		return KeyStatus{}, verwerker.Internal(op, err)
	}
	return k.status(name), nil
}

// Retire raises the minimum decryption version and deletes older versions.
func (r *LocalKeyring) Retire(_ context.Context, name string, minVersion int) (KeyStatus, error) {
	op := "keys: local retire"
	r.mu.Lock()
	defer r.mu.Unlock()
	k, err := r.key(name, op)
	if err != nil {
		return KeyStatus{}, err
	}
	if minVersion < 1 || minVersion > k.Latest {
		return KeyStatus{}, verwerker.Internal(op, fmt.Errorf("version %d outside 1..%d", minVersion, k.Latest))
	}
	if minVersion <= k.MinAvailable {
		return k.status(name), nil
	}
	k.MinDecryption = max(k.MinDecryption, minVersion)
	k.MinAvailable = minVersion
	for v, p := range k.plain {
		if v < minVersion {
			clear(p)
			delete(k.plain, v)
			delete(k.Versions, strconv.Itoa(v))
		}
	}
	if err := r.save(); err != nil {
		return KeyStatus{}, verwerker.Internal(op, err)
	}
	return k.status(name), nil
}

// Destroy deletes key name with all its versions.
func (r *LocalKeyring) Destroy(_ context.Context, name string) error {
	op := "keys: local destroy"
	if err := checkName(name); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k, ok := r.keys[name]
	if !ok {
		return nil
	}
	rest := make(map[string]*localKey, len(r.keys))
	for n, other := range r.keys {
		if n != name {
			rest[n] = other
		}
	}
	if err := r.saveKeys(rest); err != nil {
		return verwerker.Internal(op, err)
	}
	for _, p := range k.plain {
		clear(p)
	}
	delete(r.keys, name)
	return nil
}

package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// AAD is the additional authenticated data every sealed record is bound to:
// a record sealed for one tenant, subject and kind does not open as another,
// so rows cannot be moved between subjects or tenants unnoticed.
type AAD struct {
	// Tenant is the tenant id.
	Tenant string
	// Subject is the pseudonymous subject id.
	Subject string
	// Kind is the record kind ("chat_message", ...).
	Kind string
}

// sealV1 is the first byte of every sealed value: format version 1 is
// AES-256-GCM with a random 96-bit nonce.
const sealV1 = 0x01

// aadLabel starts the additional data, so these bytes never authenticate
// anything but a verwerker record.
const aadLabel = "verwerker-record/v1"

// bytes encodes the additional data unambiguously: the label, then each
// field as a 4-byte big-endian length followed by its bytes.
func (a AAD) bytes() []byte {
	b := make([]byte, 0, len(aadLabel)+12+len(a.Tenant)+len(a.Subject)+len(a.Kind))
	b = append(b, aadLabel...)
	for _, f := range []string{a.Tenant, a.Subject, a.Kind} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// SealedOverhead is how many bytes Seal adds to the plaintext: the version
// byte, the 12-byte nonce and the 16-byte tag.
const SealedOverhead = 1 + 12 + 16

// Seal encrypts plaintext with a 32-byte data key under AES-256-GCM, bound
// to aad. The result is the version byte 0x01, a random 96-bit nonce and the
// ciphertext with its tag. Random nonces are safe for up to 2^32 seals per
// key, far more than one subject's records.
func Seal(key []byte, aad AAD, plaintext []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), SealedOverhead+len(plaintext))
	out[0] = sealV1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("keys: nonce: %w", err)
	}
	return aead.Seal(out, out[1:], plaintext, aad.bytes()), nil
}

// Open decrypts what Seal made with the same key and aad. A wrong key, a
// different tenant, subject or kind, or any changed byte fails with
// ErrSealed (code EINVALID).
func Open(key []byte, aad AAD, sealed []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < SealedOverhead || sealed[0] != sealV1 {
		return nil, keyErr(ErrSealed, "keys: open", fmt.Errorf("unknown format"))
	}
	n := 1 + aead.NonceSize()
	pt, err := aead.Open(nil, sealed[1:n], sealed[n:], aad.bytes())
	if err != nil {
		return nil, keyErr(ErrSealed, "keys: open", err)
	}
	return pt, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("keys: a data key is 32 bytes, not %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return cipher.NewGCM(block)
}

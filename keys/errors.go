package keys

import (
	"errors"
	"fmt"
	"time"

	"github.com/verwerker/verwerker"
)

// Sentinel causes of key-management failures. Every error the keyrings and
// the Manager return is a *verwerker.Error whose chain holds one of these, so
// callers test with errors.Is and the api package maps the code.
var (
	// ErrUnavailable: the keyring does not answer (Vault down, sealed,
	// overloaded, or a time-out). Code EUNAVAILABLE with RetryAfter: verwerker
	// fails closed and the API answers 503.
	ErrUnavailable = errors.New("keys: keyring unavailable")
	// ErrNoKey: the tenant has no key in the keyring (never created, or
	// deleted). Code ENOTFOUND. A key is never created implicitly.
	ErrNoKey = errors.New("keys: no such tenant key")
	// ErrShredded: the tenant's key was shredded; the tenant gets no key and
	// no data key ever again. Code ECONFLICT.
	ErrShredded = errors.New("keys: tenant key shredded")
	// ErrUnreadable: a wrapped data key cannot be unwrapped: its key version
	// was retired by a rotation, its tenant key was shredded, or it is
	// damaged. Code ENOTFOUND: the data it protected is gone.
	ErrUnreadable = errors.New("keys: wrapped data key cannot be unwrapped")
	// ErrKeyExists: CreateKey found a key of that name already in the keyring.
	// Code ECONFLICT.
	ErrKeyExists = errors.New("keys: key already exists")
	// ErrDenied: the keyring refused verwerker's credentials for the
	// operation (for Vault: the token policy). Code EINTERNAL, because it is
	// an operator's misconfiguration, not the caller's fault.
	ErrDenied = errors.New("keys: keyring permission denied")
	// ErrSealed: sealed data failed authentication (wrong key, wrong
	// tenant, subject or kind, or tampering) or has an unknown format.
	// Code EINVALID.
	ErrSealed = errors.New("keys: sealed data does not open")
)

// DefaultRetryAfter is the RetryAfter of unavailable errors when the keyring
// gives no better hint.
const DefaultRetryAfter = 5 * time.Second

// unavailable wraps a keyring outage as EUNAVAILABLE.
func unavailable(op string, retryAfter time.Duration, cause error) error {
	if retryAfter <= 0 {
		retryAfter = DefaultRetryAfter
	}
	return &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "key management unavailable", RetryAfter: retryAfter,
		Err: fmt.Errorf("%s: %w: %w", op, ErrUnavailable, cause)}
}

// keyErr wraps one of the sentinels with its code and a caller-safe message.
func keyErr(sentinel error, op string, cause error) error {
	code, msg := verwerker.EINTERNAL, "internal error"
	switch sentinel {
	case ErrNoKey:
		code, msg = verwerker.ENOTFOUND, "tenant key not found"
	case ErrShredded:
		code, msg = verwerker.ECONFLICT, "the tenant's keys were shredded"
	case ErrUnreadable:
		code, msg = verwerker.ENOTFOUND, "the data key can no longer be unwrapped"
	case ErrKeyExists:
		code, msg = verwerker.ECONFLICT, "key already exists"
	case ErrSealed:
		code, msg = verwerker.EINVALID, "sealed data does not open"
	}
	err := fmt.Errorf("%s: %w", op, sentinel)
	if cause != nil {
		err = fmt.Errorf("%s: %w: %w", op, sentinel, cause)
	}
	return &verwerker.Error{Code: code, Message: msg, Err: err}
}

// BatchError reports the items of a batch that failed while others
// succeeded. Errs has one entry per input item, nil for those that worked.
// Its code is that of the first failure.
type BatchError struct {
	Errs []error
}

// Error summarises the failures.
func (e *BatchError) Error() string {
	n, first := 0, error(nil)
	for _, err := range e.Errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	return fmt.Sprintf("keys: %d of %d items failed; first: %v", n, len(e.Errs), first)
}

// Unwrap returns the failures, so errors.Is and errors.As look through them.
func (e *BatchError) Unwrap() []error {
	var out []error
	for _, err := range e.Errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// batchResult returns nil when no item failed and a *BatchError otherwise.
func batchResult(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return &BatchError{Errs: errs}
		}
	}
	return nil
}

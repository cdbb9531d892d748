package verwerker

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Error codes. They say what kind of failure happened, not where; the api
// package maps each to an HTTP status.
const (
	EINVALID      = "invalid"      // the input breaks a rule; Fields says which
	ENOTFOUND     = "not_found"    // no such object, or the caller may not know it exists
	ECONFLICT     = "conflict"     // the state of an object forbids the operation
	EUNAUTHORIZED = "unauthorized" // the caller is not authenticated
	EFORBIDDEN    = "forbidden"    // the caller is authenticated but not allowed
	ETHROTTLED    = "throttled"    // too many attempts; try again after RetryAfter
	ETOOLARGE     = "too_large"    // the input is larger than allowed; Fields says which part
	EUNAVAILABLE  = "unavailable"  // a dependency is down; try again later
	EINTERNAL     = "internal"     // a bug or an unexpected failure
)

// Error is the one error type of verwerker. Message is safe to show to the
// caller: it never contains personal data or internal error text. Err keeps
// the wrapped cause for logs; it is never shown to callers.
type Error struct {
	// Code is one of the E* constants.
	Code string
	// Message is a human-readable, caller-safe explanation.
	Message string
	// Fields names the offending input fields for EINVALID errors.
	Fields []FieldError
	// Err is the underlying cause, if any. It is for operators only.
	Err error
	// RetryAfter says when trying again makes sense, for ETHROTTLED and
	// EUNAVAILABLE; zero means unknown.
	RetryAfter time.Duration
}

// FieldError names one invalid input field. Field is a dotted path into the
// input ("contact_email", "scope.categories[2]"); Message explains the rule
// it breaks without repeating the submitted value.
type FieldError struct {
	Field   string
	Message string
}

// Error implements the error interface. It includes the cause, so it is for
// logs, not for callers; callers get ErrorMessage.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	for _, f := range e.Fields {
		fmt.Fprintf(&b, " [%s: %s]", f.Field, f.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message. The
// arguments must not contain personal data: the message is shown to callers.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error listing the offending fields.
func Invalid(message string, fields ...FieldError) *Error {
	return &Error{Code: EINVALID, Message: message, Fields: fields}
}

// Internal wraps an unexpected failure. The cause is kept for logs only; the
// caller sees a generic message.
func Internal(op string, err error) *Error {
	return &Error{Code: EINTERNAL, Message: "internal error", Err: fmt.Errorf("%s: %w", op, err)}
}

// Wrap returns err unchanged if it is nil or carries an *Error, and an
// EINTERNAL error naming op otherwise: domain packages use it at their
// edges so that callers only ever see verwerker's codes.
func Wrap(op string, err error) error {
	var e *Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	return Internal(op, err)
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of the first *Error in err's
// chain, or a generic message for any other error.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "internal error"
}

// ErrorFields returns the field errors of the first *Error in err's chain.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// ErrorRetryAfter returns the RetryAfter of a *Error in err's chain, or 0.
func ErrorRetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker"
)

// Problem is an RFC 9457 problem response. It is huma.ErrorModel without the
// echoed values: Errors name the location and the rule, never the input.
type Problem struct {
	Type     string         `json:"type,omitempty" format:"uri" default:"about:blank" doc:"A URI reference to documentation for the problem type."`
	Title    string         `json:"title,omitempty" example:"Unprocessable Entity" doc:"A short, human-readable summary of the problem type."`
	Status   int            `json:"status,omitempty" example:"422" doc:"HTTP status code."`
	Code     string         `json:"code,omitempty" example:"invalid" doc:"verwerker's error code: invalid, not_found, conflict, unauthorized, forbidden, throttled, unavailable or internal."`
	Detail   string         `json:"detail,omitempty" example:"validation failed" doc:"A human-readable explanation of this occurrence."`
	Instance string         `json:"instance,omitempty" example:"urn:verwerker:request:01JD..." doc:"The request id, for support."`
	Errors   []*FieldDetail `json:"errors,omitempty" doc:"The offending input fields."`

	headers http.Header
	// sqlState is the SQLSTATE of a database data exception the problem
	// stands for, for the log.
	sqlState string
}

// FieldDetail names one offending input field.
type FieldDetail struct {
	Location string `json:"location,omitempty" example:"body.contact_email" doc:"Where the problem is: body.<field>, path.<param>, query.<param> or header.<name>."`
	Message  string `json:"message" example:"expected string to be RFC 5322 email" doc:"The rule the input breaks."`
}

// Error implements error.
func (p *Problem) Error() string { return p.Detail }

// GetStatus implements huma.StatusError.
func (p *Problem) GetStatus() int { return p.Status }

// ContentType implements huma.ContentTypeFilter: problems are
// application/problem+json.
func (p *Problem) ContentType(ct string) string {
	if ct == "application/json" {
		return "application/problem+json"
	}
	return ct
}

// GetHeaders implements huma.HeadersError, for Retry-After and
// WWW-Authenticate.
func (p *Problem) GetHeaders() http.Header { return p.headers }

// codeForStatus is the verwerker error code a status stands for.
func codeForStatus(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return verwerker.EUNAUTHORIZED
	case status == http.StatusForbidden:
		return verwerker.EFORBIDDEN
	case status == http.StatusNotFound:
		return verwerker.ENOTFOUND
	case status == http.StatusConflict:
		return verwerker.ECONFLICT
	case status == http.StatusServiceUnavailable:
		return verwerker.EUNAVAILABLE
	case status == http.StatusTooManyRequests:
		return verwerker.ETHROTTLED
	case status == http.StatusRequestEntityTooLarge:
		return verwerker.ETOOLARGE
	case status >= 500:
		return verwerker.EINTERNAL
	default:
		return verwerker.EINVALID
	}
}

// newProblem replaces huma.NewError: 5xx responses carry no detail at all,
// details never carry the submitted value, and parser messages that could
// quote the body are replaced by a fixed sentence.
func newProblem(status int, msg string, errs ...error) huma.StatusError {
	p := &Problem{Status: status, Title: http.StatusText(status), Code: codeForStatus(status), Detail: msg}
	if status >= 500 {
		p.Detail = "The server could not complete the request. It has been logged; please try again or contact support with the instance id."
		if status == http.StatusServiceUnavailable {
			p.Detail = "A service verwerker depends on is unavailable. Nothing was changed; please retry later."
		}
		return p
	}
	for _, err := range errs {
		if err == nil {
			continue
		}
		var d huma.ErrorDetailer
		if errors.As(err, &d) {
			ed := d.ErrorDetail()
			loc, msg := fieldLocation(ed.Location, ed.Message)
			p.Errors = append(p.Errors, &FieldDetail{Location: loc, Message: safeDetail(status, loc, msg)})
			continue
		}
		// Plain errors come from parsers and may quote input: name the rule only.
		p.Errors = append(p.Errors, &FieldDetail{Message: http.StatusText(status)})
	}
	if status == http.StatusRequestEntityTooLarge && len(errs) > 0 {
		p.Detail = "request body is too large"
	}
	return p
}

// safeDetail drops the parts of messages that may quote the submitted input.
// Huma's validation messages have the form "expected <rule>: <cause>", where
// the cause (from net/mail, time parsing, TextUnmarshalers) may quote the
// value; only the rule is kept.
func safeDetail(status int, location, msg string) string {
	if location == "body" && status == http.StatusBadRequest {
		return "request body is not valid JSON"
	}
	if strings.Contains(msg, "invalid character") || strings.Contains(msg, "cannot unmarshal") ||
		strings.Contains(msg, "unexpected end of JSON") || strings.Contains(msg, `"`) && !strings.HasPrefix(msg, "expected ") {
		return "value has the wrong type or is malformed"
	}
	if rule, _, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "expected ") {
		return rule
	}
	return msg
}

// requiredProperty matches Huma's message for a missing required field.
var requiredProperty = regexp.MustCompile(`^expected required property ([A-Za-z0-9_]+) to be present$`)

// fieldLocation moves the name of a missing required property into the
// location, so that every field problem is located at <where>.<field>.
func fieldLocation(location, msg string) (string, string) {
	if m := requiredProperty.FindStringSubmatch(msg); m != nil {
		return location + "." + m[1], "is required"
	}
	return location, msg
}

// fromError maps an error returned by a domain package to a problem, with
// field errors located in the request body.
func fromError(err error) *Problem { return fromErrorAt(err, "body") }

// fromErrorAt maps an error returned by a domain package to a problem. Only
// the caller-safe message and field names of a *verwerker.Error are shown;
// field errors are located at where.<field> (where is body, query or path).
func fromErrorAt(err error, where string) *Problem {
	return fromErrorIn(err, func(field string) string { return where + "." + field })
}

// fromErrorIn is fromErrorAt with each field's location given by locate.
func fromErrorIn(err error, locate func(field string) string) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	if code := dataException(err); code != "" {
		// Input validation should have refused what the database did:
		// still the caller's input, never a 5xx (nor a 503 to retry).
		prob := newProblem(http.StatusUnprocessableEntity, "a value in the request cannot be stored: text must not contain NUL or control characters, and values must fit their fields").(*Problem)
		prob.sqlState = code
		return prob
	}
	status := http.StatusInternalServerError
	switch verwerker.ErrorCode(err) {
	case verwerker.EINVALID:
		status = http.StatusUnprocessableEntity
	case verwerker.ENOTFOUND:
		status = http.StatusNotFound
	case verwerker.ECONFLICT:
		status = http.StatusConflict
	case verwerker.EUNAUTHORIZED:
		status = http.StatusUnauthorized
	case verwerker.EFORBIDDEN:
		status = http.StatusForbidden
	case verwerker.EUNAVAILABLE:
		status = http.StatusServiceUnavailable
	case verwerker.ETHROTTLED:
		status = http.StatusTooManyRequests
	case verwerker.ETOOLARGE:
		status = http.StatusRequestEntityTooLarge
	}
	prob := newProblem(status, verwerker.ErrorMessage(err)).(*Problem)
	for _, f := range verwerker.ErrorFields(err) {
		prob.Errors = append(prob.Errors, &FieldDetail{Location: locate(f.Field), Message: f.Message})
	}
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		retry := int64(5)
		if d := verwerker.ErrorRetryAfter(err); d > 0 {
			retry = int64((d + time.Second - 1) / time.Second)
		}
		prob.headers = http.Header{"Retry-After": {strconv.FormatInt(retry, 10)}}
	}
	return prob
}

// locator returns where a domain error's field is in a request of op: the
// parameter of that name (path.<field>, query.<field>, header.<field>)
// unless the body has a property of that name, else body.<field>. Domain
// packages name fields without knowing where the API takes them from.
func (s *Server) locator(op *huma.Operation) func(field string) string {
	return func(field string) string {
		if op == nil {
			return "body." + field
		}
		name := field
		if i := strings.IndexAny(field, ".["); i >= 0 {
			name = field[:i]
		}
		if op.RequestBody != nil {
			if mt := op.RequestBody.Content["application/json"]; mt != nil && mt.Schema != nil {
				schema := mt.Schema
				if schema.Ref != "" {
					schema = s.api.OpenAPI().Components.Schemas.SchemaFromRef(schema.Ref)
				}
				if schema != nil && schema.Properties[name] != nil {
					return "body." + field
				}
			}
		}
		for _, p := range op.Parameters {
			if p.Name == name && p.In != "cookie" {
				return p.In + "." + field
			}
		}
		return "body." + field
	}
}

// sqlStater is how the PostgreSQL driver's errors (pgconn.PgError) tell
// their SQLSTATE.
type sqlStater interface{ SQLState() string }

// dataException returns the SQLSTATE of a PostgreSQL data exception (class
// 22: 22021 character not in repertoire, such as NUL; 22P02 invalid text
// representation; 22001 string too long; ...) in err's chain, or "". Such
// an error is a refusal of the request's input.
func dataException(err error) string {
	var e sqlStater
	if errors.As(err, &e) {
		if code := e.SQLState(); strings.HasPrefix(code, "22") {
			return code
		}
	}
	return ""
}

// logCause is err as the access log may show it: a data exception's
// message can quote the input (22P02: invalid input syntax for type uuid:
// "..."), so only its SQLSTATE is kept.
func logCause(err error) error {
	if code := dataException(err); code != "" {
		return fmt.Errorf("the database refused the input (SQLSTATE %s)", code)
	}
	return err
}

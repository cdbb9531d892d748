package api

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/policy"
)

// decidePath is the chat service's hot path: one question per request.
const decidePath = "/v1/decisions"

// decideMaxBody is the body limit of POST /v1/decisions (its MaxBodyBytes).
const decideMaxBody = 8 << 10

// fastDecide answers POST /v1/decisions without Huma's generic request
// processing when the request is an ordinary one: a JSON body that is a
// flat object of the operation's fields with plain ASCII string values
// (and a boolean suspected_minor) within their length limits, a bearer key
// of the tenant asked about that holds decision:make, and a valid
// question. It authenticates, authorizes and decides with the same
// components as the operation and writes the same answer; Huma's generic
// decoding, validation and encoding cost about half of the CPU time of a
// decision on a busy server.
//
// Everything else — another content type or Accept, escapes, null, unknown
// or repeated fields, bytes outside printable ASCII (so invalid UTF-8 and
// control characters), a body over the limit, a session, a key of another
// tenant or without the permission, an invalid question — is handed to the
// Huma operation with the body replayed, which answers it exactly as
// without this path (errors, audit of denials, 401/403/413/422; checkInput
// refuses repeated fields, invalid UTF-8 and control characters with a 422
// naming the field). The parser's own checks cost next to nothing: one
// comparison per byte and a seen flag per known field.
// api/fastpath_test.go sends the same requests to a server without it and
// requires the same answers.
func (s *Server) fastDecide(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != decidePath || s.noFastPath || s.deps.Decisions == nil ||
			s.deps.Authn == nil || s.deps.Authz == nil || !plainJSON(r) {
			next.ServeHTTP(w, r)
			return
		}
		buf, err := io.ReadAll(io.LimitReader(r.Body, decideMaxBody+1))
		replay := func() {
			r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(buf), r.Body))
			next.ServeHTTP(w, r)
		}
		if err != nil || len(buf) > decideMaxBody {
			replay()
			return
		}
		var q fastQuestion
		if !q.parse(buf) {
			replay()
			return
		}
		ctx := r.Context()
		p, err := s.deps.Authn.Authenticate(ctx, r)
		if err != nil || p.MFAPending || p.Domain != q.tenant || !verwerker.ValidID(verwerker.PrefixTenant, q.tenant) {
			replay()
			return
		}
		if ok, err := s.deps.Authz.Allowed(ctx, p, policy.PermDecide, p.Domain); err != nil || !ok {
			replay()
			return
		}
		ctx = verwerker.WithPrincipal(ctx, p)
		ds, err := s.deps.Decisions.Decide(ctx, q.tenant, p.DecisionVersion, []decision.Request{q.req})
		if verwerker.ErrorCode(err) == verwerker.EINVALID {
			// Refused before anything happened: the operation names the fields.
			replay()
			return
		}
		s.fastDecisions.Add(1)
		if ri := infoFrom(ctx); ri != nil {
			ri.operationID, ri.principal = "decide", p.ID
		}
		if err != nil {
			prob := s.problem(ctx, err).(*Problem)
			for k, v := range prob.GetHeaders() {
				w.Header()[k] = v
			}
			writeJSON(w, prob.Status, "application/problem+json", prob)
			return
		}
		out := decisionOut(ds[0])
		bp := answerBufs.Get().(*[]byte)
		defer answerBufs.Put(bp)
		b := appendDecision((*bp)[:0], &out)
		if b == nil { // a time that does not marshal: let encoding/json say so
			writeJSON(w, http.StatusOK, "application/json", out)
			return
		}
		*bp = b
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
	})
}

// answerBufs are the fast path's answer buffers (net/http copies what is
// written, so a buffer is free again once Write returns).
var answerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// writeJSON writes v as Huma's JSON format does, with the status and
// content type: the fast path's problems and the answers written outside
// Huma (cross-origin refusals, panics).
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// plainJSON reports whether the request sends JSON and accepts it, as the
// fast path expects.
func plainJSON(r *http.Request) bool {
	if r.Header.Get("Authorization") == "" || !plainCredentials(r) {
		return false
	}
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/json" || len(params) > 1 || (len(params) == 1 && !strings.EqualFold(params["charset"], "utf-8")) {
		return false
	}
	switch a := r.Header.Values("Accept"); {
	case len(a) == 0:
		return true
	case len(a) == 1:
		return a[0] == "application/json" || a[0] == "*/*"
	}
	return false
}

// fastQuestion is the body of an ordinary decision request.
type fastQuestion struct {
	tenant string
	req    decision.Request
}

// fastField is a body field of POST /v1/decisions as the fast path reads
// it: its index (for the seen flags) and its length limit (0 for the
// boolean).
type fastField struct{ index, limit int }

// fastFields are the body's fields by JSON name, with the limits the Huma
// operation declares (decideInput's maxLength tags): one declaration for
// both paths.
var fastFields = fieldsOf(reflect.TypeFor[decideInput]().Field(0).Type)

// fieldsOf lists the JSON fields of struct type t, those of embedded
// structs included, with their maxLength; it panics on a string without
// one or a field the fast path cannot read (a programming error caught by
// any test).
func fieldsOf(t reflect.Type) map[string]fastField {
	out := map[string]fastField{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for f := range t.Fields() {
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			ff := fastField{index: len(out)}
			switch f.Type.Kind() {
			case reflect.String:
				n, err := strconv.Atoi(f.Tag.Get("maxLength"))
				if err != nil || n <= 0 {
					panic("api: " + name + " needs a maxLength")
				}
				ff.limit = n
			case reflect.Bool:
			default:
				panic("api: the fast path cannot read " + name)
			}
			out[name] = ff
		}
	}
	walk(t)
	if len(out) > maxFastFields {
		panic("api: the fast path reads at most " + strconv.Itoa(maxFastFields) + " fields")
	}
	return out
}

// maxFastFields is how many body fields the fast path can tell apart.
const maxFastFields = 8

// parse reads a flat JSON object of the body's fields whose strings are
// printable ASCII without escapes, each field at most once, and tenant_id,
// category, purpose and region present. It reports false for anything
// else.
func (q *fastQuestion) parse(b []byte) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	var seen [maxFastFields]bool
	for first := true; ; first = false {
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' && first {
			break
		}
		key, j, ok := plainString(b, i)
		if !ok {
			return false
		}
		f, known := fastFields[key]
		if !known || seen[f.index] {
			return false
		}
		seen[f.index] = true
		limit := f.limit
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		if limit == 0 {
			switch {
			case bytes.HasPrefix(b[i:], []byte("true")):
				q.req.SuspectedMinor, i = true, i+4
			case bytes.HasPrefix(b[i:], []byte("false")):
				i += 5
			default:
				return false
			}
		} else {
			v, j, ok := plainString(b, i)
			if !ok || len(v) > limit {
				return false
			}
			switch key {
			case "tenant_id":
				q.tenant = v
			case "category":
				q.req.Category = v
			case "purpose":
				q.req.Purpose = v
			case "region":
				q.req.Region = v
			case "subprocessor":
				q.req.Subprocessor = v
			case "special_category":
				q.req.SpecialCategory = v
			case "subject_ref":
				q.req.SubjectRef = v
			}
			i = j
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			break
		}
		if b[i] != ',' {
			return false
		}
	}
	return seen[fastFields["tenant_id"].index] && seen[fastFields["category"].index] && seen[fastFields["purpose"].index] &&
		seen[fastFields["region"].index] && skipSpace(b, i+1) == len(b)
}

// plainString reads a JSON string at b[i] made of printable ASCII without
// escapes, and returns it and the index after it.
func plainString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return string(b[i+1 : j]), j + 1, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return "", 0, false
		}
	}
	return "", 0, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

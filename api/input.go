package api

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
)

// Messages of the input checks. They name the rule, never the value.
const (
	msgInvalidUTF8 = "must be valid UTF-8"
	msgControl     = "must not contain NUL or other control characters (tab, line feed and carriage return are allowed in text)"
	msgParamCtl    = "must not contain control characters"
	msgDuplicate   = "is given more than once"
)

// maxInputFindings bounds the field errors of one refusal.
const maxInputFindings = 20

// checkInput is the Huma middleware that refuses, before any decoding,
// input that encoding/json and PostgreSQL would otherwise alter, resolve
// arbitrarily or refuse with a 5xx:
//
//   - invalid UTF-8, in the body or a parameter (encoding/json replaces it
//     with U+FFFD, so that two different values become one; PostgreSQL
//     refuses it in a parameter), and lone UTF-16 surrogates escaped in
//     JSON strings (also replaced with U+FFFD);
//   - NUL and the other C0 control characters in any string of the body
//     (tab, line feed and carriage return are allowed: free text needs
//     them), in any key, and in any parameter (where none is allowed);
//     PostgreSQL refuses NUL in text (SQLSTATE 22021);
//   - a key given twice in a JSON object (encoding/json keeps the last).
//
// It runs for every operation after authorization and answers 422 naming
// every offending location (body.<field>, body.items[3].purpose,
// path.<param>, query.<param>, header.<name>), without the value. A body
// that is not JSON at all is left to Huma (400).
func (s *Server) checkInput(ctx huma.Context, next func(huma.Context)) {
	op := ctx.Operation()
	var found []*FieldDetail
	if len(op.Parameters) > 0 {
		found = checkParams(ctx, op)
	}
	if op.RequestBody != nil {
		r, _ := humago.Unwrap(ctx)
		buf := inputBufs.Get().(*bytes.Buffer)
		defer func() {
			if buf.Cap() <= 1<<20 {
				buf.Reset()
				inputBufs.Put(buf)
			}
		}()
		// Read within bodyReadTimeout and the operation's limit; Huma reads
		// the copy (register lifts the deadline for it and the handler).
		_ = ctx.SetReadDeadline(time.Now().Add(bodyReadTimeout))
		limit := op.MaxBodyBytes
		var rd io.Reader = r.Body
		if limit > 0 {
			rd = io.LimitReader(rd, limit)
		}
		_, err := buf.ReadFrom(rd)
		// Huma reads the same bytes again and answers a read error, a
		// timeout or a body over the limit as it would have.
		var rest io.Reader = r.Body
		if err != nil {
			rest = errReader{err}
		}
		r.Body = replayBody{io.MultiReader(bytes.NewReader(buf.Bytes()), rest), r.Body}
		if err == nil && (limit <= 0 || int64(buf.Len()) < limit) && jsonContent(ctx.Header("Content-Type")) {
			found = append(found, s.checkJSON(buf.Bytes())...)
		}
	}
	if len(found) == 0 {
		next(ctx)
		return
	}
	if len(found) > maxInputFindings {
		found = found[:maxInputFindings]
	}
	errs := make([]error, len(found))
	for i, f := range found {
		errs[i] = &huma.ErrorDetail{Location: f.Location, Message: f.Message}
	}
	_ = huma.WriteErr(s.api, ctx, http.StatusUnprocessableEntity, "validation failed", errs...)
}

// bodyReadTimeout is how long a client may take to send a request body
// (Huma's default).
const bodyReadTimeout = 5 * time.Second

// inputBufs are checkInput's body buffers.
var inputBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// replayBody gives Huma the body checkInput has read, followed by what was
// left, and closes the original body.
type replayBody struct {
	io.Reader
	orig io.Closer
}

// Close closes the original body.
func (b replayBody) Close() error { return b.orig.Close() }

// errReader returns err on every read.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// jsonContent reports whether a request's content type is one Huma
// decodes as JSON (all of verwerker's request bodies are JSON; any other
// type gets Huma's 415).
func jsonContent(ct string) bool {
	// As Huma reads it (api.Unmarshal): the part after a "+" and before a
	// ";", where "" means JSON.
	start := strings.IndexByte(ct, '+') + 1
	end := strings.IndexByte(ct, ';')
	if end == -1 {
		end = len(ct)
	}
	if end < start {
		return false
	}
	t := ct[start:end]
	return t == "" || t == "application/json" || t == "json"
}

// checkParams checks the operation's declared parameters: valid UTF-8 and
// no control characters at all (ids, cursors, enums and numbers are single
// tokens).
func checkParams(ctx huma.Context, op *huma.Operation) []*FieldDetail {
	var found []*FieldDetail
	var query map[string][]string
	for _, p := range op.Parameters {
		var values []string
		switch p.In {
		case "path":
			values = []string{ctx.Param(p.Name)}
		case "query":
			if query == nil {
				u := ctx.URL()
				query = u.Query()
			}
			values = query[p.Name]
		case "header":
			r, _ := humago.Unwrap(ctx)
			values = r.Header.Values(p.Name)
		default:
			// Cookies: net/http drops values that are not plain ASCII.
			continue
		}
		for _, v := range values {
			if msg := paramProblem(v); msg != "" {
				found = append(found, &FieldDetail{Location: p.In + "." + p.Name, Message: msg})
				break
			}
		}
	}
	return found
}

// plainCredentials reports whether the request's Authorization headers are
// printable ASCII, as every credential verwerker issues is. Anything else
// is refused as invalid credentials before it reaches a lookup (net/http
// already refuses control characters in headers; bytes above 0x7f pass).
// Session cookies need no check: net/http drops cookie values that are not
// plain ASCII.
func plainCredentials(r *http.Request) bool {
	for _, v := range r.Header.Values("Authorization") {
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] > 0x7e {
				return false
			}
		}
	}
	return true
}

// paramProblem returns what is wrong with a parameter value, or "".
func paramProblem(v string) string {
	if !utf8.ValidString(v) {
		return msgInvalidUTF8
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return msgParamCtl
		}
	}
	return ""
}

// checkJSON scans a JSON body and returns its problems, or nothing when it
// has none or is not valid JSON (Huma answers that with a 400).
func (s *Server) checkJSON(b []byte) []*FieldDetail {
	sc := jsonScan{b: b, vocabulary: s.vocabulary}
	if !sc.value(0) {
		return nil
	}
	if sc.skipSpace(); sc.i != len(b) {
		return nil
	}
	return sc.found
}

// maxJSONDepth is encoding/json's nesting limit: deeper is not JSON to it.
const maxJSONDepth = 10000

// manyKeys is the number of keys beyond which an object's keys are checked
// for duplicates with a map instead of by comparing each with the others.
const manyKeys = 16

// jsonScan is a strict, allocation-light JSON scanner that records the
// locations of invalid UTF-8, control characters and duplicate keys.
type jsonScan struct {
	b []byte
	i int
	// vocabulary holds the property names of the API's schemas: only those
	// are named in locations, so that a key a client made up (which may be
	// personal data, inside a record's content) is never echoed.
	vocabulary map[string]bool
	// frames is the way from the body to the current value: object keys
	// and array indexes. Locations are built from it only on a problem.
	frames []jsonFrame
	// keys holds the keys of the objects being scanned, innermost last.
	keys  []jsonKey
	found []*FieldDetail
}

// jsonKey is a key's position in the body (without the quotes), and
// whether it holds escapes.
type jsonKey struct {
	start, end int
	escaped    bool
}

// jsonFrame is one step into the body: an object's key or an array index
// (index >= 0).
type jsonFrame struct {
	key   jsonKey
	index int
}

// report records a problem at the current location: body, then each key
// while it is one of the API's field names, and each index.
func (s *jsonScan) report(msg string) {
	if len(s.found) > maxInputFindings {
		return
	}
	loc := append(make([]byte, 0, 64), "body"...)
	for _, f := range s.frames {
		if f.index >= 0 {
			loc = append(strconv.AppendInt(append(loc, '['), int64(f.index), 10), ']')
			continue
		}
		name := s.key(f.key)
		if !s.vocabulary[string(name)] {
			break
		}
		loc = append(append(loc, '.'), name...)
	}
	s.found = append(s.found, &FieldDetail{Location: string(loc), Message: msg})
}

func (s *jsonScan) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans one JSON value and reports whether it is valid JSON.
func (s *jsonScan) value(depth int) bool {
	s.skipSpace()
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return depth < maxJSONDepth && s.object(depth+1)
	case c == '[':
		return depth < maxJSONDepth && s.array(depth+1)
	case c == '"':
		_, msg, ok := s.str()
		if ok && msg != "" {
			s.report(msg)
		}
		return ok
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.number()
	}
}

func (s *jsonScan) literal(lit string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return false
	}
	s.i += len(lit)
	return true
}

// number scans a JSON number.
func (s *jsonScan) number() bool {
	b, i := s.b, s.i
	digits := func() bool {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	s.i = i
	return true
}

func (s *jsonScan) array(depth int) bool {
	s.i++ // [
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return true
	}
	s.frames = append(s.frames, jsonFrame{})
	defer func() { s.frames = s.frames[:len(s.frames)-1] }()
	for idx := 0; ; idx++ {
		s.frames[len(s.frames)-1].index = idx
		if !s.value(depth) {
			return false
		}
		s.skipSpace()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

func (s *jsonScan) object(depth int) bool {
	s.i++ // {
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true
	}
	first := len(s.keys)
	defer func() { s.keys = s.keys[:first] }()
	var seen map[string]bool // for objects with many keys
	for {
		s.skipSpace()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		k, msg, ok := s.str()
		if !ok {
			return false
		}
		if msg != "" {
			// The key itself is the problem: located at the object, and
			// so is everything in its value.
			s.report(msg)
			k = jsonKey{start: -1}
		} else if s.duplicate(k, first, &seen) {
			s.frames = append(s.frames, jsonFrame{key: k, index: -1})
			s.report(msgDuplicate)
			s.frames = s.frames[:len(s.frames)-1]
		}
		s.keys = append(s.keys, k)
		s.skipSpace()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.frames = append(s.frames, jsonFrame{key: k, index: -1})
		ok = s.value(depth)
		s.frames = s.frames[:len(s.frames)-1]
		if !ok {
			return false
		}
		s.skipSpace()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// key returns a key's text; keys with escapes are decoded. A key with a
// problem (start -1) has none: it is never named nor equal to another.
func (s *jsonScan) key(k jsonKey) []byte {
	switch {
	case k.start < 0:
		return nil
	case !k.escaped:
		return s.b[k.start:k.end]
	}
	return []byte(unescape(s.b[k.start:k.end]))
}

// duplicate reports whether key k was already given in the object whose
// keys start at s.keys[first].
func (s *jsonScan) duplicate(k jsonKey, first int, seen *map[string]bool) bool {
	prev := s.keys[first:]
	name := s.key(k)
	if *seen == nil && len(prev) < manyKeys {
		for _, p := range prev {
			if p.start >= 0 && (p.escaped || k.escaped || p.end-p.start == k.end-k.start) && bytes.Equal(s.key(p), name) {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]bool, 2*len(prev))
		for _, p := range prev {
			if p.start >= 0 {
				(*seen)[string(s.key(p))] = true
			}
		}
	}
	if (*seen)[string(name)] {
		return true
	}
	(*seen)[string(name)] = true
	return false
}

// plainByte marks the bytes a JSON string holds as they are: printable
// ASCII but the quote and the backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str scans a JSON string at s.i. It returns the string's position, the
// first problem of its content ("" if none) and whether it is valid JSON.
func (s *jsonScan) str() (jsonKey, string, bool) {
	b := s.b
	k := jsonKey{start: s.i + 1}
	msg := ""
	for i := s.i + 1; i < len(b); {
		c := b[i]
		if plainByte[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			k.end, s.i = i, i+1
			return k, msg, true
		case c < 0x20:
			return k, "", false // raw control characters are not JSON
		case c == '\\':
			k.escaped = true
			if i+1 >= len(b) {
				return k, "", false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'n', 'r', 't':
				i += 2
			case 'b', 'f':
				if msg == "" {
					msg = msgControl
				}
				i += 2
			case 'u':
				r, ok := hex4(b, i+2)
				if !ok {
					return k, "", false
				}
				i += 6
				switch {
				case r < 0x20 && r != '\t' && r != '\n' && r != '\r':
					if msg == "" {
						msg = msgControl
					}
				case r >= 0xd800 && r < 0xdc00:
					// A high surrogate must be followed by an escaped low one.
					if i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
						if lo, ok := hex4(b, i+2); ok && lo >= 0xdc00 && lo < 0xe000 {
							i += 6
							break
						}
					}
					if msg == "" {
						msg = msgInvalidUTF8
					}
				case r >= 0xdc00 && r < 0xe000:
					if msg == "" {
						msg = msgInvalidUTF8
					}
				}
			default:
				return k, "", false
			}
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 && msg == "" {
				msg = msgInvalidUTF8
			}
			i += size
		}
	}
	return k, "", false
}

// hex4 decodes the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unescape decodes the content of a JSON string that checkJSON found valid.
func unescape(b []byte) string {
	var out strings.Builder
	for i := 0; i < len(b); {
		if b[i] != '\\' {
			out.WriteByte(b[i])
			i++
			continue
		}
		switch c := b[i+1]; c {
		case 'u':
			r, _ := hex4(b, i+2)
			i += 6
			if r >= 0xd800 && r < 0xdc00 && i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
				lo, _ := hex4(b, i+2)
				r = (r-0xd800)<<10 | (lo - 0xdc00) + 0x10000
				i += 6
			}
			out.WriteRune(r)
		case 'b':
			out.WriteByte('\b')
			i += 2
		case 'f':
			out.WriteByte('\f')
			i += 2
		case 'n':
			out.WriteByte('\n')
			i += 2
		case 'r':
			out.WriteByte('\r')
			i += 2
		case 't':
			out.WriteByte('\t')
			i += 2
		default: // " \ /
			out.WriteByte(c)
			i += 2
		}
	}
	return out.String()
}

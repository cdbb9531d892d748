package api

import (
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// scanForTest scans b with the vocabulary of a few schema properties.
func scanForTest(b []byte) ([]*FieldDetail, bool) {
	s := &Server{vocabulary: map[string]bool{"items": true, "content": true, "purpose": true, "tenant_id": true}}
	sc := jsonScan{b: b, vocabulary: s.vocabulary}
	ok := sc.value(0)
	if sc.skipSpace(); sc.i != len(b) {
		ok = false
	}
	return sc.found, ok
}

func TestJSONScanLocations(t *testing.T) {
	t.Parallel()
	for body, want := range map[string][]string{
		`{"purpose":"a","purpose":"b"}`:                      {"body.purpose"},
		`{"purpose":"a","purpos\u0065":"b"}`:                 {"body.purpose"},
		`{"p\u0075rpose":"a","purpos\u0065":"b"}`:            {"body.purpose"},
		`{"items":[{"purpose":"a"},{"purpose":"\u0000"}]}`:   {"body.items[1].purpose"},
		`{"items":[[1,2],["\u0007"]]}`:                       {"body.items[1][0]"},
		`{"items":[{"content":{"jan":{"purpose":"\b"}}}]}`:   {"body.items[0].content"},
		`{"items":[{"content":{"jan":1,"jan":2}}]}`:          {"body.items[0].content"},
		`{"items":[{"content":{"a\u0000":1}}]}`:              {"body.items[0].content"},
		`{"x":{"y":1},"x":{"y":1}}`:                          {"body"},
		"{\"purpose\":\"\xff\",\"tenant_id\":\"\xc3\"}":      {"body.purpose", "body.tenant_id"},
		`{"purpose":"\ud800x"}`:                              {"body.purpose"},
		`{"purpose":"\udc00"}`:                               {"body.purpose"},
		`{"purpose":"\ud800\u0041"}`:                         {"body.purpose"},
		`["\u001f","\u0020"]`:                                {"body[0]"},
		`"\u0000"`:                                           {"body"},
		`{"purpose":"line\nnext\ttab\r\n \ud83e\udd68 é ☃"}`: nil,
		`{"purpose":"\u00e9\u2603\/\\\""}`:                   nil,
		`{"items":[],"content":{},"purpose":null}`:           nil,
		`{"a":1,"b":-0.5e+10,"c":true,"d":false,"e":null}`:   nil,
		`{"A":1,"a":1}`:                                      nil, // different keys; the schema refuses unknown ones
	} {
		found, ok := scanForTest([]byte(body))
		require.True(t, ok, body)
		var got []string
		for _, f := range found {
			got = append(got, f.Location)
		}
		require.Equal(t, want, got, body)
	}

	// Many keys: duplicates found through a map, in any position.
	var keys []string
	for i := range 1000 {
		keys = append(keys, `"k`+strings.Repeat("x", i%7)+string(rune('a'+i%26))+`_`+string(rune('a'+i/26%26))+`":1`)
	}
	found, ok := scanForTest([]byte(`{` + strings.Join(keys, ",") + `}`))
	require.True(t, ok)
	require.Empty(t, found)
	found, ok = scanForTest([]byte(`{` + strings.Join(keys, ",") + `,` + keys[3] + `}`))
	require.True(t, ok)
	require.Len(t, found, 1)

	// Not JSON: nothing to report, Huma answers 400.
	for _, body := range []string{``, `{`, `{"a":}`, `{"a":1,}`, `[1,]`, `{"a":1}x`, "\"\x00\"", `"\x"`, `"\u12"`, `01`, `1.`, `-`, `tru`, `{"a" 1}`, `{1:2}`} {
		found, ok := scanForTest([]byte(body))
		require.False(t, ok, body)
		require.Empty(t, found)
	}
}

// surrogateEscape matches an escaped UTF-16 surrogate.
var surrogateEscape = regexp.MustCompile(`\\u[dD][89a-fA-F]`)

// FuzzJSONScan compares the scanner with encoding/json: the same bodies are
// JSON, and it reports a problem exactly when encoding/json would alter or
// lose something (a repeated key, invalid UTF-8, a surrogate) or a string
// holds a control character.
func FuzzJSONScan(f *testing.F) {
	for _, s := range []string{`{"purpose":"a","purpose":"b"}`, `{"a":[1,{"b":"\u0000"}]}`, "\"\xff\"", `"\ud800"`, `{"a":"\t\n"}`, `[1e5,-0.1,true,null]`, `{"a\u0062":1,"ab":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		found, ok := scanForTest(b)
		if ok != json.Valid(b) {
			t.Fatalf("scanner says JSON %v, encoding/json %v: %q", ok, json.Valid(b), b)
		}
		if !ok {
			return
		}
		dup, ctl, err := reference(b)
		require.NoError(t, err)
		bad := dup || ctl || !utf8.Valid(b)
		if bad && len(found) == 0 {
			t.Fatalf("missed a problem (dup %v, control %v): %q", dup, ctl, b)
		}
		if !bad && len(found) > 0 && !surrogateEscape.Match(b) {
			t.Fatalf("reported %s in %q", found[0].Message, b)
		}
	})
}

// reference finds repeated keys and control characters with encoding/json.
func reference(b []byte) (dup, ctl bool, err error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	control := func(s string) bool {
		return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' && r != '\r' })
	}
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next string is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return dup, ctl, nil
		}
		if err != nil {
			return false, false, err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isKey := top != nil && top.object && top.key
		if top != nil && top.object {
			top.key = !top.key
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, &frame{object: true, keys: map[string]bool{}, key: true})
			case '[':
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					// The closed value was a value: the next string is a key.
					stack[len(stack)-1].key = true
				}
			}
		case string:
			ctl = ctl || control(v)
			if isKey {
				dup = dup || top.keys[v]
				top.keys[v] = true
			}
		}
	}
}

// BenchmarkJSONScan measures the input check on a batch of 1,000 decision
// questions (about 120 KB), the largest hot-path body but records.
func BenchmarkJSONScan(b *testing.B) {
	item := `{"category":"chat.message","purpose":"service.delivery","region":"nl","subject_ref":"visitor-7f3a9c","suspected_minor":false,"subprocessor":"hosting-eu"}`
	body := []byte(`{"tenant_id":"tnt_01KJPWD6M2SCEZHYAQBMJ68TSM","items":[` + strings.Repeat(item+",", 999) + item + `]}`)
	s := &Server{vocabulary: map[string]bool{"tenant_id": true, "items": true, "category": true, "purpose": true, "region": true, "subject_ref": true, "suspected_minor": true, "subprocessor": true}}
	b.Run("checkJSON", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if found := s.checkJSON(body); len(found) > 0 {
				b.Fatal(found[0].Location)
			}
		}
	})
	// For scale: Huma decodes the body like this, and then again into
	// the input struct.
	b.Run("encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package jsonstr_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/internal/jsonstr"
)

// TestAppendIsEncodingJSON compares Append with encoding/json (no HTML
// escaping) on every byte and random mixes of awkward pieces.
func TestAppendIsEncodingJSON(t *testing.T) {
	enc := func(s string) string {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		require.NoError(t, e.Encode(s))
		return b.String()[:b.Len()-1]
	}
	for c := range 256 {
		s := string([]byte{'a', byte(c), 'z'})
		require.Equal(t, enc(s), string(jsonstr.Append(nil, s)), "byte %#x", c)
	}
	pieces := []string{"", "a", `"`, `\`, "<&>", "\t\n\r\b\f", "\x00\x1f\x7f", "é", "日本", "\u2028\u2029", "\xff", "a\xc3", "😀"}
	r := rand.New(rand.NewPCG(3, 3))
	for range 5000 {
		s := ""
		for range r.IntN(6) {
			s += pieces[r.IntN(len(pieces))]
		}
		require.Equal(t, enc(s), string(jsonstr.Append([]byte("x"), s))[1:], "%q", s)
	}
}

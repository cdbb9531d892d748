package api_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	generated := regexp.MustCompile(`^[0-9a-f]{24}$`)

	type testCase struct {
		header string
		echoed bool
	}
	for name, tt := range map[string]testCase{
		"Valid":         {"req-2026_03_02-abcDEF", true},
		"Shortest":      {"12345678", true},
		"Longest":       {strings.Repeat("a", 64), true},
		"None":          {"", false},
		"TooShort":      {"1234567", false},
		"TooLong":       {strings.Repeat("a", 65), false},
		"VeryLong":      {strings.Repeat("x", 200), false},
		"Spaces":        {"request id with spaces", false},
		"Punctuation":   {"req;id=1234,5678", false},
		"LogInjection":  {`req" level=ERROR msg="forged`, false},
		"NonASCII":      {"verzoek-ñandú-1234", false},
		"PersonalEmail": {"jan.jansen@example.com", false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var h []string
			if tt.header != "" {
				h = []string{"X-Request-Id", tt.header}
			}
			// A problem response carries the id as its instance, too.
			res := b.do(t, http.MethodGet, "/v1/tenants", "", nil, h...)
			require.Equal(t, http.StatusUnauthorized, res.status)
			got := res.header.Get("X-Request-Id")
			if tt.echoed {
				require.Equal(t, tt.header, got)
			} else {
				require.Regexp(t, generated, got)
				if tt.header != "" {
					require.NotContains(t, res.raw, tt.header)
				}
			}
			require.Equal(t, "urn:verwerker:request:"+got, res.problem(t).Instance)

			ok := b.do(t, http.MethodGet, "/healthz", "", nil, h...)
			if tt.echoed {
				require.Equal(t, tt.header, ok.header.Get("X-Request-Id"))
			} else {
				require.Regexp(t, generated, ok.header.Get("X-Request-Id"))
			}
		})
	}

	t.Run("GeneratedIDsDiffer", func(t *testing.T) {
		t.Parallel()
		seen := map[string]bool{}
		for range 20 {
			id := b.do(t, http.MethodGet, "/healthz", "", nil).header.Get("X-Request-Id")
			require.False(t, seen[id], "id %s repeated", id)
			seen[id] = true
		}
	})
}

func TestRedirectToDocs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	client := *b.http.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Get(b.http.URL + "/")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusFound, res.StatusCode)
	require.Equal(t, "/docs", res.Header.Get("Location"))
}

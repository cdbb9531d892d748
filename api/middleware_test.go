package api_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/policy"
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

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)

	res := b.do(t, http.MethodPost, "/v1/tenants", b.admin(t), validTenant("Metrics B.V."))
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	res = b.do(t, http.MethodPost, "/v1/tenants", b.token(t, policy.RoleDPO, "platform"), validTenant("Metrics Two B.V."))
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
	res = b.do(t, http.MethodGet, "/no/such/route", "", nil)
	require.Equal(t, http.StatusNotFound, res.status, res.raw)

	// Metrics need no credentials: they are for the scraper on the
	// internal network.
	m := b.do(t, http.MethodGet, "/metrics", "", nil)
	require.Equal(t, http.StatusOK, m.status, m.raw)
	require.Contains(t, m.header.Get("Content-Type"), "text/plain")
	require.Contains(t, m.raw, `verwerker_http_requests_total{code="201",method="POST",operation="createTenant"} 1`)
	require.Contains(t, m.raw, `verwerker_http_requests_total{code="403",method="POST",operation="createTenant"} 1`)
	require.Contains(t, m.raw, `verwerker_http_requests_total{code="404",method="GET",operation="other"} 1`)
	require.Contains(t, m.raw, `verwerker_http_request_duration_seconds_count{method="POST",operation="createTenant"} 2`)
	// Labels are operation ids, never paths with ids or query strings in
	// them.
	require.NotContains(t, m.raw, "/no/such/route")
	require.NotContains(t, m.raw, "tnt_")
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

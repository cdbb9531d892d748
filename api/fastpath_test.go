package api_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/app"
	"github.com/verwerker/verwerker/policy"
)

var (
	decisionIDs = regexp.MustCompile(`"dec_[0-9A-Z]{26}"`)
	instances   = regexp.MustCompile(`"urn:verwerker:request:[0-9a-f]+"`)
)

// TestFastDecisionPathAnswersAsTheOperation sends the same decision
// requests to a server with the fast path (fastDecide) and to one without
// (every request through the Huma operation), and requires the same
// status, content type, headers that matter and body (decision ids and
// request ids aside); ordinary requests must take the fast path, all others
// must not.
func TestFastDecisionPathAnswersAsTheOperation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A, B := b.tenantA.ID, b.tenantB.ID
	activeDPA(t, b, A)
	slow := httptest.NewServer(b.newApp(t, app.Config{DisableFastPath: true}).Server)
	t.Cleanup(slow.Close)
	chat, chatB := b.token(t, policy.RoleChatService, A), b.token(t, policy.RoleChatService, B)
	viewer := b.token(t, policy.RoleControllerViewer, A)
	res := b.do(t, http.MethodPut, "/v1/tenants/"+A+"/subjects/restrictions", b.token(t, policy.RoleControllerAdmin, A),
		map[string]any{"subject_ref": "visitor-restricted", "restricted": true})
	require.Equal(t, http.StatusOK, res.status, res.raw)

	q := func(fields string) string {
		return `{"tenant_id":"` + A + `","category":"chat.message","purpose":"service.delivery","region":"nl"` + fields + `}`
	}
	cases := []struct {
		name   string
		token  string
		body   string
		header []string
		fast   bool
		// status, if set, is the answer both must give.
		status int
	}{
		{name: "allowed", token: chat, body: q(""), fast: true},
		{name: "spaced", token: chat, body: " {\n \"region\" : \"de\" , \"purpose\":\"service.delivery\",\t\"category\":\"chat.message\", \"tenant_id\":\"" + A + "\" }\n", fast: true},
		{name: "charset", token: chat, body: q(""), header: []string{"Content-Type", "application/json; charset=utf-8", "Accept", "application/json"}, fast: true},
		{name: "out of scope category", token: chat, body: strings.Replace(q(""), "chat.message", "contact.phone", 1), fast: true},
		{name: "out of scope purpose", token: chat, body: strings.Replace(q(""), "service.delivery", "marketing", 1), fast: true},
		{name: "US with SCCs", token: chat, body: strings.Replace(q(""), `"nl"`, `"us"`, 1), fast: true},
		{name: "outside the EEA without basis", token: chat, body: strings.Replace(q(""), `"nl"`, `"jp"`, 1), fast: true},
		{name: "minor", token: chat, body: q(`,"suspected_minor":true,"subject_ref":"visitor-young"`), fast: true},
		{name: "not a minor", token: chat, body: q(`,"suspected_minor":false`), fast: true},
		{name: "improvement for a minor", token: chat, body: strings.Replace(q(`,"suspected_minor":true`), "service.delivery", "service.improvement", 1), fast: true},
		{name: "restricted subject", token: chat, body: q(`,"subject_ref":"visitor-restricted"`), fast: true},
		{name: "special category", token: chat, body: q(`,"special_category":"special.health"`), fast: true},
		{name: "subprocessor", token: chat, body: q(`,"subprocessor":"hosting-eu"`), fast: true},
		{name: "unknown subprocessor", token: chat, body: q(`,"subprocessor":"nobody"`), fast: true},

		{name: "unknown category", token: chat, body: strings.Replace(q(""), "chat.message", "chat.nonsense", 1)},
		{name: "unknown field", token: chat, body: q(`,"colour":"red"`)},
		{name: "field in capitals", token: chat, body: strings.Replace(q(""), `"region"`, `"Region"`, 1)},
		{name: "repeated field", token: chat, body: q(`,"region":"de"`), status: 422},
		{name: "repeated purpose turning a denial into an allowance", token: chat, body: strings.Replace(q(`,"purpose":"service.delivery"`), `"service.delivery"`, `"marketing"`, 1), status: 422},
		{name: "repeated escaped key", token: chat, body: q(`,"purpos\u0065":"marketing"`), status: 422},
		{name: "repeated tenant", token: chat, body: q(`,"tenant_id":"` + B + `"`), status: 422},
		{name: "repeated boolean", token: chat, body: q(`,"suspected_minor":true,"suspected_minor":false`), status: 422},
		{name: "invalid UTF-8", token: chat, body: q(`,"subject_ref":"bezoeker-` + "\xff" + `"`), status: 422},
		{name: "other invalid UTF-8", token: chat, body: q(`,"subject_ref":"bezoeker-` + "\xfe" + `"`), status: 422},
		{name: "invalid UTF-8 in a key", token: chat, body: q(`,"` + "\xff" + `":"x"`), status: 422},
		{name: "lone surrogate", token: chat, body: q(`,"subject_ref":"bezoeker-\ud800"`), status: 422},
		{name: "NUL", token: chat, body: q(`,"subject_ref":"bezoeker-\u0000"`), status: 422},
		{name: "null", token: chat, body: q(`,"subprocessor":null`)},
		{name: "number", token: chat, body: strings.Replace(q(""), `"nl"`, `7`, 1)},
		{name: "escape", token: chat, body: strings.Replace(q(""), `"nl"`, `"n\u006c"`, 1)},
		{name: "non-ASCII", token: chat, body: q(`,"subject_ref":"bezoeker-é"`)},
		{name: "too long", token: chat, body: q(`,"subject_ref":"` + strings.Repeat("x", 129) + `"`)},
		{name: "missing region", token: chat, body: strings.Replace(q(""), `,"region":"nl"`, "", 1)},
		{name: "trailing data", token: chat, body: q("") + "{}"},
		{name: "not JSON", token: chat, body: "category=chat.message"},
		{name: "empty", token: chat, body: ""},
		{name: "too large", token: chat, body: q(`,"subject_ref":"` + strings.Repeat("x", 9000) + `"`)},
		{name: "text content type", token: chat, body: q(""), header: []string{"Content-Type", "text/plain"}},
		{name: "accepts XML only", token: chat, body: q(""), header: []string{"Accept", "application/xml"}},
		{name: "no credentials", body: q("")},
		{name: "unknown key", token: "vwk_aaaaaaaaaaaa_" + strings.Repeat("a", 43), body: q("")},
		{name: "key with invalid UTF-8", token: "vwk_aaaa\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8_" + strings.Repeat("a", 43), body: q(""), status: 401},
		{name: "other tenant's key", token: chatB, body: q("")},
		{name: "without the permission", token: viewer, body: q("")},
		{name: "invalid tenant id", token: chat, body: strings.Replace(q(""), A, "tnt_nonsense", 1)},
	}
	before := b.server.FastDecisions()
	fast := int64(0)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := send(t, b.http, http.MethodPost, "/v1/decisions", call{token: c.token, body: c.body, header: c.header})
			n := b.server.FastDecisions()
			want := send(t, slow, http.MethodPost, "/v1/decisions", call{token: c.token, body: c.body, header: c.header})
			if c.fast {
				fast++
				require.Equal(t, before+fast, n, "the fast path did not answer")
			} else {
				require.Equal(t, before+fast, n, "the fast path answered")
			}
			require.Equal(t, want.status, got.status, "got %s\nwant %s", got.raw, want.raw)
			if c.status != 0 {
				require.Equal(t, c.status, got.status, got.raw)
			}
			for _, h := range []string{"Content-Type", "Retry-After", "WWW-Authenticate"} {
				require.Equal(t, want.header.Values(h), got.header.Values(h), h)
			}
			norm := func(s string) string {
				return instances.ReplaceAllString(decisionIDs.ReplaceAllString(s, `"dec"`), `"instance"`)
			}
			require.Equal(t, norm(want.raw), norm(got.raw))
			if c.fast {
				require.Equal(t, http.StatusOK, got.status, got.raw)
			}
		})
	}
}

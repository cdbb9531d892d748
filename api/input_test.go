package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/api"
	"github.com/verwerker/verwerker/policy"
)

// requireRefused checks that a request was refused with a 4xx problem
// document that names wantLocation (when set) and neither echoes the marker
// "4711" of the submitted value nor carries internal text.
func requireRefused(t *testing.T, res response, wantStatus int, wantLocation string) {
	t.Helper()
	require.GreaterOrEqual(t, res.status, 400, res.raw)
	require.Less(t, res.status, 500, res.raw)
	prob := res.problem(t)
	require.Equal(t, res.status, prob.Status)
	require.NotEmpty(t, prob.Code)
	requireNoLeak(t, res.raw)
	require.NotContains(t, res.raw, "4711", "the submitted value must not be echoed")
	if wantStatus != 0 {
		require.Equal(t, wantStatus, res.status, res.raw)
	}
	if wantLocation != "" {
		require.Contains(t, res.locations(t), wantLocation, res.raw)
	}
}

// inputLeaf is a string in a request body: its location and its path of
// object keys (string) and array indexes (int).
type inputLeaf struct {
	location string
	path     []any
}

// sampleBody builds a request body from a schema (every property, one item
// per array) and lists its strings. Values are plausible, not necessarily
// valid: the test is about what happens to a NUL, not about the rest.
func sampleBody(reg huma.Registry, s *huma.Schema, location string, path []any, tenant string, leaves *[]inputLeaf) any {
	if s.Ref != "" {
		s = reg.SchemaFromRef(s.Ref)
	}
	leaf := func(v any) any {
		*leaves = append(*leaves, inputLeaf{location, slices.Clone(path)})
		return v
	}
	switch {
	case s.Type == "object" || len(s.Properties) > 0:
		obj := map[string]any{}
		names := make([]string, 0, len(s.Properties))
		for name := range s.Properties {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			obj[name] = sampleBody(reg, s.Properties[name], location+"."+name, append(path, name), tenant, leaves)
		}
		return obj
	case s.Type == "array":
		return []any{sampleBody(reg, s.Items, location+"[0]", append(path, 0), tenant, leaves)}
	case s.Type == "boolean":
		return false
	case s.Type == "integer" || s.Type == "number":
		if s.Minimum != nil {
			return *s.Minimum
		}
		return 1
	case s.Type == "string":
		switch {
		case len(path) > 0 && path[len(path)-1] == "tenant_id":
			return leaf(tenant)
		case len(s.Enum) > 0:
			return leaf(s.Enum[0])
		case len(s.Examples) > 0:
			return leaf(s.Examples[0])
		case s.Format == "date":
			return leaf("2026-12-31")
		case s.Format == "date-time":
			return leaf("2026-12-31T12:00:00Z")
		case s.Format == "email":
			return leaf("someone@example.com")
		}
		return leaf("plain")
	}
	// Untyped (a record's content): a string.
	return leaf("plain")
}

// setLeaf returns a deep copy of body with the string at path set to v.
func setLeaf(t *testing.T, body any, path []any, v string) any {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	var cp any
	require.NoError(t, json.Unmarshal(raw, &cp))
	if len(path) == 0 {
		return v
	}
	cur := cp
	for i, p := range path {
		last := i == len(path)-1
		switch k := p.(type) {
		case string:
			m := cur.(map[string]any)
			if last {
				m[k] = v
			} else {
				cur = m[k]
			}
		case int:
			a := cur.([]any)
			if last {
				a[k] = v
			} else {
				cur = a[k]
			}
		}
	}
	return cp
}

// callerFor returns a token allowed to call an operation (on tenant A for
// tenant-scoped operations), or "" for public operations.
func callerFor(t *testing.T, b *testBundle, o documentedOperation) string {
	t.Helper()
	perm, _ := o.op.Extensions["x-verwerker-permission"].(string)
	if perm == api.Public {
		return ""
	}
	scope, _ := o.op.Extensions["x-verwerker-domain"].(string)
	dom := verwerker.PlatformDomain
	if scope == "tenant_id" || scope == "body.tenant_id" {
		dom = b.tenantA.ID
	}
	var creds []credential
	for c := range b.tokens {
		creds = append(creds, c)
	}
	// Platform roles first: they may act in any tenant, so that a bad
	// tenant id reaches input validation instead of being hidden (404).
	key := func(c credential) string {
		return strconv.FormatBool(c.domain != verwerker.PlatformDomain) + c.role + c.domain
	}
	sort.Slice(creds, func(i, j int) bool { return key(creds[i]) < key(creds[j]) })
	for _, c := range creds {
		if expectAllowed(c, perm, dom) && (perm == api.Authenticated || perm == api.Self || c.domain == dom || c.domain == verwerker.PlatformDomain) {
			return b.tokens[c]
		}
	}
	t.Fatalf("%s: no key may call it", o.op.OperationID)
	return ""
}

// TestEveryInputRefusesNUL walks every operation of the OpenAPI document and
// sends a NUL in each of its parameters and in each string of its request
// body, one at a time, as a caller allowed to call it. Every answer is a 4xx
// problem document that names the parameter or field; a NUL never reaches
// the database (which refuses it, SQLSTATE 22021) and is never a 5xx.
func TestEveryInputRefusesNUL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A := b.tenantA.ID
	doc := b.server.OpenAPI()
	reg := doc.Components.Schemas
	values := map[string]string{
		"tenant_id": A, "key_id": "key_01KJPWD6M2SCEZHYAQBMJ68TSM", "user_id": "usr_01KJPWD6M2SCEZHYAQBMJ68TSM",
		"session_id": "ses_01KJPWD6M2SCEZHYAQBMJ68TSM", "version": "1", "subprocessor_id": "hosting-eu",
		"change_id": "spc_01KJPWD6M2SCEZHYAQBMJ68TSM", "message_id": "msg_01KJPWD6M2SCEZHYAQBMJ68TSM",
		"certificate_id": "del_01KJPWD6M2SCEZHYAQBMJ68TSM", "slug": "aaaaaaaaaaaaaaaaaaaaaaaaaa",
		"request_id": "dsr_01KJPWD6M2SCEZHYAQBMJ68TSM", "verification_id": "dsv_01KJPWD6M2SCEZHYAQBMJ68TSM",
		"hold_id": "hld_01KJPWD6M2SCEZHYAQBMJ68TSM", "sweep_id": "swp_01KJPWD6M2SCEZHYAQBMJ68TSM",
		"incident_id": "brc_01KJPWD6M2SCEZHYAQBMJ68TSM", "phase": "0", "token": "bak_x",
	}
	const nul = "4711\x00"

	for _, o := range operations(doc) {
		tok := callerFor(t, b, o)
		// Operations that create credentials take only a TOTP-verified
		// session, never a key: they get the platform admin's session.
		var cookie string
		if o.op.Extensions["x-verwerker-credential"] == "session_mfa" {
			tok, cookie = "", b.adminSession(t)
		}
		do := func(path string, body any) response {
			return send(t, b.http, o.method, path, call{token: tok, cookie: cookie, body: body, header: []string{"X-Request-Id", "nul-input-test"}})
		}
		pathWith := func(name, v string) string {
			p := o.path
			for n, def := range values {
				if n == name {
					def = v
				}
				p = strings.ReplaceAll(p, "{"+n+"}", url.PathEscape(def))
			}
			require.NotContains(t, p, "{", "%s: a path parameter this test does not know", o.op.OperationID)
			return p
		}
		var body any
		var leaves []inputLeaf
		if o.op.RequestBody != nil {
			mt := o.op.RequestBody.Content["application/json"]
			require.NotNil(t, mt, o.op.OperationID)
			body = sampleBody(reg, mt.Schema, "body", nil, A, &leaves)
		}

		for _, p := range o.op.Parameters {
			t.Run(o.op.OperationID+"/"+p.In+"."+p.Name, func(t *testing.T) {
				t.Parallel()
				path := pathWith("", "")
				switch p.In {
				case "path":
					path = pathWith(p.Name, nul)
				case "query":
					path += "?" + url.Values{p.Name: {nul}}.Encode()
				default:
					t.Fatalf("a %s parameter this test does not know", p.In)
				}
				res := do(path, body)
				if p.In == "path" && p.Name == "tenant_id" && res.status == http.StatusNotFound {
					// A caller who may act only in tenant A is not told more.
					requireRefused(t, res, http.StatusNotFound, "")
					return
				}
				requireRefused(t, res, http.StatusUnprocessableEntity, p.In+"."+p.Name)
			})
		}
		for _, l := range leaves {
			t.Run(o.op.OperationID+"/"+l.location, func(t *testing.T) {
				t.Parallel()
				res := do(pathWith("", ""), setLeaf(t, body, l.path, nul))
				requireRefused(t, res, http.StatusUnprocessableEntity, l.location)
			})
		}
	}
}

// TestControlCharactersInInput: C0 control characters other than tab, line
// feed and carriage return are refused in every string, however they are
// written in JSON; those three are allowed in free text; parameters allow
// none.
func TestControlCharactersInInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin := b.admin(t)
	for name, tt := range map[string]struct {
		method, path, body string
		wantStatus         int
		wantLocation       string
	}{
		"EscapedNUL":        {http.MethodPost, "/v1/platform/api-keys", `{"label":"4711\u0000","role":"support"}`, 422, "body.label"},
		"EscapedBell":       {http.MethodPost, "/v1/platform/api-keys", `{"label":"4711\u0007","role":"support"}`, 422, "body.label"},
		"Backspace":         {http.MethodPost, "/v1/platform/api-keys", `{"label":"4711\b","role":"support"}`, 422, "body.label"},
		"FormFeed":          {http.MethodPost, "/v1/platform/api-keys", `{"label":"4711\f","role":"support"}`, 422, "body.label"},
		"Escape":            {http.MethodPost, "/v1/platform/api-keys", `{"label":"4711\u001B","role":"support"}`, 422, "body.label"},
		"NULInKey":          {http.MethodPost, "/v1/platform/api-keys", `{"label":"x","role":"support","4711\u0000":1}`, 422, "body"},
		"LoginEmail":        {http.MethodPost, "/v1/auth/login", `{"email":"4711\u0000@example.com","password":"x","otp":"123456"}`, 422, "body.email"},
		"WhitespaceAllowed": {http.MethodPost, "/v1/subprocessor-changes", `{"kind":"add","subprocessor":"mail-eu","effective_on":"2026-06-01","description":"Mail delivery\r\n\tfor notices"}`, 201, ""},
		"RawNULIsNotJSON":   {http.MethodPost, "/v1/platform/api-keys", "{\"label\":\"4711\x00\",\"role\":\"support\"}", 400, ""},
		"QueryTab":          {http.MethodGet, "/v1/tenants?status=active%094711", "", 422, "query.status"},
		"PathNewline":       {http.MethodGet, "/v1/tenants/tnt_4711%0A", "", 422, "path.tenant_id"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var body any
			if tt.body != "" {
				body = tt.body
			}
			c := call{token: admin, body: body, header: []string{"X-Request-Id", "input-test"}}
			if tt.path == "/v1/platform/api-keys" {
				// Keys are issued only by a TOTP-verified session.
				c.token, c.cookie = "", b.adminSession(t)
			}
			res := send(t, b.http, tt.method, tt.path, c)
			if tt.wantStatus < 300 {
				require.Equal(t, tt.wantStatus, res.status, res.raw)
				return
			}
			requireRefused(t, res, tt.wantStatus, tt.wantLocation)
		})
	}
}

// TestInvalidUTF8IsRefused: invalid UTF-8 (and lone UTF-16 surrogates
// escaped in JSON) was silently replaced by U+FFFD, so that different
// subject references named the same subject and stored content changed.
// It is refused with a 422 naming where it is, and nothing is stored.
func TestInvalidUTF8IsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A := b.tenantA.ID
	activeDPA(t, b, A)
	admin, controller, chat := b.admin(t), b.token(t, policy.RoleControllerAdmin, A), b.token(t, policy.RoleChatService, A)
	record := func(content string) string {
		return `{"items":[{"subject_ref":"visitor-1","kind":"chat.conversation","category":"chat.message","purpose":"service.delivery","region":"nl","content":` + content + `}]}`
	}
	for name, tt := range map[string]struct {
		token, method, path string
		body                any
		wantStatus          int
		wantLocation        string
	}{
		"SubjectRef":          {controller, http.MethodPut, "/v1/tenants/" + A + "/subjects/restrictions", "{\"subject_ref\":\"visitor-4711\xff\",\"restricted\":true}", 422, "body.subject_ref"},
		"OtherSubjectRef":     {controller, http.MethodPut, "/v1/tenants/" + A + "/subjects/restrictions", "{\"subject_ref\":\"visitor-4711\xfe\",\"restricted\":true}", 422, "body.subject_ref"},
		"EncodedSurrogate":    {controller, http.MethodPut, "/v1/tenants/" + A + "/subjects/restrictions", "{\"subject_ref\":\"visitor-4711\xed\xa0\x80\",\"restricted\":true}", 422, "body.subject_ref"},
		"LoneSurrogate":       {controller, http.MethodPut, "/v1/tenants/" + A + "/subjects/restrictions", `{"subject_ref":"visitor-4711\ud800","restricted":true}`, 422, "body.subject_ref"},
		"LowSurrogateFirst":   {controller, http.MethodPut, "/v1/tenants/" + A + "/subjects/restrictions", `{"subject_ref":"visitor-4711\udc00\ud800","restricted":true}`, 422, "body.subject_ref"},
		"Truncated":           {admin, http.MethodPost, "/v1/tenants", "{\"name\":\"Bakkerij 4711 \xc3\",\"country\":\"NL\",\"contact_email\":\"privacy@example.com\"}", 422, "body.name"},
		"InArray":             {admin, http.MethodPost, "/v1/subprocessors", "{\"id\":\"x\",\"name\":\"x\",\"service\":\"x\",\"locations\":[\"nl\",\"4711\xff\"]}", 422, "body.locations[1]"},
		"RecordContent":       {chat, http.MethodPost, "/v1/tenants/" + A + "/records", record("\"hallo 4711\xff\""), 422, "body.items[0].content"},
		"RecordContentObject": {chat, http.MethodPost, "/v1/tenants/" + A + "/records", record("{\"purpose\":\"hallo 4711\xff\"}"), 422, "body.items[0].content.purpose"},
		"Key":                 {admin, http.MethodPost, "/v1/tenants", "{\"name\":\"x\",\"4711\xff\":1}", 422, "body"},
		"PathParameter":       {admin, http.MethodGet, "/v1/tenants/tnt_4711%FF", nil, 422, "path.tenant_id"},
		"QueryParameter":      {admin, http.MethodGet, "/v1/tenants?cursor=4711%FF", nil, 422, "query.cursor"},
		"BearerToken":         {"vwk_4711\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8_" + strings.Repeat("a", 43), http.MethodGet, "/v1/tenants", nil, 401, ""},
		"ValidUTF8Kept":       {admin, http.MethodPost, "/v1/tenants", `{"name":"Bäckerei Müller \ud83e\udd68","country":"DE","contact_email":"datenschutz@mueller.example"}`, 201, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := b.do(t, tt.method, tt.path, tt.token, tt.body, "X-Request-Id", "input-test")
			if tt.wantStatus < 300 {
				require.Equal(t, tt.wantStatus, res.status, res.raw)
				require.Equal(t, "Bäckerei Müller 🥨", res.json["name"])
				return
			}
			requireRefused(t, res, tt.wantStatus, tt.wantLocation)
		})
	}
	t.Cleanup(func() {
		var subjects, records int
		require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM subjects), (SELECT count(*) FROM records)`).Scan(&subjects, &records))
		require.Zero(t, subjects, "no subject was instructed")
		require.Zero(t, records, "no record was stored")
	})
}

// TestDuplicateKeysAreRefused: a key given twice in a JSON object was
// accepted and the last one won (a second "purpose" turned a denial into
// an allowance). It is refused with a 422 naming the key, in every
// operation, at any depth, however the key is escaped.
func TestDuplicateKeysAreRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A := b.tenantA.ID
	activeDPA(t, b, A)
	admin, chat, controller := b.admin(t), b.token(t, policy.RoleChatService, A), b.token(t, policy.RoleControllerAdmin, A)
	decideBody := `{"tenant_id":"` + A + `","category":"chat.message","purpose":"marketing","region":"nl","purpose":"service.delivery"}`
	item := `{"category":"chat.message","purpose":"service.delivery","region":"nl"}`
	items := strings.Repeat(item+",", 3) + `{"category":"chat.message","purpose":"marketing","region":"nl","purpose":"service.delivery"}`
	scope, err := json.Marshal(dpaScopeJSON())
	require.NoError(t, err)
	dupScope := strings.Replace(string(scope), `"dpo_contact":{"email":"dpo@a.example"}`, `"dpo_contact":{"email":"dpo@a.example","email":"dpo-4711@evil.example"}`, 1)
	require.NotEqual(t, string(scope), dupScope)

	for name, tt := range map[string]struct {
		token, method, path, body string
		wantLocation              string
	}{
		"DecidePurpose":     {chat, http.MethodPost, "/v1/decisions", decideBody, "body.purpose"},
		"DecideEscapedKey":  {chat, http.MethodPost, "/v1/decisions", strings.Replace(decideBody, `"purpose":"service`, `"purpos\u0065":"service`, 1), "body.purpose"},
		"DecideTenant":      {chat, http.MethodPost, "/v1/decisions", `{"tenant_id":"` + A + `","tenant_id":"` + b.tenantB.ID + `","category":"chat.message","purpose":"service.delivery","region":"nl"}`, "body.tenant_id"},
		"BatchItem":         {chat, http.MethodPost, "/v1/decisions/batch", `{"tenant_id":"` + A + `","items":[` + items + `]}`, "body.items[3].purpose"},
		"BatchItems":        {chat, http.MethodPost, "/v1/decisions/batch", `{"tenant_id":"` + A + `","items":[` + item + `],"items":[` + item + `]}`, "body.items"},
		"DPANested":         {admin, http.MethodPost, "/v1/tenants/" + A + "/dpa/versions", `{"scope":` + dupScope + `}`, "body.scope.dpo_contact.email"},
		"TenantName":        {admin, http.MethodPost, "/v1/tenants", `{"name":"Jan 4711 B.V.","country":"NL","contact_email":"privacy@example.com","name":"Other B.V."}`, "body.name"},
		"Restriction":       {controller, http.MethodPut, "/v1/tenants/" + A + "/subjects/restrictions", `{"subject_ref":"visitor-4711","restricted":true,"restricted":false}`, "body.restricted"},
		"Login":             {"", http.MethodPost, "/v1/auth/login", `{"email":"a@example.com","password":"x","otp":"123456","email":"b@example.com"}`, "body.email"},
		"RecordContent":     {chat, http.MethodPost, "/v1/tenants/" + A + "/records", `{"items":[{"subject_ref":"visitor-1","kind":"chat.conversation","category":"chat.message","purpose":"service.delivery","region":"nl","content":{"text":"4711","text":"x"}}]}`, "body.items[0].content"},
		"UnknownKeyTwice":   {admin, http.MethodPost, "/v1/tenants", `{"name":"x","country":"NL","contact_email":"privacy@example.com","x4711":1,"x4711":2}`, "body"},
		"ManyKeysLastTwice": {admin, http.MethodPost, "/v1/tenants", `{"name":"x",` + manyKeys(100) + `,"country":"NL","k7":1}`, "body"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := b.do(t, tt.method, tt.path, tt.token, tt.body, "X-Request-Id", "input-test")
			requireRefused(t, res, http.StatusUnprocessableEntity, tt.wantLocation)
		})
	}
	t.Cleanup(func() {
		var tenants, subjects, versions int
		require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM tenants), (SELECT count(*) FROM subjects),
			(SELECT count(*) FROM dpa_versions WHERE tenant_id = $1)`, A).Scan(&tenants, &subjects, &versions))
		require.Equal(t, 2, tenants, "no tenant was created")
		require.Zero(t, subjects, "no subject was instructed")
		require.Equal(t, 1, versions, "no agreement version was created")
	})
}

// manyKeys is n distinct keys k0..k(n-1), for objects large enough to
// need another way of finding duplicates.
func manyKeys(n int) string {
	var s []string
	for i := range n {
		s = append(s, `"k`+strconv.Itoa(i)+`":1`)
	}
	return strings.Join(s, ",")
}

// TestUnknownRoutesAnswerProblems: paths that are no resource and methods
// a resource does not support are answered with problem documents like
// everything else: 404, and 405 with the Allow header.
func TestUnknownRoutesAnswerProblems(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin := b.admin(t)
	A := b.tenantA.ID
	for name, tt := range map[string]struct {
		method, path string
		wantStatus   int
		wantAllow    string
	}{
		"UnknownPath":        {http.MethodGet, "/nothing-4711", 404, ""},
		"UnknownAPIPath":     {http.MethodGet, "/v1/nothing-4711", 404, ""},
		"UnknownSubresource": {http.MethodGet, "/v1/tenants/" + A + "/nothing-4711", 404, ""},
		"TrailingSlash":      {http.MethodGet, "/v1/tenants/", 404, ""},
		"UnknownPost":        {http.MethodPost, "/v1/nothing-4711", 404, ""},
		"DeleteTenants":      {http.MethodDelete, "/v1/tenants", 405, "GET, HEAD, POST"},
		"GetDecisions":       {http.MethodGet, "/v1/decisions", 405, "POST"},
		"PatchTenant":        {http.MethodPatch, "/v1/tenants/" + A, 405, "GET, HEAD"},
		"PostDocs":           {http.MethodPost, "/docs", 405, "GET, HEAD"},
		"PutHealth":          {http.MethodPut, "/healthz", 405, "GET, HEAD"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := b.do(t, tt.method, tt.path, admin, nil, "X-Request-Id", "unknown-route-test")
			require.Equal(t, tt.wantStatus, res.status, res.raw)
			prob := res.problem(t)
			require.Equal(t, tt.wantStatus, prob.Status)
			require.Equal(t, http.StatusText(tt.wantStatus), prob.Title)
			require.Equal(t, "urn:verwerker:request:unknown-route-test", prob.Instance)
			require.NotEmpty(t, prob.Detail)
			require.NotContains(t, res.raw, "4711", "the path is not echoed")
			require.Equal(t, tt.wantAllow, res.header.Get("Allow"))
			if tt.wantStatus == 404 {
				require.Equal(t, verwerker.ENOTFOUND, prob.Code)
			} else {
				require.Equal(t, verwerker.EINVALID, prob.Code)
			}
		})
	}

	// HEAD gets the status and no body.
	res := b.do(t, http.MethodHead, "/nothing", admin, nil)
	require.Equal(t, http.StatusNotFound, res.status)
	require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
	require.Empty(t, res.raw)

	// The routes that exist still answer.
	for path, want := range map[string]int{"/healthz": 200, "/docs": 200, "/openapi.json": 200, "/v1/tenants": 200} {
		res := b.do(t, http.MethodGet, path, admin, nil)
		require.Equal(t, want, res.status, "%s: %s", path, res.raw)
	}
}

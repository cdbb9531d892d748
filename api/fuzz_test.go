package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/dpa/dpatest"
	"github.com/verwerker/verwerker/policy"
)

// fuzzOp is an operation with a JSON request body, its path filled in and
// a credential it accepts.
type fuzzOp struct {
	method, path, token string
}

// pathParam matches the parameters of an OpenAPI path.
var pathParam = regexp.MustCompile(`\{[a-z_]+\}`)

// fuzzOps lists every operation of the API that takes a request body, in a
// fixed order, with {tenant_id} as tenant A, other ids made up, and the
// first key (platform roles, then tenant A's) that is not refused: the
// body is what is fuzzed, not the authorization in front of it.
func fuzzOps(tb testing.TB, b *testBundle) []fuzzOp {
	tb.Helper()
	var creds []credential
	for _, r := range policy.PlatformRoles {
		creds = append(creds, credential{r, verwerker.PlatformDomain})
	}
	for _, r := range policy.TenantRoles {
		creds = append(creds, credential{r, b.tenantA.ID})
	}
	var ops []fuzzOp
	for path, item := range b.server.OpenAPI().Paths {
		for method, op := range map[string]*huma.Operation{http.MethodPost: item.Post, http.MethodPut: item.Put, http.MethodPatch: item.Patch} {
			if op == nil || op.RequestBody == nil {
				continue
			}
			filled := pathParam.ReplaceAllStringFunc(path, func(p string) string {
				if p == "{tenant_id}" {
					return b.tenantA.ID
				}
				return "x" + strings.Trim(p, "{}")
			})
			fo := fuzzOp{method: method, path: filled, token: b.tokens[credential{policy.RolePlatformAdmin, verwerker.PlatformDomain}]}
			for _, c := range creds {
				if st := fuzzSend(b, fuzzOp{method, filled, b.tokens[c]}, nil); st != http.StatusUnauthorized && st != http.StatusForbidden && st != http.StatusNotFound {
					fo.token = b.tokens[c]
					break
				}
			}
			ops = append(ops, fo)
		}
	}
	slices.SortFunc(ops, func(a, b fuzzOp) int { return strings.Compare(a.method+" "+a.path, b.method+" "+b.path) })
	if len(ops) < 20 {
		tb.Fatalf("found only %d operations with a body", len(ops))
	}
	return ops
}

// fuzzSend sends body to the application's handler, in process, and
// returns the status.
func fuzzSend(b *testBundle, op fuzzOp, body []byte) int {
	req := httptest.NewRequest(op.method, op.path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+op.token)
	rec := httptest.NewRecorder()
	b.app.Handler.ServeHTTP(rec, req)
	return rec.Code
}

// FuzzRequestBodies sends arbitrary bodies to every operation that takes
// one (the decision fast path and the batch included), through the whole
// handler with a key the operation accepts, on a real database: no body
// gives a panic or a 5xx. The operation is chosen by op modulo their
// number; seeds are in testdata/fuzz/FuzzRequestBodies.
func FuzzRequestBodies(f *testing.F) {
	b := setup(f)
	A := b.tenantA.ID
	sc := dpaScope()
	sc.Regions = append(sc.Regions, "nl")
	dpatest.Activate(f, b.dpa, A, sc)
	ops := fuzzOps(f, b)
	for i := range ops {
		f.Add(uint8(i), []byte(`{}`))
	}
	for _, s := range []string{
		`{"tenant_id":"` + A + `","category":"chat.message","purpose":"service.delivery","region":"nl","subject_ref":"v-1"}`,
		`{"tenant_id":"` + A + `","items":[{"category":"chat.message","purpose":"service.delivery","region":"nl"}]}`,
		`{"items":[{"subject_ref":"v","kind":"chat.message","category":"chat.message","purpose":"service.delivery","region":"nl","content":{"text":"x"}}]}`,
		`{"tenant_id":"` + A + `","category":"chat.message","purpose":"service.delivery","region":"nl","suspected_minor":true}`,
		`[]`, `null`, `"x"`, `{"a":1,"a":2}`, "{\"x\":\"\xff\"}", `{"items":[` + strings.Repeat(`{},`, 50) + `{}]}`,
	} {
		for i := range ops {
			if strings.HasSuffix(ops[i].path, "/decisions") || strings.HasSuffix(ops[i].path, "/decisions/batch") || strings.HasSuffix(ops[i].path, "/records") {
				f.Add(uint8(i), []byte(s))
			}
		}
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		o := ops[int(op)%len(ops)]
		if st := fuzzSend(b, o, body); st >= 500 {
			t.Fatalf("%s %s answered %d to %q", o.method, o.path, st, body)
		}
	})
}

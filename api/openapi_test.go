package api_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/api"
	"github.com/verwerker/verwerker/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestOpenAPIGolden keeps the OpenAPI document under review: any change to
// it shows up as a diff of testdata/openapi.golden.json. After an intended
// change, run `go test ./api -run TestOpenAPIGolden -update`.
func TestOpenAPIGolden(t *testing.T) {
	t.Parallel()
	b, err := json.MarshalIndent(api.New(api.Config{Version: "test"}, api.Deps{}).OpenAPI(), "", "  ")
	require.NoError(t, err)
	got := append(b, '\n')

	golden := filepath.Join("testdata", "openapi.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run with -update to create it")
	if d := firstDifference(string(want), string(got)); d != "" {
		t.Fatalf("the OpenAPI document differs from %s; if the change is intended, run\n\tgo test ./api -run TestOpenAPIGolden -update\n%s", golden, d)
	}

	// The same document each time: no map-order or other nondeterminism.
	again, err := json.MarshalIndent(api.New(api.Config{Version: "test"}, api.Deps{}).OpenAPI(), "", "  ")
	require.NoError(t, err)
	require.True(t, bytes.Equal(b, again))
}

// firstDifference shows the first differing line of want and got with some
// context, or returns "" if they are equal. The whole document is too long
// to print.
func firstDifference(want, got string) string {
	if want == got {
		return ""
	}
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	excerpt := func(lines []string) string {
		from, to := max(0, i-3), min(len(lines), i+4)
		var b strings.Builder
		for j := from; j < to; j++ {
			mark := "  "
			if j == i {
				mark = "> "
			}
			fmt.Fprintf(&b, "%s%4d %s\n", mark, j+1, lines[j])
		}
		return b.String()
	}
	return fmt.Sprintf("first difference at line %d (golden %d lines, got %d)\n--- golden\n%s+++ got\n%s",
		i+1, len(w), len(g), excerpt(w), excerpt(g))
}

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	doc := api.New(api.Config{Version: "test"}, api.Deps{}).OpenAPI()
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3.1"), "openapi %q", doc.OpenAPI)
	require.Equal(t, "test", doc.Info.Version)
	require.Contains(t, doc.Components.SecuritySchemes, "apiKey")

	known := map[string]bool{api.Public: true, api.Authenticated: true, api.Self: true}
	for _, perms := range policy.Grants {
		for _, p := range perms {
			known[p] = true
		}
	}
	pathParam := regexp.MustCompile(`\{([^}]+)\}`)

	ops := operations(doc)
	require.NotEmpty(t, ops)
	ids := map[string]bool{}
	for _, o := range ops {
		t.Run(o.op.OperationID, func(t *testing.T) {
			require.NotEmpty(t, o.op.OperationID)
			require.False(t, ids[o.op.OperationID], "operation ids are unique")
			ids[o.op.OperationID] = true
			require.NotEmpty(t, o.op.Summary)
			require.NotEmpty(t, o.op.Tags)

			perm, ok := o.op.Extensions["x-verwerker-permission"].(string)
			require.True(t, ok, "x-verwerker-permission is a string")
			require.NotEmpty(t, perm)
			require.True(t, known[perm], "permission %q is granted to some role or public", perm)

			if perm == api.Public {
				require.Empty(t, o.op.Security, "public operations need no credentials")
			} else {
				if o.op.Extensions["x-verwerker-credential"] == "session_mfa" {
					// Creating credentials: a person's verified session only.
					require.Equal(t, []map[string][]string{{"session": {}}}, o.op.Security)
				} else {
					require.NotContains(t, o.op.Extensions, "x-verwerker-credential")
					require.Equal(t, []map[string][]string{{"apiKey": {}}, {"session": {}}}, o.op.Security)
				}
				require.Contains(t, o.op.Responses, "401")
				require.Contains(t, o.op.Responses, "403")
				if perm == api.Authenticated || perm == api.Self {
					require.NotContains(t, o.op.Extensions, "x-verwerker-domain", "an operation on oneself has no domain")
					return
				}
				dom, _ := o.op.Extensions["x-verwerker-domain"].(string)
				require.Contains(t, []string{"platform", "tenant_id", "body.tenant_id"}, dom)
				if dom == "tenant_id" {
					require.Contains(t, o.path, "{tenant_id}")
					require.Contains(t, o.op.Responses, "404")
				}
				if dom == "body.tenant_id" {
					schema := o.op.RequestBody.Content["application/json"].Schema
					require.NotNil(t, schema)
					require.Contains(t, doc.Components.Schemas.Map()[strings.TrimPrefix(schema.Ref, "#/components/schemas/")].Required, "tenant_id")
				}
			}

			// Every parameter in the path template is declared.
			for _, m := range pathParam.FindAllStringSubmatch(o.path, -1) {
				declared := false
				for _, p := range o.op.Parameters {
					declared = declared || (p.In == "path" && p.Name == m[1] && p.Required)
				}
				require.True(t, declared, "path parameter %s is declared", m[1])
			}

			// Error responses are problem documents.
			for code, r := range o.op.Responses {
				if code[0] == '4' || code[0] == '5' {
					require.Contains(t, r.Content, "application/problem+json", "response %s", code)
				}
			}
		})
	}
}

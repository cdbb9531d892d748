package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/api"
)

func TestDocs(t *testing.T) {
	t.Parallel()
	b := setup(t)

	res := b.do(t, http.MethodGet, "/docs", "", nil)
	require.Equal(t, http.StatusOK, res.status)
	require.Equal(t, "text/html; charset=utf-8", res.header.Get("Content-Type"))
	require.Contains(t, res.header.Get("Content-Security-Policy"), "default-src 'none'")
	require.NotContains(t, res.raw, "<script")
	require.Contains(t, res.raw, `href="/openapi.json"`)

	ops := operations(b.server.OpenAPI())
	require.NotEmpty(t, ops)
	for _, o := range ops {
		require.Contains(t, res.raw, `id="`+o.op.OperationID+`"`, "operation %s is documented", o.op.OperationID)
		require.Contains(t, res.raw, `href="#`+o.op.OperationID+`"`, "operation %s is in the navigation", o.op.OperationID)
		perm, _ := o.op.Extensions["x-verwerker-permission"].(string)
		require.Contains(t, res.raw, "Permission: <code>"+perm+"</code>")
	}
}

// TestDocsOfEachServer: each server documents itself (its version), not the
// first server in the process that rendered its docs.
func TestDocsOfEachServer(t *testing.T) {
	t.Parallel()
	versions := []string{"docs-version-one", "docs-version-two"}
	for i, version := range versions {
		srv := httptest.NewServer(api.New(api.Config{Version: version}, api.Deps{}))
		t.Cleanup(srv.Close)
		res := (&testBundle{http: srv}).do(t, http.MethodGet, "/docs", "", nil)
		require.Equal(t, http.StatusOK, res.status)
		require.True(t, strings.Contains(res.raw, "<div>"+version+"</div>"), "the docs of %s are its own", version)
		require.False(t, strings.Contains(res.raw, versions[1-i]), "the docs of %s are not another server's", version)
	}
}

// TestServedOpenAPI: /openapi.json is the document the server describes
// itself with, and needs no credentials.
func TestServedOpenAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)

	res := b.do(t, http.MethodGet, "/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	want, err := json.Marshal(b.server.OpenAPI())
	require.NoError(t, err)
	var wantJSON map[string]any
	require.NoError(t, json.Unmarshal(want, &wantJSON))
	require.Equal(t, wantJSON, res.json)

	yaml := b.do(t, http.MethodGet, "/openapi.yaml", "", nil)
	require.Equal(t, http.StatusOK, yaml.status)
	require.Contains(t, yaml.raw, "openapi: 3.1")
}

package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/api"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
)

func TestHealthz(t *testing.T) {
	t.Parallel()
	b := setup(t)

	res := b.do(t, http.MethodGet, "/healthz", "", nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, map[string]any{"status": "ok", "version": "test"}, res.json)

	// Credentials are not needed, and bad ones do not matter.
	res = b.do(t, http.MethodGet, "/healthz", "garbage", nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
}

func TestReadyz(t *testing.T) {
	t.Parallel()

	t.Run("Ready", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		res := b.do(t, http.MethodGet, "/readyz", "", nil)
		require.Equal(t, http.StatusOK, res.status, res.raw)
		require.Equal(t, map[string]any{"status": "ready"}, res.json)
	})

	requireUnavailable := func(t *testing.T, res response) {
		t.Helper()
		require.Equal(t, http.StatusServiceUnavailable, res.status, res.raw)
		require.Equal(t, "5", res.header.Get("Retry-After"))
		prob := res.problem(t)
		require.Equal(t, "unavailable", prob.Code)
		require.NotContains(t, res.raw, "closed")
		require.NotContains(t, res.raw, "schema")
		requireNoLeak(t, res.raw)
	}

	type testCase struct {
		ready func(t *testing.T) api.Readiness
	}
	for name, tt := range map[string]testCase{
		"NoDatabase": {func(t *testing.T) api.Readiness { return nil }},
		"ClosedDatabase": {func(t *testing.T) api.Readiness {
			db := storetest.New(t)
			db.Close()
			return db
		}},
		"NotMigrated": {func(t *testing.T) api.Readiness {
			db, err := store.Open(context.Background(), storetest.NewEmptyURL(t), store.Options{MaxConns: 2})
			require.NoError(t, err)
			t.Cleanup(db.Close)
			return db
		}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			deps := api.Deps{}
			if r := tt.ready(t); r != nil {
				deps.Ready = r
			}
			srv := httptest.NewServer(api.New(api.Config{Version: "test"}, deps))
			t.Cleanup(srv.Close)
			b := &testBundle{http: srv}

			requireUnavailable(t, b.do(t, http.MethodGet, "/readyz", "", nil))
			// Liveness does not depend on the database.
			require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/healthz", "", nil).status)
		})
	}
}

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/store/storetest"
)

// syncBuffer is a bytes.Buffer for a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve sends a request to s and returns the response and its problem.
func serve(t *testing.T, s *Server, method, target, body string) (*httptest.ResponseRecorder, Problem) {
	t.Helper()
	req := httptest.NewRequestWithContext(context.Background(), method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Request-Id", "problem-test")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var p Problem
	if rec.Header().Get("Content-Type") == "application/problem+json" {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p), rec.Body.String())
	}
	return rec, p
}

// TestDatabaseDataExceptionIsRefusedInput is the safety net behind input
// validation: when PostgreSQL refuses a value (SQLSTATE class 22: NUL in
// text, a malformed value, a string too long), the caller gets a 422, not a
// 500 or a 503 that invites a retry, however the domain package wrapped the
// error; the log names the SQLSTATE and never the value (the driver's
// message may quote it).
func TestDatabaseDataExceptionIsRefusedInput(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	var logs syncBuffer
	s := New(Config{Version: "test", Logger: slog.New(slog.NewTextHandler(&logs, nil))}, Deps{})
	queries := map[string]struct {
		sql, arg, sqlState string
	}{
		// The casts happen in the server, from text, as in the domain
		// packages' SQL; the driver's messages of the last three quote the
		// value.
		"nul":   {`SELECT $1::text`, "secret 4711\x00", "22021"},
		"uuid":  {`SELECT ($1::text)::uuid`, "secret-4711", "22P02"},
		"range": {`SELECT ($1::text)::int2`, "4711000", "22003"},
		"date":  {`SELECT ($1::text)::date`, "4711-02-30", "22008"},
	}
	type in struct {
		Kind string `path:"kind"`
		Wrap string `path:"wrap"`
	}
	register(s, huma.Operation{OperationID: "testDataException", Method: http.MethodGet, Path: "/test/data-exception/{kind}/{wrap}"},
		Public, platformScope, func(ctx context.Context, in *in) (*struct{}, error) {
			q := queries[in.Kind]
			_, err := db.Pool.Exec(ctx, q.sql, q.arg)
			require.Error(t, err)
			switch in.Wrap {
			case "unavailable": // as identity wraps a failed login lookup
				return nil, &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "sign-in is not possible now", Err: err}
			case "internal":
				return nil, verwerker.Internal("test: query", err)
			}
			return nil, err
		})

	for kind, q := range queries {
		for _, wrap := range []string{"unavailable", "internal", "bare"} {
			t.Run(kind+"/"+wrap, func(t *testing.T) {
				rec, p := serve(t, s, http.MethodGet, "/test/data-exception/"+kind+"/"+wrap, "")
				require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
				require.Equal(t, verwerker.EINVALID, p.Code)
				require.Equal(t, "urn:verwerker:request:problem-test", p.Instance)
				require.Empty(t, rec.Header().Get("Retry-After"))
				require.NotContains(t, rec.Body.String(), "4711")
				require.NotContains(t, rec.Body.String(), "SQLSTATE")
				require.Contains(t, logs.String(), "SQLSTATE "+q.sqlState)
			})
		}
	}
	require.NotContains(t, logs.String(), "4711", "the log does not repeat the value")
}

// TestDomainFieldErrorsAreLocated: a domain package names a field without
// knowing where the API takes it from; the problem locates it in the
// operation's parameters or body (a list's cursor is query.cursor, not
// body.cursor).
func TestDomainFieldErrorsAreLocated(t *testing.T) {
	t.Parallel()
	s := New(Config{Version: "test"}, Deps{})
	fields := []verwerker.FieldError{{Field: "cursor", Message: "m"}, {Field: "id", Message: "m"}, {Field: "note", Message: "m"}, {Field: "items[2].id", Message: "m"}}
	type getIn struct {
		ID     string `path:"id"`
		Cursor string `query:"cursor"`
	}
	register(s, huma.Operation{OperationID: "testLocateGet", Method: http.MethodGet, Path: "/test/locate/{id}"},
		Public, platformScope, func(context.Context, *getIn) (*struct{}, error) {
			return nil, verwerker.Invalid("bad", fields...)
		})
	type postIn struct {
		ID     string `path:"id"`
		Cursor string `query:"cursor"`
		Body   struct {
			Cursor string `json:"cursor,omitempty"`
			Note   string `json:"note,omitempty"`
		}
	}
	register(s, huma.Operation{OperationID: "testLocatePost", Method: http.MethodPost, Path: "/test/locate/{id}"},
		Public, platformScope, func(context.Context, *postIn) (*struct{}, error) {
			return nil, verwerker.Invalid("bad", fields...)
		})
	locations := func(p Problem) []string {
		var locs []string
		for _, e := range p.Errors {
			locs = append(locs, e.Location)
		}
		return locs
	}

	rec, p := serve(t, s, http.MethodGet, "/test/locate/x?cursor=y", "")
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
	require.Equal(t, []string{"query.cursor", "path.id", "body.note", "body.items[2].id"}, locations(p))

	// A body property of the same name is the body's.
	rec, p = serve(t, s, http.MethodPost, "/test/locate/x?cursor=y", `{"cursor":"z"}`)
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
	require.Equal(t, []string{"body.cursor", "path.id", "body.note", "body.items[2].id"}, locations(p))
}

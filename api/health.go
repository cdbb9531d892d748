package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker"
)

type healthOutput struct {
	Body struct {
		Status  string `json:"status" example:"ok"`
		Version string `json:"version" example:"v0.1.0"`
	}
}

type readyOutput struct {
	Body struct {
		Status string `json:"status" example:"ready"`
	}
}

func (s *Server) registerHealth() {
	register(s, huma.Operation{
		OperationID: "healthz",
		Method:      http.MethodGet,
		Path:        "/healthz",
		Summary:     "Liveness",
		Description: "Answers 200 while the process is alive. It checks nothing else.",
		Tags:        []string{"Operations"},
	}, Public, platformScope, func(ctx context.Context, _ *struct{}) (*healthOutput, error) {
		out := &healthOutput{}
		out.Body.Status, out.Body.Version = "ok", s.version
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "readyz",
		Method:      http.MethodGet,
		Path:        "/readyz",
		Summary:     "Readiness",
		Description: "Answers 200 when the database is reachable and its schema is current, 503 otherwise.",
		Tags:        []string{"Operations"},
		Errors:      []int{http.StatusServiceUnavailable},
	}, Public, platformScope, func(ctx context.Context, _ *struct{}) (*readyOutput, error) {
		if s.deps.Ready == nil {
			return nil, verwerker.Errorf(verwerker.EUNAVAILABLE, "not ready")
		}
		if err := s.deps.Ready.Ready(ctx); err != nil {
			return nil, &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "not ready", Err: err}
		}
		out := &readyOutput{}
		out.Body.Status = "ready"
		return out, nil
	})
}

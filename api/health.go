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
		Status  string `json:"status" enum:"ready,degraded" example:"ready" doc:"ready: everything answers. degraded: the database answers but the keyring (Vault) does not, so sealed records can be neither written nor read (503 with Retry-After) while decisions still answer; the replica stays in service."`
		Keyring string `json:"keyring,omitempty" enum:"up,unavailable" doc:"Whether Vault answered its last health probe or request (gauge verwerker_vault_up); absent with the local keyring."`
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
		Description: "Answers 200 when the database is reachable and its schema is current, 503 otherwise. A keyring (Vault) that does not answer does not take the replica out of service, since decisions still answer: the status is then degraded, and an alarm (keyring_unavailable) and the gauge verwerker_vault_up tell.",
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
		if s.deps.Keyring != nil {
			out.Body.Keyring = "up"
			if !s.deps.Keyring.Up() {
				out.Body.Status, out.Body.Keyring = "degraded", "unavailable"
			}
		}
		return out, nil
	})
}

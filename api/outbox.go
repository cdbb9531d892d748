package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/policy"
)

// WebhookEndpoint is where a customer's webhooks go.
type WebhookEndpoint struct {
	TenantID   string    `json:"tenant_id"`
	Configured bool      `json:"configured" doc:"False when the customer has no endpoint: then it gets e-mail notices only."`
	URL        string    `json:"url,omitempty"`
	Rotating   bool      `json:"rotating" doc:"True while two secrets sign every message."`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	Secret     string    `json:"secret,omitempty" doc:"The signing secret (Standard Webhooks, whsec_...). Shown only once: when the endpoint is created or a rotation starts."`
}

type webhookBody struct{ Body WebhookEndpoint }

type setWebhookInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Body     struct {
		URL string `json:"url" maxLength:"2000" doc:"An https URL on a public host. verwerker POSTs signed JSON notices to it (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature over id.timestamp.body, HMAC-SHA256)."`
	}
}

type rotateOutput struct {
	Body struct {
		Secret string `json:"secret" doc:"The new signing secret, shown only this once. Until the rotation is finished, every message carries a signature with the new and the old secret."`
	}
}

// OutboxMessage is a notice as its customer sees it in its delivery log.
type OutboxMessage struct {
	ID          string     `json:"id"`
	Kind        string     `json:"kind" enum:"webhook,email"`
	EventType   string     `json:"event_type"`
	Status      string     `json:"status" enum:"pending,delivered,dead"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"last_error,omitempty" doc:"Error code of the last failed attempt."`
	CreatedAt   time.Time  `json:"created_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	DeadAt      *time.Time `json:"dead_at,omitempty"`
}

type messageList struct {
	Body struct {
		Items []OutboxMessage `json:"items" nullable:"false"`
	}
}

// DeliveryAttempt is one entry of a message's delivery log.
type DeliveryAttempt struct {
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
	Outcome    string    `json:"outcome" enum:"delivered,failed"`
	HTTPStatus int       `json:"http_status,omitempty"`
	SMTPCode   int       `json:"smtp_code,omitempty"`
	ErrorCode  string    `json:"error_code,omitempty"`
	DurationMS int64     `json:"duration_ms"`
}

type attemptList struct {
	Body struct {
		Items []DeliveryAttempt `json:"items" nullable:"false"`
	}
}

// DeadLetter is a notice whose attempts are exhausted.
type DeadLetter struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Kind      string    `json:"kind" enum:"webhook,email"`
	EventType string    `json:"event_type"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	CreatedAt time.Time `json:"created_at"`
	DeadAt    time.Time `json:"dead_at"`
}

type deadLetterList struct {
	Body struct {
		Items []DeadLetter `json:"items" nullable:"false"`
	}
}

type messagePath struct {
	MessageID string `path:"message_id" maxLength:"64" doc:"Message id."`
}

type tenantMessagePath struct {
	TenantID  string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	MessageID string `path:"message_id" maxLength:"64" doc:"Message id."`
}

type listInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Limit    int    `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"At most this many, newest first."`
}

func endpointOut(e notify.Endpoint, secret string) WebhookEndpoint {
	return WebhookEndpoint{TenantID: e.TenantID, Configured: true, URL: e.URL, Rotating: e.Rotating, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, Secret: secret}
}

func attemptsOut(list []notify.Attempt) []DeliveryAttempt {
	out := make([]DeliveryAttempt, 0, len(list))
	for _, a := range list {
		out = append(out, DeliveryAttempt{Attempt: a.Attempt, At: a.At, Outcome: a.Outcome, HTTPStatus: a.HTTPStatus,
			SMTPCode: a.SMTPCode, ErrorCode: a.ErrorCode, DurationMS: a.Duration.Milliseconds()})
	}
	return out
}

// webhookEndpoint answers with the tenant's endpoint, or configured false.
func (s *Server) webhookEndpoint(ctx context.Context, tenantID string) (*webhookBody, error) {
	e, err := s.deps.Outbox.Endpoint(ctx, tenantID)
	if verwerker.ErrorCode(err) == verwerker.ENOTFOUND {
		return &webhookBody{Body: WebhookEndpoint{TenantID: tenantID}}, nil
	}
	if err != nil {
		return nil, err
	}
	return &webhookBody{Body: endpointOut(e, "")}, nil
}

func (s *Server) registerOutbox() {
	const tag = "Notices"
	webhookOp := func(id, method, path, summary, desc string) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: "/v1/tenants/{tenant_id}/webhook" + path,
			Summary: summary, Description: desc, Tags: []string{tag}}
	}

	register(s, webhookOp("getWebhookEndpoint", http.MethodGet, "", "Get the webhook endpoint", "Never returns the secrets. Without an endpoint, configured is false."),
		policy.PermWebhookManage, tenantScope, func(ctx context.Context, in *tenantPath) (*webhookBody, error) {
			return s.webhookEndpoint(ctx, in.TenantID)
		})

	op := webhookOp("setWebhookEndpoint", http.MethodPut, "", "Set the webhook endpoint",
		"Registers or changes where the customer's notices go. A new endpoint gets a signing secret, shown only in this response; a changed URL keeps its secret. Only https URLs on public hosts are accepted, and every delivery connects to public addresses only.")
	op.MaxBodyBytes = 4 << 10
	register(s, op, policy.PermWebhookManage, tenantScope, func(ctx context.Context, in *setWebhookInput) (*webhookBody, error) {
		e, secret, err := s.deps.Outbox.SetEndpoint(ctx, in.TenantID, in.Body.URL)
		if err != nil {
			return nil, err
		}
		return &webhookBody{Body: endpointOut(e, secret)}, nil
	})

	op = webhookOp("deleteWebhookEndpoint", http.MethodDelete, "", "Remove the webhook endpoint", "Deletes the endpoint and its secrets, if any. Pending webhooks fail until a new endpoint is set; e-mail notices are unaffected.")
	op.DefaultStatus = http.StatusNoContent
	register(s, op, policy.PermWebhookManage, tenantScope, func(ctx context.Context, in *tenantPath) (*struct{}, error) {
		return nil, s.deps.Outbox.RemoveEndpoint(ctx, in.TenantID)
	})

	op = webhookOp("rotateWebhookSecret", http.MethodPost, "/rotate", "Start a secret rotation",
		"Adds a new secret, returned only here. Until the rotation is finished every message is signed with both, so the receiver can switch without losing a notice. Without an endpoint: 409.")
	op.Errors = []int{http.StatusConflict}
	register(s, op,
		policy.PermWebhookManage, tenantScope, func(ctx context.Context, in *tenantPath) (*rotateOutput, error) {
			secret, err := s.deps.Outbox.RotateSecret(ctx, in.TenantID)
			if err != nil {
				return nil, err
			}
			out := &rotateOutput{}
			out.Body.Secret = secret
			return out, nil
		})

	register(s, webhookOp("finishWebhookRotation", http.MethodPost, "/finish-rotation", "Finish a secret rotation",
		"Retires the old secret: from now on messages are signed with the new one only."),
		policy.PermWebhookManage, tenantScope, func(ctx context.Context, in *tenantPath) (*webhookBody, error) {
			if err := s.deps.Outbox.FinishRotation(ctx, in.TenantID); err != nil {
				return nil, err
			}
			return s.webhookEndpoint(ctx, in.TenantID)
		})

	register(s, huma.Operation{OperationID: "listOutboxMessages", Method: http.MethodGet, Path: "/v1/tenants/{tenant_id}/outbox/messages",
		Summary: "List the customer's notices", Description: "Every webhook and e-mail sent to the customer, newest first, with its delivery state; never content or recipients.",
		Tags: []string{tag}},
		policy.PermOutboxRead, tenantScope, func(ctx context.Context, in *listInput) (*messageList, error) {
			list, err := s.deps.Outbox.Messages(ctx, in.TenantID, in.Limit)
			if err != nil {
				return nil, err
			}
			out := &messageList{}
			out.Body.Items = make([]OutboxMessage, 0, len(list))
			for _, m := range list {
				out.Body.Items = append(out.Body.Items, OutboxMessage{ID: m.ID, Kind: string(m.Kind), EventType: m.EventType, Status: string(m.Status),
					Attempts: m.Attempts, LastError: m.LastError, CreatedAt: m.CreatedAt, DeliveredAt: m.DeliveredAt, DeadAt: m.DeadAt})
			}
			return out, nil
		})

	register(s, huma.Operation{OperationID: "listOutboxAttempts", Method: http.MethodGet, Path: "/v1/tenants/{tenant_id}/outbox/messages/{message_id}/attempts",
		Summary: "Read a notice's delivery log", Tags: []string{tag}},
		policy.PermOutboxRead, tenantScope, func(ctx context.Context, in *tenantMessagePath) (*attemptList, error) {
			list, err := s.deps.Outbox.TenantAttempts(ctx, in.TenantID, in.MessageID)
			if err != nil {
				return nil, err
			}
			out := &attemptList{}
			out.Body.Items = attemptsOut(list)
			return out, nil
		})

	register(s, huma.Operation{OperationID: "listDeadLetters", Method: http.MethodGet, Path: "/v1/outbox/dead-letters",
		Summary: "List dead letters", Description: "Notices of every customer whose attempts are exhausted, most recent first: what the DPO must follow up.",
		Tags: []string{tag}},
		policy.PermOutboxRead, platformScope, func(ctx context.Context, _ *struct{}) (*deadLetterList, error) {
			list, err := s.deps.Outbox.DeadLetters(ctx, 1000)
			if err != nil {
				return nil, err
			}
			out := &deadLetterList{}
			out.Body.Items = make([]DeadLetter, 0, len(list))
			for _, d := range list {
				out.Body.Items = append(out.Body.Items, DeadLetter{ID: d.ID, TenantID: d.TenantID, Kind: string(d.Kind), EventType: d.EventType,
					Attempts: d.Attempts, LastError: d.LastError, CreatedAt: d.CreatedAt, DeadAt: d.DeadAt})
			}
			return out, nil
		})

	op = huma.Operation{OperationID: "retryOutboxMessage", Method: http.MethodPost, Path: "/v1/outbox/messages/{message_id}/retry",
		Summary: "Send a dead letter again", Description: "A fresh set of attempts with the same bytes, webhook-id and Message-ID. A message that is not dead: 409.",
		Tags: []string{tag}, DefaultStatus: http.StatusAccepted, Errors: []int{http.StatusConflict}}
	register(s, op, policy.PermOutboxRetry, platformScope, func(ctx context.Context, in *messagePath) (*struct{}, error) {
		return nil, s.deps.Outbox.Retry(ctx, in.MessageID)
	})
}

package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/policy"
)

// APIKey is an issued API key, without its secret.
type APIKey struct {
	ID        string     `json:"id"`
	Prefix    string     `json:"prefix" doc:"The public part of the token (vwk_<prefix>_...), to recognise it."`
	Label     string     `json:"label"`
	Role      string     `json:"role,omitempty" doc:"The role of a machine key; empty for a personal key."`
	Domain    string     `json:"domain,omitempty" doc:"Where a machine key's role holds: a tenant id or platform."`
	UserID    string     `json:"user_id,omitempty" doc:"Owner of a personal key."`
	CreatedBy string     `json:"created_by" doc:"Who issued the key: the user id of the person whose session issued it (keys are issued only from a signed-in session with a verified second factor), system for keys made by tools such as the demo seed, unknown for keys issued before this was recorded, or a key id for keys issued by an API key before that was refused."`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// IssuedAPIKey is a new key with its token, shown this once.
type IssuedAPIKey struct {
	APIKey
	Token string `json:"token" doc:"The secret token. It is not stored and cannot be shown again."`
}

type keysOutput struct {
	Body struct {
		Items []APIKey `json:"items" nullable:"false"`
	}
}

type keyOutput struct {
	Body APIKey
}

type issuedKeyOutput struct {
	Body IssuedAPIKey
}

type keyPath struct {
	KeyID string `path:"key_id" maxLength:"64" doc:"Key id."`
}

type tenantKeyPath struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	KeyID    string `path:"key_id" maxLength:"64" doc:"Key id."`
}

type machineKeyBody struct {
	Label     string     `json:"label" minLength:"1" maxLength:"100" doc:"What the key is for, e.g. chat service production. Not a person's name."`
	Role      string     `json:"role" enum:"platform_admin,dpo,support,controller_admin,controller_viewer,chat_service,auditor" doc:"The key's role; a tenant role for tenant keys, a platform role for platform keys."`
	ExpiresAt *time.Time `json:"expires_at,omitempty" doc:"When the key stops working; none if absent. A key with an administrative role (platform_admin, controller_admin: roles that may issue keys or manage accounts) expires within 90 days, and in 90 days when absent."`
}

type tenantKeyInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Body     machineKeyBody
}

type platformKeyInput struct {
	Body machineKeyBody
}

type personalKeyInput struct {
	Body struct {
		Label     string    `json:"label" minLength:"1" maxLength:"100" doc:"What the key is for."`
		ExpiresAt time.Time `json:"expires_at" doc:"When the key stops working; at most 366 days ahead."`
	}
}

func keyOut(k identity.Key) APIKey {
	return APIKey{ID: k.ID, Prefix: k.Prefix, Label: k.Label, Role: k.Role, Domain: k.Domain, UserID: k.UserID,
		CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt}
}

func (s *Server) getKey(ctx context.Context, owner identity.KeyOwner, id string) (*keyOutput, error) {
	k, err := s.deps.Keys.Get(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	return &keyOutput{Body: keyOut(k)}, nil
}

// sessionNote ends the description of every operation that creates
// credentials.
const sessionNote = " Only a person's session with a verified second factor (TOTP) may call this; API keys, personal ones included, get 403."

func (s *Server) listKeys(ctx context.Context, owner identity.KeyOwner) (*keysOutput, error) {
	keys, err := s.deps.Keys.List(ctx, owner)
	if err != nil {
		return nil, err
	}
	out := &keysOutput{}
	out.Body.Items = make([]APIKey, 0, len(keys))
	for _, k := range keys {
		out.Body.Items = append(out.Body.Items, keyOut(k))
	}
	return out, nil
}

func (s *Server) issueKey(ctx context.Context, n identity.NewKey) (*issuedKeyOutput, error) {
	k, token, err := s.deps.Keys.Issue(ctx, n)
	if err != nil {
		return nil, err
	}
	return &issuedKeyOutput{Body: IssuedAPIKey{APIKey: keyOut(k), Token: token}}, nil
}

func (s *Server) revokeKey(ctx context.Context, owner identity.KeyOwner, id string) (*keyOutput, error) {
	k, err := s.deps.Keys.Revoke(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	return &keyOutput{Body: keyOut(k)}, nil
}

func (s *Server) registerKeys() {
	register(s, huma.Operation{
		OperationID: "listTenantAPIKeys",
		Method:      http.MethodGet,
		Path:        "/v1/tenants/{tenant_id}/api-keys",
		Summary:     "List a tenant's machine API keys",
		Tags:        []string{"API keys"},
	}, policy.PermKeyRead, tenantScope, func(ctx context.Context, in *tenantPath) (*keysOutput, error) {
		if err := s.requireTenant(ctx, in.TenantID); err != nil {
			return nil, err
		}
		return s.listKeys(ctx, identity.KeyOwner{Domain: in.TenantID})
	})

	register(s, huma.Operation{
		OperationID: "getTenantAPIKey",
		Method:      http.MethodGet,
		Path:        "/v1/tenants/{tenant_id}/api-keys/{key_id}",
		Summary:     "Get a tenant's machine API key",
		Description: "The key without its secret, with who issued it.",
		Tags:        []string{"API keys"},
	}, policy.PermKeyRead, tenantScope, func(ctx context.Context, in *tenantKeyPath) (*keyOutput, error) {
		return s.getKey(ctx, identity.KeyOwner{Domain: in.TenantID}, in.KeyID)
	})

	register(s, sessionOnly(huma.Operation{
		OperationID:   "createTenantAPIKey",
		Method:        http.MethodPost,
		Path:          "/v1/tenants/{tenant_id}/api-keys",
		Summary:       "Issue a machine API key for a tenant",
		Description:   "For the chat service and the customer's integrations. The key holds one tenant role in this tenant and records who issued it. The token is shown once." + sessionNote,
		Tags:          []string{"API keys"},
		DefaultStatus: http.StatusCreated,
	}), policy.PermKeyManage, tenantScope, func(ctx context.Context, in *tenantKeyInput) (*issuedKeyOutput, error) {
		if err := s.requireTenant(ctx, in.TenantID); err != nil {
			return nil, err
		}
		return s.issueKey(ctx, identity.NewKey{Label: in.Body.Label, Role: in.Body.Role, Domain: in.TenantID, ExpiresAt: in.Body.ExpiresAt})
	})

	register(s, huma.Operation{
		OperationID: "revokeTenantAPIKey",
		Method:      http.MethodDelete,
		Path:        "/v1/tenants/{tenant_id}/api-keys/{key_id}",
		Summary:     "Revoke a tenant's machine API key",
		Description: "The key stops working on the next request, on every replica (company terms 004 art. 15.7).",
		Tags:        []string{"API keys"},
	}, policy.PermKeyManage, tenantScope, func(ctx context.Context, in *tenantKeyPath) (*keyOutput, error) {
		return s.revokeKey(ctx, identity.KeyOwner{Domain: in.TenantID}, in.KeyID)
	})

	register(s, huma.Operation{
		OperationID: "listPlatformAPIKeys",
		Method:      http.MethodGet,
		Path:        "/v1/platform/api-keys",
		Summary:     "List platform machine API keys",
		Tags:        []string{"API keys"},
	}, policy.PermKeyRead, platformScope, func(ctx context.Context, _ *struct{}) (*keysOutput, error) {
		return s.listKeys(ctx, identity.KeyOwner{Domain: verwerker.PlatformDomain})
	})

	register(s, huma.Operation{
		OperationID: "getPlatformAPIKey",
		Method:      http.MethodGet,
		Path:        "/v1/platform/api-keys/{key_id}",
		Summary:     "Get a platform machine API key",
		Description: "The key without its secret, with who issued it.",
		Tags:        []string{"API keys"},
	}, policy.PermKeyRead, platformScope, func(ctx context.Context, in *keyPath) (*keyOutput, error) {
		return s.getKey(ctx, identity.KeyOwner{Domain: verwerker.PlatformDomain}, in.KeyID)
	})

	register(s, sessionOnly(huma.Operation{
		OperationID:   "createPlatformAPIKey",
		Method:        http.MethodPost,
		Path:          "/v1/platform/api-keys",
		Summary:       "Issue a platform machine API key",
		Description:   "The key holds one platform role and records who issued it. The token is shown once." + sessionNote,
		Tags:          []string{"API keys"},
		DefaultStatus: http.StatusCreated,
	}), policy.PermKeyManage, platformScope, func(ctx context.Context, in *platformKeyInput) (*issuedKeyOutput, error) {
		return s.issueKey(ctx, identity.NewKey{Label: in.Body.Label, Role: in.Body.Role, Domain: verwerker.PlatformDomain, ExpiresAt: in.Body.ExpiresAt})
	})

	register(s, huma.Operation{
		OperationID: "revokePlatformAPIKey",
		Method:      http.MethodDelete,
		Path:        "/v1/platform/api-keys/{key_id}",
		Summary:     "Revoke a platform machine API key",
		Tags:        []string{"API keys"},
	}, policy.PermKeyManage, platformScope, func(ctx context.Context, in *keyPath) (*keyOutput, error) {
		return s.revokeKey(ctx, identity.KeyOwner{Domain: verwerker.PlatformDomain}, in.KeyID)
	})
}

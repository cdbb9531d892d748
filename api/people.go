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

// User is a person's account.
type User struct {
	ID          string     `json:"id"`
	Email       string     `json:"email"`
	DisplayName string     `json:"display_name"`
	HomeDomain  string     `json:"home_domain" doc:"The tenant id, or platform, whose administrators manage the account."`
	PasswordSet bool       `json:"password_set"`
	TOTPEnabled bool       `json:"totp_enabled"`
	CreatedAt   time.Time  `json:"created_at"`
	DisabledAt  *time.Time `json:"disabled_at,omitempty"`
}

// NewUserResult is a created account with its one-time set-up token.
type NewUserResult struct {
	User
	SetupToken string `json:"setup_token" doc:"Give this to the person (out of band); with it they choose a password at POST /v1/auth/setup within 72 hours. It is shown once."`
}

// MemberOut is a person's role in a domain.
type MemberOut struct {
	User User   `json:"user"`
	Role string `json:"role"`
}

type userBody struct {
	Email       string `json:"email" format:"email" maxLength:"254" doc:"Login name and contact address of the person."`
	DisplayName string `json:"display_name" minLength:"1" maxLength:"100" doc:"How the person is shown to administrators."`
	Role        string `json:"role" enum:"platform_admin,dpo,support,controller_admin,controller_viewer,chat_service,auditor" doc:"The first role."`
}

type createPlatformUserInput struct {
	Body userBody
}

type createTenantUserInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	Body     userBody
}

type newUserOutput struct {
	Body NewUserResult
}

type disableUserInput struct {
	UserID string `path:"user_id" maxLength:"64" doc:"User id."`
	Body   *struct {
		RevokeCreatedKeys bool `json:"revoke_created_keys,omitempty" doc:"Also revoke every machine API key the account issued (they keep working otherwise). Calling again with this on revokes what an earlier call kept."`
	}
}

// KeyOutcome is what disabling an account did to one API key.
type KeyOutcome struct {
	APIKey
	Outcome string `json:"outcome" enum:"revoked,already_revoked,expired,kept" doc:"revoked: by this call; already_revoked: before it; expired: kept, but no longer works; kept: still works (revoke_created_keys was not set)."`
}

// DisabledUser is a disabled account with the API keys it owned or issued.
type DisabledUser struct {
	User
	Keys []KeyOutcome `json:"keys" nullable:"false" doc:"The account's personal keys (always revoked) and every machine key it issued, with what happened to each."`
}

type disabledUserOutput struct {
	Body DisabledUser
}

type membersOutput struct {
	Body struct {
		Items []MemberOut `json:"items" nullable:"false"`
	}
}

type memberPath struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	UserID   string `path:"user_id" maxLength:"64" doc:"User id."`
}

type setMemberInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	UserID   string `path:"user_id" maxLength:"64" doc:"User id."`
	Body     struct {
		Role string `json:"role" enum:"controller_admin,controller_viewer,auditor" doc:"The person's one role in this tenant."`
	}
}

func userOut(u identity.User) User {
	return User{ID: u.ID, Email: u.Email, DisplayName: u.DisplayName, HomeDomain: u.HomeDomain, PasswordSet: u.PasswordSet,
		TOTPEnabled: u.TOTPEnabled, CreatedAt: u.CreatedAt, DisabledAt: u.DisabledAt}
}

func (s *Server) createUser(ctx context.Context, domain string, b userBody) (*newUserOutput, error) {
	u, token, err := s.deps.People.Create(ctx, identity.NewUser{Email: b.Email, DisplayName: b.DisplayName, Role: b.Role, Domain: domain})
	if err != nil {
		return nil, err
	}
	return &newUserOutput{Body: NewUserResult{User: userOut(u), SetupToken: token}}, nil
}

func (s *Server) registerPeople() {
	register(s, sessionOnly(huma.Operation{
		OperationID:   "createPlatformUser",
		Method:        http.MethodPost,
		Path:          "/v1/users",
		Summary:       "Create an account for the processor's staff",
		Description:   "For platform admins, the DPO and support staff: the role must be a platform role. Returns a one-time set-up token." + sessionNote,
		Tags:          []string{"People"},
		DefaultStatus: http.StatusCreated,
	}), policy.PermUserCreate, platformScope, func(ctx context.Context, in *createPlatformUserInput) (*newUserOutput, error) {
		return s.createUser(ctx, verwerker.PlatformDomain, in.Body)
	})

	register(s, sessionOnly(huma.Operation{
		OperationID:   "createTenantUser",
		Method:        http.MethodPost,
		Path:          "/v1/tenants/{tenant_id}/users",
		Summary:       "Create an account for a customer's staff",
		Description:   "For the customer's privacy lead, viewers and auditors: the role must be a tenant role. Returns a one-time set-up token." + sessionNote,
		Tags:          []string{"People"},
		DefaultStatus: http.StatusCreated,
	}), policy.PermUserCreate, tenantScope, func(ctx context.Context, in *createTenantUserInput) (*newUserOutput, error) {
		if err := s.requireTenant(ctx, in.TenantID); err != nil {
			return nil, err
		}
		return s.createUser(ctx, in.TenantID, in.Body)
	})

	register(s, huma.Operation{
		OperationID: "disableUser",
		Method:      http.MethodPost,
		Path:        "/v1/users/{user_id}/disable",
		Summary:     "Disable an account",
		Description: "Ends the account's sessions and personal keys and takes its roles away, at once on every replica. " +
			"The answer lists every API key the account owned or issued and what happened to it; with revoke_created_keys the machine keys it issued are revoked too, " +
			"each revocation an audit event in the key's chain. The audit history stays.",
		Tags: []string{"People"},
	}, policy.PermUserDisable, platformScope, func(ctx context.Context, in *disableUserInput) (*disabledUserOutput, error) {
		var opts identity.DisableOptions
		if in.Body != nil {
			opts.RevokeCreatedKeys = in.Body.RevokeCreatedKeys
		}
		d, err := s.deps.People.Disable(ctx, in.UserID, opts)
		if err != nil {
			return nil, err
		}
		out := &disabledUserOutput{Body: DisabledUser{User: userOut(d.User), Keys: make([]KeyOutcome, 0, len(d.Keys))}}
		for _, k := range d.Keys {
			out.Body.Keys = append(out.Body.Keys, KeyOutcome{APIKey: keyOut(k.Key), Outcome: k.Outcome})
		}
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "listTenantMembers",
		Method:      http.MethodGet,
		Path:        "/v1/tenants/{tenant_id}/members",
		Summary:     "List the people with roles in a tenant",
		Tags:        []string{"People"},
	}, policy.PermMemberRead, tenantScope, func(ctx context.Context, in *tenantPath) (*membersOutput, error) {
		if err := s.requireTenant(ctx, in.TenantID); err != nil {
			return nil, err
		}
		ms, err := s.deps.People.Members(ctx, in.TenantID)
		if err != nil {
			return nil, err
		}
		out := &membersOutput{}
		out.Body.Items = make([]MemberOut, 0, len(ms))
		for _, m := range ms {
			out.Body.Items = append(out.Body.Items, MemberOut{User: userOut(m.User), Role: m.Role})
		}
		return out, nil
	})

	register(s, huma.Operation{
		OperationID:   "setTenantMember",
		Method:        http.MethodPut,
		Path:          "/v1/tenants/{tenant_id}/members/{user_id}",
		Summary:       "Set a person's role in a tenant",
		Description:   "Replaces the person's role in this tenant, at once on every replica. Only accounts of this tenant can hold its roles.",
		Tags:          []string{"People"},
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusConflict},
	}, policy.PermMemberManage, tenantScope, func(ctx context.Context, in *setMemberInput) (*struct{}, error) {
		return nil, s.deps.People.SetRole(ctx, in.TenantID, in.UserID, in.Body.Role)
	})

	register(s, huma.Operation{
		OperationID:   "removeTenantMember",
		Method:        http.MethodDelete,
		Path:          "/v1/tenants/{tenant_id}/members/{user_id}",
		Summary:       "Take a person's roles in a tenant away",
		Description:   "Effective on the next request, on every replica.",
		Tags:          []string{"People"},
		DefaultStatus: http.StatusNoContent,
	}, policy.PermMemberManage, tenantScope, func(ctx context.Context, in *memberPath) (*struct{}, error) {
		return nil, s.deps.People.RemoveMember(ctx, in.TenantID, in.UserID)
	})
}

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

// Grant is a role held in a domain.
type Grant struct {
	Role   string `json:"role" enum:"platform_admin,dpo,support,controller_admin,controller_viewer,chat_service,auditor"`
	Domain string `json:"domain" doc:"A tenant id, or platform."`
}

// Me is the calling principal.
type Me struct {
	ID          string  `json:"id" doc:"The subject id roles are granted to: a user id, or a machine key's id."`
	Kind        string  `json:"kind" enum:"user,api_key"`
	Credential  string  `json:"credential" doc:"The session or API key id used for this request."`
	Email       string  `json:"email,omitempty"`
	DisplayName string  `json:"display_name,omitempty"`
	TOTPEnabled bool    `json:"totp_enabled"`
	MFAPending  bool    `json:"mfa_pending" doc:"True for a session that must enrol two-factor authentication before doing anything else."`
	Grants      []Grant `json:"grants" nullable:"false"`
}

type meOutput struct {
	Body Me
}

// TOTPEnrolment is an offered TOTP secret.
type TOTPEnrolment struct {
	Secret string `json:"secret" doc:"Base32 secret, for manual entry in an authenticator app."`
	URI    string `json:"otpauth_uri" doc:"otpauth:// URI, for a QR code."`
}

type totpOutput struct {
	Body TOTPEnrolment
}

type totpConfirmInput struct {
	Body struct {
		Code string `json:"code" minLength:"6" maxLength:"6" pattern:"^[0-9]{6}$" doc:"The code the authenticator app shows now."`
	}
}

// SessionSummary is one of a person's sessions.
type SessionSummary struct {
	ID         string    `json:"id"`
	Current    bool      `json:"current" doc:"The session of this request."`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	MFA        bool      `json:"mfa" doc:"The second factor was given in this session."`
}

type sessionsOutput struct {
	Body struct {
		Items []SessionSummary `json:"items" nullable:"false"`
	}
}

type sessionPath struct {
	SessionID string `path:"session_id" maxLength:"64" doc:"Session id."`
}

func grantsOut(gs []policy.Grant) []Grant {
	out := make([]Grant, 0, len(gs))
	for _, g := range gs {
		out = append(out, Grant{Role: g.Role, Domain: g.Domain})
	}
	return out
}

// person returns the calling person, or a conflict for machine keys.
func person(ctx context.Context) (verwerker.Principal, error) {
	p, _ := verwerker.PrincipalFrom(ctx)
	if p.Kind != verwerker.PrincipalUser && !verwerker.ValidID(verwerker.PrefixUser, p.ID) {
		return p, verwerker.Errorf(verwerker.ECONFLICT, "this operation is for people's accounts, not machine keys")
	}
	return p, nil
}

func (s *Server) registerMe() {
	register(s, huma.Operation{
		OperationID: "getMe",
		Method:      http.MethodGet,
		Path:        "/v1/me",
		Summary:     "Who am I",
		Description: "The calling principal, its roles, and for people whether two-factor authentication is enrolled.",
		Tags:        []string{"Me"},
	}, Authenticated, platformScope, func(ctx context.Context, _ *struct{}) (*meOutput, error) {
		p, _ := verwerker.PrincipalFrom(ctx)
		out := &meOutput{Body: Me{ID: p.ID, Kind: p.Kind, Credential: p.Credential, MFAPending: p.MFAPending}}
		if verwerker.ValidID(verwerker.PrefixUser, p.ID) {
			u, err := s.deps.People.Get(ctx, p.ID)
			if err != nil {
				return nil, err
			}
			out.Body.Email, out.Body.DisplayName, out.Body.TOTPEnabled = u.Email, u.DisplayName, u.TOTPEnabled
		}
		gs, err := s.deps.People.Grants(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		out.Body.Grants = grantsOut(gs)
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "enrolTOTP",
		Method:      http.MethodPost,
		Path:        "/v1/me/totp",
		Summary:     "Start two-factor enrolment",
		Description: "Offers a new TOTP secret (RFC 6238: SHA-1, 30 s, 6 digits). It takes effect when confirmed with a code. Two-factor authentication is required for every person (company terms 000 art. 9.1).",
		Tags:        []string{"Me"},
		Errors:      []int{http.StatusConflict},
	}, Authenticated, platformScope, func(ctx context.Context, _ *struct{}) (*totpOutput, error) {
		p, err := person(ctx)
		if err != nil {
			return nil, err
		}
		e, err := s.deps.People.EnrollTOTP(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		return &totpOutput{Body: TOTPEnrolment{Secret: e.Secret, URI: e.URI}}, nil
	})

	register(s, huma.Operation{
		OperationID:   "confirmTOTP",
		Method:        http.MethodPost,
		Path:          "/v1/me/totp/confirm",
		Summary:       "Confirm two-factor enrolment",
		Description:   "Enables the offered secret once a code from the app matches; the current session then counts as two-factor authenticated.",
		Tags:          []string{"Me"},
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusConflict},
	}, Authenticated, platformScope, func(ctx context.Context, in *totpConfirmInput) (*struct{}, error) {
		p, err := person(ctx)
		if err != nil {
			return nil, err
		}
		return nil, s.deps.People.ConfirmTOTP(ctx, p.ID, p.Credential, in.Body.Code)
	})

	register(s, huma.Operation{
		OperationID: "listMySessions",
		Method:      http.MethodGet,
		Path:        "/v1/me/sessions",
		Summary:     "List my sessions",
		Tags:        []string{"Me"},
		Errors:      []int{http.StatusConflict},
	}, Self, platformScope, func(ctx context.Context, _ *struct{}) (*sessionsOutput, error) {
		p, err := person(ctx)
		if err != nil {
			return nil, err
		}
		ss, err := s.deps.People.Sessions(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		out := &sessionsOutput{}
		out.Body.Items = make([]SessionSummary, 0, len(ss))
		for _, x := range ss {
			out.Body.Items = append(out.Body.Items, SessionSummary{ID: x.ID, Current: x.ID == p.Credential, CreatedAt: x.CreatedAt,
				LastSeenAt: x.LastSeenAt, ExpiresAt: x.ExpiresAt, MFA: x.MFA})
		}
		return out, nil
	})

	register(s, huma.Operation{
		OperationID:   "revokeMySession",
		Method:        http.MethodDelete,
		Path:          "/v1/me/sessions/{session_id}",
		Summary:       "End one of my sessions",
		Description:   "Ends the session at once, for example one left open on another computer.",
		Tags:          []string{"Me"},
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusNotFound, http.StatusConflict},
	}, Self, platformScope, func(ctx context.Context, in *sessionPath) (*struct{}, error) {
		p, err := person(ctx)
		if err != nil {
			return nil, err
		}
		return nil, s.deps.People.RevokeSession(ctx, p.ID, in.SessionID)
	})

	register(s, huma.Operation{
		OperationID: "listMyAPIKeys",
		Method:      http.MethodGet,
		Path:        "/v1/me/api-keys",
		Summary:     "List my personal API keys",
		Tags:        []string{"Me"},
		Errors:      []int{http.StatusConflict},
	}, Self, platformScope, func(ctx context.Context, _ *struct{}) (*keysOutput, error) {
		p, err := person(ctx)
		if err != nil {
			return nil, err
		}
		return s.listKeys(ctx, identity.KeyOwner{UserID: p.ID})
	})

	register(s, huma.Operation{
		OperationID: "getMyAPIKey",
		Method:      http.MethodGet,
		Path:        "/v1/me/api-keys/{key_id}",
		Summary:     "Get one of my personal API keys",
		Tags:        []string{"Me"},
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, Self, platformScope, func(ctx context.Context, in *keyPath) (*keyOutput, error) {
		p, err := person(ctx)
		if err != nil {
			return nil, err
		}
		return s.getKey(ctx, identity.KeyOwner{UserID: p.ID}, in.KeyID)
	})

	register(s, sessionOnly(huma.Operation{
		OperationID:   "createMyAPIKey",
		Method:        http.MethodPost,
		Path:          "/v1/me/api-keys",
		Summary:       "Create a personal API key",
		Description:   "A personal key acts with its owner's roles, for scripts and API tools. It expires within 366 days and stops working when the account is disabled. The token is shown once." + sessionNote,
		Tags:          []string{"Me"},
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusConflict},
	}), Self, platformScope, func(ctx context.Context, in *personalKeyInput) (*issuedKeyOutput, error) {
		p, err := person(ctx)
		if err != nil {
			return nil, err
		}
		exp := in.Body.ExpiresAt
		return s.issueKey(ctx, identity.NewKey{Label: in.Body.Label, UserID: p.ID, ExpiresAt: &exp})
	})

	register(s, huma.Operation{
		OperationID: "revokeMyAPIKey",
		Method:      http.MethodDelete,
		Path:        "/v1/me/api-keys/{key_id}",
		Summary:     "Revoke a personal API key",
		Description: "The key stops working on the next request, on every replica.",
		Tags:        []string{"Me"},
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, Self, platformScope, func(ctx context.Context, in *keyPath) (*keyOutput, error) {
		p, err := person(ctx)
		if err != nil {
			return nil, err
		}
		return s.revokeKey(ctx, identity.KeyOwner{UserID: p.ID}, in.KeyID)
	})
}

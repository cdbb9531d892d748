package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/identity"
)

type loginInput struct {
	Body struct {
		Email    string `json:"email" maxLength:"254" doc:"The account's e-mail address."`
		Password string `json:"password" maxLength:"256" doc:"The account's password."`
		OTP      string `json:"otp,omitempty" maxLength:"12" doc:"The current six-digit code of the authenticator app; required once two-factor authentication is enrolled."`
	}
}

// SessionInfo describes a session just started.
type SessionInfo struct {
	SessionID  string    `json:"session_id"`
	UserID     string    `json:"user_id"`
	ExpiresAt  time.Time `json:"expires_at" doc:"Absolute end of the session; it also ends after 30 minutes without use."`
	MFAPending bool      `json:"mfa_pending" doc:"True until two-factor authentication is enrolled: the session can then only enrol (POST /v1/me/totp), read /v1/me and log out."`
}

type loginOutput struct {
	SetCookie http.Cookie `header:"Set-Cookie"`
	Body      SessionInfo
}

type logoutOutput struct {
	SetCookie http.Cookie `header:"Set-Cookie"`
}

type setupInput struct {
	Body struct {
		Token    string `json:"token" maxLength:"100" doc:"The one-time set-up token from account creation."`
		Password string `json:"password" maxLength:"256" doc:"The new password: 12 to 256 characters."`
	}
}

func (s *Server) sessionCookie(ctx context.Context, value string, maxAge int) http.Cookie {
	secure := s.secure
	if ri := infoFrom(ctx); ri != nil && ri.tls {
		secure = true
	}
	return http.Cookie{Name: identity.SessionCookie, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: secure, SameSite: http.SameSiteStrictMode}
}

func (s *Server) registerAuth() {
	register(s, huma.Operation{
		OperationID: "login",
		Method:      http.MethodPost,
		Path:        "/v1/auth/login",
		Summary:     "Sign in",
		Description: "Checks the password, and the TOTP code once enrolled, and sets the session cookie (HttpOnly, SameSite=Strict, Secure on TLS). Failed attempts are limited per account and client address, per client address and per account (see the README); when a limit is reached the answer is 429 with Retry-After, whatever the password. Behind reverse proxies listed in VERWERKER_TRUSTED_PROXIES the client address comes from X-Forwarded-For. The answer for an unknown account is the same as for a wrong password.",
		Tags:        []string{"Sign-in"},
		Errors:      []int{http.StatusUnauthorized, http.StatusTooManyRequests},
	}, Public, platformScope, func(ctx context.Context, in *loginInput) (*loginOutput, error) {
		client := ""
		if ri := infoFrom(ctx); ri != nil {
			client = ri.client
		}
		sess, token, err := s.deps.People.Login(ctx, identity.Login{Email: in.Body.Email, Password: in.Body.Password, OTP: in.Body.OTP, ClientAddr: client})
		if err != nil {
			return nil, err
		}
		// The session's own times, from the services' clock: not the wall clock.
		out := &loginOutput{SetCookie: s.sessionCookie(ctx, token, int(sess.ExpiresAt.Sub(sess.CreatedAt).Seconds()))}
		out.Body = SessionInfo{SessionID: sess.ID, UserID: sess.UserID, ExpiresAt: sess.ExpiresAt, MFAPending: !sess.MFA}
		return out, nil
	})

	register(s, huma.Operation{
		OperationID:   "logout",
		Method:        http.MethodPost,
		Path:          "/v1/auth/logout",
		Summary:       "Sign out",
		Description:   "Ends the current session at once and clears the cookie.",
		Tags:          []string{"Sign-in"},
		DefaultStatus: http.StatusNoContent,
	}, Authenticated, platformScope, func(ctx context.Context, _ *struct{}) (*logoutOutput, error) {
		p, _ := verwerker.PrincipalFrom(ctx)
		if p.Kind != verwerker.PrincipalUser {
			return nil, verwerker.Errorf(verwerker.ECONFLICT, "only a session can be signed out; revoke an API key instead")
		}
		if err := s.deps.People.RevokeSession(ctx, p.ID, p.Credential); err != nil {
			return nil, err
		}
		return &logoutOutput{SetCookie: s.sessionCookie(ctx, "", -1)}, nil
	})

	register(s, huma.Operation{
		OperationID:   "setUpAccount",
		Method:        http.MethodPost,
		Path:          "/v1/auth/setup",
		Summary:       "Choose the password of a new account",
		Description:   "Uses the one-time set-up token given when the account was created. The token works once and expires after 72 hours.",
		Tags:          []string{"Sign-in"},
		DefaultStatus: http.StatusNoContent,
	}, Public, platformScope, func(ctx context.Context, in *setupInput) (*struct{}, error) {
		return nil, s.deps.People.SetUp(ctx, in.Body.Token, in.Body.Password)
	})
}

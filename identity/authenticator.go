package identity

import (
	"context"
	"net/http"
	"strings"

	"github.com/verwerker/verwerker"
)

// SessionCookie is the name of the session cookie.
const SessionCookie = "verwerker_session"

// Authenticator finds the principal of a request: an API key in the
// Authorization header (machines, and people's personal keys), or else a
// session cookie (people in a browser).
type Authenticator struct {
	Keys   *Keys
	People *People
}

// Authenticate implements api.Authenticator. A request that presents a
// bearer token is judged by it alone.
func (a Authenticator) Authenticate(ctx context.Context, r *http.Request) (verwerker.Principal, error) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			return verwerker.Principal{}, errBadCredentials
		}
		return a.Keys.Check(ctx, strings.TrimSpace(token))
	}
	if c, err := r.Cookie(SessionCookie); err == nil && a.People != nil {
		return a.People.Authenticate(ctx, c.Value)
	}
	return verwerker.Principal{}, errBadCredentials
}

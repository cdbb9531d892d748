package verwerker

import "context"

// Principal kinds.
const (
	PrincipalAPIKey = "api_key" // a machine or a person calling with an API key
	PrincipalUser   = "user"    // a person with a session
)

// PlatformDomain is the authorization domain of platform-wide grants
// (platform admins, the DPO). Tenant-scoped grants use the tenant id.
const PlatformDomain = "platform"

// Principal is who is calling: a pseudonymous id (never a name or e-mail
// address), how it authenticated, and the domain its credential is scoped to.
type Principal struct {
	// ID is the principal's id, e.g. "key_01J..." or "usr_01J...".
	ID string
	// Kind is PrincipalAPIKey or PrincipalUser.
	Kind string
	// Domain is the tenant id an API key is limited to, or PlatformDomain.
	Domain string
	// Role is the role an API key was issued with; people's roles come from
	// the authorizer.
	Role string
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal in ctx, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

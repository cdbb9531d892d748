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
	// ID is the subject that holds roles: a machine key's id ("key_01J...")
	// or a person's user id ("usr_01J..."), also when the person calls with
	// a personal API key.
	ID string
	// Kind is PrincipalAPIKey or PrincipalUser.
	Kind string
	// Credential is the id of the key or session used, for audit and for
	// revoking it; it is ID itself for a machine key.
	Credential string
	// Domain is the tenant id a machine key is limited to, PlatformDomain,
	// or empty for people, whose roles may span domains.
	Domain string
	// Role is the role a machine key was issued with (informational: the
	// authorizer decides from the grants).
	Role string
	// PolicyVersion is the access-policy version current when the
	// credential was checked. The authorizer never decides on an older one.
	PolicyVersion int64
	// DecisionVersion is the decision_state version of the tenant of a
	// machine key (its Domain), read with the credential, so that
	// processing decisions are never made on an older state.
	DecisionVersion int64
	// MFAPending is set for a person's session that has not completed
	// two-factor enrolment: it may only enrol, read itself and log out.
	MFAPending bool
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

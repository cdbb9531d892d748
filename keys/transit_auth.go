package keys

import (
	"context"
	"fmt"

	vault "github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/hashicorp/vault/api/auth/kubernetes"
)

// authMethod returns the login function of the configured auth method. It
// builds the method anew at every login, so a rotated service-account token
// or secret-id file is read again.
func authMethod(opts TransitOptions) (func(context.Context) (vault.AuthMethod, error), error) {
	switch {
	case opts.AppRole != nil:
		a := *opts.AppRole
		if a.RoleID == "" || (a.SecretID == "") == (a.SecretIDFile == "") {
			return nil, fmt.Errorf("keys: vault AppRole auth needs a role id and exactly one of a secret id and a secret-id file")
		}
		mount := a.Mount
		if mount == "" {
			mount = "approle"
		}
		return func(context.Context) (vault.AuthMethod, error) {
			return approle.NewAppRoleAuth(a.RoleID, &approle.SecretID{FromString: a.SecretID, FromFile: a.SecretIDFile},
				approle.WithMountPath(mount))
		}, nil
	case opts.Kubernetes != nil:
		k := *opts.Kubernetes
		if k.Role == "" {
			return nil, fmt.Errorf("keys: vault Kubernetes auth needs a role")
		}
		mount, path := k.Mount, k.TokenPath
		if mount == "" {
			mount = "kubernetes"
		}
		if path == "" {
			path = "/var/run/secrets/kubernetes.io/serviceaccount/token"
		}
		return func(context.Context) (vault.AuthMethod, error) {
			return kubernetes.NewKubernetesAuth(k.Role, kubernetes.WithServiceAccountTokenPath(path), kubernetes.WithMountPath(mount))
		}, nil
	}
	return nil, fmt.Errorf("keys: no vault auth method configured")
}

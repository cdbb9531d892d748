package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/verwerker/verwerker/keys"
)

// openKeyring opens the keyring records are sealed with: Vault Transit when
// VAULT_ADDR is set (token, AppRole or Kubernetes auth from the environment,
// as documented in the README), otherwise the local keyring (development
// only) at VERWERKER_KEYRING_FILE, by default next to the subject reference
// key. The returned function closes it.
func openKeyring(ctx context.Context, cfg *Config, logger *slog.Logger) (keys.Keyring, func(), error) {
	if addr := os.Getenv("VAULT_ADDR"); addr != "" {
		opts := keys.TransitOptions{Address: addr, Token: os.Getenv("VAULT_TOKEN"), Mount: os.Getenv("VERWERKER_VAULT_TRANSIT_MOUNT"), Logger: logger}
		if role := os.Getenv("VERWERKER_VAULT_ROLE_ID"); role != "" {
			opts.Token = ""
			opts.AppRole = &keys.AppRoleLogin{RoleID: role, SecretID: os.Getenv("VERWERKER_VAULT_SECRET_ID"), SecretIDFile: os.Getenv("VERWERKER_VAULT_SECRET_ID_FILE")}
		} else if role := os.Getenv("VERWERKER_VAULT_K8S_ROLE"); role != "" {
			opts.Token = ""
			opts.Kubernetes = &keys.KubernetesLogin{Role: role}
		}
		t, err := keys.NewTransit(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		return t, t.Close, nil
	}
	path := os.Getenv("VERWERKER_KEYRING_FILE")
	if path == "" {
		path = filepath.Join(filepath.Dir(subjectKeyFile(cfg)), "keyring.key")
	}
	l, err := keys.OpenLocalKeyring(path, logger)
	if err != nil {
		return nil, nil, err
	}
	return l, func() {}, nil
}

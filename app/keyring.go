package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/verwerker/verwerker/keys"
)

// openKeyring returns Vault Transit when VAULT_ADDR is set, logging in with
// exactly one of a token, AppRole or Kubernetes; otherwise the local
// keyring, which logs that it is not for production.
func openKeyring(ctx context.Context, cfg Config, logger *slog.Logger) (keys.Keyring, func(), error) {
	if cfg.VaultAddr == "" {
		file := cfg.KeyringFile
		if file == "" {
			file = DefaultKeyringFile
		}
		ring, err := keys.OpenLocalKeyring(file, logger)
		if err != nil {
			return nil, nil, fmt.Errorf("VERWERKER_KEYRING_FILE: %w", err)
		}
		return ring, ring.Close, nil
	}
	opts := keys.TransitOptions{Address: cfg.VaultAddr, Mount: cfg.VaultMount, Logger: logger}
	methods := 0
	if cfg.VaultToken != "" {
		opts.Token = cfg.VaultToken
		methods++
	}
	if cfg.VaultRoleID != "" {
		opts.AppRole = &keys.AppRoleLogin{RoleID: cfg.VaultRoleID, SecretID: cfg.VaultSecretID, SecretIDFile: cfg.VaultSecretIDFile}
		methods++
	}
	if cfg.VaultK8sRole != "" {
		opts.Kubernetes = &keys.KubernetesLogin{Role: cfg.VaultK8sRole}
		methods++
	}
	if methods != 1 {
		return nil, nil, fmt.Errorf("VAULT_ADDR is set: set exactly one of VAULT_TOKEN, VERWERKER_VAULT_ROLE_ID (with a secret id) or VERWERKER_VAULT_K8S_ROLE")
	}
	ring, err := keys.NewTransit(ctx, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("vault: %w", err)
	}
	logger.Info("tenant keys in Vault Transit", "mount", cfg.VaultMount)
	return ring, ring.Close, nil
}

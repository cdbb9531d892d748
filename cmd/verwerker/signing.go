package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/app"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/keys"
)

// defaultSigningKeyFile is where serve keeps the local audit signing key
// when VERWERKER_SIGNING_KEY_FILE is empty, relative to the working
// directory. dev with a throwaway cluster keeps it in the cluster's
// directory instead, and throws it away with the cluster.
const defaultSigningKeyFile = ".verwerker/audit-signing.key"

func signingKeyFile(cfg *Config) string {
	if cfg.SigningKeyFile != "" {
		return cfg.SigningKeyFile
	}
	return defaultSigningKeyFile
}

// startSigning loads the local signing key, creating it when missing, makes
// log trust it and returns a checkpointer that signs with it.
func startSigning(cfg *Config, logger *slog.Logger, a *app.App) (*audit.Checkpointer, error) {
	path := signingKeyFile(cfg)
	signer, created, err := keys.LoadOrCreateLocalSigner(path)
	if err != nil {
		return nil, fmt.Errorf("VERWERKER_SIGNING_KEY_FILE: %w", err)
	}
	if err := trust(a.Audit, signer); err != nil {
		return nil, err
	}
	logger.Warn("audit checkpoints are signed with a local Ed25519 key file, which is not for production: "+
		"every replica must use the same file and it must be kept as long as the audit trail; Vault Transit replaces it",
		"key_id", signer.KeyID(), "file", path, "created", created, "interval", cfg.CheckpointInterval.String())
	return audit.NewCheckpointer(a.DB, verwerker.SystemClock{}, signer), nil
}

// trust makes log trust signer's public key.
func trust(log *audit.Log, signer keys.Signer) error {
	ks, err := keys.NewKeySet(keys.PublicKeyOf(signer))
	if err != nil {
		return err
	}
	log.SetKeys(ks)
	return nil
}

// loadVerificationKeys makes log trust the signing key at the configured
// file, if there is one. Without it, checkpoints cannot be checked and a
// chain with checkpoints does not verify.
func loadVerificationKeys(cfg *Config, log *audit.Log, stderr io.Writer) error {
	path := signingKeyFile(cfg)
	signer, err := keys.LoadLocalSigner(path)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "verwerker: no signing key at %s (VERWERKER_SIGNING_KEY_FILE): checkpoint signatures cannot be checked\n", path)
		return nil
	}
	if err != nil {
		return fmt.Errorf("VERWERKER_SIGNING_KEY_FILE: %w", err)
	}
	return trust(log, signer)
}

// runCheckpoints runs cp every interval in the background; the function it
// returns stops it and waits until it has stopped.
func runCheckpoints(ctx context.Context, cp *audit.Checkpointer, interval time.Duration, logger *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		cp.Run(ctx, interval, logger)
	}()
	return func() {
		cancel()
		<-done
	}
}

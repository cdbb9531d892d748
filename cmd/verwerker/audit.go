package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/keys"
)

// auditVerify verifies the chain of tenantID, or every chain when it is
// empty, and prints a JSON report per chain. It fails when any chain does
// not verify.
func auditVerify(ctx context.Context, cfg *Config, tenantID string, stdout, stderr io.Writer) error {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	log := audit.NewLog(db, verwerker.SystemClock{})
	defer log.Close()
	if err := loadVerificationKeys(cfg, log, stderr); err != nil {
		return err
	}
	chains := []string{tenantID}
	if tenantID == "" {
		if chains, err = log.Chains(ctx); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(stdout)
	failed := 0
	for _, c := range chains {
		r, err := log.Verify(ctx, c)
		if err != nil {
			return err
		}
		if !r.OK {
			failed++
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d audit chains do not verify", failed, len(chains))
	}
	return nil
}

// auditCheckpoint signs a checkpoint of every chain whose head moved, with
// the existing key file: creating a key here would sign with a key the
// server does not trust.
func auditCheckpoint(ctx context.Context, cfg *Config, stdout, _ io.Writer) error {
	path := signingKeyFile(cfg)
	signer, err := keys.LoadLocalSigner(path)
	if err != nil {
		return fmt.Errorf("VERWERKER_SIGNING_KEY_FILE: %w (the server creates the key on its first start)", err)
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := audit.NewCheckpointer(db, verwerker.SystemClock{}, signer).Checkpoint(ctx)
	fmt.Fprintf(stdout, "signed %d checkpoints with key %s\n", n, signer.KeyID())
	return err
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/subprocessor"
)

// policyExportCommand defines the flag of policy export and returns the
// command, which writes the decision policy and the data document of every
// tenant's current decision state into a directory for an OPA server.
func policyExportCommand(fs *flag.FlagSet) func(context.Context, *Config, io.Writer, io.Writer) error {
	dir := fs.String("dir", "", "write decision.rego and data.json into `DIR` (created if missing; required)")
	return func(ctx context.Context, cfg *Config, stdout, _ io.Writer) error {
		if *dir == "" {
			return errors.New("usage: verwerker policy export -dir DIR [flags]")
		}
		return policyExport(ctx, cfg, *dir, stdout)
	}
}

// policyExport writes the decision policy and the data document of every
// tenant's current decision state into dir.
func policyExport(ctx context.Context, cfg *Config, dir string, stdout io.Writer) error {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	states, err := dpa.NewService(db, verwerker.SystemClock{}, nil, subprocessor.Lists{}).DecisionStates(ctx)
	if err != nil {
		return err
	}
	if err := policy.WriteExport(dir, dpa.PolicyTaxonomy(), states); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote the decision policy and the state of %d tenants to %s; serve it with: opa run -s %s\n", len(states), dir, dir)
	return nil
}

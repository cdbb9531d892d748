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
)

// policyExport writes the decision policy and the data document of every
// tenant's current decision state into a directory for an OPA server.
func policyExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verwerker policy export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory to write decision.rego and data.json into (created if missing)")
	var rest []string
	// -dir may stand among the configuration flags.
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-dir" || a == "--dir":
			if i+1 == len(args) {
				return errors.New("-dir needs a directory")
			}
			*dir = args[i+1]
			i++
		case len(a) > 5 && (a[:5] == "-dir=" || (len(a) > 6 && a[:6] == "--dir=")):
			_ = fs.Parse([]string{a})
		default:
			rest = append(rest, a)
		}
	}
	if *dir == "" {
		return errors.New("usage: verwerker policy export -dir DIR")
	}
	cfg, extra, err := parseConfig("verwerker policy export", rest, stderr)
	if err != nil {
		return err
	}
	if len(extra) > 0 {
		return fmt.Errorf("unexpected arguments: %q", extra)
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	states, err := dpa.NewService(db, verwerker.SystemClock{}, nil).DecisionStates(ctx)
	if err != nil {
		return err
	}
	if err := policy.WriteExport(*dir, dpa.PolicyTaxonomy(), states); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote the decision policy and the state of %d tenants to %s; serve it with: opa run -s %s\n", len(states), *dir, *dir)
	return nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/policy"
)

// bootstrapCommand defines the flags of bootstrap and returns the command,
// which creates the first platform admin of a new installation and prints
// the one-time set-up token; everyone else is created through the API by
// that admin.
func bootstrapCommand(fs *flag.FlagSet) func(context.Context, *Config, io.Writer, io.Writer) error {
	email := fs.String("email", "", "e-mail `address` of the platform admin (required)")
	name := fs.String("name", "", "display `name` of the platform admin (required)")
	return func(ctx context.Context, cfg *Config, stdout, _ io.Writer) error {
		if *email == "" || *name == "" {
			return errors.New("usage: verwerker bootstrap -email ADDRESS -name NAME [flags]")
		}
		return bootstrap(ctx, cfg, *email, *name, stdout)
	}
}

// bootstrap creates the platform admin and prints its set-up token.
func bootstrap(ctx context.Context, cfg *Config, email, name string, stdout io.Writer) error {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	clock := verwerker.SystemClock{}
	log := audit.NewLog(db, clock)
	defer log.Close()
	u, token, err := identity.NewPeople(db, clock, log).Create(ctx, identity.NewUser{Email: email, DisplayName: name, Role: policy.RolePlatformAdmin, Domain: verwerker.PlatformDomain})
	if err != nil {
		return fmt.Errorf("%s", verwerker.ErrorMessage(err)+fieldsText(err))
	}
	fmt.Fprintf(stdout, "platform admin %s created.\nSet-up token (shown once, valid 72 hours):\n  %s\nChoose a password: POST /v1/auth/setup {\"token\": ..., \"password\": ...}; then sign in and enrol TOTP.\n", u.ID, token)
	return nil
}

func fieldsText(err error) string {
	var b strings.Builder
	for _, f := range verwerker.ErrorFields(err) {
		fmt.Fprintf(&b, "; %s %s", f.Field, f.Message)
	}
	return b.String()
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/policy"
)

// bootstrap creates the first platform admin of a new installation and
// prints the one-time set-up token; everyone else is created through the
// API by that admin.
func bootstrap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var email, name string
	var rest []string
	for i := 0; i < len(args); i++ {
		flag, val, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if flag != "email" && flag != "name" {
			rest = append(rest, args[i])
			continue
		}
		if !hasVal {
			if i+1 == len(args) {
				return fmt.Errorf("-%s needs a value", flag)
			}
			val = args[i+1]
			i++
		}
		if flag == "email" {
			email = val
		} else {
			name = val
		}
	}
	if email == "" || name == "" {
		return errors.New("usage: verwerker bootstrap -email ADDRESS -name NAME [flags]")
	}
	cfg, _, err := parseConfig("verwerker bootstrap", rest, stderr)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	a, err := newApp(ctx, db, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer a.Close()
	u, token, err := a.people.Create(ctx, identity.NewUser{Email: email, DisplayName: name, Role: policy.RolePlatformAdmin, Domain: verwerker.PlatformDomain})
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

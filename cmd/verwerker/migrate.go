package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
)

// migrate applies the pending migrations and prints the schema version.
func migrate(ctx context.Context, cfg *Config, logger *slog.Logger, stdout io.Writer) error {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := db.Migrate(ctx, logger)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database schema at version %d\n", v)
	return nil
}

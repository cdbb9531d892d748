package store

import (
	"context"
	"fmt"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// RiverSchemaVersion returns the version of River's own schema (the job
// queue tables river_job, river_queue, ...) that Migrate brings the database
// to: the newest migration of the River module in go.mod.
func RiverSchemaVersion() int {
	migrator, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	if err != nil {
		panic(err)
	}
	all := migrator.AllVersions()
	return all[len(all)-1].Version
}

// migrateRiver applies River's migrations up to RiverSchemaVersion(), so
// that `verwerker migrate` stays the one command that prepares the database.
// Each River migration runs in its own transaction (one adds an enum value,
// which Postgres does not allow to be used in the same transaction), while a
// session holds the migration advisory lock, so replicas starting together
// apply each one once. The tables are created by the migrating role, so the
// default privileges of migration 00005 let tenant transactions insert jobs.
func (db *DB) migrateRiver(ctx context.Context) error {
	migrator, err := rivermigrate.New(riverpgxv5.New(db.Pool), nil)
	if err != nil {
		return fmt.Errorf("store: river migrator: %w", err)
	}
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: river migrations: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLockID)); err != nil {
		return fmt.Errorf("store: river migrations: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLockID))
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("store: river migrations: %w", err)
	}
	return nil
}

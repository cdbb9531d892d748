package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/verwerker/verwerker"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockID is the Postgres advisory lock taken while migrating, so
// that replicas starting together apply each migration exactly once.
const migrationLockID = 0x7665727765726b // "verwerk"

// Migrations returns the embedded migration files.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}

func (db *DB) provider(logger *slog.Logger) (*goose.Provider, *sql.DB, error) {
	sqlDB := stdlib.OpenDBFromPool(db.Pool)
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 600))
	if err != nil {
		sqlDB.Close()
		return nil, nil, err
	}
	opts := []goose.ProviderOption{goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true)}
	if logger != nil {
		opts = append(opts, goose.WithSlog(logger))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, Migrations(), opts...)
	if err != nil {
		sqlDB.Close()
		return nil, nil, err
	}
	return p, sqlDB, nil
}

// Migrate applies every pending migration under an advisory lock, then
// River's job-queue migrations (see RiverSchemaVersion), and returns the
// resulting schema version. Running it again is a no-op, and running it
// from several processes at once applies each migration once.
func (db *DB) Migrate(ctx context.Context, logger *slog.Logger) (int64, error) {
	p, sqlDB, err := db.provider(logger)
	if err != nil {
		return 0, fmt.Errorf("store: migrate: %w", err)
	}
	defer sqlDB.Close()
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("store: migrate: %w", mapError(err))
	}
	if err := db.migrateRiver(ctx); err != nil {
		return 0, mapError(err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: migrate: version: %w", mapError(err))
	}
	return v, nil
}

// SchemaVersion returns the applied and the embedded (target) schema versions.
// The database is current when they are equal.
func (db *DB) SchemaVersion(ctx context.Context) (current, target int64, err error) {
	p, sqlDB, err := db.provider(nil)
	if err != nil {
		return 0, 0, fmt.Errorf("store: schema version: %w", err)
	}
	defer sqlDB.Close()
	current, target, err = p.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("store: schema version: %w", mapError(err))
	}
	return current, target, nil
}

// Ready reports an EUNAVAILABLE error unless the database answers and every
// embedded migration has been applied.
func (db *DB) Ready(ctx context.Context) error {
	if err := db.Ping(ctx); err != nil {
		return err
	}
	cur, target, err := db.SchemaVersion(ctx)
	if err != nil {
		return &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "schema version unknown", Err: err}
	}
	if cur != target {
		return verwerker.Errorf(verwerker.EUNAVAILABLE, "schema at version %d, want %d", cur, target)
	}
	return nil
}

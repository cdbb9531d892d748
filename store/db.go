package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/verwerker/verwerker"
)

// DB is a pool of connections to verwerker's database.
type DB struct {
	// Pool is the underlying pgx pool. Domain packages run their queries on it
	// or, for writes, inside InTx.
	Pool *pgxpool.Pool
}

// Options tune the pool. The zero value is usable.
type Options struct {
	// MaxConns caps the pool size; 0 keeps pgx's default (max(4, cores)).
	MaxConns int32
	// ApplicationName is reported to Postgres in pg_stat_activity.
	ApplicationName string
}

// Open connects to the database at url and checks that it answers.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included: never pass it on.
		return nil, verwerker.Errorf(verwerker.EINVALID, "store: DATABASE_URL is not a valid PostgreSQL connection string")
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	name := opts.ApplicationName
	if name == "" {
		name = "verwerker"
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = name
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "database unavailable", Err: fmt.Errorf("store: ping: %w", err)}
	}
	return &DB{Pool: pool}, nil
}

// Close closes all connections.
func (db *DB) Close() { db.Pool.Close() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.Pool.Ping(ctx); err != nil {
		return &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "database unavailable", Err: err}
	}
	return nil
}

// InTx runs fn in a transaction and commits it if fn returns nil; otherwise
// it rolls back and returns fn's error. A serialization failure or deadlock
// is retried a few times, so fn must not have side effects outside the
// transaction (write to the outbox table instead).
func (db *DB) InTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	const attempts = 3
	var err error
	for range attempts {
		err = pgx.BeginFunc(ctx, db.Pool, fn)
		if !retryable(err) {
			break
		}
	}
	return mapError(err)
}

// AppRole is the database role tenant-scoped transactions run as; row-level
// security policies limit it to one tenant's rows.
const AppRole = "verwerker_app"

// InTenantTx is InTx behind the second wall: the transaction runs as
// AppRole with its tenant scope set to tenant, so Postgres row-level
// security hides and refuses every other tenant's rows in the tenant-keyed
// tables, whatever the SQL in fn says. The scope "*" reaches every tenant.
func (db *DB) InTenantTx(ctx context.Context, tenant string, fn func(tx pgx.Tx) error) error {
	if tenant == "" {
		return verwerker.Internal("store: tenant transaction", errors.New("no tenant scope"))
	}
	return db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('role', $1, true), set_config('verwerker.tenant', $2, true)`, AppRole, tenant); err != nil {
			return err
		}
		return fn(tx)
	})
}

// retryable reports whether err is a transient conflict worth a retry.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// mapError turns connection failures into EUNAVAILABLE and leaves other
// errors as they are.
func mapError(err error) error {
	if err == nil || verwerker.ErrorCode(err) != verwerker.EINTERNAL {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return err
	}
	if pgconn.SafeToRetry(err) || errors.Is(err, context.DeadlineExceeded) || isConnError(err) {
		return &verwerker.Error{Code: verwerker.EUNAVAILABLE, Message: "database unavailable", Err: err}
	}
	return err
}

func isConnError(err error) bool {
	var connErr *pgconn.ConnectError
	return errors.As(err, &connErr)
}

// IsUniqueViolation reports whether err is a unique-constraint violation,
// optionally of the named constraint.
func IsUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && (constraint == "" || pgErr.ConstraintName == constraint)
}

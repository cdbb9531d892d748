// Package storetest gives tests their own fresh, migrated PostgreSQL
// database in a few tens of milliseconds: the migrations are applied once to
// a template database, and each test database is a copy of it.
//
// The server comes from VERWERKER_TEST_DATABASE_URL (or DATABASE_URL), which
// `make test` sets after making sure PostgreSQL is installed and running.
// The role must be allowed to create databases.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker/store"
)

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// ServerURL returns the URL of the test server's maintenance database, or
// fails the test with instructions when none is configured.
func ServerURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("VERWERKER_TEST_DATABASE_URL")
	if u == "" {
		u = os.Getenv("DATABASE_URL")
	}
	if u == "" {
		tb.Fatal("storetest: set VERWERKER_TEST_DATABASE_URL to a PostgreSQL server URL (run `make test`, which does it for you)")
	}
	return u
}

// New returns a connection pool to a new database holding the current
// schema. The database is dropped when the test ends.
func New(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), NewURL(tb), store.Options{MaxConns: 20})
	if err != nil {
		tb.Fatalf("storetest: open: %v", err)
	}
	tb.Cleanup(db.Close)
	return db
}

// NewURL creates a new database holding the current schema and returns its
// URL. The database is dropped when the test ends.
func NewURL(tb testing.TB) string {
	tb.Helper()
	server := ServerURL(tb)
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(server) })
	if templateErr != nil {
		tb.Fatalf("storetest: template: %v", templateErr)
	}
	return create(tb, server, templateName)
}

// NewEmptyURL creates a new database without any schema and returns its URL,
// for tests of the migrations themselves.
func NewEmptyURL(tb testing.TB) string {
	tb.Helper()
	return create(tb, ServerURL(tb), "template0")
}

func create(tb testing.TB, server, template string) string {
	tb.Helper()
	ctx := context.Background()
	name := "verwerker_test_" + randomHex(6)
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		tb.Fatalf("storetest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s",
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{template}.Sanitize())); err != nil {
		tb.Fatalf("storetest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			tb.Errorf("storetest: drop: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("storetest: drop database: %v", err)
		}
	})
	return withDatabase(server, name)
}

// ensureTemplate makes sure a template database with the current migrations
// exists. Its name carries a hash of the migration files, so a changed
// migration gets a new template. Test binaries of several packages run at
// once, so the work happens under an advisory lock.
func ensureTemplate(server string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	name := "verwerker_tpl_" + migrationsHash()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7426001)"); err != nil {
		return "", err
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock(7426001)")

	var isTemplate *bool
	err = conn.QueryRow(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", name).Scan(&isTemplate)
	switch {
	case err == nil && isTemplate != nil && *isTemplate:
		return name, nil
	case err == nil: // left half-built by a crashed run
		if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return "", err
		}
	case err != pgx.ErrNoRows:
		return "", err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0"); err != nil {
		return "", err
	}
	db, err := store.Open(ctx, withDatabase(server, name), store.Options{MaxConns: 2})
	if err != nil {
		return "", err
	}
	_, err = db.Migrate(ctx, nil)
	db.Close()
	if err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" IS_TEMPLATE true"); err != nil {
		return "", err
	}
	return name, nil
}

func migrationsHash() string {
	h := sha256.New()
	_ = fs.WalkDir(store.Migrations(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(store.Migrations(), path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	fmt.Fprintf(h, "river\x00%d", store.RiverSchemaVersion())
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// withDatabase returns server with its database replaced by name. Both URL
// and keyword/value forms are understood.
func withDatabase(server, name string) string {
	u, err := url.Parse(server)
	if err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String()
	}
	return server + " dbname=" + name
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

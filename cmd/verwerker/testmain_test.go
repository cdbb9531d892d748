package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestMain keeps the tests' local subject key and keyring out of the
// source tree.
//
// With VERWERKER_TEST_RUN_MAIN=1 the test binary is the verwerker command
// instead: tests run it as a process to see its exit status.
func TestMain(m *testing.M) {
	if os.Getenv("VERWERKER_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "verwerker-cmd-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("VERWERKER_SUBJECT_KEY_FILE", filepath.Join(dir, "subject-ref.key"))
	os.Setenv("VERWERKER_KEYRING_FILE", filepath.Join(dir, "keyring.key"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// served is what startServe returns: the running application, its address,
// what the seed made and where serve's result arrives once ctx ends.
type served[T any] struct {
	a    *running
	addr string
	seed T
	done <-chan error
}

// startServe runs `verwerker serve` with cfg until ctx ends and returns once
// it listens, after seed ran on the running application.
func startServe[T any](t *testing.T, ctx context.Context, cfg *Config, seed func(a *running) (T, error)) served[T] {
	t.Helper()
	ready := make(chan served[T], 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), func(a *running, addr string) error {
			v, err := seed(a)
			if err != nil {
				return err
			}
			ready <- served[T]{a, addr, v, done}
			return nil
		})
	}()
	select {
	case s := <-ready:
		return s
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not start")
	}
	return served[T]{}
}

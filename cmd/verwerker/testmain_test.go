package main

import (
	"os"
	"path/filepath"
	"testing"
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

package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain keeps the tests' local subject key and keyring out of the
// source tree.
func TestMain(m *testing.M) {
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

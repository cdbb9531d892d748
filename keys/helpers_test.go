package keys_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// testVault reports whether a test Vault is configured (make test always
// configures one).
func testVault() bool {
	return os.Getenv("VERWERKER_TEST_VAULT_ADDR") != "" && os.Getenv("VERWERKER_TEST_VAULT_TOKEN") != ""
}

func requireMode(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, mode, st.Mode().Perm(), path)
}

func requireSize(t *testing.T, path string, size int64) {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, size, st.Size(), path)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	require.NoError(t, os.WriteFile(to, readFile(t, from), 0o600))
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	require.NoError(t, os.Chmod(path, mode))
}

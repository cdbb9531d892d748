// Package vaulttest connects tests to a real HashiCorp Vault: the shared dev
// server `make test` starts (deploy/vault.sh env), or a private server a
// test starts, stops and restarts itself.
//
// The shared server comes from VERWERKER_TEST_VAULT_ADDR and
// VERWERKER_TEST_VAULT_TOKEN (a root token, used only to administer the
// test: making credentials and checking what exists). Tests act as
// verwerker does, with a token of the "verwerker" policy obtained through
// AppRole, so they prove the policy too. Without the variables the tests
// that need Vault are skipped; `make test` always sets them.
package vaulttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/verwerker/verwerker/keys"
)

// Server is a Vault the test may administer.
type Server struct {
	// Addr is the server's address, http://host:port.
	Addr string
	// RootToken administers the server; tests never give it to verwerker.
	RootToken string
}

// Shared returns the shared test Vault; the test fails when none is
// configured (tests never skip: make test starts one).
func Shared(tb testing.TB) *Server {
	tb.Helper()
	addr, token := os.Getenv("VERWERKER_TEST_VAULT_ADDR"), os.Getenv("VERWERKER_TEST_VAULT_TOKEN")
	if addr == "" || token == "" {
		tb.Fatal("vaulttest: VERWERKER_TEST_VAULT_ADDR and VERWERKER_TEST_VAULT_TOKEN are not set; " +
			"run `make test` (or eval \"$(deploy/vault.sh env)\") to test against a real Vault")
	}
	return &Server{Addr: addr, RootToken: token}
}

// Admin returns a client with the root token.
func (s *Server) Admin(tb testing.TB) *vault.Client {
	tb.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = s.Addr
	cfg.MaxRetries = 0
	cfg.Timeout = 10 * time.Second
	c, err := vault.NewClient(cfg)
	if err != nil {
		tb.Fatalf("vaulttest: client: %v", err)
	}
	c.SetToken(s.RootToken)
	return c
}

// AppRole returns the role id of the role "verwerker" and a new secret id
// for it.
func (s *Server) AppRole(tb testing.TB) *keys.AppRoleLogin {
	tb.Helper()
	return s.AppRoleOf(tb, "verwerker")
}

// AppRoleOf returns the role id of an AppRole role and a new secret id.
func (s *Server) AppRoleOf(tb testing.TB, role string) *keys.AppRoleLogin {
	tb.Helper()
	admin := s.Admin(tb)
	r, err := admin.Logical().Read("auth/approle/role/" + role + "/role-id")
	if err != nil || r == nil {
		tb.Fatalf("vaulttest: read role id of %s (is the server bootstrapped? deploy/vault.sh bootstrap): %v", role, err)
	}
	sec, err := admin.Logical().Write("auth/approle/role/"+role+"/secret-id", nil)
	if err != nil || sec == nil {
		tb.Fatalf("vaulttest: new secret id: %v", err)
	}
	return &keys.AppRoleLogin{RoleID: r.Data["role_id"].(string), SecretID: sec.Data["secret_id"].(string)}
}

// Transit returns verwerker's keyring on this server, logged in through
// AppRole with the "verwerker" policy unless opts says otherwise. It is
// closed when the test ends.
func (s *Server) Transit(tb testing.TB, opts keys.TransitOptions) *keys.Transit {
	tb.Helper()
	opts.Address = s.Addr
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Token == "" && opts.AppRole == nil && opts.Kubernetes == nil {
		opts.AppRole = s.AppRole(tb)
	}
	t, err := keys.NewTransit(context.Background(), opts)
	if err != nil {
		tb.Fatalf("vaulttest: transit: %v", err)
	}
	tb.Cleanup(t.Close)
	return t
}

// Client returns a plain Vault client logged in through AppRole with login
// (verwerker's policy for AppRole(tb)), for requests verwerker's keyring
// does not make.
func (s *Server) Client(tb testing.TB, login *keys.AppRoleLogin) *vault.Client {
	tb.Helper()
	c := s.Admin(tb)
	c.ClearToken()
	sec, err := c.Logical().Write("auth/approle/login", map[string]any{"role_id": login.RoleID, "secret_id": login.SecretID})
	if err != nil || sec == nil || sec.Auth == nil {
		tb.Fatalf("vaulttest: approle login: %v", err)
	}
	c.SetToken(sec.Auth.ClientToken)
	return c
}

// KeyExists reports, as the administrator, whether a transit key exists.
func (s *Server) KeyExists(tb testing.TB, name string) bool {
	tb.Helper()
	r, err := s.Admin(tb).Logical().Read("transit/keys/" + name)
	if err != nil {
		tb.Fatalf("vaulttest: read key: %v", err)
	}
	return r != nil
}

// Name returns a fresh key name inside verwerker's policy.
func Name(tb testing.TB) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "verwerker-test-" + hex.EncodeToString(b)
}

// Process is a private Vault server of one test, with file storage, so it
// keeps its keys across Stop and Start. It is initialised with one unseal
// key and bootstrapped with deploy/vault.sh bootstrap.
type Process struct {
	Server
	bin, dir, config string
	unsealKey        string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start builds nothing: it runs the vault binary from VERWERKER_TEST_VAULT_BIN
// (set by deploy/vault.sh env) on a free local port, initialises, unseals
// and bootstraps it, and stops it when the test ends.
func Start(tb testing.TB) *Process {
	tb.Helper()
	Shared(tb) // skip like the others without a test Vault
	bin := os.Getenv("VERWERKER_TEST_VAULT_BIN")
	if bin == "" {
		tb.Fatal("vaulttest: VERWERKER_TEST_VAULT_BIN is not set (deploy/vault.sh env sets it)")
	}
	dir := tb.TempDir()
	port := freePort(tb)
	p := &Process{bin: bin, dir: dir, config: filepath.Join(dir, "vault.hcl")}
	p.Addr = "http://127.0.0.1:" + strconv.Itoa(port)
	conf := fmt.Sprintf(`storage "file" { path = %q }
listener "tcp" {
  address     = "127.0.0.1:%d"
  tls_disable = true
}
disable_mlock = true
api_addr      = %q
`, filepath.Join(dir, "data"), port, p.Addr)
	if err := os.WriteFile(p.config, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	p.StartAgain(tb)
	tb.Cleanup(func() { p.Stop(tb) })

	c := p.client(tb, "")
	init, err := c.Sys().Init(&vault.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		tb.Fatalf("vaulttest: init: %v", err)
	}
	p.RootToken, p.unsealKey = init.RootToken, init.KeysB64[0]
	p.Unseal(tb)

	script := filepath.Join(repoRoot(tb), "deploy", "vault.sh")
	cmd := exec.Command(script, "bootstrap")
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+p.Addr, "VAULT_TOKEN="+p.RootToken)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("vaulttest: %s bootstrap: %v\n%s", script, err, out)
	}
	return p
}

func (p *Process) client(tb testing.TB, token string) *vault.Client {
	tb.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = p.Addr
	cfg.MaxRetries = 0
	c, err := vault.NewClient(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	c.SetToken(token)
	return c
}

// StartAgain starts the server process (sealed, after a Stop) and waits
// until it answers.
func (p *Process) StartAgain(tb testing.TB) {
	tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	logf, err := os.OpenFile(filepath.Join(p.dir, "vault.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(p.bin, "server", "-config="+p.config)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "HOME="+p.dir)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("vaulttest: start %s: %v", p.bin, err)
	}
	go func() { _ = cmd.Wait(); logf.Close() }()
	p.cmd = cmd
	c := p.client(tb, "")
	for i := 0; ; i++ {
		if _, err := c.Sys().SealStatus(); err == nil {
			return
		}
		if i > 100 {
			tb.Fatalf("vaulttest: vault at %s did not answer; see %s", p.Addr, filepath.Join(p.dir, "vault.log"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Unseal unseals the server.
func (p *Process) Unseal(tb testing.TB) {
	tb.Helper()
	st, err := p.client(tb, "").Sys().Unseal(p.unsealKey)
	if err != nil || st.Sealed {
		tb.Fatalf("vaulttest: unseal: %v", err)
	}
	// Wait until the server is active (unsealed and serving requests).
	c := p.client(tb, p.RootToken)
	for i := 0; ; i++ {
		if _, err := c.Auth().Token().LookupSelf(); err == nil {
			return
		}
		if i > 100 {
			tb.Fatal("vaulttest: vault did not become active after unsealing")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop kills the server process (like a crash) and waits until the port is
// closed.
func (p *Process) Stop(tb testing.TB) {
	tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	p.cmd = nil
	host := p.Addr[len("http://"):]
	for i := 0; i < 100; i++ {
		conn, err := net.DialTimeout("tcp", host, 100*time.Millisecond)
		if err != nil {
			return
		}
		conn.Close()
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatal("vaulttest: vault still answers after kill")
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// repoRoot finds the directory of the main module's go.mod above the
// working directory.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module github.com/verwerker/verwerker\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("vaulttest: cannot find the repository root")
		}
		dir = parent
	}
}

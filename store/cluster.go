package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres is returned by StartCluster when the PostgreSQL server
// binaries cannot be found. Its message says how to install them.
var ErrNoPostgres = errors.New("PostgreSQL server binaries (initdb, postgres) not found on PATH or under /usr/lib/postgresql/*/bin; " +
	"install them with: apt-get install -y postgresql (or set VERWERKER_PG_BIN to the directory holding initdb)")

// Cluster is a throwaway PostgreSQL cluster: created in a temporary
// directory, reachable only through a unix socket inside it, and deleted by
// Stop. It is the embedded default behind `verwerker dev`.
type Cluster struct {
	dir  string
	bin  string
	cred *syscall.Credential
	port int
	cmd  *exec.Cmd
	done chan error
	url  string
}

// ClusterOptions configure StartCluster.
type ClusterOptions struct {
	// BinDir holds initdb and postgres; empty means search PATH and
	// /usr/lib/postgresql/*/bin (newest version first).
	BinDir string
	// Dir is the parent of the cluster's directory; empty means os.TempDir().
	Dir string
	// Database is created in the cluster; empty means "verwerker".
	Database string
	// Loopback makes the server also listen on 127.0.0.1, on a free port,
	// and the URL use it (tests that run pg_dump or restart the server).
	Loopback bool
}

// FindPostgres returns the directory holding initdb and postgres.
func FindPostgres(binDir string) (string, error) {
	if binDir != "" {
		if isExecutable(filepath.Join(binDir, "initdb")) && isExecutable(filepath.Join(binDir, "postgres")) {
			return binDir, nil
		}
		return "", ErrNoPostgres
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if isExecutable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// StartCluster creates and starts a new cluster and a database in it. The
// server runs in its own process group, so a Ctrl-C in the terminal reaches
// verwerker, which then stops it in order; if verwerker dies the kernel
// tells the server to shut down (parent-death signal).
//
// PostgreSQL refuses to run as root. When verwerker runs as root, the
// cluster runs as the "postgres" system user (created by the Debian
// package), which must exist.
func StartCluster(ctx context.Context, opts ClusterOptions) (*Cluster, error) {
	bin, err := FindPostgres(opts.BinDir)
	if err != nil {
		return nil, err
	}
	cred, err := clusterCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(opts.Dir, "verwerker-pg-")
	if err != nil {
		return nil, fmt.Errorf("store: cluster dir: %w", err)
	}
	c := &Cluster{dir: dir, done: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			c.Stop()
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("store: cluster dir: %w", err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("store: initdb: %w: %s", err, lastLines(out, 5))
	}
	c.bin, c.cred = bin, cred
	if opts.Loopback {
		if c.port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if err := c.start(); err != nil {
		return nil, err
	}

	db := opts.Database
	if db == "" {
		db = "verwerker"
	}
	q := url.Values{"host": {dir}, "sslmode": {"disable"}}
	if c.port != 0 {
		q = url.Values{"host": {"127.0.0.1"}, "port": {strconv.Itoa(c.port)}, "sslmode": {"disable"}}
	}
	admin := (&url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/postgres", RawQuery: q.Encode()}).String()
	c.url = (&url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/" + db, RawQuery: q.Encode()}).String()

	conn, err := c.waitReady(ctx, admin)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		return nil, fmt.Errorf("store: create database: %w", err)
	}
	ok = true
	return c, nil
}

// start runs the server on the cluster's data directory.
func (c *Cluster) start() error {
	logFile, err := os.OpenFile(filepath.Join(c.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("store: cluster log: %w", err)
	}
	defer logFile.Close()
	listen := ""
	args := []string{"-D", filepath.Join(c.dir, "data"), "-k", c.dir}
	if c.port != 0 {
		listen = "127.0.0.1"
		args = append(args, "-p", strconv.Itoa(c.port))
	}
	args = append(args, "-c", "listen_addresses="+listen, "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200")
	c.cmd = exec.Command(filepath.Join(c.bin, "postgres"), args...)
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true, Pdeathsig: syscall.SIGINT}
	if err := c.cmd.Start(); err != nil {
		c.cmd = nil
		return fmt.Errorf("store: start postgres: %w", err)
	}
	c.done = make(chan error, 1)
	cmd, done := c.cmd, c.done
	go func() { done <- cmd.Wait() }()
	return nil
}

// StopServer shuts the server down with a fast shutdown (pg_ctl stop -m
// fast: open sessions are ended, transactions in flight roll back), waits
// for it to exit and keeps the data, so StartServer can start it again: the
// database is unavailable meanwhile.
func (c *Cluster) StopServer() error {
	if c.cmd == nil || c.cmd.Process == nil {
		return nil
	}
	var err error
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		err = errors.New("store: postgres did not stop within 30s; killed")
	}
	c.cmd = nil
	return err
}

// Restart stops the server with a fast shutdown, as an operator's restart
// or a failover does (every session ends, transactions in flight roll
// back), starts it again on the same data and address, and waits until it
// accepts connections. Clients reconnect on their own.
func (c *Cluster) Restart(ctx context.Context) error {
	if err := c.StopServer(); err != nil {
		return err
	}
	return c.StartServer(ctx)
}

// StartServer starts a server stopped by StopServer and waits until it
// accepts connections.
func (c *Cluster) StartServer(ctx context.Context) error {
	if c.cmd != nil {
		return errors.New("store: postgres is running")
	}
	if err := c.start(); err != nil {
		return err
	}
	u, err := url.Parse(c.url)
	if err != nil {
		return err
	}
	u.Path = "/postgres"
	conn, err := c.waitReady(ctx, u.String())
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

func (c *Cluster) waitReady(ctx context.Context, admin string) (*pgx.Conn, error) {
	conn, err := c.poll(ctx, admin)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
		return nil, fmt.Errorf("store: postgres did not start: %w: %s", err, lastLines(log, 5))
	}
	return conn, nil
}

func (c *Cluster) poll(ctx context.Context, admin string) (*pgx.Conn, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, admin)
		if err == nil {
			return conn, nil
		}
		select {
		case exitErr := <-c.done:
			c.done <- exitErr
			return nil, fmt.Errorf("server exited: %v", exitErr)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, err
		}
	}
}

// URL returns the connection string of the cluster's database.
func (c *Cluster) URL() string { return c.url }

// Port is the loopback port the server listens on (ClusterOptions.Loopback),
// or 0.
func (c *Cluster) Port() int { return c.port }

// Dir returns the directory holding the cluster's data, socket and log.
func (c *Cluster) Dir() string { return c.dir }

// Stop shuts the server down (fast shutdown: open sessions are ended) and
// deletes the cluster's directory. It waits for the server to exit.
func (c *Cluster) Stop() error {
	err := c.StopServer()
	if rmErr := os.RemoveAll(c.dir); rmErr != nil && err == nil {
		err = fmt.Errorf("store: remove cluster dir: %w", rmErr)
	}
	return err
}

// clusterCredential returns the credential to run PostgreSQL with: nil when
// not root, the "postgres" user when root.
func clusterCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("store: PostgreSQL refuses to run as root and there is no \"postgres\" user; " +
			"install the postgresql package (it creates one) or run verwerker as an unprivileged user")
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// freePort returns a loopback TCP port that is free now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("store: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

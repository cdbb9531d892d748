package store

import (
	"context"
	"errors"
	"fmt"
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
	logFile, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, fmt.Errorf("store: cluster log: %w", err)
	}
	defer logFile.Close()
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-k", dir, "-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200")
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGINT}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("store: start postgres: %w", err)
	}
	go func() { c.done <- c.cmd.Wait() }()

	db := opts.Database
	if db == "" {
		db = "verwerker"
	}
	q := url.Values{"host": {dir}, "sslmode": {"disable"}}
	admin := (&url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/postgres", RawQuery: q.Encode()}).String()
	c.url = (&url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/" + db, RawQuery: q.Encode()}).String()

	conn, err := c.waitReady(ctx, admin)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		return nil, fmt.Errorf("store: postgres did not start: %w: %s", err, lastLines(log, 5))
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		return nil, fmt.Errorf("store: create database: %w", err)
	}
	ok = true
	return c, nil
}

func (c *Cluster) waitReady(ctx context.Context, admin string) (*pgx.Conn, error) {
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

// Dir returns the directory holding the cluster's data, socket and log.
func (c *Cluster) Dir() string { return c.dir }

// Stop shuts the server down (fast shutdown: open sessions are ended) and
// deletes the cluster's directory. It waits for the server to exit.
func (c *Cluster) Stop() error {
	var err error
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
			err = errors.New("store: postgres did not stop within 30s; killed")
		}
		c.cmd = nil
	}
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

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

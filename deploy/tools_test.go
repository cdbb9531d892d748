package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The validators the tests use, installed once into the cache
// (${XDG_CACHE_HOME:-~/.cache}/verwerker), outside the checkout.
const (
	kubeconformModule = "github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0"
	kustomizeModule   = "sigs.k8s.io/kustomize/kustomize/v5@v5.8.1"
	// kubernetesModule ships the Kubernetes API's OpenAPI document
	// (api/openapi-spec/swagger.json), from which the JSON schemas that
	// kubeconform validates against are made offline.
	kubernetesModule = "k8s.io/kubernetes@v1.34.2"
)

var installMu sync.Mutex

// cacheDir is verwerker's directory in the user's cache.
func cacheDir(t *testing.T) string {
	t.Helper()
	dir, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("cache directory: %v", err)
	}
	return filepath.Join(dir, "verwerker")
}

// goTool returns the path of the command built from module@version, built
// with go install into the cache the first time.
func goTool(t *testing.T, name, moduleAtVersion string) string {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	version := moduleAtVersion[strings.LastIndex(moduleAtVersion, "@")+1:]
	dir := filepath.Join(cacheDir(t), "tools", name+"-"+version)
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	t.Logf("installing %s with go install into %s (once)", moduleAtVersion, dir)
	cmd := exec.Command("go", "install", moduleAtVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s: %v\n%s", moduleAtVersion, err, out)
	}
	return bin
}

// moduleDir downloads module@version into the module cache (once) and
// returns its directory.
func moduleDir(t *testing.T, moduleAtVersion string) string {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	cmd := exec.Command("go", "mod", "download", "-json", moduleAtVersion)
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	cmd.Dir = t.TempDir() // outside verwerker's module: no go.mod change
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v\n%s", moduleAtVersion, err, out)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("go mod download %s: %v %s", moduleAtVersion, err, m.Error)
	}
	return m.Dir
}

// promtool returns the path of Prometheus's promtool: the one on the PATH,
// else the one from Debian's prometheus package, fetched with apt-get
// download and unpacked into the cache (not installed: no daemon starts).
func promtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	installMu.Lock()
	defer installMu.Unlock()
	dir := filepath.Join(cacheDir(t), "promtool")
	bin := filepath.Join(dir, "root", "usr", "bin", "promtool")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("fetching Debian's prometheus package for promtool into %s (once)", dir)
	debs, _ := filepath.Glob(filepath.Join(dir, "prometheus_*.deb"))
	if len(debs) == 0 {
		run := func(args ...string) ([]byte, error) {
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Dir = dir
			return cmd.CombinedOutput()
		}
		if _, err := run("apt-get", "download", "prometheus"); err != nil {
			if out, err := run("apt-get", "update"); err != nil {
				t.Fatalf("apt-get update: %v\n%s", err, out)
			}
			if out, err := run("apt-get", "download", "prometheus"); err != nil {
				t.Fatalf("apt-get download prometheus: %v\n%s", err, out)
			}
		}
		debs, _ = filepath.Glob(filepath.Join(dir, "prometheus_*.deb"))
	}
	if len(debs) == 0 {
		t.Fatalf("apt-get download prometheus left no package in %s", dir)
	}
	if out, err := exec.Command("dpkg-deb", "-x", debs[0], filepath.Join(dir, "root")).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	return bin
}

package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// object is one rendered Kubernetes object.
type object = map[string]any

// render builds the kustomization in dir with kustomize.
func render(t *testing.T, dir string) []byte {
	t.Helper()
	out, err := exec.Command(goTool(t, "kustomize", kustomizeModule), "build", dir).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("kustomize build %s: %v\n%s", dir, err, ee.Stderr)
		}
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return out
}

// kubeconform validates manifests against the Kubernetes schemas, strictly
// (no unknown fields, no kind without a schema), and returns its report and
// whether every object is valid.
func kubeconform(t *testing.T, manifests []byte) (string, bool) {
	t.Helper()
	schemas := kubernetesSchemas(t)
	cmd := exec.Command(goTool(t, "kubeconform", kubeconformModule), "-strict", "-summary",
		"-schema-location", filepath.Join(schemas, "{{ .ResourceKind }}{{ .KindSuffix }}.json"), "-")
	cmd.Stdin = bytes.NewReader(manifests)
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("kubeconform: %v", err)
		}
	}
	return string(out), err == nil
}

// decode splits a multi-document YAML stream into objects.
func decode(t *testing.T, b []byte) []object {
	t.Helper()
	var objs []object
	d := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var o object
		if err := d.Decode(&o); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if o != nil {
			objs = append(objs, o)
		}
	}
}

// TestKubernetesManifests renders deploy/k8s and validates every object
// against the Kubernetes 1.34 schemas.
func TestKubernetesManifests(t *testing.T) {
	out, ok := kubeconform(t, render(t, "k8s"))
	if !ok {
		t.Fatalf("deploy/k8s does not validate:\n%s", out)
	}
	t.Log(strings.TrimSpace(out))
}

// TestKubernetesValidatorRejects proves the validation can fail: each
// broken manifest is refused.
func TestKubernetesValidatorRejects(t *testing.T) {
	good := render(t, "k8s")
	for _, c := range []struct{ name, from, to, want string }{
		{"unknown field", "  replicas: 2\n", "  replica: 2\n", "'replica' not allowed"},
		{"wrong type", "  replicas: 2\n", "  replicas: two\n", "got string, want integer"},
		{"missing required field", "  selector:\n    matchLabels:\n      app.kubernetes.io/component: server\n      app.kubernetes.io/name: verwerker\n      app.kubernetes.io/part-of: verwerker\n  strategy:", "  strategy:", "missing property 'selector'"},
		{"unknown kind", "kind: PodDisruptionBudget\n", "kind: PodDisruptionBudgett\n", "could not find schema"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !bytes.Contains(good, []byte(c.from)) {
				t.Fatalf("the rendered manifests no longer contain %q", c.from)
			}
			bad := bytes.Replace(good, []byte(c.from), []byte(c.to), 1)
			out, ok := kubeconform(t, bad)
			if ok {
				t.Fatalf("kubeconform accepted a broken manifest:\n%s", out)
			}
			if !strings.Contains(out, c.want) {
				t.Fatalf("kubeconform refused it, but not for %q:\n%s", c.want, out)
			}
		})
	}
}

// TestKubernetesSecurity checks the properties the operator relies on:
// two replicas that a drain cannot both take, probes on the server's real
// paths, non-root read-only containers, secrets by reference only, Vault's
// Kubernetes login, and metrics apart from the public Service.
func TestKubernetesSecurity(t *testing.T) {
	for _, p := range securityProblems(t, decode(t, render(t, "k8s"))) {
		t.Error(p)
	}
}

// TestKubernetesSecurityRejects proves the security checks can fail: each
// weakened manifest is refused with its reason.
func TestKubernetesSecurityRejects(t *testing.T) {
	good := string(render(t, "k8s"))
	for _, c := range []struct{ name, from, to, want string }{
		{"one replica", "  replicas: 2\n", "  replicas: 1\n", "want at least 2"},
		{"writable root", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "root filesystem is not read-only"},
		{"root allowed", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot is not true"},
		{"capabilities kept", "drop:\n            - ALL", "drop:\n            - NET_RAW", "capabilities not dropped"},
		{"liveness on readyz", "path: /healthz", "path: /readyz", "livenessProbe path"},
		{"metrics on the public Service", "    targetPort: http\n", "    targetPort: metrics\n", "public Service exposes the metrics port"},
		{"literal secret", "        - name: DATABASE_URL\n          valueFrom:\n            secretKeyRef:\n              key: url\n              name: verwerker-database\n",
			"        - name: DATABASE_URL\n          value: postgres://verwerker:secret@db/verwerker\n", "DATABASE_URL is not taken from a secret"},
		{"unknown setting", "VERWERKER_LOG_LEVEL: info", "VERWERKER_LOGLEVEL: info", "verwerker does not read"},
		{"no PodDisruptionBudget", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgetGone", "want one PodDisruptionBudget"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(good, c.from) {
				t.Fatalf("the rendered manifests no longer contain %q", c.from)
			}
			problems := securityProblems(t, decode(t, []byte(strings.Replace(good, c.from, c.to, 1))))
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, c.want) }) {
				t.Fatalf("want a problem with %q, have %q", c.want, problems)
			}
		})
	}
}

// securityProblems lists what is wrong with the rendered objects.
func securityProblems(t *testing.T, objs []object) (problems []string) {
	t.Helper()
	fail := func(format string, args ...any) []string {
		problems = append(problems, fmt.Sprintf(format, args...))
		return problems
	}
	byKind := map[string][]object{}
	for _, o := range objs {
		k := o["kind"].(string)
		byKind[k] = append(byKind[k], o)
		if k == "Secret" {
			fail("the manifests hold a Secret (%v): secrets are created apart and referenced", get(o, "metadata", "name"))
		}
	}
	if len(byKind["Deployment"]) != 1 {
		return fail("want one Deployment, have %d", len(byKind["Deployment"]))
	}
	dep := byKind["Deployment"][0]
	if n, _ := get(dep, "spec", "replicas").(int); n < 2 {
		fail("replicas = %v, want at least 2", get(dep, "spec", "replicas"))
	}
	podLabels := get(dep, "spec", "template", "metadata", "labels").(map[string]any)
	pod := get(dep, "spec", "template", "spec").(map[string]any)

	// Probes on the paths the API serves.
	health, err := os.ReadFile("../api/health.go")
	if err != nil {
		t.Fatal(err)
	}
	containers := list(pod, "containers")
	if len(containers) != 1 {
		return fail("want one container, have %d", len(containers))
	}
	server := containers[0]
	ports := map[string]int{}
	for _, p := range list(server, "ports") {
		ports[p["name"].(string)] = p["containerPort"].(int)
	}
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		if got := get(server, probe, "httpGet", "path"); got != path {
			fail("%s path = %v, want %s", probe, got, path)
		}
		if got := get(server, probe, "httpGet", "port"); got != "http" {
			fail("%s port = %v, want the API port (http)", probe, got)
		}
		if !bytes.Contains(health, []byte(`Path:        "`+path+`"`)) {
			fail("api/health.go serves no %s", path)
		}
	}

	// Non-root, read-only, no capabilities, seccomp: pod and every container.
	if get(pod, "securityContext", "runAsNonRoot") != true {
		fail("pod securityContext.runAsNonRoot is not true")
	}
	if uid, _ := get(pod, "securityContext", "runAsUser").(int); uid == 0 {
		fail("pod runs as root (runAsUser 0 or unset)")
	}
	if get(pod, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
		fail("pod seccompProfile is not RuntimeDefault")
	}
	all := append(list(pod, "initContainers"), containers...)
	for _, c := range all {
		name := c["name"]
		if get(c, "securityContext", "readOnlyRootFilesystem") != true {
			fail("container %v: root filesystem is not read-only", name)
		}
		if get(c, "securityContext", "allowPrivilegeEscalation") != false {
			fail("container %v: privilege escalation not forbidden", name)
		}
		if drop, _ := get(c, "securityContext", "capabilities", "drop").([]any); !slices.Contains(drop, any("ALL")) {
			fail("container %v: capabilities not dropped (drop: %v)", name, drop)
		}
		for _, r := range []string{"requests", "limits"} {
			if get(c, "resources", r, "memory") == nil {
				fail("container %v: no memory %s", name, r)
			}
		}
		// Secrets by reference: no literal value of a secret setting.
		for _, e := range list(c, "env") {
			if n := e["name"].(string); (n == "DATABASE_URL" || n == "SMTP_URL" || strings.HasPrefix(n, "VAULT_TOKEN")) &&
				get(e, "valueFrom", "secretKeyRef", "name") == nil {
				fail("container %v: %s is not taken from a secret", name, n)
			}
		}
	}
	if init := list(pod, "initContainers"); len(init) == 0 || !slices.Contains(get(init[0], "args").([]any), any("migrate")) {
		fail("no init container runs verwerker migrate")
	}

	// The ConfigMap: known settings only, the listeners on the container's
	// ports, Vault's Kubernetes login, no secret in it.
	if len(byKind["ConfigMap"]) != 1 {
		return fail("want one ConfigMap, have %d", len(byKind["ConfigMap"]))
	}
	cfg := get(byKind["ConfigMap"][0], "data").(map[string]any)
	known := settings(t)
	for k := range cfg {
		if !known[k] {
			fail("ConfigMap sets %s, which verwerker does not read (cmd/verwerker/config.go)", k)
		}
		if k == "DATABASE_URL" || k == "SMTP_URL" || k == "VAULT_TOKEN" || strings.Contains(k, "SECRET") {
			fail("ConfigMap holds the secret setting %s", k)
		}
	}
	for setting, port := range map[string]string{"VERWERKER_ADDR": "http", "VERWERKER_METRICS_ADDR": "metrics"} {
		_, p, err := net.SplitHostPort(fmt.Sprint(cfg[setting]))
		if err != nil || p != fmt.Sprint(ports[port]) {
			fail("%s = %v does not listen on the container port %s (%d)", setting, cfg[setting], port, ports[port])
		}
	}
	if cfg["VERWERKER_VAULT_K8S_ROLE"] == nil || cfg["VAULT_ADDR"] == nil {
		fail("no Vault Kubernetes login (VAULT_ADDR, VERWERKER_VAULT_K8S_ROLE)")
	}
	if pod["serviceAccountName"] == nil {
		fail("pod has no service account for Vault's Kubernetes login")
	}

	// Services: metrics never on the public one; each selects the pods.
	var public, metrics bool
	for _, s := range byKind["Service"] {
		name := get(s, "metadata", "name")
		if !selects(get(s, "spec", "selector"), podLabels) {
			fail("Service %v does not select the server's pods", name)
		}
		for _, p := range list(s, "spec", "ports") {
			isMetrics := p["targetPort"] == "metrics" || p["targetPort"] == ports["metrics"] || p["port"] == ports["metrics"]
			switch {
			case name == "verwerker" && isMetrics:
				fail("the public Service exposes the metrics port: %v", p)
			case name == "verwerker":
				public = true
			case isMetrics:
				metrics = true
			}
		}
	}
	if !public || !metrics {
		fail("want a public Service and a separate metrics Service; public %v, metrics %v", public, metrics)
	}

	// A drain keeps a replica.
	if len(byKind["PodDisruptionBudget"]) != 1 {
		return fail("want one PodDisruptionBudget, have %d", len(byKind["PodDisruptionBudget"]))
	}
	pdb := byKind["PodDisruptionBudget"][0]
	if !selects(get(pdb, "spec", "selector", "matchLabels"), podLabels) {
		fail("the PodDisruptionBudget does not select the server's pods")
	}
	if n, _ := get(pdb, "spec", "minAvailable").(int); n < 1 {
		fail("PodDisruptionBudget minAvailable = %v, want at least 1", get(pdb, "spec", "minAvailable"))
	}
	return problems
}

// settings are the environment variables verwerker reads.
func settings(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../cmd/verwerker/config.go")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`\{"([A-Z][A-Z0-9_]+)", "`).FindAllSubmatch(b, -1) {
		known[string(m[1])] = true
	}
	if len(known) < 20 {
		t.Fatalf("found only %d settings in cmd/verwerker/config.go", len(known))
	}
	return known
}

// selects reports whether every label of a selector is on the pod.
func selects(selector any, labels map[string]any) bool {
	s, ok := selector.(map[string]any)
	if !ok || len(s) == 0 {
		return false
	}
	for k, v := range s {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// get walks nested maps; nil when a step is missing.
func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// list is get for a list of maps.
func list(v any, path ...string) []map[string]any {
	l, _ := get(v, path...).([]any)
	out := make([]map[string]any, 0, len(l))
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

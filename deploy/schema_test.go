package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kubernetesSchemas returns a directory of strict JSON schemas, one per
// Kubernetes kind, named as kubeconform's schema location
// "{{ .ResourceKind }}{{ .KindSuffix }}.json" expects (deployment-apps-v1.json,
// service-v1.json), made from the OpenAPI document of kubernetesModule the
// way openapi2jsonschema makes kubeconform's published schemas: each kind's
// definition with the definitions it reaches, int-or-string and quantities
// as either type, and no properties beyond the schema's (strict). Made once
// into the cache.
func kubernetesSchemas(t *testing.T) string {
	t.Helper()
	version := kubernetesModule[strings.LastIndex(kubernetesModule, "@")+1:]
	dir := filepath.Join(cacheDir(t), "kubernetes-schemas-"+version)
	done := filepath.Join(dir, ".complete")
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	src := filepath.Join(moduleDir(t, kubernetesModule), "api", "openapi-spec", "swagger.json")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Definitions map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	defs := map[string]any{}
	for name, d := range doc.Definitions {
		defs[name] = strictSchema(d)
	}
	either := func(a, b string) any {
		return map[string]any{"oneOf": []any{map[string]any{"type": a}, map[string]any{"type": b}}}
	}
	defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = either("string", "integer")
	defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] = either("string", "number")

	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".schemas-*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	n := 0
	for name, d := range doc.Definitions {
		gvks, _ := d.(map[string]any)["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk := g.(map[string]any)
			group, version, kind := gvk["group"].(string), gvk["version"].(string), gvk["kind"].(string)
			suffix := "-" + version
			if group != "" {
				suffix = "-" + strings.ToLower(strings.Split(group, ".")[0]) + "-" + version
			}
			reached := map[string]any{}
			reach(defs, name, reached)
			schema := map[string]any{}
			for k, v := range defs[name].(map[string]any) {
				schema[k] = v
			}
			schema["definitions"] = reached
			out, err := json.Marshal(schema)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(tmp, strings.ToLower(kind)+suffix+".json"), out, 0o644); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n < 50 {
		t.Fatalf("%s: only %d kinds", src, n)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), []byte(fmt.Sprintln(n, "kinds from", kubernetesModule)), 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// strictSchema copies an OpenAPI schema, turning every object with
// properties into one that allows no others (unless Kubernetes preserves
// unknown fields there).
func strictSchema(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v)+1)
		for k, e := range v {
			out[k] = strictSchema(e)
		}
		_, props := v["properties"]
		_, extra := v["additionalProperties"]
		preserve, _ := v["x-kubernetes-preserve-unknown-fields"].(bool)
		if props && !extra && !preserve {
			out["additionalProperties"] = false
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = strictSchema(e)
		}
		return out
	}
	return v
}

// reach adds to seen every definition that name refers to, transitively.
func reach(defs map[string]any, name string, seen map[string]any) {
	if _, ok := seen[name]; ok {
		return
	}
	d, ok := defs[name]
	if !ok {
		return
	}
	seen[name] = d
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				reach(defs, strings.TrimPrefix(ref, "#/definitions/"), seen)
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(d)
}

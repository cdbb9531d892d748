package deploy

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// pendingMetrics are metric names the alerts and the dashboard use that
// this tree does not define yet, with where they come from. A name used
// but neither defined in the Go sources nor listed here fails the test.
var pendingMetrics = map[string]string{
	// Empty: every metric the alerts and the dashboard use is defined.
}

// standardMetrics are series that are not verwerker's own: Prometheus's
// and those of the Go and process collectors app.New registers.
var standardMetrics = regexp.MustCompile(`^(up|ALERTS|go_[a-z_]+|process_[a-z_]+)$`)

// TestAlertRules checks the rules with promtool and runs their unit tests
// (alerts_test.yaml): each obligation alert fires on its series and stays
// quiet when all is well.
func TestAlertRules(t *testing.T) {
	promtool := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "prometheus/alerts.yaml"},
		{"test", "rules", "prometheus/alerts_test.yaml"},
	} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestAlertRulesRejects proves promtool's check can fail.
func TestAlertRulesRejects(t *testing.T) {
	promtool := promtool(t)
	good, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string][2]string{
		"bad PromQL":    {"max(verwerker_requests_overdue) > 0", "max(verwerker_requests_overdue > 0"},
		"bad duration":  {"for: 15m", "for: fifteen minutes"},
		"unknown field": {"    rules:\n", "    rulez:\n"},
	} {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(string(good), edit[0]) {
				t.Fatalf("alerts.yaml no longer contains %q", edit[0])
			}
			bad := filepath.Join(t.TempDir(), "alerts.yaml")
			if err := os.WriteFile(bad, []byte(strings.Replace(string(good), edit[0], edit[1], 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(promtool, "check", "rules", bad).CombinedOutput(); err == nil {
				t.Fatalf("promtool accepted a broken rule file:\n%s", out)
			}
		})
	}
}

// dashboardQueries returns every PromQL expression of the Grafana dashboard,
// by panel title.
func dashboardQueries(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("grafana/verwerker.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/verwerker.json: %v", err)
	}
	if d.UID == "" {
		t.Error("the dashboard has no uid")
	}
	out := map[string][]string{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out[p.Title] = append(out[p.Title], tg.Expr)
		}
	}
	return out
}

// TestDashboardQueries parses every query of the dashboard with promtool
// (as recording rules, Grafana's $__rate_interval as 5m).
func TestDashboardQueries(t *testing.T) {
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for title, exprs := range dashboardQueries(t) {
		for _, e := range exprs {
			e = strings.ReplaceAll(e, "$__rate_interval", "5m")
			q, _ := json.Marshal(e)
			fmt.Fprintf(&rules, "      - record: dashboard_query\n        expr: %s\n        labels: {panel: %q}\n", q, title)
		}
	}
	file := filepath.Join(t.TempDir(), "dashboard.yaml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool(t), "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("a dashboard query does not parse: %v\n%s", err, out)
	}
}

// TestMetricNames checks that every metric the alerts and the dashboard use
// is defined in the Go sources, or listed in pendingMetrics with its origin.
func TestMetricNames(t *testing.T) {
	alerts, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, m := range regexp.MustCompile(`(?m)^\s+expr: (?:>-\n)?((?:.+\n)(?:\s{10,}.+\n)*)`).FindAllStringSubmatch(string(alerts), -1) {
		exprs = append(exprs, m[1])
	}
	for _, q := range dashboardQueries(t) {
		exprs = append(exprs, q...)
	}
	if len(exprs) < 20 {
		t.Fatalf("found only %d expressions", len(exprs))
	}
	used := map[string]bool{}
	ident := regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	for _, e := range exprs {
		for _, name := range ident.FindAllString(e, -1) {
			if strings.HasPrefix(name, "verwerker_") || standardMetrics.MatchString(name) {
				used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")] = true
			}
		}
	}

	defined := definedMetrics(t)
	var names []string
	for n := range used {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		switch {
		case standardMetrics.MatchString(n):
		case defined[n] && pendingMetrics[n] != "":
			t.Logf("%s is now in the code: drop it from pendingMetrics", n)
		case defined[n]:
		case pendingMetrics[n] != "":
			t.Logf("not in this tree yet: %s (%s)", n, pendingMetrics[n])
		default:
			t.Errorf("%s is used by the alerts or the dashboard but defined nowhere in the Go sources", n)
		}
	}
	for n := range pendingMetrics {
		if !used[n] {
			t.Errorf("pendingMetrics lists %s, which neither the alerts nor the dashboard use", n)
		}
	}
	for _, n := range []string{"verwerker_http_requests_total", "verwerker_decisions_total", "verwerker_notices_undelivered"} {
		if !defined[n] {
			t.Errorf("the scan of the Go sources misses %s: the test is broken", n)
		}
	}
}

// definedMetrics are the metric names the module's Go sources (tests
// aside) give to Prometheus.
func definedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	re := regexp.MustCompile(`(?:Name:\s*|NewDesc\()"(verwerker_[a-z0-9_]+)"`)
	out := map[string]bool{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != ".." || d.Name() == "vault") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			out[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

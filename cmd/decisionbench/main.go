// Command decisionbench compares verwerker's decision API with an OPA
// server answering the same questions from `verwerker policy export`, side
// by side on this machine: the same load tool (wrk), the same connection
// count, each server pinned to one core with taskset when there are two or
// more. It is run by deploy/bench.sh (make bench), not shipped.
//
// It creates a throwaway database on VERWERKER_TEST_DATABASE_URL with
// -customers demo customers (active agreements from 20 templates, one chat
// service key each), exports the policy and data, starts `opa run -s` and
// `verwerker serve` on loopback one after the other, loads each with wrk and
// prints decisions/s, p50 and p99 and the ratios. Traffic goes to
// 127.0.0.1 only, for a bounded time.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/tenant"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "decisionbench:", err)
		os.Exit(1)
	}
}

type result struct {
	rps, p50, p99 float64 // requests/s, microseconds
}

func run() error {
	customers := flag.Int("customers", 1000, "demo customers")
	duration := flag.Duration("duration", 10*time.Second, "load time per measurement")
	conns := flag.Int("connections", 32, "connections for the throughput runs")
	batch := flag.Int("batch", 100, "questions per batch request")
	verwerkerBin := flag.String("verwerker", "bin/verwerker", "verwerker binary")
	opaBin := flag.String("opa", "opa", "opa binary (github.com/open-policy-agent/opa v1.22.2)")
	wrkBin := flag.String("wrk", "wrk", "wrk binary")
	flag.Parse()
	ctx := context.Background()

	serverURL := os.Getenv("VERWERKER_TEST_DATABASE_URL")
	if serverURL == "" {
		return errors.New("VERWERKER_TEST_DATABASE_URL is not set")
	}
	dir, err := os.MkdirTemp("", "decisionbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	dbURL, drop, err := createDatabase(ctx, serverURL)
	if err != nil {
		return err
	}
	defer drop()
	fmt.Printf("seeding %d customers...\n", *customers)
	tokens, questions, err := seed(ctx, dbURL, *customers)
	if err != nil {
		return err
	}
	exp := exec.Command(*verwerkerBin, "policy", "export", "-dir", filepath.Join(dir, "opa"))
	exp.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
	if out, err := exp.CombinedOutput(); err != nil {
		return fmt.Errorf("policy export: %v: %s", err, out)
	} else {
		fmt.Print(string(out))
	}

	pin := func(cpu string, args ...string) []string {
		if runtime.NumCPU() >= 2 {
			if _, err := exec.LookPath("taskset"); err == nil {
				return append([]string{"taskset", "-c", cpu}, args...)
			}
		}
		return args
	}

	// The same questions for both servers.
	opaScript := filepath.Join(dir, "opa.lua")
	vwScript := filepath.Join(dir, "verwerker.lua")
	vwBatch := filepath.Join(dir, "verwerker-batch.lua")
	var opaReqs, vwReqs, batchReqs []luaRequest
	for i, q := range questions {
		in := q.req.Input(q.tenant)
		ob, _ := json.Marshal(map[string]any{"input": in})
		opaReqs = append(opaReqs, luaRequest{"/v1/data/verwerker/decision/result", string(ob), ""})
		vb, _ := json.Marshal(in)
		vwReqs = append(vwReqs, luaRequest{"/v1/decisions", string(vb), "Bearer " + tokens[q.tenant]})
		if i < 200 {
			items := make([]map[string]any, 0, *batch)
			for j := range *batch {
				x := questions[(i**batch+j)%len(questions)]
				if x.tenant != q.tenant {
					x = questions[i]
				}
				m := x.req.Input(q.tenant)
				delete(m, "tenant_id")
				items = append(items, m)
			}
			bb, _ := json.Marshal(map[string]any{"tenant_id": q.tenant, "items": items})
			batchReqs = append(batchReqs, luaRequest{"/v1/decisions/batch", string(bb), "Bearer " + tokens[q.tenant]})
		}
	}
	for _, f := range []struct {
		path string
		reqs []luaRequest
	}{{opaScript, opaReqs}, {vwScript, vwReqs}, {vwBatch, batchReqs}} {
		if err := writeLua(f.path, f.reqs); err != nil {
			return err
		}
	}

	load := func(base, script string, c int, d time.Duration) (result, error) {
		args := pin("0", *wrkBin, "-t1", "-c"+strconv.Itoa(c), "-d"+strconv.Itoa(int(d.Seconds()))+"s", "--latency", "-s", script, base)
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return result{}, fmt.Errorf("wrk: %v: %s", err, out)
		}
		return parseWrk(string(out))
	}

	// OPA.
	opaCmd := exec.Command(pin("1", *opaBin, "run", "-s", "--addr", "127.0.0.1:18181", "--log-level", "error", "--skip-version-check", filepath.Join(dir, "opa"))[0],
		pin("1", *opaBin, "run", "-s", "--addr", "127.0.0.1:18181", "--log-level", "error", "--skip-version-check", filepath.Join(dir, "opa"))[1:]...)
	opaCmd.Stderr = os.Stderr
	if err := start(opaCmd, "http://127.0.0.1:18181/health"); err != nil {
		return fmt.Errorf("opa: %w", err)
	}
	if err := checkOPA(opaReqs[0]); err != nil {
		stop(opaCmd)
		return err
	}
	fmt.Println("loading opa run -s ...")
	_, _ = load("http://127.0.0.1:18181", opaScript, *conns, 2*time.Second) // warm-up
	opaT, err1 := load("http://127.0.0.1:18181", opaScript, *conns, *duration)
	opa1, err2 := load("http://127.0.0.1:18181", opaScript, 1, *duration/2)
	stop(opaCmd)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}

	// verwerker.
	vw := exec.Command(pin("1", *verwerkerBin, "serve")[0], pin("1", *verwerkerBin, "serve")[1:]...)
	vw.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "VERWERKER_ADDR=127.0.0.1:18080", "VERWERKER_LOG_LEVEL=error",
		"VERWERKER_SIGNING_KEY_FILE="+filepath.Join(dir, "signing.key"), "VERWERKER_SUBJECT_KEY_FILE="+filepath.Join(dir, "subject.key"),
		"VERWERKER_CHECKPOINT_INTERVAL=24h")
	vw.Stderr = os.Stderr
	if err := start(vw, "http://127.0.0.1:18080/readyz"); err != nil {
		return fmt.Errorf("verwerker: %w", err)
	}
	fmt.Println("loading verwerker serve ...")
	_, _ = load("http://127.0.0.1:18080", vwScript, *conns, 3*time.Second) // warm-up: tables compile on first use
	vwT, err1 := load("http://127.0.0.1:18080", vwScript, *conns, *duration)
	vw1, err2 := load("http://127.0.0.1:18080", vwScript, 1, *duration/2)
	vwB, err3 := load("http://127.0.0.1:18080", vwBatch, *conns, *duration)
	stop(vw)
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}

	ratio := func(a, b float64) string {
		if b <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.1fx", a/b)
	}
	fmt.Println()
	fmt.Printf("== decision API vs OPA server, %d customers, %d connections, wrk on one core, each server pinned to the other ==\n", *customers, *conns)
	fmt.Printf("BenchmarkHTTP/opa/single          %10.0f decisions/s  p50 %7.0f us  p99 %7.0f us\n", opaT.rps, opaT.p50, opaT.p99)
	fmt.Printf("BenchmarkHTTP/verwerker/single    %10.0f decisions/s  p50 %7.0f us  p99 %7.0f us\n", vwT.rps, vwT.p50, vwT.p99)
	fmt.Printf("BenchmarkHTTP/verwerker/batch%-4d %10.0f decisions/s  p50 %7.0f us  p99 %7.0f us (per request of %d)\n", *batch, vwB.rps*float64(*batch), vwB.p50, vwB.p99, *batch)
	fmt.Printf("BenchmarkHTTP/opa/1conn           p50 %7.0f us  p99 %7.0f us\n", opa1.p50, opa1.p99)
	fmt.Printf("BenchmarkHTTP/verwerker/1conn     p50 %7.0f us  p99 %7.0f us (goal p50 <= 200 us, p99 <= 500 us)\n", vw1.p50, vw1.p99)
	fmt.Printf("throughput ratio verwerker/opa: single %s, batch %s (goal >= 3x and >= 25000 decisions/s per core)\n",
		ratio(vwT.rps, opaT.rps), ratio(vwB.rps*float64(*batch), opaT.rps))
	return nil
}

type question struct {
	tenant string
	req    policy.Request
}

// seed creates the customers with active agreements and chat service keys.
func seed(ctx context.Context, dbURL string, n int) (map[string]string, []question, error) {
	db, err := store.Open(ctx, dbURL, store.Options{MaxConns: 4})
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx, nil); err != nil {
		return nil, nil, err
	}
	clock := verwerker.SystemClock{}
	log := audit.NewLog(db, clock)
	defer log.Close()
	tenants, agreements, keys := tenant.NewService(db, clock, log), dpa.NewService(db, clock, log), identity.NewKeys(db, clock, log)
	ctx = verwerker.WithPrincipal(ctx, verwerker.Principal{ID: "bench-seed", Kind: verwerker.PrincipalAPIKey})
	tokens := map[string]string{}
	var qs []question
	purposes := [][]string{{"service.delivery"}, {"service.delivery", "security"}, {"service.delivery", "support", "service.improvement"}, {"service.delivery", "billing"}}
	cats := [][]string{{"chat.message"}, {"chat.message", "chat.metadata"}, {"chat.message", "chat.metadata", "contact.email"}, {"chat.message", "contact.phone"}, {"chat.message", "account.profile"}}
	for i := range n {
		t, err := tenants.Create(ctx, tenant.New{Name: fmt.Sprintf("Bench customer %05d B.V.", i), Country: "NL", ContactEmail: fmt.Sprintf("privacy@c%05d.example", i)})
		if err != nil {
			return nil, nil, err
		}
		sc := dpa.Scope{Purposes: purposes[i%len(purposes)], Regions: []string{"eea"},
			BreachContact: dpa.Contact{Email: "breach@bench.example"}, DPOContact: dpa.Contact{Email: "dpo@bench.example"}}
		for _, c := range cats[i%len(cats)] {
			sc.Categories = append(sc.Categories, dpa.CategoryScope{ID: c, Retention: dpa.Retention30DaysAfterLastInteraction})
		}
		v, err := agreements.Create(ctx, t.ID, sc)
		if err == nil {
			v, err = agreements.Offer(ctx, t.ID, v.Number)
		}
		if err == nil {
			v, err = agreements.Accept(ctx, t.ID, v.Number, v.SHA256EN)
		}
		if err == nil {
			_, err = agreements.Activate(ctx, t.ID, v.Number)
		}
		if err != nil {
			return nil, nil, err
		}
		_, token, err := keys.Issue(ctx, identity.NewKey{Label: "bench chat service", Role: "chat_service", Domain: t.ID})
		if err != nil {
			return nil, nil, err
		}
		tokens[t.ID] = token
		for j, c := range sc.Categories {
			qs = append(qs, question{t.ID, policy.Request{Category: c.ID, Purpose: sc.Purposes[j%len(sc.Purposes)], Region: []string{"nl", "de", "eea"}[j%3]}})
		}
	}
	// Interleave customers.
	out := make([]question, 0, len(qs))
	for off := range 3 {
		for i := off; i < len(qs); i += 3 {
			out = append(out, qs[i])
		}
	}
	return tokens, out, nil
}

func createDatabase(ctx context.Context, serverURL string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "vwbench_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		return "", nil, err
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		conn.Close(ctx)
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() {
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(context.Background())
	}, nil
}

type luaRequest struct{ path, body, auth string }

func writeLua(path string, reqs []luaRequest) error {
	var b strings.Builder
	b.WriteString("local reqs = {\n")
	for _, r := range reqs {
		fmt.Fprintf(&b, "  {%q, %q, %q},\n", r.path, r.body, r.auth)
	}
	b.WriteString(`}
local i = 0
request = function()
  i = i + 1
  local r = reqs[(i % #reqs) + 1]
  local h = {["Content-Type"] = "application/json"}
  if r[3] ~= "" then h["Authorization"] = r[3] end
  return wrk.format("POST", r[1], h, r[2])
end
response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("status " .. status .. ": " .. body .. "\n")
    wrk.thread:stop()
  end
end
`)
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

var (
	rpsLine = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	pctLine = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
)

func parseWrk(out string) (result, error) {
	var r result
	m := rpsLine.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk: no throughput in output: %s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	for _, p := range pctLine.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(p[2], 64)
		switch p[3] {
		case "ms":
			v *= 1000
		case "s":
			v *= 1e6
		}
		if p[1] == "50" {
			r.p50 = v
		} else {
			r.p99 = v
		}
	}
	if strings.Contains(out, "status ") {
		return r, fmt.Errorf("wrk: the server answered with errors: %s", out)
	}
	return r, nil
}

func start(cmd *exec.Cmd, health string) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(health)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop(cmd)
	return errors.New("did not become ready in 60 s")
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// checkOPA makes sure the OPA server answers the question as verwerker's
// policy does (a decision with reasons), not an empty result.
func checkOPA(r luaRequest) error {
	res, err := http.Post("http://127.0.0.1:18181"+r.path, "application/json", strings.NewReader(r.body))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out struct {
		Result map[string]any `json:"result"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Result == nil {
		return fmt.Errorf("opa: no decision: %s", b)
	}
	if _, err := policy.ParseResult(out.Result); err != nil {
		return fmt.Errorf("opa: %w: %s", err, b)
	}
	return nil
}

// Command decisionbench compares verwerker's decision API with an OPA
// server answering the same questions from `verwerker policy export`, side
// by side on this machine: the same load tool (wrk), the same connection
// count, each server pinned to one core with taskset when there are two or
// more. It is run by deploy/bench.sh (make bench), not shipped.
//
// It creates a throwaway database on VERWERKER_TEST_DATABASE_URL with
// -customers demo customers (active agreements from 20 templates, one chat
// service key each), exports the policy and data, and starts three servers
// on loopback, all pinned to the same core and all running at once: `opa run
// -s`, `verwerker serve`, and a floor, the cheapest possible Go HTTP answer:
// a plain net/http handler in this binary (started as a separate process
// with the hidden -serve-floor ADDR mode) that reads the body and writes a
// fixed answer of the size of a decision, loaded with verwerker's requests.
//
// The machine is noisy, so a single measurement means little. After one
// warm-up each, -rounds rounds load every server in turn (the order rotates
// each round): -connections connections for throughput (verwerker also with
// batches), then one connection for latency. For each run it reads the
// server process's CPU time from /proc, so it reports decisions per
// CPU-second of the server (per core fully used) next to decisions/s, p50
// and p99; for verwerker it also reads the CPU time of the PostgreSQL
// backends of the bench database, which the per-CPU-second figures leave
// out. It prints, per server and load, the best round and the median round
// (each figure on its own), then the ratios against OPA and against the
// floor. Traffic goes to 127.0.0.1 only, for a bounded time.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/app"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/tenant"
)

func main() {
	if addr, ok := floorAddr(os.Args[1:]); ok {
		serveFloor(addr) // never returns
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "decisionbench:", err)
		os.Exit(1)
	}
}

// Loopback addresses of the three servers.
const (
	opaAddr       = "127.0.0.1:18181"
	verwerkerAddr = "127.0.0.1:18080"
	floorAddress  = "127.0.0.1:18282"
)

// result is what wrk measured.
type result struct {
	rps, p50, p99 float64 // requests/s, microseconds
	reqs          float64 // requests completed
}

// sample is one measured run: wrk's figures and the CPU time the server
// process (and, for verwerker, the PostgreSQL backends) spent meanwhile.
type sample struct {
	result
	perReq float64 // decisions per request
	wall   float64 // seconds the run took
	cpu    float64 // server CPU-seconds; NaN when unknown
	dbCPU  float64 // CPU-seconds of the bench database's backends; NaN when not measured
}

func (s sample) throughput() float64 { return s.rps * s.perReq }

// perCPU is decisions (requests for the floor) per CPU-second of the server.
func (s sample) perCPU() float64 {
	if !(s.cpu > 0) {
		return math.NaN()
	}
	return s.reqs * s.perReq / s.cpu
}

// busy is the share of one core the server used during the run.
func (s sample) busy() float64 {
	if !(s.wall > 0) {
		return math.NaN()
	}
	return s.cpu / s.wall
}

// server is one of the three servers under load.
type server struct {
	name, base, unit string // unit: what one answer is, "decisions" or "requests"
	proc             *proc
}

func run() error {
	customers := flag.Int("customers", 1000, "demo customers")
	duration := flag.Duration("duration", 10*time.Second, "load time per throughput measurement (one-connection measurements take half)")
	rounds := flag.Int("rounds", 3, "measurement rounds; each loads every server in turn")
	conns := flag.Int("connections", 32, "connections for the throughput runs")
	batch := flag.Int("batch", 100, "questions per batch request")
	verwerkerBin := flag.String("verwerker", "bin/verwerker", "verwerker binary")
	opaBin := flag.String("opa", "opa", "opa binary (github.com/open-policy-agent/opa v1.22.2)")
	wrkBin := flag.String("wrk", "wrk", "wrk binary")
	loadMode := flag.Bool("load", false, "instead of the comparison, load one replica at -rate while records are written, an export and a sweep run, then soak it (see load.go)")
	rate := flag.Int("rate", 10000, "load: decisions per second")
	loadDuration := flag.Duration("load-duration", time.Minute, "load: how long")
	inflight := flag.Int("inflight", 256, "load: requests in flight at most (connections)")
	writeRate := flag.Int("write-rate", 50, "load: record writes per second beside the decisions")
	sweepRecords := flag.Int("sweep-records", 20000, "load: due records the sweep deletes during the load")
	soak := flag.Duration("soak", 2*time.Minute, "load: mixed API traffic afterwards for this long (0: none); the issue's soak is 10m")
	soakRate := flag.Int("soak-rate", 1000, "load: soak requests per second")
	heapGrowth := flag.Float64("heap-growth", 1.5, "load: the soak fails if the idle replica's live heap after it exceeds this factor of the one before it, plus 16 MiB")
	goroutineSlack := flag.Int("goroutine-slack", 50, "load: the soak fails if the idle replica has more goroutines after it than before it by more than this")
	flag.Parse()
	if *rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	clockTicks() // once, before any measurement
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("floor server: %w", err)
	}
	// An interrupt or termination cancels the load and the seeding, so the
	// deferred clean-up below stops the servers and drops the database; a
	// second one ends the program at once.
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	go func() { <-ctx.Done(); stopSignals() }()

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
	tokens, questions, err := seed(ctx, dbURL, dir, *customers)
	if err != nil {
		return err
	}
	if *loadMode {
		return runLoad(ctx, loadOptions{verwerker: *verwerkerBin, dbURL: dbURL, dir: dir, tokens: tokens, questions: questions,
			rate: *rate, duration: *loadDuration, inflight: *inflight, writeRate: *writeRate, sweepRecords: *sweepRecords,
			soak: *soak, soakRate: *soakRate, heapGrowth: *heapGrowth, goroutineSlack: *goroutineSlack})
	}
	exp := exec.CommandContext(ctx, *verwerkerBin, "policy", "export", "-dir", filepath.Join(dir, "opa"))
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
	command := func(args ...string) *exec.Cmd {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stderr = os.Stderr
		return cmd
	}

	// The same questions for all servers.
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

	// The three servers, all on core 1, all running until the end; they
	// are idle while another one is loaded.
	var running []*proc
	defer func() {
		for i := len(running) - 1; i >= 0; i-- {
			running[i].stop()
		}
	}()
	launch := func(name, addr, health string, cmd *exec.Cmd) (*server, error) {
		p, err := start(ctx, cmd, addr, health)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		running = append(running, p)
		unit := "decisions"
		if name == "floor" {
			unit = "requests"
		}
		return &server{name: name, base: "http://" + addr, unit: unit, proc: p}, nil
	}
	opa, err := launch("opa", opaAddr, "http://"+opaAddr+"/health",
		command(pin("1", *opaBin, "run", "-s", "--addr", opaAddr, "--log-level", "error", "--skip-version-check", filepath.Join(dir, "opa"))...))
	if err != nil {
		return err
	}
	if err := checkOPA(opaReqs[0]); err != nil {
		return err
	}
	floor, err := launch("floor", floorAddress, "http://"+floorAddress+"/", command(pin("1", self, "-serve-floor", floorAddress)...))
	if err != nil {
		return err
	}
	vwCmd := command(pin("1", *verwerkerBin, "serve")...)
	vwCmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "VERWERKER_ADDR="+verwerkerAddr, "VERWERKER_LOG_LEVEL=error",
		"VERWERKER_SIGNING_KEY_FILE="+filepath.Join(dir, "signing.key"), "VERWERKER_SUBJECT_KEY_FILE="+filepath.Join(dir, "subject.key"),
		"VERWERKER_CHECKPOINT_INTERVAL=24h")
	vw, err := launch("verwerker", verwerkerAddr, "http://"+verwerkerAddr+"/readyz", vwCmd)
	if err != nil {
		return err
	}
	sizes, err := answerSizes(map[string]luaRequest{opa.base: opaReqs[0], vw.base: vwReqs[0], floor.base: vwReqs[0]})
	if err != nil {
		return err
	}
	fmt.Printf("answer sizes: opa %d bytes, verwerker %d bytes, floor %d bytes\n", sizes[opa.base], sizes[vw.base], sizes[floor.base])

	// The PostgreSQL backends of the bench database, for their CPU time.
	mon, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer mon.Close(context.Background())

	load := func(s *server, script string, c int, d time.Duration, perReq int, withDB bool) (sample, error) {
		var db0 map[int]float64
		var dbErr error
		if withDB {
			db0, dbErr = backendCPU(ctx, mon)
		}
		cpu0, cpuErr0 := procCPU(s.proc.pid())
		t0 := time.Now()
		args := pin("0", *wrkBin, "-t1", "-c"+strconv.Itoa(c), "-d"+strconv.Itoa(wrkSeconds(d))+"s", "--latency", "-s", script, s.base)
		out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
		wall := time.Since(t0).Seconds()
		cpu1, cpuErr1 := procCPU(s.proc.pid())
		smp := sample{perReq: float64(perReq), wall: wall, cpu: math.NaN(), dbCPU: math.NaN()}
		if cpuErr0 == nil && cpuErr1 == nil {
			smp.cpu = cpu1 - cpu0
		}
		if withDB && dbErr == nil {
			if db1, err := backendCPU(ctx, mon); err == nil {
				smp.dbCPU = 0
				for pid, t := range db1 {
					smp.dbCPU += t - db0[pid] // a backend started meanwhile counts from zero
				}
			}
		}
		if ctx.Err() != nil {
			return smp, ctx.Err()
		}
		if err != nil {
			return smp, fmt.Errorf("wrk %s: %v: %s", s.name, err, out)
		}
		smp.result, err = parseWrk(string(out))
		if err != nil {
			return smp, fmt.Errorf("%s: %w", s.name, err)
		}
		return smp, nil
	}

	// Warm-up, once each: verwerker compiles a customer's table and checks
	// its key on first use, so every customer is asked once first (with
	// 10,000 customers a timed warm-up alone would leave most of them cold
	// and the measurement would be of first uses); OPA is asked the same.
	fmt.Println("warming up...")
	firsts := map[string]bool{}
	var vwFirst, opaFirst []luaRequest
	for i, q := range questions {
		if !firsts[q.tenant] {
			firsts[q.tenant] = true
			vwFirst, opaFirst = append(vwFirst, vwReqs[i]), append(opaFirst, opaReqs[i])
		}
	}
	for _, w := range []struct {
		s    *server
		reqs []luaRequest
	}{{vw, vwFirst}, {opa, opaFirst}} {
		if err := askEach(ctx, w.s.base, w.reqs); err != nil {
			return fmt.Errorf("warm-up of %s: %w", w.s.name, err)
		}
	}
	for _, w := range []struct {
		s      *server
		script string
		d      time.Duration
	}{{opa, opaScript, 2 * time.Second}, {floor, vwScript, 2 * time.Second}, {vw, vwScript, 3 * time.Second}} {
		if _, err := load(w.s, w.script, *conns, w.d, 1, false); err != nil && ctx.Err() != nil {
			return err
		}
	}

	batchKind := "batch" + strconv.Itoa(*batch)
	jobs := map[string][]job{
		"opa": {{opa, "single", opaScript, *conns, *duration, 1, false},
			{opa, "1conn", opaScript, 1, *duration / 2, 1, false}},
		"floor": {{floor, "single", vwScript, *conns, *duration, 1, false},
			{floor, "1conn", vwScript, 1, *duration / 2, 1, false}},
		"verwerker": {{vw, "single", vwScript, *conns, *duration, 1, true},
			{vw, "1conn", vwScript, 1, *duration / 2, 1, false},
			{vw, batchKind, vwBatch, *conns, *duration, *batch, true}},
	}
	order := []string{"opa", "floor", "verwerker"}
	samples := map[string][]sample{} // by "server/kind"
	for r := range *rounds {
		fmt.Printf("round %d of %d\n", r+1, *rounds)
		for i := range order {
			for _, j := range jobs[order[(i+r)%len(order)]] {
				smp, err := load(j.s, j.script, j.conns, j.d, j.perReq, j.withDB)
				if err != nil {
					return err
				}
				key := j.s.name + "/" + j.kind
				samples[key] = append(samples[key], smp)
				fmt.Printf("  %-20s %8.0f %s/s  %8s per cpu-s  busy %4s core  p50 %6.0f us  p99 %6.0f us\n",
					key, smp.throughput(), j.s.unit, num(smp.perCPU(), "%.0f"), num(smp.busy(), "%.2f"), smp.p50, smp.p99)
			}
		}
	}

	report(os.Stdout, reportInput{customers: *customers, conns: *conns, rounds: *rounds, duration: *duration,
		batch: *batch, batchKind: batchKind, samples: samples})
	return nil
}

// job is one kind of load on one server, run once per round.
type job struct {
	s      *server
	kind   string // single, batch<n>, 1conn
	script string
	conns  int
	d      time.Duration
	perReq int  // decisions per request
	withDB bool // also measure the PostgreSQL backends' CPU time
}

type question struct {
	tenant string
	req    policy.Request
}

// seed creates the customers with active agreements and chat service keys,
// through the application as `verwerker serve` wires it; its local keys are
// kept in dir (the subject key is the file the bench's server uses).
func seed(ctx context.Context, dbURL, dir string, n int) (map[string]string, []question, error) {
	db, err := store.Open(ctx, dbURL, store.Options{MaxConns: 4})
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx, nil); err != nil {
		return nil, nil, err
	}
	a, err := app.New(ctx, app.Config{KeyringFile: filepath.Join(dir, "keyring.key"), SubjectKeyFile: filepath.Join(dir, "subject.key")}, app.Deps{DB: db})
	if err != nil {
		return nil, nil, err
	}
	defer a.Close()
	tenants, agreements, keys := a.Tenants, a.DPA, a.Keys
	// Keys are issued as operator tools issue them, without a caller: an
	// API key may not mint keys (identity.ErrSessionRequired).
	operator := ctx
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
		_, token, err := keys.Issue(operator, identity.NewKey{Label: "bench chat service", Role: "chat_service", Domain: t.ID})
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

// askEach sends each request once, eight at a time, and fails on any
// answer but 200 (after one retry, for a server still busy compiling).
func askEach(ctx context.Context, base string, reqs []luaRequest) error {
	client := &http.Client{Timeout: 30 * time.Second}
	ask := func(r luaRequest) error {
		var last error
		for range 2 {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+r.path, strings.NewReader(r.body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			if r.auth != "" {
				req.Header.Set("Authorization", r.auth)
			}
			res, err := client.Do(req)
			if err != nil {
				last = err
				continue
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("status %d", res.StatusCode)
		}
		return last
	}
	work := make(chan luaRequest)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				if err := ask(r); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for _, r := range reqs {
		work <- r
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return ctx.Err()
	}
}

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

// wrkSeconds is d in whole seconds for wrk -d, at least one.
func wrkSeconds(d time.Duration) int { return max(1, int(d.Seconds())) }

// reportInput is what the report needs besides the samples' own figures.
type reportInput struct {
	customers, conns, rounds, batch int
	duration                        time.Duration
	batchKind                       string
	samples                         map[string][]sample // by "server/kind"
}

// stat is the best and the median of one figure over the rounds.
type stat struct{ best, median float64 }

// stats gives the best (the highest, or the lowest when lower is better)
// and the median of xs, leaving out unknown (NaN) values.
func stats(xs []float64, higherIsBetter bool) stat {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return stat{math.NaN(), math.NaN()}
	}
	slices.Sort(v)
	s := stat{best: v[0], median: v[len(v)/2]}
	if higherIsBetter {
		s.best = v[len(v)-1]
	}
	if len(v)%2 == 0 {
		s.median = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return s
}

// figures are one server's and load's figures over the rounds.
type figures struct {
	throughput, perCPU, p50, p99 stat
	busy, dbBusy                 float64 // median shares of a core: the server's, its PostgreSQL backends'
}

func figuresOf(ss []sample) figures {
	var thr, cpu, p50, p99, busy, db []float64
	for _, s := range ss {
		thr, cpu, p50, p99 = append(thr, s.throughput()), append(cpu, s.perCPU()), append(p50, s.p50), append(p99, s.p99)
		busy = append(busy, s.busy())
		if s.wall > 0 {
			db = append(db, s.dbCPU/s.wall)
		}
	}
	return figures{throughput: stats(thr, true), perCPU: stats(cpu, true), p50: stats(p50, false), p99: stats(p99, false),
		busy: stats(busy, true).median, dbBusy: stats(db, true).median}
}

// num formats v, or n/a when it is unknown.
func num(v float64, format string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf(format, v)
}

// div is a/b, NaN when b is not positive or either is unknown.
func div(a, b float64) float64 {
	if !(b > 0) {
		return math.NaN()
	}
	return a / b
}

func report(w io.Writer, in reportInput) {
	fig := map[string]figures{}
	for k, ss := range in.samples {
		fig[k] = figuresOf(ss)
	}
	fmt.Fprintf(w, "\n== decision API vs OPA server vs floor: %d customers, %d rounds, %d connections for %ds per throughput run, 1 connection for %ds; wrk on core 0, every server pinned to core 1 ==\n",
		in.customers, in.rounds, in.conns, wrkSeconds(in.duration), wrkSeconds(in.duration/2))
	fmt.Fprintln(w, "best: the best round for each figure on its own (highest throughput and per cpu-s, lowest p50, lowest p99); median: the median round, likewise")
	fmt.Fprintln(w, "per cpu-s: decisions (floor: requests) per CPU-second of the server process, user + system, i.e. per core fully used; busy: the share of its core the server used (median)")
	fmt.Fprintln(w, "floor: a plain Go net/http handler answering verwerker's requests with a fixed answer of the size of a decision, the cheapest Go HTTP answer on this machine")
	line := func(name, unit, note string) {
		f, ok := fig[name]
		if !ok {
			return
		}
		part := func(pick func(stat) float64) string {
			return fmt.Sprintf("%8s %-11s %8s per cpu-s  p50 %6s us  p99 %6s us", num(pick(f.throughput), "%.0f"), unit+"/s",
				num(pick(f.perCPU), "%.0f"), num(pick(f.p50), "%.0f"), num(pick(f.p99), "%.0f"))
		}
		fmt.Fprintf(w, "%-33s best %s | median %s | busy %s core%s\n", "BenchmarkHTTP/"+name,
			part(func(s stat) float64 { return s.best }), part(func(s stat) float64 { return s.median }), num(f.busy, "%.2f"), note)
	}
	dbNote := func(name string) string {
		return fmt.Sprintf(", PostgreSQL backends %s core (not counted)", num(fig[name].dbBusy, "%.3f"))
	}
	line("opa/single", "decisions", "")
	line("floor/single", "requests", "")
	line("verwerker/single", "decisions", dbNote("verwerker/single"))
	line("verwerker/"+in.batchKind, "decisions", dbNote("verwerker/"+in.batchKind)+fmt.Sprintf("; latency per request of %d", in.batch))
	line("opa/1conn", "decisions", "")
	line("floor/1conn", "requests", "")
	line("verwerker/1conn", "decisions", "")

	opa, floor, vw, vwB := fig["opa/single"], fig["floor/single"], fig["verwerker/single"], fig["verwerker/"+in.batchKind]
	vw1, floor1 := fig["verwerker/1conn"], fig["floor/1conn"]
	// row prints one summary figure, best and median, and a note.
	row := func(label string, best, median float64, format, note string) {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("%-38s best %-9s median %-9s %s", label+":", num(best, format), num(median, format), note), " "))
	}
	ratio := func(label string, a, b stat, format, note string) {
		row(label, div(a.best, b.best), div(a.median, b.median), format, note)
	}
	floorNote := func(goal string, s stat) string {
		return fmt.Sprintf("(goal %s; floor: best %s, median %s)", goal, num(s.best, "%.0f us"), num(s.median, "%.0f us"))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "== summary (best round vs best round, median round vs median round) ==")
	ratio("throughput verwerker/opa, single", vw.throughput, opa.throughput, "%.1fx", "(goal >= 3x)")
	ratio("throughput verwerker/opa, "+in.batchKind, vwB.throughput, opa.throughput, "%.1fx", "")
	ratio("per CPU-second verwerker/opa, single", vw.perCPU, opa.perCPU, "%.1fx", "")
	row("verwerker decisions per CPU-second", vw.perCPU.best, vw.perCPU.median, "%.0f", "(goal >= 25000 per core)")
	fmt.Fprintf(w, "  (verwerker's process only: PostgreSQL's CPU is not counted; its backends of the bench database used %s core, median,\n", num(vw.dbBusy, "%.3f"))
	fmt.Fprintln(w, "  during the single runs: with the credential cache the steady state makes no database queries per decision)")
	row("floor requests per CPU-second", floor.perCPU.best, floor.perCPU.median, "%.0f", "(for comparison: no Go HTTP server answers cheaper here)")
	ratio("verwerker/floor, throughput", scale(vw.throughput, 100), floor.throughput, "%.0f%%", "")
	ratio("verwerker/floor, per CPU-second", scale(vw.perCPU, 100), floor.perCPU, "%.0f%%", "")
	row("verwerker 1conn p50", vw1.p50.best, vw1.p50.median, "%.0f us", floorNote("<= 200 us", floor1.p50))
	row("verwerker 1conn p99", vw1.p99.best, vw1.p99.median, "%.0f us", floorNote("<= 500 us", floor1.p99))
}

// scale is s with both figures multiplied by k.
func scale(s stat, k float64) stat { return stat{s.best * k, s.median * k} }

// proc is a started server process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error         // its exit, once done
}

// pid is the server's process id: taskset execs into the server, so it is
// the server's own.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// start starts cmd, serving on addr, and waits until health answers 200.
func start(ctx context.Context, cmd *exec.Cmd, addr, health string) (*proc, error) {
	// A server left over from an earlier run would answer in this one's place.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s is in use: %w", addr, err)
	}
	l.Close()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case <-p.done:
			return nil, fmt.Errorf("exited before it was ready: %v", p.err)
		default:
		}
		res, err := client.Get(health)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.stop()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, errors.New("did not become ready in 60 s")
}

// stop interrupts the process and waits for it to exit, killing it after 20 s.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// clockTicks is the kernel's clock ticks per second, the unit of the CPU
// times in /proc/PID/stat.
var clockTicks = sync.OnceValue(func() float64 {
	if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return float64(n)
		}
	}
	return 100
})

// procCPU is the CPU time process pid has used so far, user + system
// (fields 14 and 15 of /proc/PID/stat), in seconds. Linux only.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Field 2, the command name in parentheses, may contain spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:])) // from field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, b)
	}
	utime, err1 := strconv.ParseUint(f[14-3], 10, 64)
	stime, err2 := strconv.ParseUint(f[15-3], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return float64(utime+stime) / clockTicks(), nil
}

// backendCPU is the CPU time so far of each PostgreSQL backend connected to
// the bench database (but conn's own), by pid. It needs the server on this
// machine: pids that are not local postgres processes are left out.
func backendCPU(ctx context.Context, conn *pgx.Conn) (map[int]float64, error) {
	rows, err := conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
	if err != nil {
		return nil, err
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, err
	}
	out := map[int]float64{}
	for _, pid := range pids {
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || !strings.HasPrefix(string(comm), "postgres") {
			continue
		}
		if t, err := procCPU(int(pid)); err == nil {
			out[int(pid)] = t
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no local PostgreSQL backends")
	}
	return out, nil
}

// answerSizes posts one request to each server (by base URL) and gives the
// size of each answer.
func answerSizes(reqs map[string]luaRequest) (map[string]int, error) {
	out := map[string]int{}
	for base, r := range reqs {
		req, err := http.NewRequest(http.MethodPost, base+r.path, strings.NewReader(r.body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		if r.auth != "" {
			req.Header.Set("Authorization", r.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return nil, err
		}
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s%s: status %d: %s", base, r.path, res.StatusCode, b)
		}
		out[base] = len(b)
	}
	return out, nil
}

// floorAddr reports whether the arguments ask for the floor server, the
// hidden mode -serve-floor ADDR, and its address.
func floorAddr(args []string) (string, bool) {
	if len(args) == 2 && (args[0] == "-serve-floor" || args[0] == "--serve-floor") {
		return args[1], true
	}
	if len(args) == 1 {
		for _, p := range []string{"-serve-floor=", "--serve-floor="} {
			if addr, ok := strings.CutPrefix(args[0], p); ok {
				return addr, true
			}
		}
	}
	return "", false
}

// floorAnswer has the shape and the size of verwerker's answer to a single
// question that is allowed.
var floorAnswer = []byte(`{"decision_id":"dec_01M84WX4M1FKJWJQMEXKJ87FPF","allow":true,` +
	`"reasons":[{"code":"in_scope","ref":"GDPR Art. 28(3)(a), 29; DPA v1 scope","message":"Data category, purpose and region are inside the customer's processing agreement."}],` +
	`"obligations":{"retention":"30d_after_last_interaction","deletion_deadline":"2026-12-23","deletion_due":"2026-12-24T00:00:00+01:00",` +
	`"key_ref":"tenant_keys/tnt_01M84WX3H1S5X7KZTVFFCA5D5C","actions":["retention","encrypt"]},"dpa_version":1,"dpa_version_id":"dpa_01M84WX3H7A6FMNEF34Y8QM6BM"}`)

// serveFloor serves the floor on addr until the process is ended: every
// request, whatever its method, path and headers, has its body read and gets
// floorAnswer.
func serveFloor(addr string) {
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(floorAnswer)
		})}
	fmt.Fprintln(os.Stderr, "decisionbench: floor:", srv.ListenAndServe())
	os.Exit(1)
}

var (
	rpsLine  = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reqsLine = regexp.MustCompile(`(\d+) requests in `)
	pctLine  = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
)

func parseWrk(out string) (result, error) {
	var r result
	m := rpsLine.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk: no throughput in output: %s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	m = reqsLine.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk: no request count in output: %s", out)
	}
	r.reqs, _ = strconv.ParseFloat(m[1], 64)
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

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/app"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/store"
)

// The load mode (-load) is the bench's resilience part: one verwerker
// replica answers decisions at a fixed rate (-rate for -load-duration: an
// open-loop generator, so a slow answer delays no later request and each
// latency counts from the moment its request was due, as wrk2 measures)
// while records are written, a data-subject export runs to its download
// and a retention sweep deletes -sweep-records records; every request must
// succeed, and p50, p99, p99.9 and the maximum are printed. Then a soak of
// mixed API traffic (-soak long, at -soak-rate) samples the replica's
// /metrics for heap and goroutines and fails if the idle replica after it
// holds more live heap or goroutines than before it, beyond a bound.
// Traffic goes to 127.0.0.1 only.

// Loopback addresses of the loaded replica.
const (
	loadAddr    = "127.0.0.1:18090"
	loadMetrics = "127.0.0.1:18464"
	loadDebug   = "127.0.0.1:18465"
)

// loadOptions are the load mode's settings.
type loadOptions struct {
	verwerker      string
	dbURL, dir     string
	tokens         map[string]string
	questions      []question
	rate           int
	duration       time.Duration
	inflight       int
	writeRate      int
	sweepRecords   int
	soak           time.Duration
	soakRate       int
	heapGrowth     float64
	goroutineSlack int
}

// call is one HTTP request of the load.
type call struct {
	method, path, auth string
	body               []byte
	want               int
}

// do sends c and reads the answer; it returns the body and an error unless
// the status is c.want.
func (c call) do(ctx context.Context, client *http.Client) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, c.method, "http://"+loadAddr+c.path, bytes.NewReader(c.body))
	if err != nil {
		return nil, err
	}
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", c.auth)
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != c.want {
		return body, fmt.Errorf("%s %s: status %d, want %d: %.200s", c.method, c.path, res.StatusCode, c.want, body)
	}
	return body, nil
}

// tally counts a phase's outcomes; the first few errors are kept.
type tally struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	first      []string
}

func (t *tally) add(err error) {
	if err == nil {
		t.ok.Add(1)
		return
	}
	t.failed.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.first) < 5 {
		t.first = append(t.first, err.Error())
	}
}

func (t *tally) String() string {
	s := fmt.Sprintf("%d ok, %d errors", t.ok.Load(), t.failed.Load())
	if len(t.first) > 0 {
		s += " (first: " + strings.Join(t.first, "; ") + ")"
	}
	return s
}

// runLoad runs the load and the soak against a replica it starts on the
// seeded database.
func runLoad(ctx context.Context, o loadOptions) error {
	k, err := loadKeys(ctx, o)
	if err != nil {
		return err
	}
	cmd := exec.Command(o.verwerker, "serve")
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), "DATABASE_URL="+o.dbURL, "VERWERKER_ADDR="+loadAddr, "VERWERKER_METRICS_ADDR="+loadMetrics, "VERWERKER_DEBUG_ADDR="+loadDebug,
		"VERWERKER_LOG_LEVEL=error", "VERWERKER_KEYRING_FILE="+filepath.Join(o.dir, "keyring.key"),
		"VERWERKER_SIGNING_KEY_FILE="+filepath.Join(o.dir, "signing.key"), "VERWERKER_SUBJECT_KEY_FILE="+filepath.Join(o.dir, "subject.key"),
		"VERWERKER_CHECKPOINT_INTERVAL=24h", "VERWERKER_DB_MAX_CONNS=40")
	p, err := start(ctx, cmd, loadAddr, "http://"+loadAddr+"/readyz")
	if err != nil {
		return fmt.Errorf("verwerker: %w", err)
	}
	defer p.stop()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.inflight, MaxConnsPerHost: o.inflight,
		DisableCompression: true, IdleConnTimeout: time.Minute}}

	decisions := make([]call, len(o.questions))
	for i, q := range o.questions {
		b, _ := json.Marshal(q.req.Input(q.tenant))
		decisions[i] = call{http.MethodPost, "/v1/decisions", "Bearer " + o.tokens[q.tenant], b, http.StatusOK}
	}
	// The export's subject has records before the load starts.
	for range 4 {
		if _, err := k.write("export-subject").do(ctx, client); err != nil {
			return fmt.Errorf("seeding the export's subject: %w", err)
		}
	}

	fmt.Printf("\n== load: %d decisions/s for %s against one replica, with record writes (%d/s), an export and a sweep of %d records ==\n",
		o.rate, o.duration, o.writeRate, o.sweepRecords)
	loadCtx, stop := context.WithCancel(ctx)
	var side sync.WaitGroup
	var writes, export, sweep tally
	side.Add(3)
	go func() { defer side.Done(); k.writeLoop(loadCtx, client, o.writeRate, &writes) }()
	go func() {
		defer side.Done()
		sleep(loadCtx, o.duration/6)
		export.add(k.export(ctx, client))
	}()
	go func() {
		defer side.Done()
		sleep(loadCtx, o.duration/3)
		// Seeded now, not before the replica started: its first periodic
		// sweep would have deleted them.
		err := seedDue(ctx, o.dbURL, k.sweepTenant, o.sweepRecords)
		if err == nil {
			err = k.sweep(ctx, client, o.sweepRecords)
		}
		sweep.add(err)
	}()
	var dec tally
	lat, sent, elapsed := openLoop(ctx, client, o.rate, o.duration, o.inflight, func(i int) call { return decisions[i%len(decisions)] }, &dec)
	stop()
	side.Wait()
	achieved := float64(sent) / elapsed.Seconds()
	fmt.Printf("decisions: %s; %.0f/s achieved of %d/s\n", dec.String(), achieved, o.rate)
	fmt.Printf("decision latency from the due time (open loop): p50 %s, p99 %s, p99.9 %s, max %s\n",
		pct(lat, 50), pct(lat, 99), pct(lat, 99.9), pct(lat, 100))
	fmt.Printf("record writes during the load: %s\nexport during the load: %s\nsweep during the load: %s\n", writes.String(), export.String(), sweep.String())
	var problems []string
	for name, t := range map[string]*tally{"decisions": &dec, "record writes": &writes, "export": &export, "sweep": &sweep} {
		if t.failed.Load() > 0 || t.ok.Load() == 0 {
			problems = append(problems, name+" had errors")
		}
	}
	if achieved < 0.95*float64(o.rate) {
		problems = append(problems, fmt.Sprintf("the rate was not reached (%.0f/s of %d/s)", achieved, o.rate))
	}

	if o.soak > 0 {
		if err := k.soak(ctx, client, o, decisions); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// openLoop sends next(i) at rate per second for d, at most inflight at
// once, and returns the latencies (from each request's due time), how many
// were sent, and d.
func openLoop(ctx context.Context, client *http.Client, rate int, d time.Duration, inflight int, next func(int) call, t *tally) ([]time.Duration, int, time.Duration) {
	type due struct {
		c  call
		at time.Time
	}
	queue := make(chan due, inflight)
	results := make([][]time.Duration, inflight)
	var wg sync.WaitGroup
	for w := range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range queue {
				sent := time.Now()
				_, err := r.c.do(ctx, client)
				results[w] = append(results[w], time.Since(r.at))
				if err != nil {
					err = fmt.Errorf("%w (after %s)", err, time.Since(sent).Round(time.Millisecond))
				}
				t.add(err)
			}
		}()
	}
	interval := time.Second / time.Duration(rate)
	total := int(d / interval)
	begin := time.Now()
	sent := 0
	// Requests not sent by the end (the replica fell behind, all inflight
	// busy) are not sent at all: the rate achieved says so.
	for ; sent < total && ctx.Err() == nil; sent++ {
		at := begin.Add(time.Duration(sent) * interval)
		if wait := time.Until(at); wait > 200*time.Microsecond {
			time.Sleep(wait)
		}
		if time.Since(begin) > d {
			break
		}
		queue <- due{next(sent), at}
	}
	close(queue)
	wg.Wait()
	var all []time.Duration
	for _, r := range results {
		all = append(all, r...)
	}
	slices.Sort(all)
	return all, sent, d
}

// pct is the p-th percentile of sorted.
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)].Round(time.Microsecond)
}

// loadKeyset are the credentials and customers of the side traffic.
type loadKeyset struct {
	writer, admin, dpo string // Bearer tokens
	tenant             string // records, the export and the soak's reads
	sweepTenant        string // the sweep
}

// loadKeys issues a chat service key, a controller admin key and a DPO key
// for the side traffic, as an operator's tools issue them.
func loadKeys(ctx context.Context, o loadOptions) (*loadKeyset, error) {
	db, err := store.Open(ctx, o.dbURL, store.Options{MaxConns: 2})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	a, err := app.New(ctx, app.Config{KeyringFile: filepath.Join(o.dir, "keyring.key"), SubjectKeyFile: filepath.Join(o.dir, "subject.key")}, app.Deps{DB: db})
	if err != nil {
		return nil, err
	}
	defer a.Close()
	ids := make([]string, 0, len(o.tokens))
	for id := range o.tokens {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) < 2 {
		return nil, errors.New("the load needs at least two customers")
	}
	k := &loadKeyset{writer: "Bearer " + o.tokens[ids[0]], tenant: ids[0], sweepTenant: ids[1]}
	for _, x := range []struct {
		role, domain string
		into         *string
	}{{"controller_admin", ids[0], &k.admin}, {"dpo", verwerker.PlatformDomain, &k.dpo}} {
		_, token, err := a.Keys.Issue(ctx, identity.NewKey{Label: "load " + x.role, Role: x.role, Domain: x.domain})
		if err != nil {
			return nil, err
		}
		*x.into = "Bearer " + token
	}
	return k, nil
}

// seedDue inserts n subjects of tenantID, each with a data key and one
// chat message due an hour ago, for the sweep to delete.
func seedDue(ctx context.Context, dbURL, tenantID string, n int) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	now := time.Now().UTC()
	for _, q := range []string{
		`INSERT INTO subjects (tenant_id, id, ref, last_interaction_at, created_at, updated_at)
			SELECT $1, 'sub_due' || lpad(i::text, 24, '0'), sha256(convert_to('due' || i::text, 'UTF8')), $2, $2, $2 FROM generate_series(1, $3) AS i`,
		`INSERT INTO subject_keys (tenant_id, subject_id, wrapped, key_version, created_at)
			SELECT $1, 'sub_due' || lpad(i::text, 24, '0'), 'local:v1:load', 1, $2 FROM generate_series(1, $3) AS i`,
		`INSERT INTO records (tenant_id, id, subject_id, kind, category, purpose, region, dpa_version, decision_id, retention_rule,
				delete_after, created_at, sealed)
			SELECT $1, 'rec_due' || lpad(i::text, 24, '0'), 'sub_due' || lpad(i::text, 24, '0'), 'chat.message', 'chat.message',
				'service.delivery', 'nl', 1, 'dec_load', '30d_after_last_interaction', $2::timestamptz + interval '30 days', $2::timestamptz,
				decode(repeat('5a', 100), 'hex')
			FROM generate_series(1, $3) AS i`,
	} {
		if _, err := conn.Exec(ctx, q, tenantID, now.Add(-31*24*time.Hour), n); err != nil {
			return fmt.Errorf("seeding due records: %w", err)
		}
	}
	return nil
}

// write is a record write of one chat message of subject ref.
func (k *loadKeyset) write(ref string) call {
	b, _ := json.Marshal(map[string]any{"items": []any{map[string]any{"subject_ref": ref, "kind": "chat.message", "category": "chat.message",
		"purpose": "service.delivery", "region": "nl", "content": map[string]any{"text": "Hallo, ik heb een vraag over mijn bestelling."}}}})
	return call{http.MethodPost, "/v1/tenants/" + k.tenant + "/records", k.writer, b, http.StatusCreated}
}

// writeLoop writes rate records per second, for 1,000 subjects, until ctx
// ends.
func (k *loadKeyset) writeLoop(ctx context.Context, client *http.Client, rate int, t *tally) {
	tick := time.NewTicker(time.Second / time.Duration(max(rate, 1)))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := k.write(fmt.Sprintf("load-visitor-%d", i%1000)).do(context.WithoutCancel(ctx), client)
			t.add(err)
		}()
	}
}

// export runs a data-subject access request to its download: created,
// instructed, executed by the replica's job, downloaded.
func (k *loadKeyset) export(ctx context.Context, client *http.Client) error {
	base := "/v1/tenants/" + k.tenant + "/requests"
	body, err := call{http.MethodPost, base, k.admin, []byte(`{"type":"access","subject_ref":"export-subject"}`), http.StatusCreated}.do(ctx, client)
	if err != nil {
		return err
	}
	var r struct{ ID, State string }
	if err := json.Unmarshal(body, &r); err != nil {
		return err
	}
	if _, err := (call{http.MethodPost, base + "/" + r.ID + "/instructions", k.admin, []byte(`{"action":"export"}`), http.StatusOK}).do(ctx, client); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for r.State != "completed" {
		if time.Now().After(deadline) {
			return fmt.Errorf("export: still %s after 30 s", r.State)
		}
		sleep(ctx, 100*time.Millisecond)
		body, err := call{http.MethodGet, base + "/" + r.ID, k.admin, nil, http.StatusOK}.do(ctx, client)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return err
		}
	}
	zip, err := call{http.MethodGet, base + "/" + r.ID + "/export", k.admin, nil, http.StatusOK}.do(ctx, client)
	if err == nil && !bytes.HasPrefix(zip, []byte("PK")) {
		err = errors.New("export: the download is not a ZIP")
	}
	return err
}

// sweep runs the sweep tenant's retention sweep and checks that it
// deleted the n due records. A sweep the replica's own schedule started
// meanwhile is joined and answers "running": it is then followed to its
// certificate.
func (k *loadKeyset) sweep(ctx context.Context, client *http.Client, n int) error {
	path := "/v1/tenants/" + k.sweepTenant + "/retention/sweeps"
	body, err := call{http.MethodPost, path, k.dpo, nil, http.StatusOK}.do(ctx, client)
	var w struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Records int    `json:"records"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err != nil {
			return err
		}
		if err := json.Unmarshal(body, &w); err != nil {
			return err
		}
		if w.Status == "completed" || time.Now().After(deadline) {
			break
		}
		sleep(ctx, 200*time.Millisecond)
		body, err = call{http.MethodGet, path + "/" + w.ID, k.dpo, nil, http.StatusOK}.do(ctx, client)
	}
	if w.Status != "completed" || w.Records != n {
		return fmt.Errorf("sweep: %s with %d records, want completed with %d", w.Status, w.Records, n)
	}
	return nil
}

// runtimeSample is a reading of the replica's runtime metrics.
type runtimeSample struct {
	at               time.Duration
	heap, goroutines float64
}

// readRuntime reads the heap in use and the goroutines from /metrics.
func readRuntime(ctx context.Context, client *http.Client) (runtimeSample, error) {
	var s runtimeSample
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+loadMetrics+"/metrics", nil)
	if err != nil {
		return s, err
	}
	res, err := client.Do(req)
	if err != nil {
		return s, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := 0
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_memstats_heap_inuse_bytes":
			s.heap, found = v, found+1
		case "go_goroutines":
			s.goroutines, found = v, found+1
		}
	}
	if found != 2 {
		return s, errors.New("metrics: go_memstats_heap_inuse_bytes or go_goroutines missing")
	}
	return s, sc.Err()
}

// quiet reads the runtime metrics of the idle replica: after the traffic
// has stopped for a few seconds and a garbage collection (the profiler's
// heap profile with gc=1), so the heap is what is live and the goroutines
// are those that stay.
func quiet(ctx context.Context, client *http.Client) (runtimeSample, error) {
	sleep(ctx, 5*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+loadDebug+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return runtimeSample{}, err
	}
	res, err := client.Do(req)
	if err != nil {
		return runtimeSample{}, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return readRuntime(ctx, client)
}

// soak sends mixed API traffic (decisions, record writes, reads of
// requests, sweeps, forecast, certificates) at o.soakRate for o.soak,
// sampling the replica's heap and goroutines every few seconds (printed:
// the trend under traffic). It fails when the idle replica after the soak
// (quiet) has more live heap or goroutines than the idle replica before it
// by more than the bounds: what stays after the traffic is what leaks.
func (k *loadKeyset) soak(ctx context.Context, client *http.Client, o loadOptions, decisions []call) error {
	fmt.Printf("\n== soak: mixed API traffic at %d requests/s for %s; heap and goroutines from /metrics ==\n", o.soakRate, o.soak)
	t := "/v1/tenants/" + k.tenant
	reads := []call{
		{http.MethodGet, t + "/requests", k.admin, nil, http.StatusOK},
		{http.MethodGet, t + "/retention/sweeps", k.admin, nil, http.StatusOK},
		{http.MethodGet, t + "/retention/forecast", k.admin, nil, http.StatusOK},
		{http.MethodGet, t + "/deletion-certificates", k.admin, nil, http.StatusOK},
		{http.MethodPost, t + "/subjects/export", k.admin, []byte(`{"subject_ref":"export-subject"}`), http.StatusOK},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	mixed := func(i int) call {
		mu.Lock()
		x := rng.IntN(100)
		mu.Unlock()
		switch {
		case x < 90:
			return decisions[i%len(decisions)]
		case x < 95:
			return k.write(fmt.Sprintf("soak-visitor-%d", i%5000))
		default:
			return reads[i%len(reads)]
		}
	}
	before, err := quiet(ctx, client)
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var samples []runtimeSample
	var sampleErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		begin := time.Now()
		every := max(o.soak/40, time.Second)
		for sctx.Err() == nil {
			s, err := readRuntime(sctx, client)
			if err != nil {
				if sctx.Err() == nil {
					sampleErr = err
				}
				return
			}
			s.at = time.Since(begin)
			samples = append(samples, s)
			sleep(sctx, every)
		}
	}()
	var tl tally
	lat, _, _ := openLoop(ctx, client, o.soakRate, o.soak, o.inflight, mixed, &tl)
	stop()
	<-done
	fmt.Printf("soak requests: %s; latency p50 %s, p99 %s, p99.9 %s\n", tl.String(), pct(lat, 50), pct(lat, 99), pct(lat, 99.9))
	if sampleErr != nil {
		return sampleErr
	}
	for _, s := range samples {
		fmt.Printf("  %6.0fs heap %6.1f MiB, %4.0f goroutines\n", s.at.Seconds(), s.heap/(1<<20), s.goroutines)
	}
	after, err := quiet(ctx, client)
	if err != nil {
		return err
	}
	limitHeap := before.heap*o.heapGrowth + 16<<20
	limitG := before.goroutines + float64(o.goroutineSlack)
	fmt.Printf("soak: idle replica after a GC, before and after the soak: live heap %.1f MiB, then %.1f MiB (bound %.1f MiB); goroutines %.0f, then %.0f (bound %.0f)\n",
		before.heap/(1<<20), after.heap/(1<<20), limitHeap/(1<<20), before.goroutines, after.goroutines, limitG)
	var problems []string
	if tl.failed.Load() > 0 {
		problems = append(problems, "soak requests had errors")
	}
	if after.heap > limitHeap {
		problems = append(problems, "soak: the heap grew beyond the bound")
	}
	if after.goroutines > limitG {
		problems = append(problems, "soak: the goroutines grew beyond the bound")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

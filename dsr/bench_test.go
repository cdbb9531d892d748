package dsr_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/dpa/dpatest"
	"github.com/verwerker/verwerker/dsr"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/records"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
	"github.com/verwerker/verwerker/subject"
	"github.com/verwerker/verwerker/subprocessor"
	"github.com/verwerker/verwerker/tenant"
)

type fixture struct {
	ctx     context.Context
	db      *store.DB
	clock   *verwerker.ManualClock
	tenant  string
	records *records.Store
	subs    *subject.Service
	svc     *dsr.Service
}

// setup builds the request service without an outbox on a fresh database
// with one customer whose agreement allows chat messages and invoices;
// records are sealed with the local keyring.
func setup(t testing.TB) *fixture {
	t.Helper()
	ctx := verwerker.WithPrincipal(context.Background(), verwerker.Principal{ID: "key_test", Kind: verwerker.PrincipalAPIKey})
	db := storetest.New(t)
	clock := verwerker.NewManualClock(time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC))
	log := audit.NewLog(db, clock)
	t.Cleanup(log.Close)
	tn, err := tenant.NewService(db, clock, log).Create(ctx, tenant.New{Name: "Tenant A", Country: "NL", ContactEmail: "privacy@a.example"})
	require.NoError(t, err)
	agreements := dpa.NewService(db, clock, log, subprocessor.Lists{})
	subjects, err := subject.NewService(db, clock, log, make([]byte, subject.KeySize))
	require.NoError(t, err)
	decisions, err := decision.New(ctx, db, agreements, subjects, log, clock, nil)
	require.NoError(t, err)
	dpatest.Activate(t, agreements, tn.ID, dpa.Scope{
		Categories: []dpa.CategoryScope{{ID: "chat.message", Retention: dpa.Retention30DaysAfterLastInteraction},
			{ID: "billing.invoice", Retention: dpa.RetentionStatutory7Years}},
		Purposes:      []string{"service.delivery", "billing"},
		BreachContact: dpa.Contact{Email: "breach@a.example"}, DPOContact: dpa.Contact{Email: "dpo@a.example"},
	})
	ring, err := keys.OpenLocalKeyring(filepath.Join(t.TempDir(), "keyring.key"), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(ring.Close)
	mgr := keys.NewManager(db, ring, keys.ManagerOptions{Clock: clock})
	t.Cleanup(mgr.Close)
	rec := records.New(db, mgr, decisions, subjects, log, clock, slog.New(slog.DiscardHandler))
	return &fixture{ctx: ctx, db: db, clock: clock, tenant: tn.ID, records: rec, subs: subjects,
		svc: dsr.New(db, clock, log, nil, rec, subjects, nil, nil, dsr.Options{Keys: mgr})}
}

// seed stores n chat messages of about 200 bytes for ref and returns the
// subject's id.
func (f *fixture) seed(t testing.TB, ref string, n int) string {
	t.Helper()
	text := strings.Repeat("Goedemiddag, ik heb een vraag over mijn bestelling van vorige week. ", 3)[:180]
	for done := 0; done < n; {
		batch := min(records.MaxBatch, n-done)
		items := make([]records.Item, batch)
		for i := range items {
			content, _ := json.Marshal(map[string]string{"text": fmt.Sprintf("%06d %s", done+i, text)})
			items[i] = records.Item{SubjectRef: ref, Kind: records.KindMessage, Category: "chat.message", Purpose: "service.delivery", Region: "nl", Content: content}
		}
		_, err := f.records.Write(f.ctx, f.tenant, -1, items)
		require.NoError(t, err)
		done += batch
	}
	var id string
	err := f.db.InTenantTx(f.ctx, f.tenant, func(tx pgx.Tx) error {
		st, err := f.subs.Find(f.ctx, tx, f.tenant, ref)
		id = st.ID
		return err
	})
	require.NoError(t, err)
	return id
}

// benchMessages is the size of the exported subject.
const benchMessages = 20000

// BenchmarkRequestExport builds the ZIP of an access request (records.json,
// a CSV per kind, summary.txt) for one subject with 20,000 chat messages,
// warm (the data key cached); builds it as it was built before the export
// streamed (zip-before: the document buffered, parsed again for the CSVs,
// each entry compressed in turn); and fetches the same sealed rows with
// `psql -c "COPY (SELECT ...) TO STDOUT"`, for the side-by-side in
// deploy/bench.sh.
func BenchmarkRequestExport(b *testing.B) {
	f := setup(b)
	sid := f.seed(b, "visitor-bench", benchMessages)
	_, err := f.db.Pool.Exec(f.ctx, `ANALYZE records`)
	require.NoError(b, err)
	var buf bytes.Buffer
	_, err = dsr.BuildExport(f.ctx, f.records, f.tenant, sid, "en", f.clock.Now(), &buf, nil) // warms the key cache
	require.NoError(b, err)

	b.Run("zip", func(b *testing.B) {
		var size int
		for b.Loop() {
			buf.Reset()
			st, err := dsr.BuildExport(f.ctx, f.records, f.tenant, sid, "en", f.clock.Now(), &buf, nil)
			if err != nil {
				b.Fatal(err)
			}
			if st.Records != benchMessages {
				b.Fatalf("exported %d records", st.Records)
			}
			size = buf.Len()
		}
		perOp := b.Elapsed().Seconds() / float64(b.N)
		b.SetBytes(int64(size))
		b.ReportMetric(perOp*1000, "ms/export")
		b.ReportMetric(benchMessages/perOp, "rows/s")
	})

	b.Run("zip-before", func(b *testing.B) {
		for b.Loop() {
			buf.Reset()
			if err := buildExportBefore(f.ctx, f.records, f.tenant, sid, f.clock.Now(), &buf); err != nil {
				b.Fatal(err)
			}
		}
		perOp := b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(perOp*1000, "ms/export")
		b.ReportMetric(benchMessages/perOp, "rows/s")
	})

	b.Run("psql-copy", func(b *testing.B) {
		psql, err := exec.LookPath("psql")
		if err != nil {
			b.Skip("psql is not installed")
		}
		cc := f.db.Pool.Config().ConnConfig
		query := fmt.Sprintf(`COPY (SELECT id, kind, conversation_id, category, purpose, region, dpa_version, decision_id, retention_rule,
			delete_after, created_at, sealed FROM records WHERE tenant_id = '%s' AND subject_id = '%s' ORDER BY seq) TO STDOUT`, f.tenant, sid)
		for b.Loop() {
			cmd := exec.Command(psql, "-X", "-q", "-h", cc.Host, "-p", strconv.Itoa(int(cc.Port)), "-U", cc.User, "-d", cc.Database, "-c", query)
			cmd.Env = append(os.Environ(), "PGPASSWORD="+cc.Password)
			var errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = io.Discard, &errb
			if err := cmd.Run(); err != nil {
				b.Fatalf("psql: %v: %s", err, errb.String())
			}
		}
		perOp := b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(perOp*1000, "ms/export")
		b.ReportMetric(benchMessages/perOp, "rows/s")
	})
}

// benchOpen is the number of open requests the sweep goes over.
const benchOpen = 100000

// BenchmarkRequestSweep runs the reminder and deadline sweep over 100,000
// open requests whose deadlines are spread over the next two months (about
// a tenth of them due for a reminder, sent at the first sweep; each sweep
// counts the open and overdue ones and looks for due reminders).
func BenchmarkRequestSweep(b *testing.B) {
	f := setup(b)
	now := f.clock.Now().UTC()
	_, err := f.db.Pool.Exec(f.ctx, `INSERT INTO dsr_requests (tenant_id, id, type, state, source, received_at, due_last_day, due_at, forward_due_at, created_at, updated_at)
		SELECT $1, 'dsr_' || lpad(i::text, 26, '0'), 'access', 'awaiting_instruction', 'controller', $2::timestamptz,
			($2::timestamptz + make_interval(mins => i))::date, $2::timestamptz + make_interval(mins => i), $2::timestamptz, $2::timestamptz, $2::timestamptz
		FROM generate_series(1, $3) i`, f.tenant, now, benchOpen)
	require.NoError(b, err)
	_, err = f.db.Pool.Exec(f.ctx, `ANALYZE dsr_requests`)
	require.NoError(b, err)
	first, err := f.svc.Sweep(f.ctx)
	require.NoError(b, err)
	require.Equal(b, benchOpen, first.Open)
	b.Logf("first sweep: %d reminders", first.Reminded)
	for b.Loop() {
		res, err := f.svc.Sweep(f.ctx)
		if err != nil {
			b.Fatal(err)
		}
		if res.Open != benchOpen {
			b.Fatalf("open %d", res.Open)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1000, "ms/sweep")
	b.ReportMetric(float64(first.Reminded), "reminders/first-sweep")
}

// buildExportBefore is how BuildExport worked before it streamed: the JSON
// document buffered whole, parsed again into records for the CSVs
// (encoding/csv), every entry compressed in turn. Kept as the baseline of
// BenchmarkRequestExport and the reference of TestExportMatchesBefore.
func buildExportBefore(ctx context.Context, rec *records.Store, tenantID, subjectID string, now time.Time, w io.Writer) error {
	e, err := rec.OpenExportOf(ctx, tenantID, subjectID)
	if err != nil {
		return err
	}
	defer e.Close()
	var doc bytes.Buffer
	if _, err := e.WriteTo(ctx, func() io.Writer { return &doc }); err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) { return flate.NewWriter(out, flate.BestSpeed) })
	f, err := zw.CreateHeader(&zip.FileHeader{Name: "records.json", Method: zip.Deflate, Modified: now})
	if err != nil {
		return err
	}
	if _, err := f.Write(doc.Bytes()); err != nil {
		return err
	}
	var parsed struct {
		Records []struct {
			ID             string          `json:"id"`
			Kind           string          `json:"kind"`
			ConversationID string          `json:"conversation_id"`
			Category       string          `json:"category"`
			Purpose        string          `json:"purpose"`
			Region         string          `json:"region"`
			CreatedAt      string          `json:"created_at"`
			Content        json.RawMessage `json:"content"`
		} `json:"records"`
	}
	if err := json.Unmarshal(doc.Bytes(), &parsed); err != nil {
		return err
	}
	byKind := map[string][]int{}
	for i, r := range parsed.Records {
		byKind[r.Kind] = append(byKind[r.Kind], i)
	}
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: "records-" + k + ".csv", Method: zip.Deflate, Modified: now})
		if err != nil {
			return err
		}
		cw := csv.NewWriter(f)
		_ = cw.Write([]string{"id", "kind", "conversation_id", "category", "purpose", "region", "created_at", "content"})
		for _, i := range byKind[k] {
			r := parsed.Records[i]
			content := string(r.Content)
			var s string
			if json.Unmarshal(r.Content, &s) == nil {
				content = s
			}
			if content != "" && strings.ContainsRune("=+-@\t\r", rune(content[0])) {
				content = "'" + content
			}
			_ = cw.Write([]string{r.ID, r.Kind, r.ConversationID, r.Category, r.Purpose, r.Region, r.CreatedAt, content})
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	}
	return zw.Close()
}

// zipEntries reads every entry of a ZIP.
func zipEntries(t testing.TB, raw []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	require.NoError(t, err)
	out := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		body, err := io.ReadAll(rc) // checks the CRC too
		require.NoError(t, err)
		rc.Close()
		out[f.Name] = string(body)
	}
	return out
}

// TestExportMatchesBefore: the streamed export (one read, CSV rows written
// as the records stream, entries compressed beside the read) holds exactly
// what the export built before held, entry by entry (differential test),
// for a subject with two kinds of records and content that needs quoting.
func TestExportMatchesBefore(t *testing.T) {
	t.Parallel()
	f := setup(t)
	sid := f.seed(t, "visitor-diff", 3000)
	items := []records.Item{}
	for _, text := range []string{"=SUM(A1)", "a, \"quoted\"\nline", "-1", " lead"} {
		content, _ := json.Marshal(map[string]string{"text": text})
		items = append(items, records.Item{SubjectRef: "visitor-diff", Kind: "admin.invoice", Category: "billing.invoice", Purpose: "billing", Region: "nl", Content: content})
		content, _ = json.Marshal(text)
		items = append(items, records.Item{SubjectRef: "visitor-diff", Kind: records.KindMessage, Category: "chat.message", Purpose: "service.delivery", Region: "nl", Content: content})
	}
	_, err := f.records.Write(f.ctx, f.tenant, -1, items)
	require.NoError(t, err)
	var before, after bytes.Buffer
	require.NoError(t, buildExportBefore(f.ctx, f.records, f.tenant, sid, f.clock.Now(), &before))
	calls := 0
	st, err := dsr.BuildExport(f.ctx, f.records, f.tenant, sid, "en", f.clock.Now(), &after, func(int) { calls++ })
	require.NoError(t, err)
	require.Equal(t, 3008, st.Records)
	require.Equal(t, 1, calls, "progress every 2000 records")
	want, got := zipEntries(t, before.Bytes()), zipEntries(t, after.Bytes())
	require.Contains(t, got["summary.txt"], "admin.invoice")
	delete(got, "summary.txt")
	require.Equal(t, want, got)
}

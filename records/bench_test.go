package records_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/records"
)

// benchMessages is the size of the exported subject in BenchmarkExport.
const benchMessages = 20000

// seed stores n chat messages of about 200 bytes for ref, in batches.
func seed(t testing.TB, f *fixture, ref string, n int) {
	t.Helper()
	text := strings.Repeat("Goedemiddag, ik heb een vraag over mijn bestelling van vorige week. ", 3)[:180]
	for done := 0; done < n; {
		batch := min(records.MaxBatch, n-done)
		items := make([]records.Item, batch)
		for i := range items {
			items[i] = message(ref, fmt.Sprintf("%06d %s", done+i, text))
		}
		_, err := f.store.Write(f.ctx, f.tenant, -1, items)
		require.NoError(t, err)
		done += batch
	}
}

// TestExportKeyringCallsScaleWithSubjects: a cold export costs one keyring
// request per subject, whether the subject has one record or hundreds.
func TestExportKeyringCallsScaleWithSubjects(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	for i, n := range []int{1, 50, 1500} {
		ref := fmt.Sprintf("visitor-%d", i)
		seed(t, f, ref, n)
		f.keys.Cache().Purge("")
		before := f.ring.Calls()
		doc, err := f.export(t, ref)
		require.NoError(t, err)
		require.EqualValues(t, n, doc["count"])
		require.Equal(t, before+1, f.ring.Calls(), "%d records: one keyring request", n)
		t.Logf("export of %d records: %d keyring request(s)", n, f.ring.Calls()-before)
	}
}

// BenchmarkExport exports one subject with 20,000 chat messages, warm (the
// data key cached), and the same rows through `psql -c "COPY (SELECT ...)
// TO STDOUT"`, for the side-by-side in deploy/bench.sh.
func BenchmarkExport(b *testing.B) {
	f := setup(b, nil)
	seed(b, f, "visitor-bench", benchMessages)
	e, err := f.store.OpenExport(f.ctx, f.tenant, "visitor-bench")
	require.NoError(b, err)
	sid := e.SubjectID()
	e.Close()
	_, err = f.db.Pool.Exec(f.ctx, `ANALYZE records`)
	require.NoError(b, err)

	// Keyring requests of one cold export (the cache emptied first).
	f.keys.Cache().Purge("")
	before := f.ring.Calls()
	_, err = f.export(b, "visitor-bench")
	require.NoError(b, err)
	coldCalls := f.ring.Calls() - before

	b.Run("verwerker", func(b *testing.B) {
		var bytes int64
		calls := f.ring.Calls()
		b.ResetTimer()
		for range b.N {
			e, err := f.store.OpenExport(f.ctx, f.tenant, "visitor-bench")
			if err != nil {
				b.Fatal(err)
			}
			st, err := e.WriteTo(f.ctx, func() io.Writer { return io.Discard })
			e.Close()
			if err != nil {
				b.Fatal(err)
			}
			if st.Records != benchMessages {
				b.Fatalf("exported %d records", st.Records)
			}
			bytes = st.Bytes
		}
		b.StopTimer()
		perOp := b.Elapsed().Seconds() / float64(b.N)
		b.SetBytes(bytes)
		b.ReportMetric(perOp*1000, "ms/export")
		b.ReportMetric(benchMessages/perOp, "rows/s")
		b.ReportMetric(float64(f.ring.Calls()-calls)/float64(b.N), "vault-calls/warm-export")
		b.ReportMetric(float64(coldCalls), "vault-calls/cold-export")
	})

	b.Run("psql-copy", func(b *testing.B) {
		psql, err := exec.LookPath("psql")
		if err != nil {
			b.Skip("psql is not installed")
		}
		cc := f.db.Pool.Config().ConnConfig
		query := fmt.Sprintf(`COPY (SELECT id, kind, conversation_id, category, purpose, region, dpa_version, decision_id, retention_rule,
			delete_after, created_at, sealed FROM records WHERE tenant_id = '%s' AND subject_id = '%s' ORDER BY seq) TO STDOUT`, f.tenant, sid)
		var size int64
		b.ResetTimer()
		for range b.N {
			cmd := exec.Command(psql, "-X", "-q", "-h", cc.Host, "-p", strconv.Itoa(int(cc.Port)), "-U", cc.User, "-d", cc.Database, "-c", query)
			cmd.Env = append(os.Environ(), "PGPASSWORD="+cc.Password)
			var errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &countWriter{n: &size}, &errb
			if err := cmd.Run(); err != nil {
				b.Fatalf("psql: %v: %s", err, errb.String())
			}
		}
		b.StopTimer()
		perOp := b.Elapsed().Seconds() / float64(b.N)
		b.SetBytes(size / int64(b.N))
		b.ReportMetric(perOp*1000, "ms/export")
		b.ReportMetric(benchMessages/perOp, "rows/s")
	})
}

type countWriter struct{ n *int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	*c.n += int64(len(p))
	return len(p), nil
}

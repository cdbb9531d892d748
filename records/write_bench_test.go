package records_test

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/records"
)

// BenchmarkWrite measures the write path (decision, subject, data key,
// seal, insert, commit) with the local keyring: one message per write, a
// batch of 100 messages of 10 new subjects, and one message per write from
// 8 writers at once for different subjects of one customer (they must not
// wait for each other).
func BenchmarkWrite(b *testing.B) {
	ring, err := keys.OpenLocalKeyring(filepath.Join(b.TempDir(), "keyring.key"), slog.New(slog.DiscardHandler))
	require.NoError(b, err)
	f := setup(b, ring)
	report := func(b *testing.B, perOp int) {
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/write")
		b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "records/s")
	}
	b.Run("batch=1", func(b *testing.B) {
		i := 0
		for b.Loop() {
			_, err := f.store.Write(f.ctx, f.tenant, -1, []records.Item{message(fmt.Sprintf("visitor-%d", i%100), "Goedemiddag, een vraag over mijn bestelling.")})
			if err != nil {
				b.Fatal(err)
			}
			i++
		}
		report(b, 1)
	})
	b.Run("batch=100", func(b *testing.B) {
		// New subjects each time: a subject's earlier records have their
		// deadline postponed by every write, which would grow with b.N.
		items := make([]records.Item, 100)
		n := 0
		for b.Loop() {
			for i := range items {
				items[i] = message(fmt.Sprintf("batch-%d-%d", n, i%10), "Goedemiddag, een vraag over mijn bestelling.")
			}
			if _, err := f.store.Write(f.ctx, f.tenant, -1, items); err != nil {
				b.Fatal(err)
			}
			n++
		}
		report(b, 100)
	})
	b.Run("parallel=8", func(b *testing.B) {
		var next atomic.Int64
		b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0))) // 8 writers
		b.RunParallel(func(pb *testing.PB) {
			w := next.Add(1)
			i := 0
			for pb.Next() {
				ref := fmt.Sprintf("writer-%d-%d", w, i%20)
				if _, err := f.store.Write(f.ctx, f.tenant, -1, []records.Item{message(ref, "Goedemiddag, een vraag over mijn bestelling.")}); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		report(b, 1)
	})
}

package audit_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker/audit"
)

// BenchmarkAppend compares group commit (many concurrent writers share
// transactions) with one event per transaction, on the same database, with
// the chain and synchronous commit on in both. `make bench` prints the ratio.
func BenchmarkAppend(b *testing.B) {
	chains := []string{"tnt_A", "tnt_B", "tnt_C", "tnt_D", audit.PlatformChain}
	b.Run("group-commit", func(b *testing.B) {
		bundle := setup(b)
		ctx := context.Background()
		b.SetParallelism(128)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := bundle.log.Append(ctx, event(chains[i%len(chains)], i)); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("one-per-commit", func(b *testing.B) {
		bundle := setup(b)
		ctx := context.Background()
		b.SetParallelism(8) // the pool has 20 connections; more only queues
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				err := bundle.db.InTx(ctx, func(tx pgx.Tx) error {
					_, err := bundle.log.AppendTx(ctx, tx, event(chains[i%len(chains)], i))
					return err
				})
				if err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

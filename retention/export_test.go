package retention

import "context"

// SetBatchSize sets how many records one deleting transaction takes.
func SetBatchSize(s *Service, n int) { s.batchSize = n }

// SetAfterBatch sets a function run after each committed batch.
func SetAfterBatch(s *Service, fn func(ctx context.Context, sweepID string)) { s.afterBatch = fn }

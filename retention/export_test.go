package retention

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// SetBatchSize sets how many records one deleting transaction takes.
func SetBatchSize(s *Service, n int) { s.batchSize = n }

// SetAfterBatch sets a function run after each committed batch.
func SetAfterBatch(s *Service, fn func(ctx context.Context, sweepID string)) { s.afterBatch = fn }

// SetInBatch sets a function run inside each deleting transaction before
// it commits.
func SetInBatch(s *Service, fn func(ctx context.Context, tx pgx.Tx)) { s.inBatch = fn }

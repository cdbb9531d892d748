package dsr

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
)

// Limits are the public intake's rate limits: at most PerAddress
// submissions per client address and PerEmail per e-mail address in each
// fixed Window. They are kept in Postgres (dsr_rate_windows), so every
// replica on one database enforces one limit.
type Limits struct {
	PerAddress, PerEmail int
	Window               time.Duration
}

// DefaultLimits: 5 per address and 3 per e-mail address an hour.
var DefaultLimits = Limits{PerAddress: 5, PerEmail: 3, Window: time.Hour}

// allow counts a submission from addr for email in the current window, or
// returns ETHROTTLED with when the window ends. A refused submission is not
// counted: the transaction that counted it is rolled back. The keys are
// HMACs of the addresses, never the addresses.
func (s *Service) allow(ctx context.Context, addr, email string) error {
	l := s.opts.Limits
	now := s.clock.Now().UTC()
	start := now.Truncate(l.Window)
	limits := []struct {
		key []byte
		max int
	}{{s.subjects.Digest("dsr.rate/address", addr), l.PerAddress}, {s.subjects.Digest("dsr.rate/email", email), l.PerEmail}}
	throttled := &verwerker.Error{Code: verwerker.ETHROTTLED, Message: "too many requests; try again later",
		RetryAfter: start.Add(l.Window).Sub(now).Truncate(time.Second) + time.Second}
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		for _, k := range limits {
			var hits int
			if err := tx.QueryRow(ctx, `INSERT INTO dsr_rate_windows (key, window_start, hits) VALUES ($1, $2, 1)
				ON CONFLICT (key, window_start) DO UPDATE SET hits = dsr_rate_windows.hits + 1 RETURNING hits`, k.key, start).Scan(&hits); err != nil {
				return err
			}
			if hits > k.max {
				return throttled
			}
		}
		return nil
	})
	return verwerker.Wrap("dsr: rate limit", err)
}

// forgetWindows deletes the rate-limit counts of windows that ended.
func (s *Service) forgetWindows(ctx context.Context) error {
	start := s.clock.Now().UTC().Truncate(s.opts.Limits.Window)
	return verwerker.Wrap("dsr: rate limit", s.db.InTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM dsr_rate_windows WHERE window_start < $1`, start)
		return err
	}))
}

package store

import (
	"context"
	"log/slog"
	"time"
)

// Listen waits for notifications on channel until ctx ends: after each
// (re)connection it calls connected, then notified with each payload. It
// reconnects after errors with a growing pause (100 ms to 10 s), logging
// each failure, so a lost connection loses no change for good as long as
// connected catches up with what may have been missed.
func (db *DB) Listen(ctx context.Context, channel string, logger *slog.Logger, connected func(context.Context) error, notified func(context.Context, string) error) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := db.listen(ctx, channel, connected, notified)
		if ctx.Err() != nil {
			return
		}
		logger.Warn("listening for changes failed; retrying", "channel", channel, "error", err.Error(), "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (db *DB) listen(ctx context.Context, channel string, connected func(context.Context) error, notified func(context.Context, string) error) error {
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), "UNLISTEN "+channel) //nolint:errcheck // the connection goes back to the pool
	if err := connected(ctx); err != nil {
		return err
	}
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if err := notified(ctx, n.Payload); err != nil {
			return err
		}
	}
}

package store

import (
	"context"
	"log/slog"
)

// Listen waits for notifications on channel until ctx ends: after each
// (re)connection it calls connected, then notified with each payload. It
// is a Watcher with this one channel (reconnecting with a growing pause,
// and holding a lease like any replica's watcher), for components used on
// their own.
func (db *DB) Listen(ctx context.Context, channel string, logger *slog.Logger, connected func(context.Context) error, notified func(context.Context, string) error) {
	w := db.NewWatcher(WatcherOptions{Logger: logger})
	w.Handle(channel, connected, notified)
	w.Run(ctx)
}

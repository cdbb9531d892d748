package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DayCount is how many messages were delivered and how many gave up (dead)
// on one day.
type DayCount struct {
	Day             time.Time // midnight of the day in the location asked for
	Delivered, Dead int
}

// Daily counts, over every customer, the messages delivered and the
// messages that gave up per day since since, in loc's days, oldest first:
// the DPO's picture of the outbox.
func (o *Outbox) Daily(ctx context.Context, since time.Time, loc *time.Location) ([]DayCount, error) {
	rows, err := o.db.Pool.Query(ctx, `
		SELECT d, sum(delivered)::int, sum(dead)::int FROM (
			SELECT date_trunc('day', delivered_at AT TIME ZONE $2) AS d, 1 AS delivered, 0 AS dead
				FROM outbox_messages WHERE status = 'delivered' AND delivered_at >= $1
			UNION ALL
			SELECT date_trunc('day', dead_at AT TIME ZONE $2), 0, 1
				FROM outbox_messages WHERE status = 'dead' AND dead_at >= $1) x
		GROUP BY d ORDER BY d`, since, loc.String())
	if err != nil {
		return nil, fmt.Errorf("notify: daily counts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DayCount, error) {
		var c DayCount
		var d time.Time
		err := r.Scan(&d, &c.Delivered, &c.Dead)
		c.Day = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("notify: daily counts: %w", err)
	}
	return out, nil
}

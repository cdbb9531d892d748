package dsr

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/verwerker/verwerker"
)

// Week counts the requests received in one ISO week (starting Monday,
// UTC) of one type, and how their deadlines went: for the dashboard's
// chart of requests per week by type with deadline compliance.
type Week struct {
	Start time.Time
	Type  Type
	// Received counts the requests (duplicates excluded).
	Received int
	// InTime counts those completed or rejected before their deadline;
	// Late those completed after it or still open past it; Open the rest.
	InTime, Late, Open int
}

// Weekly returns the counts per week and type of the requests received
// from since on, of one tenant (every tenant's for "*"), oldest week first.
func (s *Service) Weekly(ctx context.Context, tenantID string, since time.Time) ([]Week, error) {
	var out []Week
	now := s.clock.Now().UTC()
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT date_trunc('week', received_at AT TIME ZONE 'UTC') AS week, type, count(*),
				count(*) FILTER (WHERE completed_at IS NOT NULL AND completed_at < due_at),
				count(*) FILTER (WHERE (completed_at IS NOT NULL AND completed_at >= due_at) OR (completed_at IS NULL AND paused_at IS NULL AND due_at <= $3)),
				count(*) FILTER (WHERE completed_at IS NULL AND (paused_at IS NOT NULL OR due_at > $3))
			FROM dsr_requests WHERE ($1 = '*' OR tenant_id = $1) AND received_at >= $2 AND state <> 'duplicate'
			GROUP BY 1, 2 ORDER BY 1, 2`, tenantID, since.UTC(), now)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Week, error) {
			var w Week
			err := row.Scan(&w.Start, &w.Type, &w.Received, &w.InTime, &w.Late, &w.Open)
			w.Start = time.Date(w.Start.Year(), w.Start.Month(), w.Start.Day(), 0, 0, 0, 0, time.UTC)
			return w, err
		})
		return err
	})
	return out, verwerker.Wrap("dsr: weekly", err)
}

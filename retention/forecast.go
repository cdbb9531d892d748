package retention

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/records"
	tenants "github.com/verwerker/verwerker/tenant"
)

// Horizons are the forecast's windows in days.
var Horizons = []int{7, 30, 90}

// CategoryForecast is what will be deleted of one category.
type CategoryForecast struct {
	Category string
	// Due counts the records due within each of Horizons days (overdue ones
	// included), ignoring holds; once the contract is terminated, every
	// record but statutory ones is due by the contract-end purge.
	Due []int64
}

// Countdown is the contract-end purge's clock of a terminated customer.
type Countdown struct {
	Status      tenants.Status
	ContractEnd deadline.Date
	// PurgeDue is when everything but statutory records must be deleted
	// (30 days after the contract's last day, Regulation 1182/71).
	PurgeDue time.Time
	// DaysLeft are whole days until PurgeDue (negative once past).
	DaysLeft int
}

// Forecast is one customer's deletion forecast.
type Forecast struct {
	TenantID   string
	At         time.Time
	Horizons   []int
	Categories []CategoryForecast
	// Countdown is set once the contract is terminated.
	Countdown *Countdown
}

// Forecast returns what will be deleted of the customer's data in the next
// 7, 30 and 90 days, per category, and the contract-end countdown.
func (s *Service) Forecast(ctx context.Context, tenantID string) (Forecast, error) {
	now := s.clock.Now().UTC()
	f := Forecast{TenantID: tenantID, At: now, Horizons: Horizons, Categories: []CategoryForecast{}}
	at := make([]time.Time, len(Horizons))
	for i, d := range Horizons {
		at[i] = now.Add(time.Duration(d) * 24 * time.Hour)
	}
	err := s.db.InTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		t, err := tenants.Read(ctx, tx, tenantID, now, false)
		if err != nil {
			return err
		}
		f.Countdown = s.countdown(t, now)
		var purge *time.Time
		if f.Countdown != nil {
			purge = &f.Countdown.PurgeDue
		}
		due, err := records.DueBy(ctx, tx, tenantID, at, purge)
		if err != nil {
			return err
		}
		for _, d := range due {
			f.Categories = append(f.Categories, CategoryForecast{Category: d.Category, Due: d.Counts})
		}
		return nil
	})
	sort.Slice(f.Categories, func(i, j int) bool { return f.Categories[i].Category < f.Categories[j].Category })
	return f, verwerker.Wrap("retention: forecast", err)
}

func (s *Service) countdown(t tenants.Tenant, now time.Time) *Countdown {
	due := t.PurgeDue(s.calendar)
	if due == nil {
		return nil
	}
	left := due.Due.Sub(now)
	days := int(left / (24 * time.Hour))
	if left < 0 {
		days = -int((-left + 24*time.Hour - 1) / (24 * time.Hour))
	}
	return &Countdown{Status: t.StatusAt(now), ContractEnd: *t.ContractEnd, PurgeDue: due.Due, DaysLeft: days}
}

// OverdueGrace is how long after its deadline a record may wait for the
// next sweep before it counts as overdue.
const OverdueGrace = time.Hour

// Overdue lists, per customer, the records whose deadline passed more than
// OverdueGrace ago and that no hold keeps, oldest first: an alarm.
func (s *Service) Overdue(ctx context.Context) ([]records.Overdue, error) {
	var out []records.Overdue
	err := s.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		hs, err := holdsIn(ctx, tx, "*", false)
		if err != nil {
			return err
		}
		byTenant := map[string][]Hold{}
		for _, h := range hs {
			byTenant[h.TenantID] = append(byTenant[h.TenantID], h)
		}
		heldOf := map[string]records.Held{}
		for t, list := range byTenant {
			heldOf[t] = held(list)
		}
		out, err = records.OverdueBefore(ctx, tx, s.clock.Now().Add(-OverdueGrace), heldOf)
		return err
	})
	return out, verwerker.Wrap("retention: overdue", err)
}

// ForecastInterval is how often the platform-wide forecast is counted.
const ForecastInterval = 15 * time.Minute

// ForecastArgs is the periodic job that counts the platform-wide forecast
// (RefreshForecast).
type ForecastArgs struct{}

// Kind names the job.
func (ForecastArgs) Kind() string { return "retention.forecast" }

type forecastWorker struct {
	river.WorkerDefaults[ForecastArgs]
	s *Service
}

func (w *forecastWorker) Work(ctx context.Context, _ *river.Job[ForecastArgs]) error {
	return w.s.RefreshForecast(ctx)
}

// CustomerForecast is what will be deleted of one customer's data, over
// all its categories.
type CustomerForecast struct {
	TenantID string
	Due      []int64
}

// PlatformForecast is what will be deleted of every customer's data in the
// next 7, 30 and 90 days, for the DPO.
type PlatformForecast struct {
	// ComputedAt is when RefreshForecast counted it (zero before its first
	// run); the counts are as of then.
	ComputedAt time.Time
	Horizons   []int
	// Categories sums the customers per category.
	Categories []CategoryForecast
	// Customers are the customers with the most records due within the
	// longest horizon, most first.
	Customers []CustomerForecast
	// Total sums every category.
	Total []int64
}

// RefreshForecast counts, in one pass over the records' deadlines, what
// will be deleted of each customer's data per category within Horizons
// (the contract-end purge included for terminated customers, holds
// ignored, as Forecast), and replaces the stored platform forecast.
func (s *Service) RefreshForecast(ctx context.Context) error {
	now := s.clock.Now().UTC()
	at := make([]time.Time, len(Horizons))
	for i, d := range Horizons {
		at[i] = now.Add(time.Duration(d) * 24 * time.Hour)
	}
	err := s.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		ids, err := tenants.IDs(ctx, tx)
		if err != nil {
			return err
		}
		var ended []string
		purge := map[string]time.Time{}
		for _, id := range ids {
			t, err := tenants.Read(ctx, tx, id, now, false)
			if err != nil {
				return err
			}
			if c := s.countdown(t, now); c != nil {
				ended, purge[id] = append(ended, id), c.PurgeDue
			}
		}
		due, err := records.DueByTenant(ctx, tx, at, ended)
		if err != nil {
			return err
		}
		for _, id := range ended {
			p := purge[id]
			list, err := records.DueBy(ctx, tx, id, at, &p)
			if err != nil {
				return err
			}
			for _, d := range list {
				due = append(due, records.TenantDue{TenantID: id, Due: d})
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM retention_forecast`); err != nil {
			return err
		}
		tids, cats, counts := make([]string, len(due)), make([]string, len(due)), make([]string, len(due))
		for i, d := range due {
			tids[i], cats[i] = d.TenantID, d.Category
			counts[i] = int64s(d.Counts)
		}
		_, err = tx.Exec(ctx, `INSERT INTO retention_forecast (tenant_id, category, due, computed_at)
			SELECT t, c, d::bigint[], $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(t, c, d)`, tids, cats, counts, now)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO retention_forecast_runs (id, computed_at) VALUES (1, $1)
			ON CONFLICT (id) DO UPDATE SET computed_at = excluded.computed_at`, now)
		return err
	})
	return verwerker.Wrap("retention: refresh forecast", err)
}

// int64s writes counts as a PostgreSQL array literal.
func int64s(counts []int64) string {
	b := []byte{'{'}
	for i, n := range counts {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, n, 10)
	}
	return string(append(b, '}'))
}

// PlatformForecast returns the stored platform-wide forecast (as of the
// last RefreshForecast): per category over every customer, and the limit
// customers with the most records due within 90 days.
func (s *Service) PlatformForecast(ctx context.Context, limit int) (PlatformForecast, error) {
	f := PlatformForecast{Horizons: Horizons, Categories: []CategoryForecast{}, Customers: []CustomerForecast{}, Total: make([]int64, len(Horizons))}
	err := s.db.InTenantTx(ctx, "*", func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT computed_at FROM retention_forecast_runs WHERE id = 1`).Scan(&f.ComputedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		sums := make([]string, len(Horizons))
		for i := range Horizons {
			sums[i] = fmt.Sprintf("sum(due[%d])::bigint", i+1)
		}
		cols := strings.Join(sums, ", ")
		rows, err := tx.Query(ctx, `SELECT category, ARRAY[`+cols+`] FROM retention_forecast GROUP BY category ORDER BY category`)
		if err != nil {
			return err
		}
		f.Categories, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (CategoryForecast, error) {
			var c CategoryForecast
			err := r.Scan(&c.Category, &c.Due)
			return c, err
		})
		if err != nil {
			return err
		}
		for _, c := range f.Categories {
			for i, n := range c.Due {
				f.Total[i] += n
			}
		}
		last := strconv.Itoa(len(Horizons))
		rows, err = tx.Query(ctx, `SELECT tenant_id, ARRAY[`+cols+`] FROM retention_forecast GROUP BY tenant_id
			ORDER BY sum(due[`+last+`]) DESC, tenant_id LIMIT $1`, limit)
		if err != nil {
			return err
		}
		f.Customers, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (CustomerForecast, error) {
			var c CustomerForecast
			err := r.Scan(&c.TenantID, &c.Due)
			return c, err
		})
		return err
	})
	return f, verwerker.Wrap("retention: platform forecast", err)
}

package retention

import (
	"context"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
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

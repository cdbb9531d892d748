package web

import (
	"net/http"
	"sort"
	"time"

	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/breach"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/subprocessor"
	"github.com/verwerker/verwerker/tenant"
)

// The overview: what the DPO opens every morning. What needs action today
// comes first (undelivered notices, dead letters, open objections,
// contracts about to end), then the state of things.

// action is one thing to do today; Critical ones are shown in red.
type action struct {
	Critical bool
	Key      string
	Args     []any
	Href     string
}

type windowRow struct {
	Change     subprocessor.Change
	InWindow   int
	Objections int
	// Closes is the earliest end of an open window.
	Closes *time.Time
}

type overviewData struct {
	Actions     []action
	Counts      map[string]int
	Terminating []tenant.Tenant
	Names       map[string]string
	Offered     []dpa.Version
	Windows     []windowRow
	Undelivered []subprocessor.Notice
	Dead        []notify.DeadLetter
	Checkpoint  *audit.Checkpoint
	// Verified is the last finished verification of every chain.
	Verified  *audit.Verification
	Decisions chart
	ByPurpose chart
	// ByReason are the denials per day by reason code.
	ByReason chart
	Allowed  uint64
	Denied   uint64
	// Clocks are the breaches' running 48-hour clocks; Times the
	// delivery times of first notices against the 48-hour line.
	Clocks []breach.Clock
	Times  chart
	// RequestWeeks is the data-subject requests' deadline compliance per
	// week.
	RequestWeeks chart
}

func (s *Server) overviewPage() Page {
	return Page{Method: http.MethodGet, Path: "overview", Permission: policy.PermTenantList, Scope: Platform,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			ctx := r.Context()
			d := overviewData{Counts: map[string]int{}, Names: map[string]string{}}
			tenants, err := s.allTenants(r)
			if err != nil {
				return err
			}
			for _, t := range tenants {
				d.Counts[string(t.Status)]++
				d.Names[t.ID] = t.Name
				if t.Status == tenant.StatusTerminating {
					d.Terminating = append(d.Terminating, t)
				}
			}
			sort.Slice(d.Terminating, func(i, j int) bool { return d.Terminating[i].ContractEndsAt.Before(*d.Terminating[j].ContractEndsAt) })
			if d.Clocks, err = s.deps.Breaches.Clocks(ctx); err != nil {
				return err
			}
			for _, c := range d.Clocks {
				if !c.Done {
					d.Actions = append(d.Actions, action{Critical: c.Level != "ok", Key: "alarm.breach",
						Args: []any{c.Title, formatTime(v.Lang, c.DeadlineAt, v.Loc), timeLeft(v.Lang, v.Now, c.DeadlineAt), c.Pending}, Href: Prefix + "breaches/" + c.IncidentID})
				}
			}
			if d.Times, err = s.notificationChart(r, v); err != nil {
				return err
			}
			failed, err := s.deps.Requests.Failed(ctx)
			if err != nil {
				return err
			}
			overdue, err := s.deps.Requests.Overdue(ctx)
			if err != nil {
				return err
			}
			for _, q := range overdue {
				if q.Failure == "" {
					failed = append(failed, q)
				}
			}
			for _, q := range requestRows(failed, v.Now, d.name) {
				key := "alarm.request.overdue"
				if q.Level == "failed" {
					key = "alarm.request.failed"
				}
				d.Actions = append(d.Actions, action{Critical: true, Key: key, Args: []any{q.ID, q.Name, q.Due.LastDay.String()},
					Href: Prefix + "customers/" + q.TenantID + "/requests/" + q.ID})
			}
			if _, d.RequestWeeks, err = s.requestCharts(r, v, "*", 12); err != nil {
				return err
			}
			overdueDeletions, err := s.deps.Retention.Overdue(ctx)
			if err != nil {
				return err
			}
			for _, o := range overdueDeletions {
				d.Actions = append(d.Actions, action{Critical: true, Key: "alarm.retention.overdue", Args: []any{d.name(o.TenantID), o.Records, overdueDays(v.Now, o.Oldest)},
					Href: Prefix + "customers/" + o.TenantID + "/retention"})
			}
			pastReview, err := s.deps.Retention.HoldsPastReview(ctx)
			if err != nil {
				return err
			}
			for _, h := range pastReview {
				d.Actions = append(d.Actions, action{Key: "alarm.hold.review", Args: []any{d.name(h.TenantID), h.ID, h.ReviewOn.String()},
					Href: Prefix + "customers/" + h.TenantID + "/retention#holds"})
			}
			if d.Undelivered, err = s.deps.Subprocessors.Undelivered(ctx); err != nil {
				return err
			}
			for _, n := range d.Undelivered {
				d.Actions = append(d.Actions, action{Critical: true, Key: "alarm.undelivered", Args: []any{n.ChangeID, d.name(n.TenantID)}, Href: Prefix + "notices"})
			}
			if d.Dead, err = s.deps.Outbox.DeadLetters(ctx, 50); err != nil {
				return err
			}
			for _, m := range d.Dead {
				d.Actions = append(d.Actions, action{Critical: true, Key: "alarm.dead", Args: []any{m.ID, m.EventType, d.name(m.TenantID), m.Attempts, m.LastError}, Href: Prefix + "notices"})
			}
			objections, err := s.deps.Subprocessors.Objections(ctx)
			if err != nil {
				return err
			}
			for _, n := range objections {
				d.Actions = append(d.Actions, action{Key: "alarm.objection", Args: []any{d.name(n.TenantID), n.ChangeID}, Href: Prefix + "subprocessors#objections"})
			}
			soon := v.Now.Add(14 * 24 * time.Hour)
			for _, t := range d.Terminating {
				if t.ContractEndsAt.Before(soon) {
					d.Actions = append(d.Actions, action{Key: "alarm.terminating", Args: []any{t.Name, formatTime(v.Lang, *t.ContractEndsAt, v.Loc), timeLeft(v.Lang, v.Now, *t.ContractEndsAt)}, Href: Prefix + "customers/" + t.ID})
				}
			}
			if d.Offered, err = s.deps.DPA.Offered(ctx); err != nil {
				return err
			}
			if d.Windows, err = s.windows(r, v.Now); err != nil {
				return err
			}
			if d.Checkpoint, err = s.deps.Audit.LastCheckpoint(ctx, audit.PlatformChain); err != nil {
				return err
			}
			if d.Verified, err = s.deps.Audit.LastVerification(ctx, audit.PlatformChain, true); err != nil {
				return err
			}
			broken, err := s.deps.Audit.Broken(ctx)
			if err != nil {
				return err
			}
			for _, c := range broken {
				d.Actions = append(d.Actions, action{Critical: true, Key: "alarm.audit", Args: []any{d.name(c.Chain), c.FirstBad, c.Problem}, Href: Prefix + "audit#verification"})
			}
			if d.Decisions, d.ByPurpose, d.Allowed, d.Denied, err = s.decisionCharts(r, v, 30); err != nil {
				return err
			}
			today := deadline.DateOf(v.Now.In(v.Loc))
			rows, err := s.deps.Decisions.PlatformDenials(ctx, today.AddDays(-29), today)
			if err != nil {
				return err
			}
			d.ByReason = reasonChart(v, "denial-reasons", today, 30, rows)
			return s.show(w, v, "overview", "overview.title", d)
		}}
}

func (d overviewData) name(id string) string {
	if n, ok := d.Names[id]; ok {
		return n
	}
	return id
}

// allTenants reads every customer, a page of tenant.MaxLimit at a time.
func (s *Server) allTenants(r *http.Request) ([]tenant.Tenant, error) {
	var out []tenant.Tenant
	f := tenant.Filter{Limit: tenant.MaxLimit}
	for {
		p, err := s.deps.Tenants.List(r.Context(), f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Tenants...)
		if p.Next == "" {
			return out, nil
		}
		f.Cursor = p.Next
	}
}

// windows returns the changes with customers in their objection windows
// now, with the open objections.
func (s *Server) windows(r *http.Request, now time.Time) ([]windowRow, error) {
	changes, err := s.deps.Subprocessors.Changes(r.Context())
	if err != nil {
		return nil, err
	}
	var out []windowRow
	for _, c := range changes {
		if c.WithdrawnAt != nil {
			continue
		}
		_, notices, err := s.deps.Subprocessors.Change(r.Context(), c.ID)
		if err != nil {
			return nil, err
		}
		row := windowRow{Change: c}
		for _, n := range notices {
			if n.Status == subprocessor.NoticeObjected {
				row.Objections++
			}
			if n.WindowEndsAt != nil && now.Before(*n.WindowEndsAt) && (n.Status == subprocessor.NoticePending || n.Status == subprocessor.NoticeObjected) {
				row.InWindow++
				if row.Closes == nil || n.WindowEndsAt.Before(*row.Closes) {
					row.Closes = n.WindowEndsAt
				}
			}
		}
		if row.InWindow > 0 || row.Objections > 0 {
			out = append(out, row)
		}
	}
	return out, nil
}

// purposeColors tell purposes apart, each with at least 3:1 contrast on
// white.
var purposeColors = []string{colorBlue, colorRed, colorAmber, colorGreen, "#6a3d9a", "#00727a", "#8c2d5a", "#4d4d4d"}

// decisionCharts draw the platform's decisions over the last days:
// allowed and denied per day, and the denials per day by purpose; with the
// totals.
func (s *Server) decisionCharts(r *http.Request, v *view, days int) (chart, chart, uint64, uint64, error) {
	today := deadline.DateOf(v.Now.In(v.Loc))
	from := today.AddDays(-(days - 1))
	rows, err := s.deps.Decisions.PlatformStats(r.Context(), from, today)
	if err != nil {
		return chart{}, chart{}, 0, 0, err
	}
	labels := make([]string, days)
	idx := map[deadline.Date]int{}
	for i := range days {
		d := from.AddDays(i)
		idx[d] = i
		labels[i] = d.String()[5:]
	}
	allowed := series{Name: translate(v.Lang, "chart.allowed"), Color: colorGreen, Values: make([]uint64, days)}
	denied := series{Name: translate(v.Lang, "chart.denied"), Color: colorRed, Values: make([]uint64, days)}
	var byPurpose []series
	purpose := map[string]int{}
	var ta, td uint64
	for _, row := range rows {
		i, ok := idx[row.Day]
		if !ok {
			continue
		}
		allowed.Values[i] += row.Allowed
		denied.Values[i] += row.Denied
		ta += row.Allowed
		td += row.Denied
		if row.Denied == 0 {
			continue
		}
		k, ok := purpose[row.Purpose]
		if !ok {
			k = len(byPurpose)
			purpose[row.Purpose] = k
			byPurpose = append(byPurpose, series{Name: row.Purpose, Color: purposeColors[k%len(purposeColors)], Values: make([]uint64, days)})
		}
		byPurpose[k].Values[i] += row.Denied
	}
	return stackedBars("decisions", translate(v.Lang, "overview.decisions"), labels, []series{allowed, denied}),
		stackedBars("denials", translate(v.Lang, "chart.denials"), labels, byPurpose), ta, td, nil
}

// reasonChart draws denials per day by reason code over the days days
// up to today, one colour per reason.
func reasonChart(v *view, id string, today deadline.Date, days int, rows []decision.ReasonDay) chart {
	from := today.AddDays(-(days - 1))
	labels := make([]string, days)
	idx := map[deadline.Date]int{}
	for i := range days {
		d := from.AddDays(i)
		idx[d] = i
		labels[i] = d.String()[5:]
	}
	var ss []series
	reason := map[string]int{}
	for _, row := range rows {
		i, ok := idx[row.Day]
		if !ok {
			continue
		}
		k, ok := reason[row.Reason]
		if !ok {
			k = len(ss)
			reason[row.Reason] = k
			ss = append(ss, series{Name: translate(v.Lang, "reason."+row.Reason), Color: purposeColors[k%len(purposeColors)], Values: make([]uint64, days)})
		}
		ss[k].Values[i] += row.Denied
	}
	return stackedBars(id, translate(v.Lang, "chart.reasons"), labels, ss)
}

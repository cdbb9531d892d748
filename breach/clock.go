package breach

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/notify"
)

// EscalationHours are the moments after discovery at which the DPO is
// escalated to while a first notice is unsent or undelivered; the last is
// the deadline itself: overdue.
var EscalationHours = []int{24, 36, 44, 48}

// Escalation is one escalation of an incident's clock.
type Escalation struct {
	IncidentID string    `json:"incident_id"`
	Hours      int       `json:"hours"`
	FiredAt    time.Time `json:"fired_at"`
	// Pending are the customers whose first notice was not delivered then
	// (empty when the impact was not counted yet and nobody was notified).
	Pending []string `json:"pending"`
}

// Overdue reports whether the escalation is the deadline's.
func (e Escalation) Overdue() bool { return e.Hours >= 48 }

// pending returns, per open breach discovered before cutoff, the customers
// whose first notice is not delivered: affected customers not yet sent
// one, and those whose notice no channel has delivered. A breach nobody
// was notified of whose impact was never counted is pending too (with no
// customers): its notices are unsent.
func pending(ctx context.Context, tx pgx.Tx, cutoff time.Time) (map[string][]string, map[string]time.Time, error) {
	rows, err := tx.Query(ctx, `SELECT i.id, i.discovered_at,
			i.impact IS NULL AND NOT EXISTS (SELECT 1 FROM breach_notices n WHERE n.incident_id = i.id) AS unknown,
			coalesce((SELECT array_agg(c->>'tenant_id' ORDER BY c->>'tenant_id') FROM jsonb_array_elements(i.impact->'customers') c
				WHERE NOT EXISTS (SELECT 1 FROM breach_notices n WHERE n.incident_id = i.id AND n.tenant_id = c->>'tenant_id' AND n.phase = 0 AND n.delivery = 'delivered')), '{}'),
			coalesce((SELECT array_agg(n.tenant_id ORDER BY n.tenant_id) FROM breach_notices n
				WHERE n.incident_id = i.id AND n.phase = 0 AND n.delivery <> 'delivered'), '{}')
		FROM breach_incidents i WHERE i.status = 'breach' AND i.discovered_at <= $1`, cutoff)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	discovered := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at time.Time
		var unknown bool
		var fromImpact, fromNotices []string
		if err := rows.Scan(&id, &at, &unknown, &fromImpact, &fromNotices); err != nil {
			return nil, nil, err
		}
		list := append(fromImpact, fromNotices...)
		slices.Sort(list)
		list = slices.Compact(list)
		if unknown || len(list) > 0 {
			out[id] = list
			discovered[id] = at.UTC()
		}
	}
	return out, discovered, rows.Err()
}

// Tick fires the escalations that are due: for each breach whose first
// notices are not all delivered, every moment of EscalationHours that has
// passed and has not fired yet fires once (across replicas and restarts:
// the clock is in the database), as an audit event and an alarm
// (Alarms). It returns what fired. The periodic job runs it every minute.
func (s *Service) Tick(ctx context.Context) ([]Escalation, error) {
	now := s.clock.Now().UTC()
	var fired []Escalation
	err := s.tx(ctx, "tick", func(tx pgx.Tx) error {
		open, discovered, err := pending(ctx, tx, now.Add(-time.Duration(EscalationHours[0])*time.Hour))
		if err != nil {
			return err
		}
		ids := make([]string, 0, len(open))
		for id := range open {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			for _, h := range EscalationHours {
				if discovered[id].Add(time.Duration(h) * time.Hour).After(now) {
					break
				}
				tag, err := tx.Exec(ctx, `INSERT INTO breach_escalations (incident_id, hours, fired_at, pending) VALUES ($1, $2, $3, $4)
					ON CONFLICT DO NOTHING`, id, h, now, open[id])
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					continue
				}
				e := Escalation{IncidentID: id, Hours: h, FiredAt: now, Pending: open[id]}
				action := "breach.escalate"
				if e.Overdue() {
					action = "breach.overdue"
				}
				if err := s.audit.RecordOutcome(ctx, tx, audit.PlatformChain, action, id, audit.Failure,
					fmt.Sprintf("hours=%d pending=%d", h, len(open[id]))); err != nil {
					return err
				}
				if err := s.escalationMail(ctx, tx, e, discovered[id]); err != nil {
					return err
				}
				fired = append(fired, e)
			}
		}
		return nil
	})
	return fired, err
}

// escalationMail enqueues, in tx, the e-mail of escalation e to the DPO
// (Options.DPOEmails), as a message of the platform itself: the outbox
// retries it and a message it cannot deliver is a dead letter (an alarm).
// The escalation's row makes it once per incident and moment.
func (s *Service) escalationMail(ctx context.Context, tx pgx.Tx, e Escalation, discovered time.Time) error {
	if len(s.opts.DPOEmails) == 0 || s.outbox == nil || !s.outbox.Email() {
		return nil
	}
	var title string
	if err := tx.QueryRow(ctx, `SELECT title FROM breach_incidents WHERE id = $1`, e.IncidentID).Scan(&title); err != nil {
		return err
	}
	deadline := discovered.Add(Window)
	left := deadline.Sub(e.FiredAt).Round(time.Minute)
	hm := fmt.Sprintf("%d h %02d min", int(left.Hours()), int(left.Minutes())%60)
	what, wat := fmt.Sprintf("%d h after discovery, %s left", e.Hours, hm), fmt.Sprintf("%d uur na ontdekking, nog %s", e.Hours, hm)
	if e.Overdue() {
		what, wat = "OVERDUE: the 48 hours have passed", "TE LAAT: de 48 uur zijn verstreken"
	}
	pending := "  (impact not counted yet / impact nog niet bepaald)\n"
	if len(e.Pending) > 0 {
		var b strings.Builder
		for _, t := range e.Pending {
			b.WriteString("  - " + t + "\n")
		}
		pending = b.String()
	}
	body := fmt.Sprintf(`Escalatie datalek / Breach escalation

%s
%s

Incident: %s (%s)
Ontdekt / Discovered: %s
Uiterste termijn / Deadline (discovery + 48 h): %s

Klanten zonder afgeleverde melding / Customers without a delivered notice (%d):
%s
%s
`, wat, what, title, e.IncidentID, discovered.UTC().Format("2006-01-02 15:04 UTC"), deadline.UTC().Format("2006-01-02 15:04 UTC"),
		len(e.Pending), pending, s.link("/dashboard/breaches/"+e.IncidentID))
	_, err := s.outbox.Enqueue(ctx, tx, notify.Message{TenantID: verwerker.PlatformDomain, Kind: notify.KindEmail, EventType: EventEscalation,
		IdempotencyKey: fmt.Sprintf("breach/%s/escalation/%d", e.IncidentID, e.Hours), To: s.opts.DPOEmails,
		Subject: fmt.Sprintf("Escalatie datalek / Breach escalation %s: %s", e.IncidentID, what), Body: body})
	return err
}

// link is path under the public base URL (Options.PublicURL), or path
// alone when none is set.
func (s *Service) link(path string) string { return s.opts.PublicURL + path }

// Alarm is a breach that needs the DPO now: an escalation of its clock
// while first notices are not delivered, the deadline passed (overdue), or
// a notice no channel delivered.
type Alarm struct {
	// Kind is "breach_escalation", "breach_overdue" or
	// "breach_notice_undelivered".
	Kind       string    `json:"kind"`
	Severity   string    `json:"severity"`
	IncidentID string    `json:"incident_id"`
	TenantID   string    `json:"tenant_id,omitempty"`
	Since      time.Time `json:"since"`
	Hours      int       `json:"hours,omitempty"`
	DeadlineAt time.Time `json:"deadline_at"`
	Pending    []string  `json:"pending,omitempty"`
	// Notice is the undelivered notice (breach_notice_undelivered).
	Notice *Notice `json:"notice,omitempty"`
}

// Alarms lists what needs the DPO now: per breach whose first notices are
// not all delivered, its latest escalation (or overdue), and every notice
// (first or update) no channel delivered.
func (s *Service) Alarms(ctx context.Context) ([]Alarm, error) {
	out := []Alarm{}
	err := s.tx(ctx, "alarms", func(tx pgx.Tx) error {
		open, _, err := pending(ctx, tx, s.clock.Now().UTC())
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT DISTINCT ON (e.incident_id) e.incident_id, e.hours, e.fired_at, i.deadline_at
			FROM breach_escalations e JOIN breach_incidents i ON i.id = e.incident_id
			ORDER BY e.incident_id, e.hours DESC`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var a Alarm
			if err := rows.Scan(&a.IncidentID, &a.Hours, &a.Since, &a.DeadlineAt); err != nil {
				rows.Close()
				return err
			}
			p, ok := open[a.IncidentID]
			if !ok {
				continue
			}
			a.Since, a.DeadlineAt, a.Pending = a.Since.UTC(), a.DeadlineAt.UTC(), p
			a.Kind, a.Severity = "breach_escalation", "warning"
			if a.Hours >= 44 {
				a.Severity = "critical"
			}
			if a.Hours >= 48 {
				a.Kind = "breach_overdue"
			}
			out = append(out, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT `+noticeColumns+` FROM breach_notices WHERE delivery = 'undelivered' ORDER BY undelivered_since, tenant_id, incident_id, phase`)
		if err != nil {
			return err
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Notice, error) { return scanNotice(r) })
		if err != nil {
			return err
		}
		for _, n := range list {
			n := n
			out = append(out, Alarm{Kind: "breach_notice_undelivered", Severity: "critical", IncidentID: n.IncidentID, TenantID: n.TenantID,
				Since: *n.Delivery.UndeliveredSince, DeadlineAt: n.Content.ProcessorDeadline, Notice: &n})
		}
		return nil
	})
	return out, err
}

// Clock is a breach's running 48-hour clock, for the dashboard.
type Clock struct {
	IncidentID   string    `json:"incident_id"`
	Title        string    `json:"title"`
	Status       Status    `json:"status"`
	DiscoveredAt time.Time `json:"discovered_at"`
	DeadlineAt   time.Time `json:"deadline_at"`
	// Left is the time left to the deadline (negative: overdue).
	Left time.Duration `json:"left_ns"`
	// Level is "ok", "near" (under 12 hours left) or "overdue": red from
	// near on.
	Level string `json:"level"`
	// Customers counts the affected customers; Delivered, Acknowledged and
	// Pending those whose first notice was delivered, acknowledged, or is
	// not delivered yet.
	Customers    int `json:"customers"`
	Delivered    int `json:"delivered"`
	Acknowledged int `json:"acknowledged"`
	Pending      int `json:"pending"`
	// Done says every affected customer has its first notice: the clock
	// has stopped.
	Done bool `json:"done"`
}

// Clocks returns the clocks of every breach not closed, the nearest
// deadline first.
func (s *Service) Clocks(ctx context.Context) ([]Clock, error) {
	now := s.clock.Now().UTC()
	out := []Clock{}
	err := s.tx(ctx, "clocks", func(tx pgx.Tx) error {
		open, _, err := pending(ctx, tx, now)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT i.id, i.title, i.status, i.discovered_at, i.deadline_at,
				coalesce(jsonb_array_length(i.impact->'customers'), 0),
				(SELECT count(*) FROM breach_notices n WHERE n.incident_id = i.id AND n.phase = 0 AND n.delivery = 'delivered'),
				(SELECT count(*) FROM breach_notices n WHERE n.incident_id = i.id AND n.phase = 0 AND n.acknowledged_at IS NOT NULL)
			FROM breach_incidents i WHERE i.status = 'breach' ORDER BY i.deadline_at, i.id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c Clock
			if err := rows.Scan(&c.IncidentID, &c.Title, &c.Status, &c.DiscoveredAt, &c.DeadlineAt, &c.Customers, &c.Delivered, &c.Acknowledged); err != nil {
				return err
			}
			c.DiscoveredAt, c.DeadlineAt = c.DiscoveredAt.UTC(), c.DeadlineAt.UTC()
			p, ok := open[c.IncidentID]
			c.Pending, c.Done = len(p), !ok
			c.Left = c.DeadlineAt.Sub(now)
			switch {
			case c.Left <= 0:
				c.Level = "overdue"
			case c.Left <= 12*time.Hour:
				c.Level = "near"
			default:
				c.Level = "ok"
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// NotificationTime is how long after discovery a customer's first notice
// was delivered: the dashboard's chart against the 48-hour line.
type NotificationTime struct {
	IncidentID string        `json:"incident_id"`
	TenantID   string        `json:"tenant_id"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	OnTime     bool          `json:"on_time"`
}

// NotificationTimes lists the delivery time of every delivered first
// notice, oldest incident first.
func (s *Service) NotificationTimes(ctx context.Context) ([]NotificationTime, error) {
	out := []NotificationTime{}
	err := s.tx(ctx, "notification times", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT n.incident_id, n.tenant_id, n.delivered_at - i.discovered_at
			FROM breach_notices n JOIN breach_incidents i ON i.id = n.incident_id
			WHERE n.phase = 0 AND n.delivered_at IS NOT NULL ORDER BY i.discovered_at, n.incident_id, n.tenant_id`)
		if err != nil {
			return err
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (NotificationTime, error) {
			var t NotificationTime
			err := r.Scan(&t.IncidentID, &t.TenantID, &t.Elapsed)
			t.OnTime = t.Elapsed <= Window
			return t, err
		})
		if list != nil {
			out = list
		}
		return err
	})
	return out, err
}

// ClockArgs is the periodic job that escalates breach clocks (Tick). It
// carries no data.
type ClockArgs struct{}

// Kind names the job.
func (ClockArgs) Kind() string { return "breach.clock" }

// ClockInterval is how often the clocks are checked: an escalation fires
// within this interval after its moment.
const ClockInterval = time.Minute

type clockWorker struct {
	river.WorkerDefaults[ClockArgs]
	s *Service
}

func (w *clockWorker) Work(ctx context.Context, _ *river.Job[ClockArgs]) error {
	_, err := w.s.Tick(ctx)
	return err
}

// Register adds the service's workers to workers.
func (s *Service) Register(workers *river.Workers) {
	river.AddWorker(workers, &clockWorker{s: s})
}

// PeriodicJobs returns the service's periodic jobs for the River client.
func (s *Service) PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(ClockInterval),
		func() (river.JobArgs, *river.InsertOpts) {
			return ClockArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: ClockInterval}}
		}, &river.PeriodicJobOpts{RunOnStart: true})}
}

// Metrics returns the service's Prometheus collector: the gauges
// verwerker_breach_clocks_running (breaches whose first notices are not all
// delivered) and verwerker_breach_overdue (those past their 48 hours),
// counted in the database at every scrape.
func (s *Service) Metrics() prometheus.Collector {
	return &collector{s: s,
		running: prometheus.NewDesc("verwerker_breach_clocks_running", "Breaches whose first notices are not all delivered to the affected controllers.", nil, nil),
		overdue: prometheus.NewDesc("verwerker_breach_overdue", "Breaches past discovery + 48 hours whose first notices are not all delivered. Listed in GET /v1/alarms.", nil, nil)}
}

type collector struct {
	s                *Service
	running, overdue *prometheus.Desc
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.running; ch <- c.overdue }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := c.s.clock.Now().UTC()
	var running, overdue int
	err := c.s.tx(ctx, "metrics", func(tx pgx.Tx) error {
		open, discovered, err := pending(ctx, tx, now)
		if err != nil {
			return err
		}
		running = len(open)
		for id := range open {
			if !discovered[id].Add(Window).After(now) {
				overdue++
			}
		}
		return nil
	})
	if err != nil {
		return // no sample rather than a wrong one
	}
	ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(running))
	ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, float64(overdue))
}

package web

import (
	"net/http"
	"time"

	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/subprocessor"
)

// The notices page: subprocessor notices no channel delivered (red), the
// outbox's dead letters with a retry action, and a chart of deliveries and
// failures per day.

type noticesData struct {
	Undelivered []subprocessor.Notice
	Dead        []notify.DeadLetter
	Chart       chart
	CanRetry    bool
}

func (s *Server) noticesPage() Page {
	return Page{Method: http.MethodGet, Path: "notices", Permission: policy.PermOutboxRead, Scope: Platform,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			ctx := r.Context()
			var d noticesData
			var err error
			if d.Undelivered, err = s.deps.Subprocessors.Undelivered(ctx); err != nil {
				return err
			}
			if d.Dead, err = s.deps.Outbox.DeadLetters(ctx, 200); err != nil {
				return err
			}
			const days = 30
			today := time.Date(v.Now.In(v.Loc).Year(), v.Now.In(v.Loc).Month(), v.Now.In(v.Loc).Day(), 0, 0, 0, 0, v.Loc)
			from := today.AddDate(0, 0, -(days - 1))
			counts, err := s.deps.Outbox.Daily(ctx, from, v.Loc)
			if err != nil {
				return err
			}
			labels := make([]string, days)
			ok := series{Name: translate(v.Lang, "chart.delivered"), Color: colorBlue, Values: make([]uint64, days)}
			bad := series{Name: translate(v.Lang, "chart.failed"), Color: colorRed, Values: make([]uint64, days)}
			for i := range days {
				labels[i] = from.AddDate(0, 0, i).Format("01-02")
			}
			for _, c := range counts {
				i := int(c.Day.Sub(from).Hours()+12) / 24
				if i >= 0 && i < days {
					ok.Values[i] += uint64(c.Delivered)
					bad.Values[i] += uint64(c.Dead)
				}
			}
			d.Chart = stackedBars("notices-chart", translate(v.Lang, "notices.chart"), labels, []series{ok, bad})
			d.CanRetry, _ = s.deps.Authz.Allowed(ctx, v.principal, policy.PermOutboxRetry, "platform")
			if r.URL.Query().Get("done") == "retried" {
				v.Flash = "notices.retried"
			}
			return s.show(w, v, "notices", "notices.title", d)
		}}
}

// retrySubmit sends a dead message again (notify.Outbox.Retry).
func (s *Server) retrySubmit() Page {
	return Page{Method: http.MethodPost, Path: "notices/{message_id}/retry", Permission: policy.PermOutboxRetry, Scope: Platform,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			if err := s.deps.Outbox.Retry(r.Context(), r.PathValue("message_id")); err != nil {
				return err
			}
			http.Redirect(w, r, Prefix+"notices?done=retried", http.StatusSeeOther)
			return nil
		}}
}

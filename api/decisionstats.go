package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/policy"
)

// defaultStatsDays is the range of GET .../decision-stats without from.
const defaultStatsDays = 30

// DecisionStats are a customer's decision counts over a range of days.
type DecisionStats struct {
	TenantID string                  `json:"tenant_id"`
	From     deadline.Date           `json:"from" format:"date" doc:"First day counted, in the customer's time zone."`
	To       deadline.Date           `json:"to" format:"date" doc:"Last day counted, in the customer's time zone."`
	Allowed  uint64                  `json:"allowed" doc:"Decisions that allowed processing."`
	Denied   uint64                  `json:"denied" doc:"Decisions that denied it."`
	Items    []DecisionStatsCategory `json:"items" nullable:"false" doc:"Per data category and purpose, in the taxonomy's order; only those with decisions."`
	Days     []DecisionStatsDay      `json:"days" nullable:"false" doc:"Per day, oldest first; only days with decisions."`
}

// DecisionStatsCategory are the decisions about one data category for one
// purpose.
type DecisionStatsCategory struct {
	Category string `json:"category"`
	Special  bool   `json:"special" doc:"A special category of personal data (GDPR Art. 9)."`
	Purpose  string `json:"purpose"`
	Allowed  uint64 `json:"allowed"`
	Denied   uint64 `json:"denied"`
}

// DecisionStatsDay are the decisions of one day.
type DecisionStatsDay struct {
	Day     deadline.Date `json:"day" format:"date"`
	Allowed uint64        `json:"allowed"`
	Denied  uint64        `json:"denied"`
}

type decisionStatsInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	From     string `query:"from" maxLength:"10" doc:"First day, YYYY-MM-DD in the customer's time zone; default 29 days before to."`
	To       string `query:"to" maxLength:"10" doc:"Last day, YYYY-MM-DD in the customer's time zone; default today. At most 366 days after from."`
}

type decisionStatsOutput struct{ Body DecisionStats }

func decisionStatsOut(st decision.Stats) DecisionStats {
	out := DecisionStats{TenantID: st.TenantID, From: st.From, To: st.To, Allowed: st.Allowed, Denied: st.Denied,
		Items: make([]DecisionStatsCategory, 0, len(st.Cells)), Days: make([]DecisionStatsDay, 0, len(st.Days))}
	for _, c := range st.Cells {
		out.Items = append(out.Items, DecisionStatsCategory(c))
	}
	for _, d := range st.Days {
		out.Days = append(out.Days, DecisionStatsDay(d))
	}
	return out
}

func (s *Server) registerDecisionStats() {
	register(s, huma.Operation{
		OperationID: "getDecisionStats",
		Method:      http.MethodGet,
		Path:        "/v1/tenants/{tenant_id}/decision-stats",
		Summary:     "Count the customer's decisions",
		Description: "How many processing decisions allowed and denied storing the customer's data, per data category (special categories marked) and purpose, and per day of the customer's calendar. " +
			"Counts only: no subjects, no content. Each replica adds its counts every VERWERKER_DECISION_FLUSH_INTERVAL (1 minute by default); the replica answering includes its own latest decisions at once. " +
			"The metrics endpoint has the totals over all customers only: per-customer figures are here.",
		Tags: []string{"Decisions"},
	}, policy.PermDecisionStats, tenantScope, func(ctx context.Context, in *decisionStatsInput) (*decisionStatsOutput, error) {
		if s.deps.Decisions == nil || s.deps.Tenants == nil {
			return nil, verwerker.Errorf(verwerker.EUNAVAILABLE, "decisions are not available on this server")
		}
		t, err := s.deps.Tenants.Get(ctx, in.TenantID)
		if err != nil {
			return nil, err
		}
		var fields []verwerker.FieldError
		parse := func(field, v string, def deadline.Date) deadline.Date {
			if v == "" {
				return def
			}
			d, err := deadline.ParseDate(v)
			if err != nil {
				fields = append(fields, verwerker.FieldError{Field: field, Message: "must be a date, YYYY-MM-DD"})
			}
			return d
		}
		to := parse("to", in.To, s.deps.Decisions.Today(t.Timezone))
		from := parse("from", in.From, to.AddDays(-(defaultStatsDays - 1)))
		if len(fields) > 0 {
			return nil, fromErrorAt(verwerker.Invalid("the range of days is not valid", fields...), "query")
		}
		st, err := s.deps.Decisions.Stats(ctx, in.TenantID, from, to)
		if verwerker.ErrorCode(err) == verwerker.EINVALID {
			return nil, fromErrorAt(err, "query")
		}
		if err != nil {
			return nil, err
		}
		return &decisionStatsOutput{Body: decisionStatsOut(st)}, nil
	})
}

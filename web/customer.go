package web

import (
	"net/http"

	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/tenant"
)

// A customer's page: contract, agreement versions, record of processing
// (Art. 30(2)), people, keys and decisions. Each section is shown only to
// a viewer holding its own permission in the customer.

type customerData struct {
	Tenant                          tenant.Tenant
	Versions                        []dpa.Version
	Record                          *dpa.Record
	People                          []identity.Member
	Keys                            []identity.Key
	ShowPeople, ShowKeys, ShowCerts bool
	// ShowRequests, ShowRetention and ShowBreaches link the customer's
	// request, retention and breach notice pages.
	ShowRequests, ShowRetention, ShowBreaches bool
	Decisions                                 *chart
	// Denials are the customer's denials per day by reason.
	Denials *chart
}

func (s *Server) customerPage() Page {
	return Page{Method: http.MethodGet, Path: "customers/{tenant_id}", Permission: policy.PermTenantRead, Scope: Tenant,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			ctx := r.Context()
			id := r.PathValue("tenant_id")
			t, err := s.deps.Tenants.Get(ctx, id)
			if err != nil {
				return err
			}
			d := customerData{Tenant: t}
			may := func(perm string) bool {
				ok, _ := s.deps.Authz.Allowed(ctx, v.principal, perm, id)
				return ok
			}
			if may(policy.PermDPAList) {
				if d.Versions, err = s.deps.DPA.List(ctx, id); err != nil {
					return err
				}
			}
			if may(policy.PermDPARead) {
				rec, err := s.deps.DPA.Record(ctx, id)
				if err != nil {
					return err
				}
				d.Record = &rec
			}
			if d.ShowPeople = may(policy.PermMemberRead); d.ShowPeople {
				if d.People, err = s.deps.People.Members(ctx, id); err != nil {
					return err
				}
			}
			if d.ShowKeys = may(policy.PermKeyRead); d.ShowKeys {
				if d.Keys, err = s.deps.Keys.List(ctx, identity.KeyOwner{Domain: id}); err != nil {
					return err
				}
			}
			d.ShowCerts = may(policy.PermCertificateRead)
			d.ShowRequests, d.ShowRetention, d.ShowBreaches = may(policy.PermRequestRead), may(policy.PermRetentionRead), may(policy.PermBreachNoticeRead)
			if may(policy.PermDecisionStats) {
				loc := tenant.Location(t.Timezone)
				today := deadline.DateOf(v.Now.In(loc))
				st, err := s.deps.Decisions.Stats(ctx, id, today.AddDays(-29), today)
				if err != nil {
					return err
				}
				labels := make([]string, 30)
				allowed := series{Name: translate(v.Lang, "chart.allowed"), Color: colorGreen, Values: make([]uint64, 30)}
				denied := series{Name: translate(v.Lang, "chart.denied"), Color: colorRed, Values: make([]uint64, 30)}
				for i := range 30 {
					labels[i] = today.AddDays(i - 29).String()[5:]
				}
				for _, day := range st.Days {
					for i := range 30 {
						if today.AddDays(i-29) == day.Day {
							allowed.Values[i], denied.Values[i] = day.Allowed, day.Denied
						}
					}
				}
				c := stackedBars("customer-decisions", translate(v.Lang, "customer.decisions"), labels, []series{allowed, denied})
				d.Decisions = &c
				rows, err := s.deps.Decisions.Denials(ctx, id, today.AddDays(-29), today)
				if err != nil {
					return err
				}
				dc := reasonChart(v, "customer-denial-reasons", today, 30, rows)
				d.Denials = &dc
			}
			v.Title = t.Name
			v.Data = d
			s.render(w, v, http.StatusOK, "customer")
			return nil
		}}
}

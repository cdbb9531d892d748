package web

import (
	"net/http"

	"github.com/verwerker/verwerker/policy"
)

// The customers page: every customer with its contract state; the
// processor's people only.

func (s *Server) customersPage() Page {
	return Page{Method: http.MethodGet, Path: "customers", Permission: policy.PermTenantList, Scope: Platform,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			ts, err := s.allTenants(r)
			if err != nil {
				return err
			}
			return s.show(w, v, "customers", "customers.title", ts)
		}}
}

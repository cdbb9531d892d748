package web

import (
	"net/http"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/policy"
)

// homePage sends the viewer where they work: the processor's people to the
// overview, a customer's people to their customer's page.
func (s *Server) homePage() Page {
	return Page{Method: http.MethodGet, Path: "{$}", Permission: Authenticated,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			if v.principal.MFAPending {
				http.Redirect(w, r, Prefix+"totp", http.StatusSeeOther)
				return nil
			}
			if ok, _ := s.deps.Authz.Allowed(r.Context(), v.principal, policy.PermTenantList, verwerker.PlatformDomain); ok {
				http.Redirect(w, r, Prefix+"overview", http.StatusSeeOther)
				return nil
			}
			if v.Home != "" {
				http.Redirect(w, r, Prefix+"customers/"+v.Home, http.StatusSeeOther)
				return nil
			}
			s.renderError(w, r, v, http.StatusForbidden)
			return nil
		}}
}

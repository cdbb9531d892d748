package web

import (
	"net/http"

	"github.com/verwerker/verwerker/identity"
)

// signoutSubmit ends the viewer's session at once (the API's logout) and
// clears the cookie.
func (s *Server) signoutSubmit() Page {
	return Page{Method: http.MethodPost, Path: "signout", Permission: Authenticated,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			if err := s.deps.People.RevokeSession(r.Context(), v.principal.ID, v.principal.Credential); err != nil {
				return err
			}
			http.SetCookie(w, s.cookie(r, identity.SessionCookie, "", -1))
			http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
			return nil
		}}
}

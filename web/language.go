package web

import (
	"net/http"
)

// languageSwitch remembers the chosen language in a cookie (a year) and
// goes back to the page it came from. It changes only a preference, so a
// link (GET) is enough.
func (s *Server) languageSwitch() Page {
	return Page{Method: http.MethodGet, Path: "lang", Permission: Public,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			to := r.URL.Query().Get("to")
			if messages[to] == nil {
				to = "en"
			}
			c := s.cookie(r, langCookie, to, 365*24*3600)
			c.HttpOnly = false
			http.SetCookie(w, c)
			http.Redirect(w, r, localPath(r.URL.Query().Get("back")), http.StatusSeeOther)
			return nil
		}}
}

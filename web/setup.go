package web

import (
	"net/http"

	"github.com/verwerker/verwerker"
)

// Account set-up: the one-time token from the invitation and a new
// password (identity.People.SetUp); the second factor is enrolled after
// the first sign-in (totp.go).

func (s *Server) setupPage() Page {
	return Page{Method: http.MethodGet, Path: "setup", Permission: Public,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			v.Title = translate(v.Lang, "setup.title")
			s.render(w, v, http.StatusOK, "setup")
			return nil
		}}
}

func (s *Server) setupSubmit() Page {
	return Page{Method: http.MethodPost, Path: "setup", Permission: Public,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			err := s.deps.People.SetUp(r.Context(), r.PostFormValue("token"), r.PostFormValue("password"))
			if err != nil {
				switch verwerker.ErrorCode(err) {
				case verwerker.EINVALID, verwerker.EUNAUTHORIZED, verwerker.ENOTFOUND, verwerker.ECONFLICT:
					v.Title = translate(v.Lang, "setup.title")
					v.Data = "setup.failed"
					s.render(w, v, http.StatusUnprocessableEntity, "setup")
					return nil
				}
				return err
			}
			http.Redirect(w, r, Prefix+"signin?setup=done", http.StatusSeeOther)
			return nil
		}}
}

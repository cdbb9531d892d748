package web

import (
	"net"
	"net/http"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/identity"
)

// The sign-in page: e-mail, password and the TOTP code, checked by
// identity.People.Login with the API's throttling; the session is the
// API's session cookie.

func (s *Server) signinPage() Page {
	return Page{Method: http.MethodGet, Path: "signin", Permission: Public,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			v.Title = translate(v.Lang, "signin.title")
			if r.URL.Query().Get("setup") == "done" {
				v.Flash = "setup.done"
			}
			s.render(w, v, http.StatusOK, "signin")
			return nil
		}}
}

func (s *Server) signinSubmit() Page {
	return Page{Method: http.MethodPost, Path: "signin", Permission: Public,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			client, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				client = r.RemoteAddr
			}
			if s.deps.ClientAddr != nil {
				client = s.deps.ClientAddr(r)
			}
			sess, token, err := s.deps.People.Login(r.Context(), identity.Login{Email: r.PostFormValue("email"),
				Password: r.PostFormValue("password"), OTP: r.PostFormValue("otp"), ClientAddr: client})
			if err != nil {
				// One message for every failure: no account enumeration,
				// and the submitted values are not shown again.
				v.Title = translate(v.Lang, "signin.title")
				v.Data = "signin.failed"
				status := http.StatusUnauthorized
				switch verwerker.ErrorCode(err) {
				case verwerker.ETHROTTLED:
					status = http.StatusTooManyRequests
				case verwerker.EUNAUTHORIZED, verwerker.EINVALID:
				default:
					return err
				}
				s.render(w, v, status, "signin")
				return nil
			}
			http.SetCookie(w, s.cookie(r, identity.SessionCookie, token, int(sess.ExpiresAt.Sub(sess.CreatedAt).Seconds())))
			if !sess.MFA {
				http.Redirect(w, r, Prefix+"totp", http.StatusSeeOther)
				return nil
			}
			http.Redirect(w, r, Prefix, http.StatusSeeOther)
			return nil
		}}
}

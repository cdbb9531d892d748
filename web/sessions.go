package web

import (
	"net/http"
	"time"
)

// sessionRow is one of the viewer's sessions on the sessions page.
type sessionRow struct {
	ID                               string
	CreatedAt, LastSeenAt, ExpiresAt time.Time
	MFA, Current                     bool
}

// sessionsPage lists the viewer's own sessions that have not ended (the
// API's GET /v1/me/sessions), with a button to end each at once: a lost or
// shared device is signed out from here (MISSION promise 9: credentials
// revocable at once).
func (s *Server) sessionsPage() Page {
	return Page{Method: http.MethodGet, Path: "sessions", Permission: Authenticated,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			list, err := s.deps.People.Sessions(r.Context(), v.principal.ID)
			if err != nil {
				return err
			}
			rows := make([]sessionRow, 0, len(list))
			for _, ss := range list {
				rows = append(rows, sessionRow{ID: ss.ID, CreatedAt: ss.CreatedAt, LastSeenAt: ss.LastSeenAt, ExpiresAt: ss.ExpiresAt,
					MFA: ss.MFA, Current: ss.ID == v.principal.Credential})
			}
			v.Flash = r.URL.Query().Get("flash")
			if v.Flash != "" && v.Flash != "sessions.ended" {
				v.Flash = ""
			}
			return s.show(w, v, "sessions", "sessions.title", rows)
		}}
}

// sessionEndSubmit ends one of the viewer's own sessions (audited as
// auth.session.revoke); another person's session id is a 404. Ending the
// current session signs the viewer out.
func (s *Server) sessionEndSubmit() Page {
	return Page{Method: http.MethodPost, Path: "sessions/{session_id}/end", Permission: Authenticated,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			id := r.PathValue("session_id")
			if err := s.deps.People.RevokeSession(r.Context(), v.principal.ID, id); err != nil {
				return err
			}
			if id == v.principal.Credential {
				http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
				return nil
			}
			http.Redirect(w, r, Prefix+"sessions?flash=sessions.ended", http.StatusSeeOther)
			return nil
		}}
}

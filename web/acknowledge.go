package web

import (
	"net/http"
	"strings"

	"github.com/verwerker/verwerker/breach"
)

// The acknowledgement link of a breach notice's e-mail (GDPR Art. 33(2)):
// a public page, reached with the notice's secret, that names the notice
// and records the controller's acknowledgement only when it confirms with
// the button, so that a mail scanner opening the link acknowledges
// nothing. An unknown secret is 404.

// ackData is what the acknowledgement page shows.
type ackData struct {
	Token  string
	Notice breach.Notice
	Done   bool
}

func (s *Server) ackPage(method string) Page {
	return Page{Method: method, Path: strings.TrimPrefix(breach.AckPath, Prefix) + "{token}", Permission: Public,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			token := r.PathValue("token")
			var (
				n   breach.Notice
				err error
			)
			if method == http.MethodPost {
				n, err = s.deps.Breaches.AcknowledgeLink(r.Context(), token)
			} else {
				n, err = s.deps.Breaches.LinkNotice(r.Context(), token)
			}
			if err != nil {
				return err
			}
			return s.show(w, v, "acknowledge", "ack.title", ackData{Token: token, Notice: n, Done: n.Acknowledgement != nil})
		}}
}

func init() {
	addMessages(map[string]map[string]string{
		"en": {
			"ack.title": "Breach notice: acknowledge receipt", "ack.notice": "Notice",
			"ack.intro":  "Confirm that your organisation received this personal data breach notice (GDPR Art. 33(2)). Your own 72 hours to notify the supervisory authority run from your awareness of the breach.",
			"ack.submit": "Acknowledge receipt", "ack.done": "Receipt acknowledged on",
		},
		"nl": {
			"ack.title": "Melding datalek: ontvangst bevestigen", "ack.notice": "Melding",
			"ack.intro":  "Bevestig dat je organisatie deze melding van een datalek heeft ontvangen (AVG art. 33 lid 2). Je eigen termijn van 72 uur voor de melding aan de Autoriteit Persoonsgegevens loopt vanaf het moment dat je op de hoogte bent.",
			"ack.submit": "Ontvangst bevestigen", "ack.done": "Ontvangst bevestigd op",
		},
	})
}

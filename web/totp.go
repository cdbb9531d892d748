package web

import (
	"encoding/base64"
	"html/template"
	"net/http"

	"github.com/skip2/go-qrcode"
	"github.com/verwerker/verwerker"
)

// TOTP enrolment: a session without a second factor is sent here; the QR
// code of the otpauth:// URI is drawn on the server (PNG, data: URI).

type totpData struct {
	Secret string
	QR     template.URL
	Failed bool
}

func (s *Server) totpPage() Page {
	return Page{Method: http.MethodGet, Path: "totp", Permission: Authenticated,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			return s.offerTOTP(w, r, v)
		}}
}

// offerTOTP offers a new secret and renders it; one enrolled already goes
// home.
func (s *Server) offerTOTP(w http.ResponseWriter, r *http.Request, v *view) error {
	e, err := s.deps.People.EnrollTOTP(r.Context(), v.principal.ID)
	if verwerker.ErrorCode(err) == verwerker.ECONFLICT {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return nil
	}
	if err != nil {
		return err
	}
	png, err := qrcode.Encode(e.URI, qrcode.Medium, 256)
	if err != nil {
		return verwerker.Internal("web: qr code", err)
	}
	v.Title = translate(v.Lang, "totp.title")
	//nolint:gosec // a PNG we encoded ourselves
	v.Data = totpData{Secret: e.Secret, QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))}
	s.render(w, v, http.StatusOK, "totp")
	return nil
}

func (s *Server) totpSubmit() Page {
	return Page{Method: http.MethodPost, Path: "totp", Permission: Authenticated,
		Handle: func(w http.ResponseWriter, r *http.Request, v *view) error {
			err := s.deps.People.ConfirmTOTP(r.Context(), v.principal.ID, v.principal.Credential, r.PostFormValue("code"))
			switch verwerker.ErrorCode(err) {
			case "":
				http.Redirect(w, r, Prefix, http.StatusSeeOther)
				return nil
			case verwerker.EINVALID, verwerker.EUNAUTHORIZED:
				// The offered secret stays: the person tries the app's
				// next code, without scanning again.
				v.Title = translate(v.Lang, "totp.title")
				v.Data = totpData{Failed: true}
				s.render(w, v, http.StatusUnprocessableEntity, "totp")
				return nil
			}
			return err
		}}
}

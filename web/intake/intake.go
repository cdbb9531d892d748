package intake

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/dsr"
)

// Path is where the page is mounted.
const Path = "/requests"

// maxForm bounds a submitted form, in bytes.
const maxForm = 16 << 10

const csrfCookie = "verwerker_intake"

// Handler serves the intake page.
type Handler struct {
	requests *dsr.Service
	// clientAddr returns the submitter's address for the rate limits.
	clientAddr func(*http.Request) string
	secure     bool
}

// New returns the page on requests. clientAddr gives a request's client
// address (behind trusted proxies, from X-Forwarded-For); secure marks the
// form cookie Secure.
func New(requests *dsr.Service, clientAddr func(*http.Request) string, secure bool) *Handler {
	return &Handler{requests: requests, clientAddr: clientAddr, secure: secure}
}

// Mux is where the page's routes are added: an *http.ServeMux, or the API
// server (api.Server.HandleFunc), which puts its request log and
// cross-origin protection in front.
type Mux interface {
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

// Register adds the page's routes to mux.
func (h *Handler) Register(mux Mux) {
	mux.HandleFunc("GET "+Path, h.form)
	mux.HandleFunc("POST "+Path, h.submit)
	mux.HandleFunc("POST "+Path+"/verify", h.verify)
}

// view is what a template shows.
type view struct {
	Lang, Nonce, Token, Customer, Type, Email, Ref, Details string
	Incorrect, Correct, Grounds                             string
	VerificationID                                          string
	Step                                                    string // "form", "code", "done"
	Errors                                                  map[string]string
	Message                                                 string
	RequestID                                               string
	T                                                       map[string]string
	Types                                                   []dsr.Type
}

func lang(r *http.Request) string {
	if l := r.FormValue("lang"); l == "nl" || l == "en" {
		return l
	}
	if strings.HasPrefix(strings.ToLower(r.Header.Get("Accept-Language")), "nl") {
		return "nl"
	}
	return "en"
}

func random() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// render writes the page with its security headers.
func (h *Handler) render(w http.ResponseWriter, status int, v view) {
	v.Nonce = random()
	v.T = texts[v.Lang]
	v.Types = dsr.Types
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+v.Nonce+"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = page.Execute(w, v)
}

// token sets a fresh form token cookie and returns it.
func (h *Handler) token(w http.ResponseWriter) string {
	t := random()
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: t, Path: Path, HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	return t
}

// checkToken compares the form's token with the cookie's.
func checkToken(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	f := r.PostFormValue("token")
	return err == nil && c.Value != "" && subtle.ConstantTimeCompare([]byte(c.Value), []byte(f)) == 1
}

func (h *Handler) form(w http.ResponseWriter, r *http.Request) {
	v := view{Lang: lang(r), Step: "form", Customer: r.URL.Query().Get("customer"), Type: r.URL.Query().Get("type")}
	if len(v.Customer) > 64 {
		v.Customer = ""
	}
	v.Token = h.token(w)
	h.render(w, http.StatusOK, v)
}

// parse reads a bounded form and checks its token; false when it answered.
func (h *Handler) parse(w http.ResponseWriter, r *http.Request, v *view) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		v.Step, v.Message = "form", texts[v.Lang]["bad_form"]
		v.Token = h.token(w)
		h.render(w, http.StatusRequestEntityTooLarge, *v)
		return false
	}
	v.Lang = lang(r)
	if !checkToken(r) {
		v.Step, v.Message = "form", texts[v.Lang]["expired_form"]
		v.Token = h.token(w)
		h.render(w, http.StatusForbidden, *v)
		return false
	}
	v.Token = r.PostFormValue("token")
	return true
}

// fieldErrors maps dsr's field errors to the form's fields, in the page's
// language; the submitted values are never repeated in messages.
func fieldErrors(err error, lang string) map[string]string {
	out := map[string]string{}
	for _, f := range verwerker.ErrorFields(err) {
		name := f.Field
		if name == "tenant_id" {
			name = "customer"
		}
		out[name] = texts[lang]["invalid_"+name]
		if out[name] == "" {
			out[name] = texts[lang]["invalid"]
		}
	}
	return out
}

func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
	v := view{Lang: "en"}
	if !h.parse(w, r, &v) {
		return
	}
	v.Customer, v.Type, v.Email = r.PostFormValue("customer"), r.PostFormValue("type"), r.PostFormValue("email")
	v.Ref, v.Details = r.PostFormValue("subject_ref"), r.PostFormValue("details")
	v.Incorrect, v.Correct, v.Grounds = r.PostFormValue("incorrect"), r.PostFormValue("correct"), r.PostFormValue("grounds")
	p, err := h.requests.Submit(r.Context(), dsr.Submission{TenantID: strings.TrimSpace(v.Customer), Type: dsr.Type(v.Type), Email: v.Email,
		SubjectRef: v.Ref, Language: v.Lang, Details: v.Details, Incorrect: v.Incorrect, Correct: v.Correct, Grounds: v.Grounds, ClientAddr: h.clientAddr(r)})
	switch verwerker.ErrorCode(err) {
	case "":
		h.render(w, http.StatusOK, view{Lang: v.Lang, Token: v.Token, Step: "code", VerificationID: p.VerificationID})
	case verwerker.EINVALID:
		v.Step, v.Errors = "form", fieldErrors(err, v.Lang)
		h.render(w, http.StatusUnprocessableEntity, v)
	case verwerker.ETHROTTLED:
		if d := verwerker.ErrorRetryAfter(err); d > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(d.Seconds()))))
		}
		v.Step, v.Message = "form", texts[v.Lang]["throttled"]
		h.render(w, http.StatusTooManyRequests, v)
	default:
		v.Step, v.Message = "form", texts[v.Lang]["unavailable"]
		h.render(w, http.StatusServiceUnavailable, v)
	}
}

func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	v := view{Lang: "en"}
	if !h.parse(w, r, &v) {
		return
	}
	v.VerificationID = r.PostFormValue("verification_id")
	req, err := h.requests.Verify(r.Context(), v.VerificationID, strings.TrimSpace(r.PostFormValue("code")))
	switch verwerker.ErrorCode(err) {
	case "":
		h.render(w, http.StatusOK, view{Lang: v.Lang, Step: "done", RequestID: req.ID})
	case verwerker.EINVALID:
		v.Step, v.Errors = "code", map[string]string{"code": texts[v.Lang]["invalid_code"]}
		h.render(w, http.StatusUnprocessableEntity, v)
	default:
		v.Step, v.Message = "code", texts[v.Lang]["unavailable"]
		h.render(w, http.StatusServiceUnavailable, v)
	}
}

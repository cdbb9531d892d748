package web

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/tenant"
)

// view is what every template gets: the viewer, the language and time
// zone, the navigation, the CSRF token and the page's own data.
type view struct {
	Lang  string
	Path  string
	Title string
	CSRF  string
	Now   time.Time
	// Loc is the viewer's time zone: their customer's, or the default
	// (Europe/Amsterdam) for the processor's people.
	Loc *time.Location
	// Email of the signed-in person; empty on public pages.
	Email string
	// Home is the viewer's customer for a customer's people.
	Home string
	Nav  []navItem
	// Flash is a message after a form, by key.
	Flash string
	// Refresh, when not zero, reloads the page after that many seconds
	// (the HTTP Refresh header: no script, nothing for the CSP to allow):
	// for pages showing work in progress. Such a page offers a link that
	// stops it (WCAG 2.2.1, timing adjustable).
	Refresh int
	// RefreshURL is what the Refresh header loads: the page's own path and
	// query. Without it a browser on a URL with a fragment ("#verification")
	// treats the reload as a jump within the page and never reloads.
	RefreshURL string
	Data       any

	principal verwerker.Principal
}

type navItem struct {
	Href, Key string
	Current   bool
}

// loadViewer fills in who the viewer is, their time zone and navigation.
func (s *Server) loadViewer(w http.ResponseWriter, r *http.Request, v *view) bool {
	ctx := r.Context()
	if s.deps.People == nil {
		return true
	}
	u, err := s.deps.People.Get(ctx, v.principal.ID)
	if err != nil {
		s.failed(w, r, v, err)
		return false
	}
	v.Email = u.Email
	if v.principal.MFAPending {
		return true
	}
	grants, err := s.deps.People.Grants(ctx, v.principal.ID)
	if err != nil {
		s.failed(w, r, v, err)
		return false
	}
	platform := false
	for _, g := range grants {
		if g.Domain == verwerker.PlatformDomain {
			platform = true
		} else if v.Home == "" {
			v.Home = g.Domain
		}
	}
	if !platform && v.Home != "" {
		if t, err := s.deps.Tenants.Get(ctx, v.Home); err == nil {
			v.Loc = tenant.Location(t.Timezone)
		}
	}
	add := func(href, key, perm, dom string) {
		if ok, _ := s.deps.Authz.Allowed(ctx, v.principal, perm, dom); ok {
			v.Nav = append(v.Nav, navItem{Href: Prefix + href, Key: key, Current: strings.HasPrefix(v.Path, Prefix+href) && (href != "" || v.Path == Prefix)})
		}
	}
	if platform {
		add("overview", "overview.title", policy.PermTenantList, verwerker.PlatformDomain)
		add("customers", "customers.title", policy.PermTenantList, verwerker.PlatformDomain)
		add("subprocessors", "subprocessors.title", policy.PermSubprocessorRead, verwerker.PlatformDomain)
		add("notices", "notices.title", policy.PermOutboxRead, verwerker.PlatformDomain)
		add("audit", "audit.title", policy.PermAuditRead, verwerker.PlatformDomain)
		add("requests", "requests.title", policy.PermRequestRead, verwerker.PlatformDomain)
		add("breaches", "breaches.title", policy.PermBreachManage, verwerker.PlatformDomain)
		add("retention", "retention.title", policy.PermRetentionRead, verwerker.PlatformDomain)
	} else if v.Home != "" {
		add("customers/"+v.Home, "customers.title", policy.PermTenantRead, v.Home)
		add("customers/"+v.Home+"/certificates", "certificates.title", policy.PermCertificateRead, v.Home)
		add("customers/"+v.Home+"/requests", "requests.title", policy.PermRequestRead, v.Home)
		add("customers/"+v.Home+"/retention", "retention.title", policy.PermRetentionRead, v.Home)
		add("customers/"+v.Home+"/breaches", "breaches.notices", policy.PermBreachNoticeRead, v.Home)
	}
	// Only the most specific entry is current: a customer's retention
	// page is not its customer page too.
	best := -1
	for i, n := range v.Nav {
		if n.Current && (best < 0 || len(n.Href) > len(v.Nav[best].Href)) {
			best = i
		}
	}
	for i := range v.Nav {
		v.Nav[i].Current = i == best
	}
	return true
}

// render writes the page template name with v.
func (s *Server) render(w http.ResponseWriter, v *view, status int, name string) {
	var buf bytes.Buffer
	if err := s.tmpl[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.logger.Error("dashboard: template failed", "template", name, "error", err.Error())
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString("internal error")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if v.Refresh > 0 {
		refresh := strconv.Itoa(v.Refresh)
		if v.RefreshURL != "" {
			refresh += "; url=" + v.RefreshURL
		}
		w.Header().Set("Refresh", refresh)
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// show renders the page template name with data, titled by the message
// titleKey: the end of every page's handler.
func (s *Server) show(w http.ResponseWriter, v *view, name, titleKey string, data any) error {
	v.Title = translate(v.Lang, titleKey)
	v.Data = data
	s.render(w, v, http.StatusOK, name)
	return nil
}

type errorData struct {
	Status  int
	Message string
}

// renderError writes an error page; key overrides the status's message.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, v *view, status int, key ...string) {
	msg := "error.404"
	switch status {
	case http.StatusForbidden, http.StatusUnauthorized:
		msg = "error.403"
	case http.StatusUnprocessableEntity, http.StatusBadRequest:
		msg = "error.400"
	case http.StatusInternalServerError, http.StatusServiceUnavailable:
		msg = "error.500"
	}
	if len(key) > 0 {
		msg = key[0]
	}
	v.Title = http.StatusText(status)
	v.Data = errorData{Status: status, Message: msg}
	s.render(w, v, status, "error")
}

// CSRF: a random value in an HttpOnly, SameSite=Strict cookie that every
// form repeats in a hidden field (double submit), behind the browsers'
// Sec-Fetch-Site/Origin check (http.CrossOriginProtection). Another site
// can neither read the cookie nor make the browser send it.
const (
	csrfCookie = "verwerker_csrf"
	csrfField  = "csrf"
)

// csrfToken returns the request's CSRF token, setting the cookie when it
// is missing.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, s.cookie(r, csrfCookie, tok, 0))
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: tok})
	return tok
}

// csrfValid reports whether a form carries the token of its cookie.
func (s *Server) csrfValid(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || len(c.Value) != 43 {
		return false
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	got := r.PostFormValue(csrfField)
	return subtle.ConstantTimeCompare([]byte(got), []byte(c.Value)) == 1
}

// cookie makes a dashboard cookie: HttpOnly, SameSite=Strict, Secure on
// TLS or when configured; maxAge 0 is a browser-session cookie.
func (s *Server) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: s.secure || r.TLS != nil, SameSite: http.SameSiteStrictMode}
}

// funcs are the templates' helpers.
func funcs() template.FuncMap {
	return template.FuncMap{
		"t":    func(v *view, key string, args ...any) string { return translate(v.Lang, key, args...) },
		"list": func(xs ...any) []any { return xs },
		"tr":   func(v *view, key string, args []any) string { return translate(v.Lang, key, args...) },
		"when": func(v *view, t any) string {
			switch x := t.(type) {
			case time.Time:
				return formatTime(v.Lang, x, v.Loc)
			case *time.Time:
				if x == nil {
					return "–"
				}
				return formatTime(v.Lang, *x, v.Loc)
			}
			return ""
		},
		"left": func(v *view, t any) string {
			switch x := t.(type) {
			case time.Time:
				return timeLeft(v.Lang, v.Now, x)
			case *time.Time:
				if x == nil {
					return ""
				}
				return timeLeft(v.Lang, v.Now, *x)
			}
			return ""
		},
		"svg":   func(s string) template.HTML { return template.HTML(s) }, //nolint:gosec // charts are built by chart.go with escaped text
		"short": short,
		"inc":   func(n int) int { return n + 1 },
		// input is t in the viewer's zone for a datetime-local field.
		"input": func(v *view, t time.Time) string { return t.In(v.Loc).Format("2006-01-02T15:04") },
		"ts": func(b []byte) string {
			if len(b) > 8 {
				b = b[:8]
			}
			return base64.StdEncoding.EncodeToString(b)
		},
	}
}

// short cuts an id to its first 12 characters for a table.
func short(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/breach"
	"github.com/verwerker/verwerker/dsr"
	"github.com/verwerker/verwerker/notify/notifytest"
)

// TestBrowserDuties walks the breach, request and retention pages in
// Chromium: the DPO reports an incident, triages it as a breach, sees the
// clock and the affected customer, and sends the notices; the customer's
// privacy lead sees and acknowledges its notice and no other customer's
// (404), places a legal hold through the page; a data subject files an
// access request on the public page and verifies it with the code from
// the e-mail. Every main page gets a screenshot and axe-core.
func TestBrowserDuties(t *testing.T) {
	browserPaths(t)
	e, mailpit := newDutyEnv(t)
	b := newBrowser(t, e)
	a, other := e.data.Tenants[0], e.data.Tenants[1]
	const title = "Support tool showed other customers' chats"
	var incident string

	t.Run("the DPO reports an incident", func(t *testing.T) {
		p := e.dpo()
		b.signIn(t, p.Email, p.Password, e.code(t, p))
		require.Equal(t, http.StatusOK, b.open(t, "/dashboard/breaches"))
		b.check(t, "breaches")
		discovered := e.clock.Now().Add(-(39*time.Hour + 30*time.Minute)).In(amsterdam(t)).Format("2006-01-02T15:04")
		b.do(t,
			chromedp.SendKeys(chromedp.CSS("#b-title"), title),
			chromedp.SetValue(chromedp.CSS("#b-discovered"), discovered),
			chromedp.Click(chromedp.CSS(`#report input[value=confidentiality]`)),
			chromedp.SendKeys(chromedp.CSS("#b-tenants"), a.ID),
			chromedp.Submit(chromedp.CSS("#report")),
			chromedp.WaitVisible(chromedp.CSS(".flash")))
		loc, err := chromedp.Run(b.ctx, chromedp.Location())
		require.NoError(t, err)
		m := regexp.MustCompile(`/dashboard/breaches/([a-z]+_[0-9A-Za-z]+)`).FindStringSubmatch(loc)
		require.NotNil(t, m, loc)
		incident = m[1]
		require.Contains(t, b.text(t, "main h1"), title)
	})

	t.Run("triage as a breach, the clock and the affected customer", func(t *testing.T) {
		b.do(t,
			chromedp.Click(chromedp.CSS(`#triage input[name=actual][value=yes]`)),
			chromedp.Click(chromedp.CSS(`#triage input[name=personal_data][value=yes]`)),
			chromedp.Submit(chromedp.CSS("#triage")),
			chromedp.WaitVisible(chromedp.CSS("#reasons")))
		require.Contains(t, b.text(t, "#status"), "breach")
		require.NotEmpty(t, b.text(t, "#reasons li"))
		// Discovered 39.5 hours ago: 8 hours left, in red.
		require.Contains(t, b.text(t, "#clock"), "8 hours left")
		cls, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector('#clock').className`))
		require.NoError(t, err)
		require.Equal(t, "alarm", cls)
		b.do(t, chromedp.Click(chromedp.CSS(`form[action$="/impact"] button`)), chromedp.WaitVisible(chromedp.CSS("#impact")))
		require.Contains(t, b.text(t, "#impact"), a.Name)
		require.NotContains(t, b.text(t, "#impact"), other.Name)
		b.check(t, "incident")
		// The breaches page lists the clock, red.
		b.open(t, "/dashboard/breaches")
		row := fmt.Sprintf(`#clocks tr[data-incident=%q]`, incident)
		require.Contains(t, b.text(t, row), title)
		level, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector('`+row+`').dataset.level`))
		require.NoError(t, err)
		require.Equal(t, "near", level)
	})

	t.Run("send the notices", func(t *testing.T) {
		b.open(t, "/dashboard/breaches/"+incident)
		b.do(t, chromedp.Submit(chromedp.CSS("#notify")), chromedp.WaitVisible(chromedp.CSS("#notices")))
		require.Contains(t, b.text(t, "#notices"), a.Name)
		waitFor(t, "the notice's delivery", func() bool {
			n, err := e.app.Breaches.Notices(t.Context(), incident)
			require.NoError(t, err)
			return len(n) == 1 && n[0].Delivery.State == breach.DeliveryDelivered
		})
		b.open(t, "/dashboard/overview")
		require.Contains(t, b.text(t, "#breach-clocks"), title)
		b.check(t, "overview-duties")
	})

	t.Run("the DPO's request pages", func(t *testing.T) {
		require.Equal(t, http.StatusOK, b.open(t, "/dashboard/requests"))
		// The demo's overdue request is red.
		require.NotEmpty(t, b.text(t, `#requests tr[data-level=overdue]`))
		b.check(t, "requests")
	})

	t.Run("the DPO's retention page over every customer", func(t *testing.T) {
		require.NoError(t, e.app.Retention.RefreshForecast(t.Context()))
		require.Equal(t, http.StatusOK, b.open(t, "/dashboard/retention"))
		require.NotEmpty(t, b.text(t, "#platform-forecast"))
		b.check(t, "retention-platform")
	})

	t.Run("the privacy lead acknowledges its notice", func(t *testing.T) {
		b.do(t, chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#signin-submit")))
		p := e.lead()
		b.signIn(t, p.Email, p.Password, e.code(t, p))
		require.Equal(t, http.StatusOK, b.open(t, "/dashboard/customers/"+a.ID+"/breaches"))
		row := fmt.Sprintf(`tr.notice[data-incident=%q][data-phase="0"]`, incident)
		require.Contains(t, b.text(t, row), title)
		b.check(t, "customer-breaches")
		b.do(t, chromedp.Click(chromedp.CSS(row+" button.acknowledge")), chromedp.WaitVisible(chromedp.CSS(".flash")))
		require.NotEmpty(t, b.text(t, row+" .ack"))
		n, err := e.app.Breaches.Notices(t.Context(), incident)
		require.NoError(t, err)
		require.NotNil(t, n[0].Acknowledgement)
		require.Equal(t, http.StatusNotFound, b.open(t, "/dashboard/customers/"+other.ID+"/breaches"))
		require.NotContains(t, b.text(t, "main"), other.Name)
		require.Equal(t, http.StatusForbidden, b.open(t, "/dashboard/breaches"))
	})

	t.Run("the privacy lead places a legal hold", func(t *testing.T) {
		require.Equal(t, http.StatusOK, b.open(t, "/dashboard/customers/"+a.ID+"/retention"))
		b.check(t, "retention")
		b.do(t,
			chromedp.SetValue(chromedp.CSS("#h-scope"), "category"),
			chromedp.SendKeys(chromedp.CSS("#h-category"), "chat.message"),
			chromedp.SendKeys(chromedp.CSS("#h-reason"), "Inquiry by the Dutch DPA"),
			chromedp.SendKeys(chromedp.CSS("#h-owner"), "privacy team"),
			chromedp.SetValue(chromedp.CSS("#h-review"), e.clock.Now().AddDate(0, 1, 0).Format("2006-01-02")),
			chromedp.Submit(chromedp.CSS("#place")),
			chromedp.WaitVisible(chromedp.CSS(".flash")))
		require.Contains(t, b.text(t, "#hold-list"), "Inquiry by the Dutch DPA")
		holds, err := e.app.Retention.Holds(t.Context(), a.ID, false)
		require.NoError(t, err)
		found := false
		for _, h := range holds {
			found = found || h.Category == "chat.message"
		}
		require.True(t, found)
		require.Equal(t, http.StatusNotFound, b.open(t, "/dashboard/customers/"+other.ID+"/retention"))
	})

	t.Run("a data subject files an access request and verifies it", func(t *testing.T) {
		email := fmt.Sprintf("visitor-%d@example.com", time.Now().UnixNano())
		require.Equal(t, http.StatusOK, b.open(t, "/requests?lang=en&customer="+url.QueryEscape(a.ID)))
		b.do(t,
			chromedp.SetValue(chromedp.CSS("#type"), string(dsr.TypeAccess)),
			chromedp.SendKeys(chromedp.CSS("#email"), email),
			chromedp.Submit(chromedp.CSS(`form[action="/requests"]`)),
			chromedp.WaitVisible(chromedp.CSS("#code")))
		id := b.verifyRequest(t, mailpit, email)
		// The controller sees it on its page, with its timeline.
		require.Equal(t, http.StatusOK, b.open(t, "/dashboard/customers/"+a.ID+"/requests"))
		require.NotEmpty(t, b.text(t, fmt.Sprintf(`#requests tr[data-request=%q]`, id)))
		b.check(t, "customer-requests")
		require.Equal(t, http.StatusOK, b.open(t, "/dashboard/customers/"+a.ID+"/requests/"+id))
		require.Contains(t, b.text(t, "#timeline"), "receive")
		b.check(t, "request")
	})

	t.Run("a data subject asks for a correction with what is wrong and the correct value", func(t *testing.T) {
		email := fmt.Sprintf("correction-%d@example.com", time.Now().UnixNano())
		require.Equal(t, http.StatusOK, b.open(t, "/requests?lang=en&customer="+url.QueryEscape(a.ID)))
		// Without the correct value the form answers, naming the field.
		b.do(t,
			chromedp.SetValue(chromedp.CSS("#type"), string(dsr.TypeRectification)),
			chromedp.SendKeys(chromedp.CSS("#email"), email),
			chromedp.SendKeys(chromedp.CSS("#incorrect"), "My surname is spelled Jansen"),
			chromedp.Submit(chromedp.CSS(`form[action="/requests"]`)),
			chromedp.WaitVisible(chromedp.CSS("#correct-error")))
		require.Contains(t, b.text(t, "#correct-error"), "correct value")
		b.check(t, "intake-correction-error")
		b.do(t,
			chromedp.SendKeys(chromedp.CSS("#correct"), "Janssen"),
			chromedp.Submit(chromedp.CSS(`form[action="/requests"]`)),
			chromedp.WaitVisible(chromedp.CSS("#code")))
		id := b.verifyRequest(t, mailpit, email)
		// The controller gets both with the forward.
		mail := mailText(t, mailpit, "to:"+a.ContactEmail+" "+id)
		require.Contains(t, mail, "My surname is spelled Jansen")
		require.Contains(t, mail, "Janssen")
	})

	b.mu.Lock()
	defer b.mu.Unlock()
	require.Empty(t, b.external, "the pages made requests to other sites")
}

// verifyRequest enters the code e-mailed to email on the public page's
// code form and returns the request's id the page shows.
func (b *browser) verifyRequest(t *testing.T, mailpit, email string) string {
	t.Helper()
	code := mailCode(t, mailpit, email)
	b.do(t,
		chromedp.SendKeys(chromedp.CSS("#code"), code),
		chromedp.Submit(chromedp.CSS(`form[action="/requests/verify"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p[role=status] strong`)))
	id := b.text(t, `p[role=status] strong`)
	require.True(t, strings.HasPrefix(id, "dsr_"), id)
	return id
}

// mailCode returns the verification code of the newest e-mail to to, read
// from mailpit's API.
func mailCode(t *testing.T, mailpit, to string) string {
	t.Helper()
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(mailText(t, mailpit, "to:"+to))
	require.NotEmpty(t, code, "no code in the newest e-mail to the requester")
	return code
}

// mailText returns the text of the newest e-mail mailpit finds for query.
func mailText(t *testing.T, mailpit, query string) string {
	t.Helper()
	return notifytest.MailText(t, mailpit, query)
}

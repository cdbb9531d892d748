package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/breach"
)

// TestAcknowledgementLinkFromMail follows the acknowledgement link of a
// breach notice's e-mail as it arrived in mailpit: it is absolute (the
// public URL), opens a page naming the notice that acknowledges nothing by
// itself, and the controller's confirmation records the acknowledgement
// by link. A wrong secret is 404.
func TestAcknowledgementLinkFromMail(t *testing.T) {
	e, mailpit := newDutyEnv(t)
	incidents, err := e.app.Breaches.List(t.Context())
	require.NoError(t, err)
	var incident string
	for _, i := range incidents {
		if i.Status == breach.StatusBreach {
			incident = i.ID
		}
	}
	require.NotEmpty(t, incident, "the demo has a notified breach")

	link := regexp.MustCompile(`https?://\S+/dashboard/breach-acknowledgements/\S+`)
	var links []string
	waitFor(t, "the notices' e-mails in mailpit", func() bool {
		links = nil
		for _, text := range mailTexts(t, mailpit, incident) {
			links = append(links, link.FindAllString(text, -1)...)
		}
		return len(links) >= 2
	})
	for _, l := range links {
		require.True(t, strings.HasPrefix(l, e.srv.URL+"/dashboard/breach-acknowledgements/bak_"), l)
	}
	acked := func() map[string]string { // customer -> acknowledged via
		notices, err := e.app.Breaches.Notices(t.Context(), incident)
		require.NoError(t, err)
		out := map[string]string{}
		for _, x := range notices {
			if x.Acknowledgement != nil {
				out[x.TenantID] = x.Acknowledgement.Via
			}
		}
		return out
	}
	// Opening every link acknowledges nothing; the demo acknowledged one
	// notice already, the other waits for its controller.
	before := acked()
	c := e.client(t)
	var open string
	for _, l := range links {
		u, err := url.Parse(l)
		require.NoError(t, err)
		status, body := e.get(t, c, u.Path)
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, body, incident)
		if strings.Contains(body, `id="ack-submit"`) {
			open = u.Path
		} else {
			require.Contains(t, body, `id="ack-done"`)
		}
	}
	require.NotEmpty(t, open, "a notice not acknowledged yet")
	require.Equal(t, before, acked(), "opening the links acknowledges nothing")

	status, body, _ := e.post(t, c, open, open, url.Values{})
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `id="ack-done"`)
	after := acked()
	require.Len(t, after, len(before)+1, "the notice of the link is acknowledged")
	for tenant, via := range after {
		if _, ok := before[tenant]; !ok {
			require.Equal(t, "link", via)
		}
	}

	status, _ = e.get(t, c, "/dashboard/breach-acknowledgements/bak_wrong")
	require.Equal(t, http.StatusNotFound, status)
}

// mailTexts returns the plain texts of the mailpit messages matching query.
func mailTexts(t *testing.T, mailpit, query string) []string {
	t.Helper()
	res, err := http.Get(mailpit + "/api/v1/search?query=" + url.QueryEscape(query))
	require.NoError(t, err)
	defer res.Body.Close()
	var list struct {
		Messages []struct{ ID string } `json:"messages"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&list))
	var out []string
	for _, m := range list.Messages {
		r, err := http.Get(mailpit + "/api/v1/message/" + m.ID)
		require.NoError(t, err)
		var full struct{ Text string }
		require.NoError(t, json.NewDecoder(r.Body).Decode(&full))
		r.Body.Close()
		out = append(out, full.Text)
	}
	return out
}

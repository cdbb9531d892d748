package api_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/policy"
)

// syncBuffer is a bytes.Buffer many goroutines may write to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLogsFreeOfPersonalData runs a full journey with every log at debug
// level going to a buffer (the application's, River's and slog's default):
// decisions, records with personal data, bad input carrying personal data,
// a data-subject access request through the public intake with its e-mail
// verification, forwarding and export, an erasure, and a breach with its
// impact and notices. Then it scans everything logged for every piece of
// personal data it submitted: names, e-mail addresses, phone numbers,
// message texts and the chat service's subject references.
//
// Not parallel: it replaces slog's default logger while it runs.
func TestLogsFreeOfPersonalData(t *testing.T) {
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	old := slog.Default()
	slog.SetDefault(logger)
	t.Cleanup(func() { slog.SetDefault(old) })

	const (
		name    = "Marieke de Vries-Oosterhuis"
		phone   = "06-98765432"
		ref     = "visitor-marieke-4711"
		other   = "visitor-pieter-0815"
		text1   = "Hoi, ik ben " + name + ", bel me op " + phone
		text2   = "Mijn adres is Keizersgracht 1234, Amsterdam"
		text3   = "Pieter Bakker hier, mail pieter.bakker@example.net"
		invoice = "Factuur voor " + name + " 2026-0042"
	)
	// A new address each run: the shared mailpit keeps earlier runs' codes.
	email := fmt.Sprintf("marieke.devries.%d@example.org", time.Now().UnixNano())
	personal := []string{name, "Vries-Oosterhuis", email, "marieke.devries", phone, "98765432", ref, other, text1, text2,
		"Keizersgracht", text3, "Pieter Bakker", "pieter.bakker@example.net", invoice}

	b := setup(t)
	b.logger = logger
	mailpit := b.withRequests(t) // an app logging to the buffer, with its jobs running
	A := b.tenantA.ID
	activeDPA(t, b, A)
	admin, chat := b.token(t, policy.RoleControllerAdmin, A), b.token(t, policy.RoleChatService, A)
	dpo := b.token(t, policy.RoleDPO, verwerker.PlatformDomain)
	hook := newHookReceiver(t)
	res := b.do(t, http.MethodPut, "/v1/tenants/"+A+"/webhook", admin, map[string]any{"url": hook.srv.URL})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	hook.mu.Lock()
	hook.secret = res.json["secret"].(string)
	hook.mu.Unlock()

	// Decisions, one and a batch, and a bad one.
	question := map[string]any{"tenant_id": A, "category": "chat.message", "purpose": "service.delivery", "region": "nl", "subject_ref": ref}
	res = b.do(t, http.MethodPost, "/v1/decisions", chat, question)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	res = b.do(t, http.MethodPost, "/v1/decisions/batch", chat, map[string]any{"tenant_id": A, "items": []any{
		map[string]any{"category": "chat.message", "purpose": "service.delivery", "region": "nl", "subject_ref": ref},
		map[string]any{"category": "chat.message", "purpose": "marketing", "region": "nl", "subject_ref": other}}})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	res = b.do(t, http.MethodPost, "/v1/decisions", chat, map[string]any{"tenant_id": A, "category": text1, "purpose": "service.delivery", "region": "nl", "subject_ref": ref})
	require.Less(t, res.status, 500, res.raw)

	// Records with personal data, and bad ones.
	write := func(subject, kind, category, purpose, text string) response {
		return b.do(t, http.MethodPost, "/v1/tenants/"+A+"/records", chat, map[string]any{"items": []any{map[string]any{"subject_ref": subject, "kind": kind,
			"category": category, "purpose": purpose, "region": "nl", "content": map[string]any{"text": text, "from": name, "email": email}}}})
	}
	for _, text := range []string{text1, text2} {
		res = write(ref, "chat.message", "chat.message", "service.delivery", text)
		require.Equal(t, http.StatusCreated, res.status, res.raw)
	}
	res = write(ref, "admin.invoice", "billing.invoice", "billing", invoice)
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	res = write(other, "chat.message", "chat.message", "service.delivery", text3)
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	res = write(ref, "chat.message", "chat.message", "marketing", text1) // denied
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
	res = write(ref, "chat.message", "chat.message", "service.delivery", strings.Repeat(text2, 1)+"\x00") // odd bytes
	require.Less(t, res.status, 500, res.raw)
	res = b.do(t, http.MethodPost, "/v1/tenants/"+A+"/records", chat, `{"items":[{"subject_ref":"`+ref+`","content":"`+text1+`"`)
	require.Equal(t, http.StatusBadRequest, res.status, res.raw)

	// A data-subject access request through the public intake, with bad
	// input first.
	res = b.do(t, http.MethodPost, "/v1/public/requests", "", map[string]any{"tenant_id": A, "type": "access", "email": name + " <" + email, "subject_ref": ref})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
	res = b.do(t, http.MethodPost, "/v1/public/requests", "", map[string]any{"tenant_id": A, "type": "access", "email": email, "subject_ref": ref, "language": "nl",
		"details": "Ik ben " + name + " en wil weten wat u van mij heeft."})
	if res.status == http.StatusUnprocessableEntity { // no free-text field: file it without
		res = b.do(t, http.MethodPost, "/v1/public/requests", "", map[string]any{"tenant_id": A, "type": "access", "email": email, "subject_ref": ref, "language": "nl"})
	}
	require.Equal(t, http.StatusAccepted, res.status, res.raw)
	vid := res.json["verification_id"].(string)
	code := mailCode(t, mailpit, email)
	res = b.do(t, http.MethodPost, "/v1/public/requests/"+vid+"/verify", "", map[string]any{"code": code})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	path := "/v1/tenants/" + A + "/requests/" + res.json["request_id"].(string)
	waitFor(t, "the forwarding", func() bool {
		return b.do(t, http.MethodGet, path, admin, nil).json["state"] == "awaiting_instruction"
	})
	res = b.do(t, http.MethodPost, path+"/instructions", admin, map[string]any{"action": "export"})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	waitFor(t, "the export", func() bool { return b.do(t, http.MethodGet, path, admin, nil).json["state"] == "completed" })
	res = b.do(t, http.MethodGet, path+"/export", admin, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Contains(t, res.raw, "records.json", "the export has the records")

	// An erasure of the other subject, instructed by the controller.
	res = b.do(t, http.MethodPost, "/v1/tenants/"+A+"/requests", admin, map[string]any{"type": "erasure", "subject_ref": other})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	epath := "/v1/tenants/" + A + "/requests/" + res.json["id"].(string)
	res = b.do(t, http.MethodPost, epath+"/instructions", admin, map[string]any{"action": "erase"})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	waitFor(t, "the erasure", func() bool { return b.do(t, http.MethodGet, epath, admin, nil).json["state"] == "completed" })
	res = b.do(t, http.MethodPost, "/v1/tenants/"+A+"/subjects/export", admin, map[string]any{"subject_ref": ref})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Contains(t, res.raw, text2, "the API gives the data back to whom may see it")

	// A breach: reported, triaged, counted and notified.
	b.clock.Advance(time.Hour)
	res = b.do(t, http.MethodPost, "/v1/breaches", dpo, map[string]any{"title": "Chat store readable", "discovered_at": b.clock.Now().Add(-time.Minute).Format(time.RFC3339),
		"systems": []string{"chat"}, "kinds": []string{"confidentiality"}})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	id := res.json["id"].(string)
	res = b.do(t, http.MethodPost, "/v1/breaches/"+id+"/triage", dpo, map[string]any{"actual": true, "personal_data": true})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	res = b.do(t, http.MethodPost, "/v1/breaches/"+id+"/impact", dpo, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	res = b.do(t, http.MethodPost, "/v1/breaches/"+id+"/notices", dpo, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	waitFor(t, "the breach notice webhook", func() bool {
		for _, d := range hook.deliveries() {
			if strings.HasPrefix(d.Type, "breach.") {
				return true
			}
		}
		return false
	})

	out := logs.String()
	lines := strings.Count(out, "\n")
	require.Greater(t, lines, 30, "the journey was logged: %d lines", lines)
	require.Contains(t, out, `"level":"DEBUG"`, "debug lines were written")
	for _, s := range personal {
		for _, form := range []string{s, strings.ToLower(s)} {
			if i := strings.Index(out, form); i >= 0 {
				start := strings.LastIndex(out[:i], "\n") + 1
				end := i + strings.Index(out[i:], "\n")
				t.Errorf("the logs carry personal data %q:\n%s", form, out[start:end])
			}
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/store/storetest"
)

// lockedBuffer is a log destination safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeWithoutSMTPWarnsLoudly: `serve` without an e-mail relay says so
// at error level when it starts and lists it as an alarm for the DPO; it
// has no development mailbox.
func TestServeWithoutSMTPWarnsLoudly(t *testing.T) {
	t.Setenv("SMTP_URL", "")
	cfg, _, err := parseConfig("verwerker serve", []string{"-database-url", storetest.NewURL(t), "-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0",
		"-signing-key-file", filepath.Join(t.TempDir(), "signing.key")}, io.Discard)
	require.NoError(t, err)
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var alarms, mailbox *http.Response
	err = serve(ctx, cfg, logger, func(a *running, addr string) error {
		defer cancel()
		_, token, err := a.Keys.Issue(ctx, identity.NewKey{Label: "test dpo", Role: "dpo", Domain: verwerker.PlatformDomain})
		if err != nil {
			return err
		}
		get := func(path string) (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			return http.DefaultClient.Do(req)
		}
		if alarms, err = get("/v1/alarms"); err != nil {
			return err
		}
		mailbox, err = get("/v1/dev/mailbox")
		return err
	})
	require.NoError(t, err)
	defer alarms.Body.Close()
	mailbox.Body.Close()
	require.Equal(t, http.StatusNotFound, mailbox.StatusCode, "no development mailbox in serve")
	require.Equal(t, http.StatusOK, alarms.StatusCode)
	var list struct {
		Items []struct{ Kind, Severity string }
	}
	require.NoError(t, json.NewDecoder(alarms.Body).Decode(&list))
	require.Contains(t, list.Items, struct{ Kind, Severity string }{"email_not_configured", "warning"})

	loud := false
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "ERROR" && strings.Contains(rec.Msg, "SMTP_URL") {
			loud = true
		}
	}
	require.True(t, loud, "an error-level line about SMTP_URL at start:\n%s", logs.String())
}

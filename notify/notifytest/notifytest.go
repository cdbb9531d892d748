// Package notifytest runs an outbox's delivery workers in tests: a River
// client on the test database that retries failed deliveries after 20 ms
// instead of River's backoff of minutes, stopped when the test ends.
package notifytest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/store"
)

// QuickRetry retries failed jobs after 20 ms.
type QuickRetry struct{}

// NextRetry implements river.ClientRetryPolicy.
func (QuickRetry) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(20 * time.Millisecond)
}

// Start gives outbox a started River client on db that runs its delivery
// workers until the test ends.
func Start(t testing.TB, db *store.DB, outbox *notify.Outbox) {
	t.Helper()
	StartRetrying(t, db, outbox, QuickRetry{})
}

// Backoff retries failed jobs after First, doubling for every attempt up
// to Max: River's backoff, compressed into seconds.
type Backoff struct{ First, Max time.Duration }

// NextRetry implements river.ClientRetryPolicy.
func (b Backoff) NextRetry(job *rivertype.JobRow) time.Time {
	d := b.First
	for i := 1; i < job.Attempt && d < b.Max; i++ {
		d *= 2
	}
	return time.Now().Add(min(d, b.Max))
}

// StartRetrying is Start with a retry policy of the test's choice.
func StartRetrying(t testing.TB, db *store.DB, outbox *notify.Outbox, retry river.ClientRetryPolicy) {
	t.Helper()
	workers := river.NewWorkers()
	outbox.Register(workers)
	client, err := river.NewClient(riverpgxv5.New(db.Pool), &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers:           workers,
		RetryPolicy:       retry,
		FetchCooldown:     10 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("notifytest: %v", err)
	}
	outbox.UseClient(client)
	if err := client.Start(context.Background()); err != nil {
		t.Fatalf("notifytest: start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(ctx)
	})
}

// MailText returns the text of the newest e-mail a mailpit server (its API
// at mailpit, http://host:port) finds for query (mailpit's search syntax,
// for example "to:a@example.org dsr_01..."), waiting up to 20 seconds for
// one to arrive.
func MailText(t testing.TB, mailpit, query string) string {
	t.Helper()
	get := func(path string, v any) error {
		resp, err := http.Get(mailpit + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("mailpit: %s", resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		var list struct {
			Messages []struct {
				ID string `json:"ID"`
			} `json:"messages"`
		}
		if err := get("/api/v1/search?query="+url.QueryEscape(query), &list); err != nil {
			t.Fatalf("notifytest: %v", err)
		}
		if len(list.Messages) == 0 {
			continue
		}
		var m struct {
			Text string `json:"Text"`
		}
		if err := get("/api/v1/message/"+list.Messages[0].ID, &m); err != nil {
			t.Fatalf("notifytest: %v", err)
		}
		if m.Text != "" {
			return m.Text
		}
	}
	t.Fatalf("notifytest: no e-mail for %q within 20 seconds", query)
	return ""
}

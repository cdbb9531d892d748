package notify_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/notify"
)

// TestObserverSeesEveryAttempt: the observer of an event type learns the
// outcome of every attempt, in the transaction that logs it, with codes
// and ids only; messages of other types are not reported to it.
func TestObserverSeesEveryAttempt(t *testing.T) {
	e := newEnv(t, notify.Config{AllowPrivateNetworks: true})
	var mu sync.Mutex
	var seen []notify.Outcome
	e.outbox.Observe("dsr.forwarded", func(ctx context.Context, tx pgx.Tx, o notify.Outcome) error {
		// Inside the attempt's transaction: the log already has it.
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM outbox_attempts WHERE message_id = $1`, o.MessageID).Scan(&n); err != nil {
			return err
		}
		require.Equal(t, o.Attempt, n)
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, o)
		return nil
	})
	e.endpoint(t, 2)
	m := webhook("dsr/dsr_02/forwarded")
	m.TenantID = e.tenant
	id := e.enqueue(t, m)
	e.waitStatus(t, id, notify.StatusDelivered)
	other := webhook("breach/brc_01/initial")
	other.TenantID, other.EventType = e.tenant, "breach.notified"
	e.waitStatus(t, e.enqueue(t, other), notify.StatusDelivered)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 3)
	for i, o := range seen {
		require.Equal(t, id, o.MessageID)
		require.Equal(t, e.tenant, o.TenantID)
		require.Equal(t, notify.KindWebhook, o.Kind)
		require.Equal(t, "dsr/dsr_02/forwarded", o.IdempotencyKey)
		require.Equal(t, i+1, o.Attempt)
		require.False(t, o.Dead)
		require.WithinDuration(t, time.Now(), o.At, time.Minute)
	}
	require.Equal(t, []string{"http_500", "http_500", ""}, []string{seen[0].ErrorCode, seen[1].ErrorCode, seen[2].ErrorCode})
	require.Equal(t, []bool{false, false, true}, []bool{seen[0].Delivered, seen[1].Delivered, seen[2].Delivered})
}

// TestMailboxKeepsEmail: without a relay, a development mailbox receives
// every e-mail (once per message, however often it is attempted), and
// reads it back decoded.
func TestMailboxKeepsEmail(t *testing.T) {
	mb, err := notify.OpenMailbox(filepath.Join(t.TempDir(), "mail"))
	require.NoError(t, err)
	e := newEnv(t, notify.Config{Mailbox: mb})
	require.True(t, e.outbox.Email(), "a mailbox carries e-mail")
	subject := "Wijziging subverwerkers — één nieuwe"
	body := "Regel één.\nA line with = and a very long line that quoted-printable has to wrap because it is longer than seventy-six characters.\n"
	id := e.enqueue(t, notify.Message{TenantID: e.tenant, Kind: notify.KindEmail, IdempotencyKey: "subprocessor/spc_1/announce/email",
		EventType: "subprocessor.change_announced", To: []string{"dpo@acme.example", "breach@acme.example"}, Subject: subject, Body: body})
	e.waitStatus(t, id, notify.StatusDelivered)

	list, err := mb.List(0)
	require.NoError(t, err)
	require.Len(t, list, 1)
	m := list[0]
	require.Equal(t, id, m.ID)
	require.Equal(t, subject, m.Subject)
	require.Equal(t, body, m.Body)
	require.Equal(t, []string{"dpo@acme.example", "breach@acme.example"}, m.To)
	require.Equal(t, "verwerker@localhost", m.From)
	require.Equal(t, notify.MessageID(e.tenant, "subprocessor/spc_1/announce/email", "localhost"), m.MessageID)
	log, err := e.outbox.Attempts(context.Background(), id)
	require.NoError(t, err)
	require.Len(t, log, 1)
	require.Equal(t, "delivered", log[0].Outcome)
}

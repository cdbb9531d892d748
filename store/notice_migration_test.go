package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
)

// TestNoticeDeliveryMigration: notices announced before migration 17 that
// no channel delivered stop counting as told: their windows and effective
// times are cleared (so the change does not take effect), and they show as
// undelivered, or as sending while their announcement is still in the
// outbox. Delivered notices and notices already settled keep their dates.
func TestNoticeDeliveryMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.NewEmptyURL(t), store.Options{})
	require.NoError(t, err)
	defer db.Close()
	sqlDB := stdlib.OpenDBFromPool(db.Pool)
	defer sqlDB.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, store.Migrations(), goose.WithDisableGlobalRegistry(true))
	require.NoError(t, err)
	_, err = p.UpTo(ctx, 16)
	require.NoError(t, err)

	at := time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)
	end := at.Add(30 * 24 * time.Hour)
	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := db.Pool.Exec(ctx, sql, args...)
		require.NoError(t, err)
	}
	exec(`INSERT INTO subprocessors (id, name, service, locations, transfer_mechanism, categories, contract_date, created_at, updated_at)
		VALUES ('llm-eu', 'LLM SAS', 'answers', '{fr}', 'none', '{chat.message}', '2026-01-01', $1, $1)`, at)
	exec(`INSERT INTO subprocessor_changes (id, kind, subprocessor, effective_on, created_at, created_by) VALUES ('spc_1', 'add', 'llm-eu', '2026-03-05', $1, 'usr_dpo')`, at)
	for _, tc := range []struct{ tenant, status, message string }{
		{"tnt_delivered", "pending", "delivered"},
		{"tnt_sending", "pending", "pending"},
		{"tnt_dead", "objected", "dead"},
		{"tnt_nothing", "pending", ""},
		{"tnt_settled", "effective", ""},
	} {
		exec(`INSERT INTO tenants (id, name, country, contact_email, created_at, updated_at) VALUES ($1, $1, 'NL', 'privacy@x.example', $2, $2)`, tc.tenant, at)
		exec(`INSERT INTO subprocessor_notices (tenant_id, change_id, window_days, notified_at, window_ends_at, effective_at) VALUES ($1, 'spc_1', 30, $2, $3, $3)`, tc.tenant, at, end)
		if tc.status == "objected" {
			exec(`UPDATE subprocessor_notices SET status = 'objected', objected_at = $2, objected_by = 'usr_a', objection_reason = 'no' WHERE tenant_id = $1`, tc.tenant, at)
		} else {
			exec(`UPDATE subprocessor_notices SET status = $2 WHERE tenant_id = $1`, tc.tenant, tc.status)
		}
		if tc.message != "" {
			exec(`INSERT INTO outbox_messages (tenant_id, id, kind, idempotency_key, content_hash, event_type, rendered, status, created_at)
				VALUES ($1, 'msg_' || $1, 'webhook', 'subprocessor/spc_1/announce/webhook', '\x00', 'subprocessor.change_announced', '{}', $2, $3)`, tc.tenant, tc.message, at)
		}
	}
	_, err = p.UpTo(ctx, 17)
	require.NoError(t, err)

	rows, err := db.Pool.Query(ctx, `SELECT tenant_id, delivery, notified_at IS NOT NULL, effective_at IS NOT NULL, undelivered_since IS NOT NULL
		FROM subprocessor_notices ORDER BY tenant_id`)
	require.NoError(t, err)
	type row struct {
		delivery                  string
		told, effective, alarming bool
	}
	got := map[string]row{}
	for rows.Next() {
		var id string
		var r row
		require.NoError(t, rows.Scan(&id, &r.delivery, &r.told, &r.effective, &r.alarming))
		got[id] = r
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]row{
		"tnt_delivered": {"delivered", true, true, false},
		"tnt_sending":   {"sending", false, false, false},
		"tnt_dead":      {"undelivered", false, false, true},
		"tnt_nothing":   {"undelivered", false, false, true},
		"tnt_settled":   {"delivered", true, true, false},
	}, got)
}

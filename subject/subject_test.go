package subject_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/notify"
	"github.com/verwerker/verwerker/notify/notifytest"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
	"github.com/verwerker/verwerker/subject"
	"github.com/verwerker/verwerker/tenant"
)

type testBundle struct {
	ctx      context.Context
	db       *store.DB
	clock    *verwerker.ManualClock
	log      *audit.Log
	tenants  *tenant.Service
	outbox   *notify.Outbox
	key      []byte
	subjects *subject.Service
	tenant   string
}

// setup builds a subject service on a fresh database with one tenant and a
// real outbox for the controller's notices.
func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx := verwerker.WithPrincipal(context.Background(), verwerker.Principal{ID: "key_test", Kind: verwerker.PrincipalAPIKey})
	db := storetest.New(t)
	clock := verwerker.NewManualClock(time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC))
	log := audit.NewLog(db, clock)
	t.Cleanup(log.Close)
	tenants := tenant.NewService(db, clock, log)
	tn, err := tenants.Create(ctx, tenant.New{Name: "Tenant A", Country: "NL", ContactEmail: "privacy@a.example"})
	require.NoError(t, err)
	outbox, err := notify.New(db, clock, log, notify.Config{})
	require.NoError(t, err)
	notifytest.Start(t, db, outbox)
	key := []byte(strings.Repeat("k", subject.KeySize))
	subjects, err := subject.NewService(db, clock, log, key)
	require.NoError(t, err)
	subjects.UseNotifier(outbox)
	return &testBundle{ctx: ctx, db: db, clock: clock, log: log, tenants: tenants, outbox: outbox, key: key, subjects: subjects, tenant: tn.ID}
}

func (b *testBundle) newTenant(t *testing.T, name string) string {
	t.Helper()
	tn, err := b.tenants.Create(b.ctx, tenant.New{Name: name, Country: "NL", ContactEmail: "privacy@b.example"})
	require.NoError(t, err)
	return tn.ID
}

// storedRef is the ref column of the subject's row.
func (b *testBundle) storedRef(t *testing.T, tenantID, subjectID string) []byte {
	t.Helper()
	var ref []byte
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT ref FROM subjects WHERE tenant_id = $1 AND id = $2`,
		tenantID, subjectID).Scan(&ref))
	return ref
}

func (b *testBundle) events(t *testing.T, tenantID, action string) []audit.Event {
	t.Helper()
	all, err := b.log.Events(context.Background(), tenantID, 0, 1000)
	require.NoError(t, err)
	var out []audit.Event
	for _, e := range all {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func anyPurpose(string) bool { return true }

func hmacRef(key []byte, tenantID, ref string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(tenantID + "\x00" + ref))
	return m.Sum(nil)
}

func TestReferenceIsStoredOnlyAsHMACPerTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	other := b.newTenant(t, "Tenant B")
	const ref = "visitor-4711"

	a, err := b.subjects.Instruct(b.ctx, b.tenant, ref, subject.Instruction{Restricted: true}, anyPurpose)
	require.NoError(t, err)
	o, err := b.subjects.Instruct(b.ctx, other, ref, subject.Instruction{Restricted: true}, anyPurpose)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(a.ID, verwerker.PrefixSubject+"_"), a.ID)
	assert.NotEqual(t, a.ID, o.ID)

	// HMAC-SHA256 under the server key over tenant id, a zero byte and the
	// reference: the same reference of two tenants is two unlinkable rows.
	assert.Equal(t, hmacRef(b.key, b.tenant, ref), b.storedRef(t, b.tenant, a.ID))
	assert.Equal(t, hmacRef(b.key, other, ref), b.storedRef(t, other, o.ID))
	assert.NotEqual(t, b.storedRef(t, b.tenant, a.ID), b.storedRef(t, other, o.ID))

	// The raw reference is nowhere: not in the table, not in the audit trail.
	var n int
	require.NoError(t, b.db.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM subjects WHERE position(convert_to($1, 'UTF8') in ref) > 0 OR id LIKE '%' || $1 || '%'`, ref).Scan(&n))
	assert.Zero(t, n)
	for _, e := range append(b.events(t, b.tenant, "subject.instruct"), b.events(t, other, "subject.instruct")...) {
		assert.NotContains(t, string(e.Canonical()), ref)
	}

	// Another server key finds nothing under the same reference.
	stranger, err := subject.NewService(b.db, b.clock, b.log, []byte(strings.Repeat("x", subject.KeySize)))
	require.NoError(t, err)
	got, err := stranger.Lookup(b.ctx, b.tenant, []string{ref})
	require.NoError(t, err)
	assert.Empty(t, got)

	_, err = subject.NewService(b.db, b.clock, b.log, []byte("short"))
	require.Error(t, err)
}

func TestInstructRestrictsAndRecordsObjections(t *testing.T) {
	t.Parallel()
	b := setup(t)
	valid := func(p string) bool { return p == "service.delivery" || p == "service.improvement" || p == "marketing" }

	st, err := b.subjects.Instruct(b.ctx, b.tenant, "visitor-1", subject.Instruction{
		Restricted: true, ObjectedPurposes: []string{"service.improvement", "marketing"}}, valid)
	require.NoError(t, err)
	assert.True(t, st.Restricted)
	assert.Equal(t, []string{"marketing", "service.improvement"}, st.ObjectedPurposes, "kept sorted")

	got, err := b.subjects.Lookup(b.ctx, b.tenant, []string{"visitor-1", "visitor-unknown"})
	require.NoError(t, err)
	require.Len(t, got, 1, "a subject has a row only once something is recorded about it")
	assert.Equal(t, st.ID, got["visitor-1"].ID)
	assert.True(t, got["visitor-1"].Restricted)
	assert.Equal(t, []string{"marketing", "service.improvement"}, got["visitor-1"].ObjectedPurposes)

	ev := b.events(t, b.tenant, "subject.instruct")
	require.Len(t, ev, 1)
	assert.Equal(t, st.ID, ev[0].Resource)
	assert.Equal(t, "key_test", ev[0].Actor)
	assert.Equal(t, "restricted=true objected=marketing,service.improvement", ev[0].Reason)

	// A new instruction replaces the previous one; the empty one clears it.
	b.clock.Advance(time.Hour)
	cleared, err := b.subjects.Instruct(b.ctx, b.tenant, "visitor-1", subject.Instruction{}, valid)
	require.NoError(t, err)
	assert.Equal(t, st.ID, cleared.ID)
	assert.False(t, cleared.Restricted)
	assert.Empty(t, cleared.ObjectedPurposes)
	assert.True(t, cleared.UpdatedAt.After(st.UpdatedAt))
	ev = b.events(t, b.tenant, "subject.instruct")
	require.Len(t, ev, 2)
	assert.Equal(t, "restricted=false objected=none", ev[1].Reason)

	// Bad input names each field and changes nothing.
	_, err = b.subjects.Instruct(b.ctx, b.tenant, "", subject.Instruction{ObjectedPurposes: []string{"marketing", "astrology", "marketing"}}, valid)
	require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err))
	var fields []string
	for _, f := range verwerker.ErrorFields(err) {
		fields = append(fields, f.Field)
	}
	assert.Equal(t, []string{"subject_ref", "objected_purposes[1]", "objected_purposes[2]"}, fields)
	assert.NotContains(t, err.Error(), "astrology", "the submitted value is not echoed")
	_, err = b.subjects.Instruct(b.ctx, b.tenant, strings.Repeat("r", subject.MaxRefLength+1), subject.Instruction{}, valid)
	require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err))
	assert.Len(t, b.events(t, b.tenant, "subject.instruct"), 2)
}

func TestFlagMinorNotifiesTheControllerOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)

	id, err := b.subjects.FlagMinor(b.ctx, b.tenant, "visitor-7")
	require.NoError(t, err)
	require.NotEmpty(t, id)
	got, err := b.subjects.Lookup(b.ctx, b.tenant, []string{"visitor-7"})
	require.NoError(t, err)
	require.NotNil(t, got["visitor-7"].MinorFlaggedAt)
	assert.True(t, got["visitor-7"].MinorFlaggedAt.Equal(b.clock.Now()))

	// Flagging again changes nothing and tells the controller nothing new.
	b.clock.Advance(time.Hour)
	again, err := b.subjects.FlagMinor(b.ctx, b.tenant, "visitor-7")
	require.NoError(t, err)
	assert.Equal(t, id, again)
	got, err = b.subjects.Lookup(b.ctx, b.tenant, []string{"visitor-7"})
	require.NoError(t, err)
	assert.True(t, got["visitor-7"].MinorFlaggedAt.Equal(b.clock.Now().Add(-time.Hour)), "the first time stays")

	ev := b.events(t, b.tenant, "subject.minor_flag")
	require.Len(t, ev, 1)
	assert.Equal(t, id, ev[0].Resource)
	assert.Equal(t, "seed-000-art-9.5", ev[0].Reason)

	// Unreferenced data: one notice a day, no subject row.
	none, err := b.subjects.FlagMinor(b.ctx, b.tenant, "")
	require.NoError(t, err)
	assert.Empty(t, none)
	_, err = b.subjects.FlagMinor(b.ctx, b.tenant, "")
	require.NoError(t, err)

	msgs, err := b.outbox.Messages(b.ctx, b.tenant, 100)
	require.NoError(t, err)
	var minors int
	for _, m := range msgs {
		if m.EventType == subject.EventMinorSuspected {
			minors++
			assert.Equal(t, notify.KindWebhook, m.Kind)
		}
	}
	assert.Equal(t, 2, minors, "one for the subject, one for the day's unreferenced data")
}

func TestMarkAllErasedUnlinksEveryReference(t *testing.T) {
	t.Parallel()
	b := setup(t)
	other := b.newTenant(t, "Tenant B")
	for _, ref := range []string{"v-1", "v-2", "v-3"} {
		_, err := b.subjects.Instruct(b.ctx, b.tenant, ref, subject.Instruction{Restricted: true}, anyPurpose)
		require.NoError(t, err)
	}
	_, err := b.subjects.Instruct(b.ctx, other, "v-1", subject.Instruction{Restricted: true}, anyPurpose)
	require.NoError(t, err)

	// One subject was erased before, on its own.
	early := b.clock.Now()
	err = b.db.InTenantTx(b.ctx, b.tenant, func(tx pgx.Tx) error {
		st, err := b.subjects.Find(b.ctx, tx, b.tenant, "v-1")
		if err != nil {
			return err
		}
		return b.subjects.MarkErased(b.ctx, tx, b.tenant, st.ID, early)
	})
	require.NoError(t, err)

	b.clock.Advance(24 * time.Hour)
	var n int64
	err = b.db.InTenantTx(b.ctx, b.tenant, func(tx pgx.Tx) error {
		var err error
		n, err = b.subjects.MarkAllErased(b.ctx, tx, b.tenant, b.clock.Now())
		return err
	})
	require.NoError(t, err)
	assert.Equal(t, int64(2), n, "the subject erased before is not counted again")

	got, err := b.subjects.Lookup(b.ctx, b.tenant, []string{"v-1", "v-2", "v-3"})
	require.NoError(t, err)
	assert.Empty(t, got, "no reference names an erased subject")
	err = b.db.InTenantTx(b.ctx, b.tenant, func(tx pgx.Tx) error {
		_, err := b.subjects.Find(b.ctx, tx, b.tenant, "v-2")
		return err
	})
	assert.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))

	var first, all int
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE erased_at = $2), count(*) FILTER (WHERE erased_at IS NOT NULL)
		FROM subjects WHERE tenant_id = $1`, b.tenant, early).Scan(&first, &all))
	assert.Equal(t, 1, first, "the earlier erasure keeps its time")
	assert.Equal(t, 3, all, "the rows and their ids stay for the certificates")

	// Another tenant's subjects are untouched.
	got, err = b.subjects.Lookup(b.ctx, other, []string{"v-1"})
	require.NoError(t, err)
	assert.Len(t, got, 1)

	// A returning visitor with an erased reference is a new subject.
	st, err := b.subjects.Instruct(b.ctx, b.tenant, "v-2", subject.Instruction{}, anyPurpose)
	require.NoError(t, err)
	var erased int
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM subjects WHERE tenant_id = $1 AND id = $2 AND erased_at IS NOT NULL`,
		b.tenant, st.ID).Scan(&erased))
	assert.Zero(t, erased)
}

package records_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/decision"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/dpa/dpatest"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/keys/vaulttest"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/records"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
	"github.com/verwerker/verwerker/subject"
	"github.com/verwerker/verwerker/subprocessor"
	"github.com/verwerker/verwerker/tenant"
)

// Counting wraps a keyring and counts the requests that reach it.
type Counting struct {
	keys.Keyring
	DataKeys, Unwraps atomic.Int64
}

// DataKey counts and passes on.
func (c *Counting) DataKey(ctx context.Context, name string) (keys.DataKey, error) {
	c.DataKeys.Add(1)
	return c.Keyring.DataKey(ctx, name)
}

// Unwrap counts and passes on.
func (c *Counting) Unwrap(ctx context.Context, name string, wrapped [][]byte) ([][]byte, error) {
	c.Unwraps.Add(1)
	return c.Keyring.Unwrap(ctx, name, wrapped)
}

// Calls is every counted request.
func (c *Counting) Calls() int64 { return c.DataKeys.Load() + c.Unwraps.Load() }

type fixture struct {
	ctx     context.Context
	db      *store.DB
	clock   *verwerker.ManualClock
	log     *audit.Log
	tenants *tenant.Service
	tenant  string
	ring    *Counting
	keys    *keys.Manager
	store   *records.Store
	decide  *decision.Service
	subs    *subject.Service
}

// setup builds a store on a fresh database, a tenant with an active
// agreement (chat messages for service delivery, invoices for billing) and
// the keyring ring (the shared test Vault when nil).
func setup(t testing.TB, ring keys.Keyring) *fixture {
	t.Helper()
	ctx := verwerker.WithPrincipal(context.Background(), verwerker.Principal{ID: "key_test", Kind: verwerker.PrincipalAPIKey})
	if ring == nil {
		ring = vaulttest.Shared(t).Transit(t, keys.TransitOptions{})
	}
	db := storetest.New(t)
	clock := verwerker.NewManualClock(time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC))
	log := audit.NewLog(db, clock)
	t.Cleanup(log.Close)
	tenants := tenant.NewService(db, clock, log)
	tn, err := tenants.Create(ctx, tenant.New{Name: "Tenant A", Country: "NL", ContactEmail: "privacy@a.example"})
	require.NoError(t, err)
	agreements := dpa.NewService(db, clock, log, subprocessor.Lists{})
	subjects, err := subject.NewService(db, clock, log, make([]byte, subject.KeySize))
	require.NoError(t, err)
	decisions, err := decision.New(ctx, db, agreements, subjects, log, clock, nil)
	require.NoError(t, err)
	dpatest.Activate(t, agreements, tn.ID, dpa.Scope{
		Categories: []dpa.CategoryScope{{ID: "chat.message", Retention: dpa.Retention30DaysAfterLastInteraction},
			{ID: "billing.invoice", Retention: dpa.RetentionStatutory7Years}},
		Purposes:      []string{"service.delivery", "billing"},
		BreachContact: dpa.Contact{Email: "breach@a.example"}, DPOContact: dpa.Contact{Email: "dpo@a.example"},
	})
	counting := &Counting{Keyring: ring}
	mgr := keys.NewManager(db, counting, keys.ManagerOptions{Clock: clock})
	t.Cleanup(mgr.Close)
	return &fixture{ctx: ctx, db: db, clock: clock, log: log, tenants: tenants, tenant: tn.ID, ring: counting, keys: mgr, decide: decisions,
		subs: subjects, store: records.New(db, mgr, decisions, subjects, log, clock, nil)}
}

func message(ref, text string) records.Item {
	content, _ := json.Marshal(map[string]string{"text": text})
	return records.Item{SubjectRef: ref, Kind: records.KindMessage, Category: "chat.message", Purpose: "service.delivery", Region: "nl", Content: content}
}

func (f *fixture) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, f.db.Pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// export returns the subject's export document.
func (f *fixture) export(t testing.TB, ref string) (map[string]any, error) {
	t.Helper()
	e, err := f.store.OpenExport(f.ctx, f.tenant, ref)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	var buf bytes.Buffer
	stats, err := e.WriteTo(f.ctx, func() io.Writer { return &buf })
	if err != nil {
		return nil, err
	}
	require.EqualValues(t, buf.Len(), stats.Bytes)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &doc), buf.String())
	return doc, nil
}

func TestWriteAndExport(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	conv, err := f.store.Write(f.ctx, f.tenant, -1, []records.Item{{SubjectRef: "visitor-1", Kind: records.KindConversation,
		Category: "chat.message", Purpose: "service.delivery", Region: "nl", Content: json.RawMessage(`{"page": "/pricing"}`)}})
	require.NoError(t, err)
	require.Len(t, conv, 1)
	require.True(t, verwerker.ValidID(verwerker.PrefixRecord, conv[0].ID))
	require.Equal(t, "30d_after_last_interaction", conv[0].RetentionRule)
	require.NotNil(t, conv[0].DeleteAfter)
	require.EqualValues(t, 1, f.ring.DataKeys.Load(), "one data key for the new subject")

	var items []records.Item
	for i := range 5 {
		it := message("visitor-1", fmt.Sprintf("hallo \"%d\" <é>", i))
		it.ConversationID = conv[0].ID
		items = append(items, it)
	}
	items = append(items, records.Item{SubjectRef: "visitor-1", Kind: records.KindInvoice, Category: "billing.invoice", Purpose: "billing",
		Region: "nl", Content: json.RawMessage(`"INV-2026-001"`)})
	stored, err := f.store.Write(f.ctx, f.tenant, -1, items)
	require.NoError(t, err)
	require.Len(t, stored, 6)
	require.Equal(t, "statutory_7y", stored[5].RetentionRule)
	require.EqualValues(t, 1, f.ring.DataKeys.Load(), "the subject's key is reused")
	_, err = f.store.Write(f.ctx, f.tenant, -1, []records.Item{message("visitor-2", "other subject")})
	require.NoError(t, err)

	// Nothing in plain text in the database.
	require.Zero(t, f.count(t, `SELECT count(*) FROM records WHERE position('hallo'::bytea in sealed) > 0`))
	require.Equal(t, 1, f.count(t, `SELECT count(*) FROM subjects WHERE tenant_id = $1 AND last_interaction_at IS NOT NULL AND id = $2`, f.tenant, stored[0].SubjectID))

	// A conversation of another subject is refused.
	bad := message("visitor-2", "x")
	bad.ConversationID = conv[0].ID
	_, err = f.store.Write(f.ctx, f.tenant, -1, []records.Item{bad})
	require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err))
	_, err = f.store.Write(f.ctx, f.tenant, -1, []records.Item{{SubjectRef: "visitor-2", Kind: "chat.secret", Category: "chat.message",
		Purpose: "service.delivery", Region: "nl", Content: json.RawMessage(`[1]`)}})
	require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err))
	require.ElementsMatch(t, []string{"kind", "content"}, fieldNames(err))

	// Export: warm (the key is cached) costs no keyring request; cold one.
	before := f.ring.Calls()
	doc, err := f.export(t, "visitor-1")
	require.NoError(t, err)
	require.Equal(t, before, f.ring.Calls())
	require.Equal(t, records.ExportFormat, doc["format"])
	require.Equal(t, stored[0].SubjectID, doc["subject_id"])
	require.EqualValues(t, 7, doc["count"])
	recs := doc["records"].([]any)
	require.Len(t, recs, 7)
	first := recs[0].(map[string]any)
	require.Equal(t, conv[0].ID, first["id"])
	require.Equal(t, map[string]any{"page": "/pricing"}, first["content"])
	msg := recs[1].(map[string]any)
	require.Equal(t, conv[0].ID, msg["conversation_id"])
	require.Equal(t, map[string]any{"text": "hallo \"0\" <é>"}, msg["content"])
	require.Equal(t, stored[0].DecisionID, msg["decision_id"])
	require.EqualValues(t, 1, msg["dpa_version"])
	require.Equal(t, "INV-2026-001", recs[6].(map[string]any)["content"])

	f.keys.Cache().Purge("")
	before = f.ring.Calls()
	_, err = f.export(t, "visitor-1")
	require.NoError(t, err)
	require.Equal(t, before+1, f.ring.Calls(), "one unwrap per subject, not per record")

	_, err = f.export(t, "never-seen")
	require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))

	// Every export is audited: whose records, how many; no content.
	events, err := f.log.Events(f.ctx, f.tenant, 0, 1000)
	require.NoError(t, err)
	exports := 0
	for _, ev := range events {
		if ev.Action == "records.export" {
			exports++
			require.Equal(t, stored[0].SubjectID, ev.Resource)
			require.Equal(t, "records=7", ev.Reason)
		}
		require.NotContains(t, ev.Reason, "hallo")
	}
	require.Equal(t, 2, exports)
}

func fieldNames(err error) []string {
	var out []string
	for _, f := range verwerker.ErrorFields(err) {
		out = append(out, f.Field)
	}
	return out
}

// TestDeniedWriteStoresNothing: no bypass. A write the decision engine
// denies stores nothing (no record, no subject, no key) and the denial is
// audited, as the decision API's denials are.
func TestDeniedWriteStoresNothing(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	it := message("visitor-1", "hello")
	denied := it
	denied.Purpose = "marketing"
	_, err := f.store.Write(f.ctx, f.tenant, -1, []records.Item{it, denied})
	require.Equal(t, verwerker.EFORBIDDEN, verwerker.ErrorCode(err))
	var de *records.DeniedError
	require.ErrorAs(t, err, &de)
	require.Equal(t, 1, de.Index)
	require.Contains(t, verwerker.ErrorMessage(err), "purpose_not_in_scope")
	require.Zero(t, f.count(t, `SELECT count(*) FROM records`))
	require.Zero(t, f.count(t, `SELECT count(*) FROM subject_keys`))
	require.Zero(t, f.count(t, `SELECT count(*) FROM subjects`))
	require.Equal(t, 1, f.count(t, `SELECT count(*) FROM audit_events WHERE chain = $1 AND action = 'decision.deny' AND resource = $2 AND outcome = 'denied'`,
		f.tenant, de.Decision.ID))

	// A restriction (Art. 18) of the subject is enforced in the write too.
	_, err = f.store.Write(f.ctx, f.tenant, -1, []records.Item{it})
	require.NoError(t, err)
	// (restricted through the subject service, as the API does)
	_, err = subjectService(t, f).Instruct(f.ctx, f.tenant, "visitor-1", subject.Instruction{Restricted: true}, func(string) bool { return true })
	require.NoError(t, err)
	_, err = f.store.Write(f.ctx, f.tenant, -1, []records.Item{it})
	require.Equal(t, verwerker.EFORBIDDEN, verwerker.ErrorCode(err))
	require.Contains(t, verwerker.ErrorMessage(err), "subject_restricted")
	require.Equal(t, 1, f.count(t, `SELECT count(*) FROM records`))

	// A notice of termination is not the end: the contract runs through
	// today. From tomorrow on every write is denied; decisions still answer.
	_, err = f.tenants.Terminate(f.ctx, f.tenant, tenant.Termination{ContractEnd: deadline.DateOf(f.clock.Now()), Reason: tenant.ReasonCustomerNotice})
	require.NoError(t, err)
	_, err = f.store.Write(f.ctx, f.tenant, -1, []records.Item{message("visitor-3", "x")})
	require.NoError(t, err)
	require.Equal(t, 2, f.count(t, `SELECT count(*) FROM records`))
	f.clock.Advance(24 * time.Hour)
	_, err = f.store.Write(f.ctx, f.tenant, -1, []records.Item{message("visitor-3", "x")})
	require.Equal(t, verwerker.EFORBIDDEN, verwerker.ErrorCode(err))
	require.Contains(t, verwerker.ErrorMessage(err), "contract_terminated")
	require.Equal(t, 2, f.count(t, `SELECT count(*) FROM records`))
}

func subjectService(t testing.TB, f *fixture) *subject.Service {
	s, err := subject.NewService(f.db, f.clock, f.log, make([]byte, subject.KeySize))
	require.NoError(t, err)
	return s
}

// TestEraseSubject: erasing a subject destroys its wrapped key in the same
// transaction (the live database has no key at once and the records do not
// open), certifies it with the audit event's hash, and after one rotation
// cycle a wrapped key saved from a database dump taken before the erasure no
// longer unwraps, so the dumped rows cannot be opened either.
func TestEraseSubject(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	var items []records.Item
	for i := range 20 {
		items = append(items, message("visitor-1", fmt.Sprintf("message %d", i)))
	}
	stored, err := f.store.Write(f.ctx, f.tenant, -1, items)
	require.NoError(t, err)
	_, err = f.store.Write(f.ctx, f.tenant, -1, []records.Item{message("visitor-2", "stays")})
	require.NoError(t, err)
	sid := stored[0].SubjectID

	// The "dump": the wrapped key and the sealed rows as a backup has them.
	var dumpWrapped string
	require.NoError(t, f.db.Pool.QueryRow(f.ctx, `SELECT wrapped FROM subject_keys WHERE subject_id = $1`, sid).Scan(&dumpWrapped))
	var dumpSealed [][]byte
	rows, err := f.db.Pool.Query(f.ctx, `SELECT sealed FROM records WHERE subject_id = $1 ORDER BY seq`, sid)
	require.NoError(t, err)
	for rows.Next() {
		var b []byte
		require.NoError(t, rows.Scan(&b))
		dumpSealed = append(dumpSealed, b)
	}
	require.NoError(t, rows.Err())
	require.Len(t, dumpSealed, 20)

	cert, err := f.store.EraseSubject(f.ctx, f.tenant, "visitor-1")
	require.NoError(t, err)
	require.True(t, verwerker.ValidID(verwerker.PrefixDeletionCertificate, cert.ID))
	require.Equal(t, records.ScopeSubject, cert.Scope)
	require.Equal(t, sid, cert.SubjectID)
	require.EqualValues(t, 20, cert.Records)
	require.Equal(t, map[string]int64{"chat.message": 20}, cert.What)
	require.Equal(t, []int{1}, cert.KeyVersionsDestroyed)
	require.Nil(t, cert.RowsPurgedAt)

	// At once: no key in the live database; the reference names nobody.
	require.Zero(t, f.count(t, `SELECT count(*) FROM subject_keys WHERE subject_id = $1`, sid))
	require.Equal(t, 1, f.count(t, `SELECT count(*) FROM subjects WHERE id = $1 AND erased_at IS NOT NULL`, sid))
	_, err = f.export(t, "visitor-1")
	require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))
	_, err = f.store.EraseSubject(f.ctx, f.tenant, "visitor-1")
	require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))

	// The certificate names the audit event written with it.
	events, err := f.log.Events(f.ctx, f.tenant, 0, 1000)
	require.NoError(t, err)
	var ev *audit.Event
	for i := range events {
		if events[i].Action == "subject.erase" {
			ev = &events[i]
		}
	}
	require.NotNil(t, ev)
	require.Equal(t, sid, ev.Resource)
	require.Equal(t, cert.AuditSeq, ev.Seq)
	require.Equal(t, cert.AuditHash, ev.Hash)
	require.Contains(t, ev.Reason, "certificate="+cert.ID)
	rep, err := f.log.Verify(f.ctx, f.tenant)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep)

	// Before a rotation the dumped key would still unwrap: that is the
	// erasure horizon. One rotation cycle closes it.
	name := tenantKeyName(t, f)
	_, err = f.ring.Keyring.Unwrap(f.ctx, name, [][]byte{[]byte(dumpWrapped)})
	require.NoError(t, err, "a dump taken before the erasure is readable until the next rotation")
	res, err := f.keys.RotateTenant(f.ctx, f.tenant, f.store, keys.RotateOptions{Settle: -1})
	require.NoError(t, err)
	require.Equal(t, 1, res.Rewrapped, "visitor-2's key is rewrapped; the erased one is gone")
	require.Equal(t, 2, res.MinDecryptionVersion)
	_, err = f.ring.Keyring.Unwrap(f.ctx, name, [][]byte{[]byte(dumpWrapped)})
	require.ErrorIs(t, err, keys.ErrUnreadable, "the dumped wrapped key no longer unwraps")
	_, err = f.keys.Key(f.ctx, f.tenant, []byte(dumpWrapped))
	require.ErrorIs(t, err, keys.ErrUnreadable)
	// Without the data key the dumped rows are noise: no other key opens them.
	other, err := f.keys.NewDataKey(f.ctx, f.tenant)
	require.NoError(t, err)
	defer other.Release()
	for _, sealed := range dumpSealed {
		_, err := other.Open(keys.AAD{Tenant: f.tenant, Subject: sid, Kind: records.KindMessage}, sealed)
		require.ErrorIs(t, err, keys.ErrSealed)
	}
	// The other subject still exports, under the rewrapped key.
	f.keys.Cache().Purge("")
	doc, err := f.export(t, "visitor-2")
	require.NoError(t, err)
	require.EqualValues(t, 1, doc["count"])

	// The purge deletes the rows and completes the certificate.
	n, err := f.store.Purge(f.ctx, f.tenant, cert.ID)
	require.NoError(t, err)
	require.EqualValues(t, 20, n)
	require.Zero(t, f.count(t, `SELECT count(*) FROM records WHERE subject_id = $1`, sid))
	got, err := f.store.Certificate(f.ctx, f.tenant, cert.ID)
	require.NoError(t, err)
	require.NotNil(t, got.RowsPurgedAt)
	list, err := f.store.Certificates(f.ctx, f.tenant, "", 10)
	require.NoError(t, err)
	require.Len(t, list, 1)

	// The same reference later is a new subject with a new key.
	again, err := f.store.Write(f.ctx, f.tenant, -1, []records.Item{message("visitor-1", "back again")})
	require.NoError(t, err)
	require.NotEqual(t, sid, again[0].SubjectID)
}

func tenantKeyName(t testing.TB, f *fixture) string {
	t.Helper()
	tk, err := f.keys.TenantKey(f.ctx, f.tenant)
	require.NoError(t, err)
	return tk.Name
}

// TestEraseTenant: only a terminated customer can be erased; erasing it
// deletes its tenant key in Vault, so no wrapped key of it unwraps any more,
// and certifies it.
func TestEraseTenant(t *testing.T) {
	t.Parallel()
	vault := vaulttest.Shared(t)
	f := setup(t, nil)
	_, err := f.store.Write(f.ctx, f.tenant, -1, []records.Item{message("visitor-1", "a"), message("visitor-2", "b"), message("visitor-2", "c")})
	require.NoError(t, err)
	var dumpWrapped string
	require.NoError(t, f.db.Pool.QueryRow(f.ctx, `SELECT wrapped FROM subject_keys LIMIT 1`).Scan(&dumpWrapped))
	name := tenantKeyName(t, f)
	require.True(t, vault.KeyExists(t, name))

	_, err = f.store.EraseTenant(f.ctx, f.tenant, records.TenantErasure{})
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err), "an active customer cannot be erased")
	_, err = f.store.EraseTenant(f.ctx, f.tenant, records.TenantErasure{Confirm: records.ConfirmEraseBeforeContractEnd})
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err), "not even with the confirmation")
	require.True(t, vault.KeyExists(t, name))

	_, err = f.tenants.Terminate(f.ctx, f.tenant, tenant.Termination{ContractEnd: deadline.DateOf(f.clock.Now()), Reason: tenant.ReasonMutual})
	require.NoError(t, err)
	// The contract runs through today: no erasure without the customer's
	// instruction.
	_, err = f.store.EraseTenant(f.ctx, f.tenant, records.TenantErasure{})
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err), "a terminating customer cannot be erased")
	require.True(t, vault.KeyExists(t, name))
	f.clock.Advance(24 * time.Hour)
	// Two erasures at once certify once.
	certs := make(chan records.Certificate, 2)
	for range 2 {
		go func() {
			c, err := f.store.EraseTenant(f.ctx, f.tenant, records.TenantErasure{})
			assert.NoError(t, err)
			certs <- c
		}()
	}
	cert, other := <-certs, <-certs
	require.Equal(t, cert.ID, other.ID)
	require.Equal(t, records.ScopeTenant, cert.Scope)
	require.Zero(t, f.count(t, `SELECT count(*) FROM subjects WHERE tenant_id = $1 AND erased_at IS NULL`, f.tenant), "every subject is unlinked")
	require.EqualValues(t, 3, cert.Records)
	require.EqualValues(t, 2, cert.Subjects)
	require.Equal(t, []int{1}, cert.KeyVersionsDestroyed)
	require.Equal(t, name, cert.KeyName)
	require.False(t, vault.KeyExists(t, name), "the tenant key is deleted in Vault")
	require.Zero(t, f.count(t, `SELECT count(*) FROM subject_keys WHERE tenant_id = $1`, f.tenant))
	_, err = f.ring.Keyring.Unwrap(f.ctx, name, [][]byte{[]byte(dumpWrapped)})
	require.Error(t, err, "no dumped key unwraps")
	_, err = f.export(t, "visitor-1")
	require.Error(t, err)

	again, err := f.store.EraseTenant(f.ctx, f.tenant, records.TenantErasure{})
	require.NoError(t, err)
	require.Equal(t, cert.ID, again.ID, "idempotent")
	n, err := f.store.Purge(f.ctx, f.tenant, cert.ID)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	require.Zero(t, f.count(t, `SELECT count(*) FROM records WHERE tenant_id = $1`, f.tenant))
	require.Equal(t, 1, f.count(t, `SELECT count(*) FROM audit_events WHERE chain = $1 AND action = 'tenant.erase' AND hash = $2`, f.tenant, cert.AuditHash))
}

// TestEraseTenantCertifiesWhatItErases: the certificate of a customer's
// erasure counts every subject it erases, also one with only a minor's flag
// and no records, and neither the subject nor the records of an earlier
// subject erasure, which has its own certificate, even before their rows are
// purged.
func TestEraseTenantCertifiesWhatItErases(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	_, err := f.store.Write(f.ctx, f.tenant, -1, []records.Item{message("visitor-1", "a"), message("visitor-1", "b"),
		message("visitor-2", "c"), message("visitor-4", "d"), message("visitor-4", "e")})
	require.NoError(t, err)
	_, err = subjectService(t, f).FlagMinor(f.ctx, f.tenant, "visitor-3")
	require.NoError(t, err)
	earlier, err := f.store.EraseSubject(f.ctx, f.tenant, "visitor-4")
	require.NoError(t, err)
	require.EqualValues(t, 2, earlier.Records)
	require.Equal(t, 2, f.count(t, `SELECT count(*) FROM records WHERE tenant_id = $1 AND subject_id = $2`, f.tenant, earlier.SubjectID), "not purged yet")

	_, err = f.tenants.Terminate(f.ctx, f.tenant, tenant.Termination{ContractEnd: deadline.DateOf(f.clock.Now()), Reason: tenant.ReasonMutual})
	require.NoError(t, err)
	f.clock.Advance(24 * time.Hour) // the contract has ended
	cert, err := f.store.EraseTenant(f.ctx, f.tenant, records.TenantErasure{})
	require.NoError(t, err)
	require.EqualValues(t, 3, cert.Subjects, "visitor-1, visitor-2 and the flagged visitor-3")
	require.EqualValues(t, 3, cert.Records)
	require.Equal(t, map[string]int64{records.KindMessage: 3}, cert.What)
	require.Zero(t, f.count(t, `SELECT count(*) FROM subjects WHERE tenant_id = $1 AND erased_at IS NULL`, f.tenant))
	var audited string
	require.NoError(t, f.db.Pool.QueryRow(f.ctx, `SELECT reason FROM audit_events WHERE chain = $1 AND seq = $2`, f.tenant, cert.AuditSeq).Scan(&audited))
	require.Contains(t, audited, "records=3 subjects=3 ")
	got, err := f.store.Certificate(f.ctx, f.tenant, cert.ID)
	require.NoError(t, err)
	require.EqualValues(t, 3, got.Subjects)
	require.EqualValues(t, 3, got.Records)
}

// TestVaultUnavailable: with Vault stopped, writes and reads of sealed data
// fail closed (EUNAVAILABLE with RetryAfter, so 503 and Retry-After) and
// store nothing, decisions still answer, and everything works again once
// Vault is back.
func TestVaultUnavailable(t *testing.T) {
	t.Parallel()
	p := vaulttest.Start(t)
	f := setup(t, p.Transit(t, keys.TransitOptions{MaxRetries: -1, Timeout: 2 * time.Second, RetryAfter: 7 * time.Second}))
	_, err := f.store.Write(f.ctx, f.tenant, -1, []records.Item{message("visitor-1", "before")})
	require.NoError(t, err)
	records0 := f.count(t, `SELECT count(*) FROM records`)
	subjects0 := f.count(t, `SELECT count(*) FROM subjects`)

	p.Stop(t)
	f.keys.Cache().Purge("") // as if the cache had expired
	requireUnavailable := func(err error) {
		t.Helper()
		require.Equal(t, verwerker.EUNAVAILABLE, verwerker.ErrorCode(err), "%v", err)
		require.Equal(t, 7*time.Second, verwerker.ErrorRetryAfter(err))
	}
	_, err = f.store.Write(f.ctx, f.tenant, -1, []records.Item{message("visitor-2", "new subject")})
	requireUnavailable(err)
	_, err = f.store.Write(f.ctx, f.tenant, -1, []records.Item{message("visitor-1", "known subject"), message("visitor-3", "new")})
	requireUnavailable(err)
	_, err = f.export(t, "visitor-1")
	requireUnavailable(err)
	require.Equal(t, records0, f.count(t, `SELECT count(*) FROM records`), "nothing half-written")
	require.Equal(t, subjects0, f.count(t, `SELECT count(*) FROM subjects`))
	ds, err := f.decide.Decide(f.ctx, f.tenant, -1, []decision.Request{{Category: "chat.message", Purpose: "service.delivery", Region: "nl", SubjectRef: "visitor-2"}})
	require.NoError(t, err, "decisions still answer")
	require.True(t, ds[0].Allow)

	p.StartAgain(t)
	p.Unseal(t)
	require.Eventually(t, func() bool {
		_, err := f.store.Write(f.ctx, f.tenant, -1, []records.Item{message("visitor-2", "after")})
		return err == nil
	}, 20*time.Second, 200*time.Millisecond)
	doc, err := f.export(t, "visitor-1")
	require.NoError(t, err)
	require.EqualValues(t, 1, doc["count"])
}

// TestRotateDue: the periodic job rotates a tenant whose cycle is due, not
// before, and audits the cycle with its key versions.
func TestRotateDue(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	_, err := f.store.Write(f.ctx, f.tenant, -1, []records.Item{message("visitor-1", "hallo")})
	require.NoError(t, err)
	every := 14 * 24 * time.Hour
	res, err := f.store.RotateDue(f.ctx, every, keys.RotateOptions{Settle: -1})
	require.NoError(t, err)
	require.Empty(t, res, "not due yet")

	f.clock.Advance(every + time.Hour)
	res, err = f.store.RotateDue(f.ctx, every, keys.RotateOptions{Settle: -1})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Equal(t, f.tenant, res[0].Tenant)
	require.Equal(t, 2, res[0].Version)
	require.Equal(t, 1, res[0].Rewrapped)

	doc, err := f.export(t, "visitor-1")
	require.NoError(t, err)
	require.EqualValues(t, 1, doc["count"], "still readable after the cycle")
	events, err := f.log.Events(f.ctx, f.tenant, 0, 1000)
	require.NoError(t, err)
	found := false
	for _, ev := range events {
		found = found || (ev.Action == "keys.rotate" && strings.Contains(ev.Reason, "version=2"))
	}
	require.True(t, found, "the cycle is audited")
}

// TestConcurrentWritesDoNotExhaustThePool: many concurrent writes for new
// subjects (each making a data key) all complete with a pool of 20
// connections; a write holds one connection, never waits for a second.
func TestConcurrentWritesDoNotExhaustThePool(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ctx, cancel := context.WithTimeout(f.ctx, 60*time.Second)
	defer cancel()
	const n = 60
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := f.store.Write(ctx, f.tenant, -1, []records.Item{message(fmt.Sprintf("visitor-%d", i), "hallo")})
			errs <- err
		}()
	}
	for range n {
		require.NoError(t, <-errs)
	}
	require.Equal(t, n, f.count(t, `SELECT count(*) FROM subject_keys WHERE tenant_id = $1`, f.tenant))
}

// TestNoWriteAfterContractEnd: a notice of termination is not the end, so a
// terminating customer's records are written through the contract's last
// day; a write allowed just before the end whose transaction commits at or
// after it is decided again (and refused), and after the end nothing is
// written.
func TestNoWriteAfterContractEnd(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	_, err := f.tenants.Terminate(f.ctx, f.tenant, tenant.Termination{ContractEnd: deadline.DateOf(f.clock.Now()), Reason: tenant.ReasonCustomerNotice})
	require.NoError(t, err)
	end := tenant.EndOf(deadline.DateOf(f.clock.Now()), tenant.DefaultTimezone)
	f.clock.Set(end.Add(-time.Second))
	_, err = f.store.Write(f.ctx, f.tenant, -1, []records.Item{message("visitor-1", "on the last day")})
	require.NoError(t, err, "written on the contract's last day")

	// The decisions' clock is a moment before the end, the write's commit
	// at it.
	late := records.New(f.db, f.keys, f.decide, f.subs, f.log, verwerker.NewManualClock(end), nil)
	_, err = late.Write(f.ctx, f.tenant, -1, []records.Item{message("visitor-1", "committed at the end")})
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err), "%v", err)

	f.clock.Set(end)
	_, err = f.store.Write(f.ctx, f.tenant, -1, []records.Item{message("visitor-1", "after the end")})
	var denied *records.DeniedError
	require.ErrorAs(t, err, &denied)
	require.Equal(t, []string{policy.ReasonContractTerminated}, codesOf(denied.Decision.Reasons))
	require.Equal(t, 1, f.count(t, `SELECT count(*) FROM records WHERE tenant_id = $1`, f.tenant), "only the record of the last day")
}

func codesOf(rs []policy.Reason) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Code)
	}
	return out
}

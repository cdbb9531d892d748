package dpa_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/demo"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/store/storetest"
	"github.com/verwerker/verwerker/subprocessor"
	"github.com/verwerker/verwerker/tenant"
)

var start = time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)

type fixture struct {
	svc    *dpa.Service
	reg    *subprocessor.Registry
	clock  *verwerker.ManualClock
	tenant tenant.Tenant
	other  tenant.Tenant
	log    *audit.Log
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := storetest.New(t)
	clock := verwerker.NewManualClock(start)
	log := audit.NewLog(db, clock)
	t.Cleanup(log.Close)
	ts := tenant.NewService(db, clock, log)
	a, err := ts.Create(context.Background(), tenant.New{Name: "Bakkerij Test", Country: "NL", ContactEmail: "privacy@bakkerij.example"})
	require.NoError(t, err)
	clock.Advance(time.Millisecond)
	b, err := ts.Create(context.Background(), tenant.New{Name: "Other Test", Country: "DE", ContactEmail: "privacy@other.example"})
	require.NoError(t, err)
	reg := subprocessor.NewRegistry(db, clock, log, nil, nil)
	require.NoError(t, demo.SeedSubprocessors(context.Background(), reg))
	return &fixture{svc: dpa.NewService(db, clock, log, subprocessor.Lists{}), reg: reg, clock: clock, tenant: a, other: b, log: log}
}

// as returns a context acting as principal id.
func as(id string) context.Context {
	return verwerker.WithPrincipal(context.Background(), verwerker.Principal{ID: id, Kind: verwerker.PrincipalAPIKey})
}

func validScope() dpa.Scope {
	return dpa.Scope{
		Categories: []dpa.CategoryScope{
			{ID: "chat.message", Retention: dpa.Retention30DaysAfterLastInteraction},
			{ID: "contact.email", Retention: dpa.RetentionContractEndPlus30Days},
		},
		Purposes:      []string{"service.delivery", "security"},
		Subprocessors: []string{"hosting-eu"},
		BreachContact: dpa.Contact{Name: "Privacy team", Email: "breach@bakkerij.example", Phone: "+31 20 123 4567"},
		DPOContact:    dpa.Contact{Email: "dpo@bakkerij.example"},
	}
}

func withTransfer() dpa.Scope {
	sc := validScope()
	sc.Regions = []string{"nl", "us"}
	sc.Transfers = []dpa.Transfer{{Region: "us", Basis: dpa.BasisSCCs}}
	return sc
}

// accepted drafts, offers and accepts a version and returns it.
func (f *fixture) accepted(t *testing.T, sc dpa.Scope) dpa.Version {
	t.Helper()
	v, err := f.svc.Create(as("usr_dpo"), f.tenant.ID, sc)
	require.NoError(t, err)
	v, err = f.svc.Offer(as("usr_dpo"), f.tenant.ID, v.Number)
	require.NoError(t, err)
	v, err = f.svc.Accept(as("usr_customer"), f.tenant.ID, v.Number, v.SHA256EN)
	require.NoError(t, err)
	return v
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := as("usr_dpo")

	v, err := f.svc.Create(ctx, f.tenant.ID, validScope())
	require.NoError(t, err)
	require.Equal(t, 1, v.Number)
	require.Equal(t, dpa.StatusDraft, v.Status)
	require.Equal(t, []string{"eea"}, v.Scope.Regions, "EEA by default")
	require.Equal(t, 30, v.Scope.ObjectionWindowDays)
	require.Equal(t, "Bakkerij Test", v.ControllerName)

	_, err = f.svc.Active(ctx, f.tenant.ID)
	require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))

	sc := validScope()
	sc.Purposes = append(sc.Purposes, "support")
	v, err = f.svc.Update(ctx, f.tenant.ID, 1, sc)
	require.NoError(t, err)
	require.Contains(t, v.Scope.Purposes, "support")

	// Accepting a draft is not possible; neither is activating it.
	_, err = f.svc.Accept(as("usr_customer"), f.tenant.ID, 1, strings.Repeat("0", 64))
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err))
	_, err = f.svc.Activate(ctx, f.tenant.ID, 1)
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err))

	f.clock.Advance(time.Hour)
	v, err = f.svc.Offer(ctx, f.tenant.ID, 1)
	require.NoError(t, err)
	require.Equal(t, dpa.StatusOffered, v.Status)
	doc, sum, err := f.svc.Document(ctx, f.tenant.ID, 1, dpa.LangNL)
	require.NoError(t, err)
	require.Equal(t, v.SHA256NL, sum)
	h := sha256.Sum256(doc)
	require.Equal(t, hex.EncodeToString(h[:]), sum)

	// An offered version no longer changes.
	_, err = f.svc.Update(ctx, f.tenant.ID, 1, validScope())
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err))

	// The controller accepts the text it saw; another hash is refused.
	_, err = f.svc.Accept(as("usr_customer"), f.tenant.ID, 1, strings.Repeat("a", 64))
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err))
	f.clock.Advance(time.Hour)
	v, err = f.svc.Accept(as("usr_customer"), f.tenant.ID, 1, sum)
	require.NoError(t, err)
	require.Equal(t, dpa.StatusAccepted, v.Status)
	require.Equal(t, "usr_customer", v.AcceptedBy)
	require.Equal(t, dpa.LangNL, v.AcceptedLang)
	require.Equal(t, sum, v.AcceptedSHA256)
	require.True(t, v.AcceptedAt.Equal(f.clock.Now()))

	v, err = f.svc.Activate(ctx, f.tenant.ID, 1)
	require.NoError(t, err)
	require.Equal(t, dpa.StatusActive, v.Status)
	active, err := f.svc.Active(ctx, f.tenant.ID)
	require.NoError(t, err)
	require.Equal(t, v.ID, active.ID)
	require.True(t, active.Allows("chat.message", "service.delivery", "nl"), "eea covers nl")
	require.False(t, active.Allows("chat.message", "marketing", "nl"), "marketing is never implied")
	require.False(t, active.Allows("chat.message", "service.delivery", "us"))
	require.False(t, active.Allows("special.health", "service.delivery", "nl"))

	// A second version supersedes the first on activation.
	v2 := f.accepted(t, withTransfer())
	require.Equal(t, 2, v2.Number)
	v2, err = f.svc.Activate(ctx, f.tenant.ID, 2)
	require.NoError(t, err)
	v1, err := f.svc.Get(ctx, f.tenant.ID, 1)
	require.NoError(t, err)
	require.Equal(t, dpa.StatusSuperseded, v1.Status)
	active, err = f.svc.Active(ctx, f.tenant.ID)
	require.NoError(t, err)
	require.Equal(t, v2.ID, active.ID)

	// An older accepted version cannot replace a newer active one.
	v3 := f.accepted(t, validScope())
	_, err = f.svc.Activate(ctx, f.tenant.ID, v3.Number)
	require.NoError(t, err)
	list, err := f.svc.List(ctx, f.tenant.ID)
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.Equal(t, 3, list[0].Number)

	// Terminating the active version leaves none.
	_, err = f.svc.Terminate(ctx, f.tenant.ID, 3)
	require.NoError(t, err)
	_, err = f.svc.Active(ctx, f.tenant.ID)
	require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))
	_, err = f.svc.Terminate(ctx, f.tenant.ID, 3)
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err))

	// Another tenant sees none of it.
	_, err = f.svc.Get(ctx, f.other.ID, 1)
	require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))

	// Every change is in the tenant's audit chain, with ids only.
	res, err := f.log.Verify(context.Background(), f.tenant.ID)
	require.NoError(t, err)
	require.True(t, res.OK, "%+v", res)
}

func TestActivateOlderVersionRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := as("usr_dpo")
	v1 := f.accepted(t, validScope())
	v2 := f.accepted(t, validScope())
	_, err := f.svc.Activate(ctx, f.tenant.ID, v2.Number)
	require.NoError(t, err)
	_, err = f.svc.Activate(ctx, f.tenant.ID, v1.Number)
	require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err))
	active, err := f.svc.Active(ctx, f.tenant.ID)
	require.NoError(t, err)
	require.Equal(t, v2.ID, active.ID)
}

func TestConcurrentActivation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := as("usr_dpo")
	old := f.accepted(t, validScope())
	_, err := f.svc.Activate(ctx, f.tenant.ID, old.Number)
	require.NoError(t, err)
	v := f.accepted(t, validScope())

	// The same version activated by many at once: exactly one wins.
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = f.svc.Activate(ctx, f.tenant.ID, v.Number) })
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err), "%v", err)
	}
	require.Equal(t, 1, wins)

	// Different versions at once: never two active, and whoever lost got a
	// conflict.
	a := f.accepted(t, validScope())
	b := f.accepted(t, validScope())
	var errA, errB error
	wg.Go(func() { _, errA = f.svc.Activate(ctx, f.tenant.ID, a.Number) })
	wg.Go(func() { _, errB = f.svc.Activate(ctx, f.tenant.ID, b.Number) })
	wg.Wait()
	for _, err := range []error{errA, errB} {
		if err != nil {
			require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err), "%v", err)
		}
	}
	require.True(t, errA == nil || errB == nil, "one activation wins")
	list, err := f.svc.List(ctx, f.tenant.ID)
	require.NoError(t, err)
	active := 0
	for _, x := range list {
		if x.Status == dpa.StatusActive {
			active++
		}
	}
	require.Equal(t, 1, active)
}

func TestAcceptedVersionImmutableInSQL(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	clock := verwerker.NewManualClock(start)
	log := audit.NewLog(db, clock)
	t.Cleanup(log.Close)
	ts := tenant.NewService(db, clock, log)
	tn, err := ts.Create(context.Background(), tenant.New{Name: "Immutable Test", Country: "NL", ContactEmail: "privacy@imm.example"})
	require.NoError(t, err)
	require.NoError(t, demo.SeedSubprocessors(context.Background(), subprocessor.NewRegistry(db, clock, log, nil, nil)))
	svc := dpa.NewService(db, clock, log, subprocessor.Lists{})
	v, err := svc.Create(as("usr_dpo"), tn.ID, validScope())
	require.NoError(t, err)
	ctx := context.Background()

	// A draft may change.
	_, err = db.Pool.Exec(ctx, `UPDATE dpa_versions SET scope = scope || '{"purposes":["security"]}' WHERE id = $1`, v.ID)
	require.NoError(t, err)

	v, err = svc.Offer(as("usr_dpo"), tn.ID, v.Number)
	require.NoError(t, err)
	v, err = svc.Accept(as("usr_customer"), tn.ID, v.Number, v.SHA256EN)
	require.NoError(t, err)

	for _, q := range []string{
		`UPDATE dpa_versions SET scope = scope || '{"purposes":["marketing"]}' WHERE id = $1`,
		`UPDATE dpa_versions SET document_en = '<p>other</p>' WHERE id = $1`,
		`UPDATE dpa_versions SET accepted_by = 'usr_someone_else' WHERE id = $1`,
		`UPDATE dpa_versions SET status = 'draft' WHERE id = $1`,
		`DELETE FROM dpa_versions WHERE id = $1`,
	} {
		_, err := db.Pool.Exec(ctx, q, v.ID)
		require.Error(t, err, q)
		require.Contains(t, err.Error(), "dpa_versions", q)
	}
	got, err := svc.Get(ctx, tn.ID, v.Number)
	require.NoError(t, err)
	require.Equal(t, []string{"security"}, got.Scope.Purposes)
	require.Equal(t, "usr_customer", got.AcceptedBy)
}

func TestScopeValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*dpa.Scope)
		fields []string
	}{
		{"unknown category", func(s *dpa.Scope) {
			s.Categories = append(s.Categories, dpa.CategoryScope{ID: "chat.audio", Retention: dpa.RetentionStatutory7Years})
		}, []string{"categories[2].id"}},
		{"missing retention", func(s *dpa.Scope) { s.Categories[1].Retention = "" }, []string{"categories[1].retention"}},
		{"unknown retention", func(s *dpa.Scope) { s.Categories[0].Retention = "forever" }, []string{"categories[0].retention"}},
		{"special category without flag", func(s *dpa.Scope) {
			s.Categories = append(s.Categories, dpa.CategoryScope{ID: "special.health", Retention: dpa.Retention30DaysAfterLastInteraction})
		}, []string{"categories[2].special"}},
		{"flag on an ordinary category", func(s *dpa.Scope) { s.Categories[0].Special = true }, []string{"categories[0].special"}},
		{"no categories", func(s *dpa.Scope) { s.Categories = nil }, []string{"categories"}},
		{"unknown purpose", func(s *dpa.Scope) { s.Purposes = []string{"security", "profiling"} }, []string{"purposes[1]"}},
		{"no purposes", func(s *dpa.Scope) { s.Purposes = nil }, []string{"purposes"}},
		{"unknown region", func(s *dpa.Scope) { s.Regions = []string{"nl", "mars"} }, []string{"regions[1]"}},
		{"non-EEA without basis", func(s *dpa.Scope) { s.Regions = []string{"eea", "us"} }, []string{"regions[1]"}},
		{"adequacy where there is none", func(s *dpa.Scope) {
			s.Regions = []string{"in"}
			s.Transfers = []dpa.Transfer{{Region: "in", Basis: dpa.BasisAdequacy}}
		}, []string{"transfers[0].basis"}},
		{"unknown basis", func(s *dpa.Scope) {
			s.Regions = []string{"uk"}
			s.Transfers = []dpa.Transfer{{Region: "uk", Basis: "consent"}}
		}, []string{"transfers[0].basis"}},
		{"transfer for an unlisted region", func(s *dpa.Scope) {
			s.Transfers = []dpa.Transfer{{Region: "uk", Basis: dpa.BasisAdequacy}}
		}, []string{"transfers[0].region"}},
		{"bad subprocessor id", func(s *dpa.Scope) { s.Subprocessors = []string{"Hosting EU"} }, []string{"subprocessors[0]"}},
		{"objection window too short", func(s *dpa.Scope) { s.ObjectionWindowDays = 3 }, []string{"objection_window_days"}},
		{"contacts", func(s *dpa.Scope) {
			s.BreachContact.Email = "not an address"
			s.DPOContact.Email = ""
			s.BreachContact.Phone = "call me"
		}, []string{"breach_contact.email", "breach_contact.phone", "dpo_contact.email"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc := validScope()
			tc.change(&sc)
			err := sc.Normalize()
			require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err), "%v", err)
			var got []string
			for _, f := range verwerker.ErrorFields(err) {
				got = append(got, f.Field)
				require.NotContains(t, f.Message, "mars")
				require.NotContains(t, f.Message, "profiling")
			}
			require.ElementsMatch(t, tc.fields, got)
		})
	}
	sc := withTransfer()
	require.NoError(t, sc.Normalize())
	sc = validScope()
	sc.Purposes = append(sc.Purposes, "marketing")
	sc.Categories = append(sc.Categories, dpa.CategoryScope{ID: "special.health", Retention: dpa.Retention30DaysAfterLastInteraction, Special: true})
	require.NoError(t, sc.Normalize(), "marketing and special categories are allowed when chosen explicitly")
}

func TestRendering(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := as("usr_dpo")
	v, err := f.svc.Create(ctx, f.tenant.ID, withTransfer())
	require.NoError(t, err)
	draft, _, err := f.svc.Document(ctx, f.tenant.ID, v.Number, dpa.LangEN)
	require.NoError(t, err)
	require.Contains(t, string(draft), "DRAFT")

	_, err = f.svc.Offer(ctx, f.tenant.ID, v.Number)
	require.NoError(t, err)
	nl, _, err := f.svc.Document(ctx, f.tenant.ID, v.Number, dpa.LangNL)
	require.NoError(t, err)
	en, _, err := f.svc.Document(ctx, f.tenant.ID, v.Number, dpa.LangEN)
	require.NoError(t, err)
	for _, s := range []string{`lang="nl"`, "Verwerkersovereenkomst", "Chatberichten van bezoekers", "E-mailadressen", "Verenigde Staten", "Modelcontractbepalingen", "48 uur", "hosting-eu", "30 dagen"} {
		require.Contains(t, string(nl), s)
	}
	for _, s := range []string{`lang="en"`, "Data processing agreement", "Visitors&#39; chat messages", "E-mail addresses", "United States", "Standard contractual clauses", "48 hours", "hosting-eu", "30 days"} {
		require.Contains(t, string(en), s)
	}
	require.NotContains(t, string(en), "DRAFT")
	require.NotContains(t, string(en), "<script")
	require.NotContains(t, string(en), "http")

	_, _, err = f.svc.Document(ctx, f.tenant.ID, v.Number, "fr")
	require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err))
}

func TestRecordOfProcessing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := as("usr_dpo")

	rec, err := f.svc.Record(ctx, f.tenant.ID)
	require.NoError(t, err)
	require.False(t, rec.Active)
	require.Empty(t, rec.Processing)

	v := f.accepted(t, withTransfer())
	_, err = f.svc.Activate(ctx, f.tenant.ID, v.Number)
	require.NoError(t, err)
	rec, err = f.svc.Record(ctx, f.tenant.ID)
	require.NoError(t, err)
	require.True(t, rec.Active)
	require.Equal(t, v.Number, rec.DPAVersion)
	require.Equal(t, []dpa.Transfer{{Region: "us", Basis: dpa.BasisSCCs}}, rec.Transfers)
	require.Len(t, rec.Processing, 2)
	require.Equal(t, []string{"hosting-eu"}, rec.Subprocessors)
	require.NotEmpty(t, rec.Security)

	for lang, want := range map[string][]string{
		dpa.LangNL: {"Register van verwerkingsactiviteiten", "Verenigde Staten", "Modelcontractbepalingen", "hosting-eu"},
		dpa.LangEN: {"record of processing", "United States", "Standard contractual clauses", "hosting-eu"},
	} {
		page, err := dpa.RenderRecord(rec, lang)
		require.NoError(t, err)
		for _, s := range want {
			require.Contains(t, string(page), s)
		}
	}

	_, err = f.svc.Record(ctx, verwerker.NewID(verwerker.PrefixTenant, start))
	require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err))
}

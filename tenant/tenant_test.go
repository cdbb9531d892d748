package tenant

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/store"
	"github.com/verwerker/verwerker/store/storetest"
)

// testStart is where every test's clock starts: Monday 2 March 2026, 10:00
// in Amsterdam.
var testStart = time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)

func date(y int, m time.Month, d int) deadline.Date { return deadline.Date{Year: y, Month: m, Day: d} }

// fieldsOf returns the offending fields of an EINVALID error.
func fieldsOf(t *testing.T, err error) map[string]string {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, verwerker.EINVALID, verwerker.ErrorCode(err), "%v", err)
	fields := map[string]string{}
	for _, f := range verwerker.ErrorFields(err) {
		fields[f.Field] = f.Message
	}
	return fields
}

func validNew() New {
	return New{Name: "Bakkerij De Vries B.V.", Country: "NL", ContactEmail: "privacy@devries.example"}
}

func TestNewNormalize(t *testing.T) {
	t.Parallel()

	t.Run("Valid", func(t *testing.T) {
		t.Parallel()
		type testCase struct {
			in   New
			want New
		}
		for name, tt := range map[string]testCase{
			"Plain": {validNew(), New{Name: "Bakkerij De Vries B.V.", Country: "NL", ContactEmail: "privacy@devries.example", Timezone: DefaultTimezone}},
			"Trimmed": {
				New{Name: "  Bakkerij \t", Country: " NL ", ContactEmail: " privacy@devries.example\n", Timezone: " Europe/Berlin "},
				New{Name: "Bakkerij", Country: "NL", ContactEmail: "privacy@devries.example", Timezone: "Europe/Berlin"},
			},
			"ShortestName":     {New{Name: "AB", Country: "DE", ContactEmail: "a@b.de"}, New{Name: "AB", Country: "DE", ContactEmail: "a@b.de", Timezone: DefaultTimezone}},
			"LongestNameRunes": {New{Name: strings.Repeat("é", 200), Country: "FR", ContactEmail: "a@b.fr"}, New{Name: strings.Repeat("é", 200), Country: "FR", ContactEmail: "a@b.fr", Timezone: DefaultTimezone}},
			"UnicodeName":      {New{Name: "Ærøskøbing Bageri ApS", Country: "DK", ContactEmail: "a@b.dk", Timezone: "UTC"}, New{Name: "Ærøskøbing Bageri ApS", Country: "DK", ContactEmail: "a@b.dk", Timezone: "UTC"}},
			"SubdomainEmail":   {New{Name: "Acme", Country: "BE", ContactEmail: "dpo+gdpr@mail.acme.example"}, New{Name: "Acme", Country: "BE", ContactEmail: "dpo+gdpr@mail.acme.example", Timezone: DefaultTimezone}},
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				n := tt.in
				require.NoError(t, n.normalize())
				require.Equal(t, tt.want, n)
			})
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		type testCase struct {
			mutate func(n *New)
			// wantFields are the offending fields; every message must not
			// contain the submitted value.
			wantFields []string
		}
		for name, tt := range map[string]testCase{
			"EverythingMissing":     {func(n *New) { *n = New{} }, []string{"name", "country", "contact_email"}},
			"NameBlank":             {func(n *New) { n.Name = " \t " }, []string{"name"}},
			"NameTooShort":          {func(n *New) { n.Name = "J" }, []string{"name"}},
			"NameTooLong":           {func(n *New) { n.Name = strings.Repeat("4711", 50) + "x" }, []string{"name"}},
			"NameControlChar":       {func(n *New) { n.Name = "Jan\x00Jansen 4711" }, []string{"name"}},
			"NameNewline":           {func(n *New) { n.Name = "Jan\nJansen 4711" }, []string{"name"}},
			"NameInvalidUTF8":       {func(n *New) { n.Name = "Jan \xff\xfe 4711" }, []string{"name"}},
			"CountryLowercase":      {func(n *New) { n.Country = "nl" }, []string{"country"}},
			"CountryAlpha3":         {func(n *New) { n.Country = "NLD" }, []string{"country"}},
			"CountryNumeric":        {func(n *New) { n.Country = "528" }, []string{"country"}},
			"CountryUserAssigned":   {func(n *New) { n.Country = "XX" }, []string{"country"}},
			"CountryUnknown":        {func(n *New) { n.Country = "ZZ" }, []string{"country"}},
			"CountryGrouping":       {func(n *New) { n.Country = "EU" }, []string{"country"}},
			"EmailDisplayName":      {func(n *New) { n.ContactEmail = "Jan Jansen 4711 <jan@example.com>" }, []string{"contact_email"}},
			"EmailNoAt":             {func(n *New) { n.ContactEmail = "secret-person-4711" }, []string{"contact_email"}},
			"EmailNoDomain":         {func(n *New) { n.ContactEmail = "secret-person-4711@" }, []string{"contact_email"}},
			"EmailUnqualified":      {func(n *New) { n.ContactEmail = "secret-person-4711@localhost" }, []string{"contact_email"}},
			"EmailTrailingDot":      {func(n *New) { n.ContactEmail = "secret-person-4711@example.com." }, []string{"contact_email"}},
			"EmailTwoAddresses":     {func(n *New) { n.ContactEmail = "a@example.com, secret-person-4711@example.com" }, []string{"contact_email"}},
			"EmailTooLong":          {func(n *New) { n.ContactEmail = strings.Repeat("4711", 62) + "@example.com" }, []string{"contact_email"}},
			"TimezoneUnknown":       {func(n *New) { n.Timezone = "Mars/Base4711" }, []string{"timezone"}},
			"TimezoneLocal":         {func(n *New) { n.Timezone = "Local" }, []string{"timezone"}},
			"TimezonePathTraversal": {func(n *New) { n.Timezone = "../../etc/passwd4711" }, []string{"timezone"}},
			"Several":               {func(n *New) { n.Name, n.Timezone = "", "Nowhere/4711" }, []string{"name", "timezone"}},
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				n := validNew()
				tt.mutate(&n)
				err := n.normalize()
				fields := fieldsOf(t, err)
				require.ElementsMatch(t, tt.wantFields, keysOf(fields), "%v", err)
				require.NotContains(t, verwerker.ErrorMessage(err), "4711")
				for f, msg := range fields {
					require.NotEmpty(t, msg, f)
					require.NotContains(t, msg, "4711", "the message of %s repeats the value", f)
				}
			})
		}
	})

	// ISO 3166-1 reserves some codes "exceptionally" (UK, EU, UN, ...):
	// they are not countries and a controller's establishment is in GB,
	// not UK.
	t.Run("ExceptionallyReservedCountry", func(t *testing.T) {
		t.Parallel()
		var accepted []string
		for _, code := range []string{"UK", "EU", "EZ", "UN", "SU", "FX", "TA", "IC", "EA", "DG", "CP", "AC"} {
			n := validNew()
			n.Country = code
			if err := n.normalize(); err == nil {
				accepted = append(accepted, code)
				continue
			}
			require.Contains(t, fieldsOf(t, n.normalize()), "country", code)
		}
		require.Empty(t, accepted, "exceptionally or transitionally reserved ISO 3166-1 codes are no country of establishment")
	})
}

func keysOf(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestTerminationCheck(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, time.March, 2, 10, 0, 0, 0, time.UTC)
	today := date(2026, time.April, 15)

	type testCase struct {
		term       Termination
		wantFields []string
	}
	for name, tt := range map[string]testCase{
		"Valid":              {Termination{date(2026, time.December, 31), ReasonCustomerNotice}, nil},
		"OnCreationDay":      {Termination{date(2026, time.March, 2), ReasonMutual}, nil},
		"InThePast":          {Termination{date(2026, time.March, 10), ReasonBreachOfTerms}, nil},
		"FiveYearsAhead":     {Termination{today.AddDays(5 * 366), ReasonOther}, nil},
		"BeforeCreation":     {Termination{date(2026, time.March, 1), ReasonOther}, []string{"contract_end"}},
		"TooFarAhead":        {Termination{today.AddDays(5*366 + 1), ReasonOther}, []string{"contract_end"}},
		"MissingContractEnd": {Termination{deadline.Date{}, ReasonOther}, []string{"contract_end"}},
		"MissingReason":      {Termination{date(2026, time.December, 31), ""}, []string{"reason"}},
		"UnknownReason":      {Termination{date(2026, time.December, 31), "fired"}, []string{"reason"}},
		"ReasonWrongCase":    {Termination{date(2026, time.December, 31), "Other"}, []string{"reason"}},
		"NothingValid":       {Termination{}, []string{"contract_end", "reason"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := tt.term.check(created, today)
			if tt.wantFields == nil {
				require.NoError(t, err)
				return
			}
			require.ElementsMatch(t, tt.wantFields, keysOf(fieldsOf(t, err)))
		})
	}

	t.Run("EveryReasonIsValid", func(t *testing.T) {
		t.Parallel()
		require.Len(t, Reasons, 5)
		for _, r := range Reasons {
			require.NoError(t, (&Termination{date(2026, time.June, 1), r}).check(created, today), r)
		}
	})
}

func TestPurgeDue(t *testing.T) {
	t.Parallel()
	cal := deadline.DefaultCalendar()

	type testCase struct {
		contractEnd *deadline.Date
		timezone    string
		want        *deadline.Date
	}
	ptr := func(d deadline.Date) *deadline.Date { return &d }
	for name, tt := range map[string]testCase{
		"Active": {nil, DefaultTimezone, nil},
		// 2026-12-31 + 30 days is Saturday 2027-01-30.
		"Saturday":   {ptr(date(2026, time.December, 31)), DefaultTimezone, ptr(date(2027, time.February, 1))},
		"WorkingDay": {ptr(date(2026, time.March, 31)), DefaultTimezone, ptr(date(2026, time.April, 30))},
		// Christmas Day, Boxing Day (a Saturday), Sunday.
		"Christmas": {ptr(date(2026, time.November, 25)), DefaultTimezone, ptr(date(2026, time.December, 28))},
		// The day counts in the tenant's time zone, not in Amsterdam's: the
		// contract end is a civil date there.
		"FarEast":                  {ptr(date(2026, time.March, 31)), "Pacific/Kiritimati", ptr(date(2026, time.April, 30))},
		"FarWest":                  {ptr(date(2026, time.March, 31)), "Pacific/Pago_Pago", ptr(date(2026, time.April, 30))},
		"UnknownTimezoneFallsBack": {ptr(date(2026, time.December, 31)), "Nowhere/Special", ptr(date(2027, time.February, 1))},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tn := Tenant{ContractEnd: tt.contractEnd, Timezone: tt.timezone}
			got := tn.PurgeDue(cal)
			if tt.want == nil {
				require.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			require.Equal(t, *tt.want, got.LastDay)
			require.Equal(t, tt.contractEnd.AddDays(30), got.NominalLastDay)
			require.Equal(t, got.LastDay != got.NominalLastDay, got.Extended)
		})
	}
}

func TestCursor(t *testing.T) {
	t.Parallel()

	id := verwerker.NewID(verwerker.PrefixTenant, testStart)
	got, err := decodeCursor(encodeCursor(id))
	require.NoError(t, err)
	require.Equal(t, id, got)

	got, err = decodeCursor("")
	require.NoError(t, err)
	require.Empty(t, got)

	for name, c := range map[string]string{
		"NotBase64":   "!!!",
		"Padded":      encodeCursor(id) + "==",
		"NotAnID":     encodeCursor("hello"),
		"OtherPrefix": encodeCursor(verwerker.NewID(verwerker.PrefixAPIKey, testStart)),
		"SQL":         encodeCursor("' OR 1=1 --"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeCursor(c)
			require.Contains(t, fieldsOf(t, err), "cursor")
		})
	}
}

// serviceBundle is a Service on a fresh database and a manual clock.
type serviceBundle struct {
	db    *store.DB
	clock *verwerker.ManualClock
	svc   *Service
}

func setupService(t *testing.T) *serviceBundle {
	t.Helper()
	db := storetest.New(t)
	clock := verwerker.NewManualClock(testStart)
	log := audit.NewLog(db, clock)
	t.Cleanup(log.Close)
	return &serviceBundle{db: db, clock: clock, svc: NewService(db, clock, log)}
}

// create creates a tenant named name, one millisecond after the previous
// one, so that ids sort in creation order.
func (b *serviceBundle) create(t *testing.T, name string) Tenant {
	t.Helper()
	b.clock.Advance(time.Millisecond)
	tn, err := b.svc.Create(context.Background(), New{Name: name, Country: "NL", ContactEmail: "privacy@example.com"})
	require.NoError(t, err)
	return tn
}

func TestServiceCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Stored", func(t *testing.T) {
		t.Parallel()
		b := setupService(t)
		tn, err := b.svc.Create(ctx, New{Name: " Bakkerij ", Country: "NL", ContactEmail: "privacy@devries.example"})
		require.NoError(t, err)
		require.True(t, verwerker.ValidID(verwerker.PrefixTenant, tn.ID), tn.ID)
		require.Equal(t, "Bakkerij", tn.Name)
		require.Equal(t, DefaultTimezone, tn.Timezone)
		require.Equal(t, StatusActive, tn.Status)
		require.True(t, tn.CreatedAt.Equal(testStart), "created_at %v", tn.CreatedAt)
		require.True(t, tn.UpdatedAt.Equal(testStart))
		require.Nil(t, tn.ContractEnd)
		require.Empty(t, tn.Reason)
		require.Nil(t, tn.TerminatedAt)

		got, err := b.svc.Get(ctx, tn.ID)
		require.NoError(t, err)
		require.Equal(t, tn, got)
	})

	t.Run("DuplicateNameIgnoringCase", func(t *testing.T) {
		t.Parallel()
		b := setupService(t)
		b.create(t, "Acme Holding")
		for _, name := range []string{"Acme Holding", "ACME HOLDING", "acme holding", "  Acme Holding  "} {
			_, err := b.svc.Create(ctx, New{Name: name, Country: "DE", ContactEmail: "other@example.com"})
			require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err), "%q: %v", name, err)
			require.Equal(t, []verwerker.FieldError{{Field: "name", Message: "is already taken"}}, verwerker.ErrorFields(err))
		}
		page, err := b.svc.List(ctx, Filter{})
		require.NoError(t, err)
		require.Len(t, page.Tenants, 1)
	})

	t.Run("InvalidStoresNothing", func(t *testing.T) {
		t.Parallel()
		b := setupService(t)
		_, err := b.svc.Create(ctx, New{Name: "Acme", Country: "nl", ContactEmail: "x"})
		require.ElementsMatch(t, []string{"country", "contact_email"}, keysOf(fieldsOf(t, err)))
		page, err := b.svc.List(ctx, Filter{})
		require.NoError(t, err)
		require.Empty(t, page.Tenants)
	})

	t.Run("ConcurrentSameName", func(t *testing.T) {
		t.Parallel()
		b := setupService(t)
		const n = 5
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = b.svc.Create(ctx, New{Name: "Race B.V.", Country: "NL", ContactEmail: "race@example.com"})
			})
		}
		wg.Wait()
		codes := map[string]int{}
		for _, err := range errs {
			codes[verwerker.ErrorCode(err)]++
		}
		require.Equal(t, map[string]int{"": 1, verwerker.ECONFLICT: n - 1}, codes)
	})
}

func TestServiceGet(t *testing.T) {
	t.Parallel()
	b := setupService(t)
	ctx := context.Background()
	tn := b.create(t, "Acme")

	got, err := b.svc.Get(ctx, tn.ID)
	require.NoError(t, err)
	require.Equal(t, tn.ID, got.ID)

	for name, id := range map[string]string{
		"Missing":     verwerker.NewID(verwerker.PrefixTenant, testStart),
		"Empty":       "",
		"Malformed":   "tnt_nope",
		"OtherPrefix": verwerker.NewID(verwerker.PrefixAPIKey, testStart),
		"Lowercase":   strings.ToLower(tn.ID),
		"SQL":         "' OR 1=1 --",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := b.svc.Get(ctx, id)
			require.Equal(t, verwerker.ENOTFOUND, verwerker.ErrorCode(err), "%v", err)
		})
	}
}

func TestServiceList(t *testing.T) {
	t.Parallel()
	b := setupService(t)
	ctx := context.Background()

	var ids []string
	for _, name := range []string{"One", "Two", "Three", "Four", "Five"} {
		ids = append(ids, b.create(t, name).ID)
	}
	_, err := b.svc.Terminate(ctx, ids[1], Termination{date(2026, time.June, 30), ReasonOther})
	require.NoError(t, err)
	// ids[3]'s contract ends today: from tomorrow on it has ended, while
	// ids[1]'s still runs.
	_, err = b.svc.Terminate(ctx, ids[3], Termination{deadline.DateOf(b.clock.Now()), ReasonOther})
	require.NoError(t, err)
	b.clock.Advance(24 * time.Hour)

	pageIDs := func(f Filter) ([]string, error) {
		var out []string
		for range 20 {
			page, err := b.svc.List(ctx, f)
			if err != nil {
				return nil, err
			}
			for _, tn := range page.Tenants {
				out = append(out, tn.ID)
			}
			if page.Next == "" {
				return out, nil
			}
			f.Cursor = page.Next
		}
		t.Fatal("paging does not end")
		return nil, nil
	}

	type testCase struct {
		filter Filter
		want   []string
	}
	for name, tt := range map[string]testCase{
		"All":                 {Filter{}, ids},
		"PageOfOne":           {Filter{Limit: 1}, ids},
		"PageOfTwo":           {Filter{Limit: 2}, ids},
		"ExactPages":          {Filter{Limit: 5}, ids},
		"MaxLimit":            {Filter{Limit: MaxLimit}, ids},
		"Active":              {Filter{Status: StatusActive}, []string{ids[0], ids[2], ids[4]}},
		"ActivePaged":         {Filter{Status: StatusActive, Limit: 1}, []string{ids[0], ids[2], ids[4]}},
		"Terminating":         {Filter{Status: StatusTerminating, Limit: 1}, []string{ids[1]}},
		"Ended":               {Filter{Status: StatusEnded}, []string{ids[3]}},
		"AfterCursor":         {Filter{Cursor: encodeCursor(ids[2])}, ids[3:]},
		"AfterMissingID":      {Filter{Cursor: encodeCursor(verwerker.NewID(verwerker.PrefixTenant, testStart))}, ids},
		"AfterLast":           {Filter{Cursor: encodeCursor(ids[4])}, nil},
		"StatusAndCursorMeet": {Filter{Status: StatusEnded, Cursor: encodeCursor(ids[1])}, []string{ids[3]}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := pageIDs(tt.filter)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}

	t.Run("LastPageHasNoCursor", func(t *testing.T) {
		t.Parallel()
		page, err := b.svc.List(ctx, Filter{Limit: 5})
		require.NoError(t, err)
		require.Len(t, page.Tenants, 5)
		require.Empty(t, page.Next, "no empty page after an exactly full one")
	})

	for name, tt := range map[string]struct {
		filter    Filter
		wantField string
	}{
		"LimitNegative":  {Filter{Limit: -1}, "limit"},
		"LimitTooLarge":  {Filter{Limit: MaxLimit + 1}, "limit"},
		"UnknownStatus":  {Filter{Status: "deleted"}, "status"},
		"OldStatus":      {Filter{Status: "terminated"}, "status"},
		"BadCursor":      {Filter{Cursor: "4711"}, "cursor"},
		"OtherIDsCursor": {Filter{Cursor: encodeCursor(verwerker.NewID(verwerker.PrefixAPIKey, testStart))}, "cursor"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := b.svc.List(ctx, tt.filter)
			require.Contains(t, fieldsOf(t, err), tt.wantField)
		})
	}
}

func TestServiceTerminate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Terminated", func(t *testing.T) {
		t.Parallel()
		b := setupService(t)
		tn := b.create(t, "Acme")
		b.clock.Advance(48 * time.Hour)

		got, err := b.svc.Terminate(ctx, tn.ID, Termination{date(2026, time.December, 31), ReasonCustomerNotice})
		require.NoError(t, err)
		require.Equal(t, StatusTerminating, got.Status, "a notice is not the end of the contract")
		require.Equal(t, ptrDate(date(2026, time.December, 31)), got.ContractEnd)
		require.NotNil(t, got.ContractEndsAt)
		require.True(t, time.Date(2027, time.January, 1, 0, 0, 0, 0, amsterdam(t)).Equal(*got.ContractEndsAt), "%v", got.ContractEndsAt)
		require.Equal(t, ReasonCustomerNotice, got.Reason)
		require.NotNil(t, got.TerminatedAt)
		require.True(t, got.TerminatedAt.Equal(b.clock.Now()))
		require.True(t, got.UpdatedAt.Equal(b.clock.Now()))
		require.True(t, got.CreatedAt.Equal(tn.CreatedAt))
		require.Equal(t, date(2027, time.February, 1), got.PurgeDue(deadline.DefaultCalendar()).LastDay)

		stored, err := b.svc.Get(ctx, tn.ID)
		require.NoError(t, err)
		require.Equal(t, got, stored)
	})

	t.Run("Twice", func(t *testing.T) {
		t.Parallel()
		b := setupService(t)
		tn := b.create(t, "Acme")
		first, err := b.svc.Terminate(ctx, tn.ID, Termination{date(2026, time.December, 31), ReasonCustomerNotice})
		require.NoError(t, err)

		b.clock.Advance(time.Hour)
		_, err = b.svc.Terminate(ctx, tn.ID, Termination{date(2026, time.June, 30), ReasonOther})
		require.Equal(t, verwerker.ECONFLICT, verwerker.ErrorCode(err), "%v", err)

		stored, err := b.svc.Get(ctx, tn.ID)
		require.NoError(t, err)
		require.Equal(t, first, stored, "the first termination stands")
	})

	t.Run("ContractEndInTenantTimezone", func(t *testing.T) {
		t.Parallel()
		b := setupService(t)
		// 23:30 UTC on 1 March is already 2 March in Amsterdam.
		b.clock.Set(time.Date(2026, time.March, 1, 23, 30, 0, 0, time.UTC))
		tn := b.create(t, "Late Night B.V.")
		_, err := b.svc.Terminate(ctx, tn.ID, Termination{date(2026, time.March, 1), ReasonOther})
		require.Contains(t, fieldsOf(t, err), "contract_end", "before the creation day in Amsterdam")
		_, err = b.svc.Terminate(ctx, tn.ID, Termination{date(2026, time.March, 2), ReasonOther})
		require.NoError(t, err)
	})

	for name, tt := range map[string]struct {
		id       func(b *serviceBundle, tn Tenant) string
		term     Termination
		wantCode string
	}{
		"Missing": {func(*serviceBundle, Tenant) string { return verwerker.NewID(verwerker.PrefixTenant, testStart) },
			Termination{date(2026, time.December, 31), ReasonOther}, verwerker.ENOTFOUND},
		"MalformedID": {func(*serviceBundle, Tenant) string { return "tnt_nope" },
			Termination{date(2026, time.December, 31), ReasonOther}, verwerker.ENOTFOUND},
		"UnknownReason": {func(_ *serviceBundle, tn Tenant) string { return tn.ID },
			Termination{date(2026, time.December, 31), "fired"}, verwerker.EINVALID},
		"BeforeCreation": {func(_ *serviceBundle, tn Tenant) string { return tn.ID },
			Termination{date(2026, time.March, 1), ReasonOther}, verwerker.EINVALID},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setupService(t)
			tn := b.create(t, "Acme")
			_, err := b.svc.Terminate(ctx, tt.id(b, tn), tt.term)
			require.Equal(t, tt.wantCode, verwerker.ErrorCode(err), "%v", err)
			stored, err := b.svc.Get(ctx, tn.ID)
			require.NoError(t, err)
			require.Equal(t, StatusActive, stored.Status)
		})
	}

	// Five concurrent terminations of one tenant: exactly one succeeds, the
	// others are conflicts, and the stored termination is the winner's.
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		b := setupService(t)
		tn := b.create(t, "Acme")

		const n = 5
		type result struct {
			tenant Tenant
			err    error
		}
		results := make([]result, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				term := Termination{date(2026, time.December, 1+i), Reasons[i%len(Reasons)]}
				results[i].tenant, results[i].err = b.svc.Terminate(ctx, tn.ID, term)
			})
		}
		close(start)
		wg.Wait()

		var winner *Tenant
		for i, r := range results {
			switch verwerker.ErrorCode(r.err) {
			case "":
				require.Nil(t, winner, "two terminations succeeded")
				winner = &results[i].tenant
			case verwerker.ECONFLICT:
			default:
				t.Fatalf("goroutine %d: unexpected error %v", i, r.err)
			}
		}
		require.NotNil(t, winner, "one termination succeeds")
		stored, err := b.svc.Get(ctx, tn.ID)
		require.NoError(t, err)
		require.Equal(t, *winner, stored)
	})

	// Terminate must not need a second connection while its transaction
	// holds one: with as many concurrent terminations as connections in the
	// pool, every one would wait for a connection forever.
	t.Run("OneConnection", func(t *testing.T) {
		t.Parallel()
		db, err := store.Open(ctx, storetest.NewURL(t), store.Options{MaxConns: 1})
		require.NoError(t, err)
		t.Cleanup(db.Close)
		clock := verwerker.NewManualClock(testStart)
		log := audit.NewLog(db, clock)
		t.Cleanup(log.Close)
		svc := NewService(db, clock, log)
		tn, err := svc.Create(ctx, validNew())
		require.NoError(t, err)

		tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err = svc.Terminate(tctx, tn.ID, Termination{date(2026, time.December, 31), ReasonOther})
		require.NoError(t, err, "Terminate must not wait for a second connection")
	})
}

func ptrDate(d deadline.Date) *deadline.Date { return &d }

func amsterdam(t *testing.T) *time.Location { return location(t, "Europe/Amsterdam") }

func location(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

// TestContractLifecycle: a notice of termination is not the end of the
// contract. The tenant is terminating through the contract's last day in
// its own time zone and ended from the first instant after it, by the
// injected clock alone: in Get and in the listing, with no write between.
func TestContractLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("DayBeforeDayOfDayAfter", func(t *testing.T) {
		t.Parallel()
		b := setupService(t)
		n := validNew()
		n.Timezone = "America/New_York"
		tn, err := b.svc.Create(ctx, n)
		require.NoError(t, err)
		require.Equal(t, StatusActive, tn.Status)
		end := date(2026, time.July, 15)
		got, err := b.svc.Terminate(ctx, tn.ID, Termination{end, ReasonCustomerNotice})
		require.NoError(t, err)
		require.Equal(t, StatusTerminating, got.Status)
		ny := location(t, "America/New_York")
		require.True(t, time.Date(2026, time.July, 16, 0, 0, 0, 0, ny).Equal(*got.ContractEndsAt), "%v", got.ContractEndsAt)

		for _, tt := range []struct {
			name string
			at   time.Time
			want Status
		}{
			{"DayBefore", time.Date(2026, time.July, 14, 12, 0, 0, 0, ny), StatusTerminating},
			{"LastDayBegins", time.Date(2026, time.July, 15, 0, 0, 0, 0, ny), StatusTerminating},
			// Already 16 July in UTC and in Amsterdam, still the last day in
			// the customer's time zone.
			{"LastDayLastInstant", time.Date(2026, time.July, 15, 23, 59, 59, 999999999, ny), StatusTerminating},
			{"DayAfterBegins", time.Date(2026, time.July, 16, 0, 0, 0, 0, ny), StatusEnded},
			{"DayAfter", time.Date(2026, time.July, 16, 12, 0, 0, 0, ny), StatusEnded},
		} {
			b.clock.Set(tt.at)
			got, err := b.svc.Get(ctx, tn.ID)
			require.NoError(t, err)
			require.Equal(t, tt.want, got.Status, tt.name)
			for _, st := range Statuses {
				page, err := b.svc.List(ctx, Filter{Status: st})
				require.NoError(t, err)
				var ids []string
				for _, x := range page.Tenants {
					ids = append(ids, x.ID)
					require.Equal(t, st, x.Status, tt.name)
				}
				if st == tt.want {
					require.Contains(t, ids, tn.ID, "%s: listed as %s", tt.name, st)
				} else {
					require.NotContains(t, ids, tn.ID, "%s: not listed as %s", tt.name, st)
				}
			}
		}
	})

	// A termination recorded after its last day (but not before the tenant
	// existed) has ended at once.
	t.Run("EndInThePast", func(t *testing.T) {
		t.Parallel()
		b := setupService(t)
		tn := b.create(t, "Acme")
		b.clock.Advance(10 * 24 * time.Hour)
		got, err := b.svc.Terminate(ctx, tn.ID, Termination{date(2026, time.March, 5), ReasonMutual})
		require.NoError(t, err)
		require.Equal(t, StatusEnded, got.Status)
	})
}

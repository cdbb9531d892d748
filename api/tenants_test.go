package api_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/deadline"
	"github.com/verwerker/verwerker/identity"
	"github.com/verwerker/verwerker/policy"
	"github.com/verwerker/verwerker/tenant"
)

func validTenant(name string) map[string]any {
	return map[string]any{"name": name, "country": "NL", "contact_email": "privacy@example.com"}
}

func TestCreateTenant(t *testing.T) {
	t.Parallel()

	t.Run("CreatedWithDefaults", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		res := b.do(t, http.MethodPost, "/v1/tenants", b.admin(t), map[string]any{
			"name": "  Bakkerij De Vries B.V.  ", "country": "NL", "contact_email": "privacy@devries.example",
		})
		require.Equal(t, http.StatusCreated, res.status, res.raw)
		require.Equal(t, "application/json", res.header.Get("Content-Type"))
		id, _ := res.json["id"].(string)
		require.True(t, verwerker.ValidID(verwerker.PrefixTenant, id), "id %q", id)
		require.Equal(t, "Bakkerij De Vries B.V.", res.json["name"], "name is trimmed")
		require.Equal(t, "NL", res.json["country"])
		require.Equal(t, "privacy@devries.example", res.json["contact_email"])
		require.Equal(t, tenant.DefaultTimezone, res.json["timezone"])
		require.Equal(t, "active", res.json["status"])
		require.Equal(t, b.clock.Now().UTC().Format(time.RFC3339Nano), res.json["created_at"])
		require.Equal(t, res.json["created_at"], res.json["updated_at"])
		for _, absent := range []string{"contract_end", "termination_reason", "purge_due", "terminated_at"} {
			require.NotContains(t, res.json, absent)
		}

		got := b.do(t, http.MethodGet, "/v1/tenants/"+id, b.admin(t), nil)
		require.Equal(t, http.StatusOK, got.status, got.raw)
		require.Equal(t, res.json, got.json)
	})

	t.Run("Timezone", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		body := validTenant("Lisboa Lda.")
		body["country"], body["timezone"] = "PT", "Europe/Lisbon"
		res := b.do(t, http.MethodPost, "/v1/tenants", b.admin(t), body)
		require.Equal(t, http.StatusCreated, res.status, res.raw)
		require.Equal(t, "Europe/Lisbon", res.json["timezone"])
	})

	t.Run("DuplicateNameIgnoringCase", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		res := b.do(t, http.MethodPost, "/v1/tenants", b.admin(t), validTenant("Jan Jansen 4711 B.V."))
		require.Equal(t, http.StatusCreated, res.status, res.raw)

		res = b.do(t, http.MethodPost, "/v1/tenants", b.admin(t), validTenant("JAN jansen 4711 b.v."),
			"X-Request-Id", "duplicate-name-test")
		require.Equal(t, http.StatusConflict, res.status, res.raw)
		prob := res.problem(t)
		require.Equal(t, verwerker.ECONFLICT, prob.Code)
		require.Equal(t, []string{"body.name"}, res.locations(t))
		require.NotContains(t, res.raw, "4711", "the submitted name must not be echoed")
		requireNoLeak(t, res.raw)
	})
}

func TestGetTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)

	res := b.do(t, http.MethodGet, "/v1/tenants/"+b.tenantB.ID, b.admin(t), nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, b.tenantB.ID, res.json["id"])
	require.Equal(t, "Tenant B GmbH", res.json["name"])
	require.Equal(t, "DE", res.json["country"])
	require.Equal(t, "Europe/Berlin", res.json["timezone"])

	for _, id := range []string{verwerker.NewID(verwerker.PrefixTenant, b.clock.Now()), "tnt_nope", "key_01JD5X6Q9W3N2M8K7V4T0R1S2Y"} {
		res := b.do(t, http.MethodGet, "/v1/tenants/"+id, b.admin(t), nil)
		require.Equal(t, http.StatusNotFound, res.status, "%s: %s", id, res.raw)
		require.Equal(t, verwerker.ENOTFOUND, res.problem(t).Code)
	}
}

func TestListTenants(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	_, err := b.tenants.Terminate(ctx, b.tenantB.ID, tenant.Termination{
		ContractEnd: deadline.Date{Year: 2026, Month: time.June, Day: 30}, Reason: tenant.ReasonCustomerNotice,
	})
	require.NoError(t, err)

	type testCase struct {
		query string
		want  []string
	}
	for name, tt := range map[string]testCase{
		"All":         {"", []string{b.tenantA.ID, b.tenantB.ID}},
		"Active":      {"?status=active", []string{b.tenantA.ID}},
		"Terminating": {"?status=terminating", []string{b.tenantB.ID}},
		"Ended":       {"?status=ended", []string{}},
		"Limit":       {"?limit=1", []string{b.tenantA.ID}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := b.do(t, http.MethodGet, "/v1/tenants"+tt.query, b.admin(t), nil)
			require.Equal(t, http.StatusOK, res.status, res.raw)
			require.Equal(t, tt.want, itemIDs(t, res))
		})
	}

	t.Run("EmptyListIsArray", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.db.Pool.Exec(ctx, `DELETE FROM tenants`)
		require.NoError(t, err)
		res := b.do(t, http.MethodGet, "/v1/tenants", b.admin(t), nil)
		require.Equal(t, http.StatusOK, res.status, res.raw)
		require.Contains(t, res.raw, `"items":[]`)
		require.NotContains(t, res.json, "next_cursor")
	})
}

func itemIDs(t *testing.T, res response) []string {
	t.Helper()
	items, ok := res.json["items"].([]any)
	require.True(t, ok, "items: %s", res.raw)
	ids := make([]string, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.(map[string]any)["id"].(string))
	}
	return ids
}

// TestListTenantsPaginationStable pages through the tenants while new ones
// are created: every tenant that existed when paging started is seen exactly
// once, in id (creation) order.
func TestListTenantsPaginationStable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	create := func(name string) string {
		b.clock.Advance(time.Millisecond)
		tn, err := b.tenants.Create(ctx, tenant.New{Name: name, Country: "NL", ContactEmail: "privacy@example.com"})
		require.NoError(t, err)
		return tn.ID
	}
	original := []string{b.tenantA.ID, b.tenantB.ID}
	for i := range 25 {
		original = append(original, create(fmt.Sprintf("Original %02d", i)))
	}

	var seen, inserted []string
	cursor := ""
	for page := 0; ; page++ {
		require.Less(t, page, 50, "paging does not end")
		q := url.Values{"limit": {"7"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		res := b.do(t, http.MethodGet, "/v1/tenants?"+q.Encode(), b.admin(t), nil)
		require.Equal(t, http.StatusOK, res.status, res.raw)
		ids := itemIDs(t, res)
		require.LessOrEqual(t, len(ids), 7)
		seen = append(seen, ids...)
		next, _ := res.json["next_cursor"].(string)
		if next == "" {
			break
		}
		require.NotEmpty(t, ids)
		cursor = next
		if len(inserted) < 10 {
			inserted = append(inserted, create(fmt.Sprintf("Inserted %02d-a", page)), create(fmt.Sprintf("Inserted %02d-b", page)))
		}
	}

	require.True(t, slices.IsSorted(seen), "pages are in ascending id order")
	require.Len(t, slices.Compact(slices.Clone(seen)), len(seen), "no tenant appears twice")
	for _, id := range original {
		require.Equal(t, 1, count(seen, id), "tenant %s seen once", id)
	}
	originalSeen := slices.DeleteFunc(slices.Clone(seen), func(id string) bool { return !slices.Contains(original, id) })
	require.Equal(t, original, originalSeen, "the original tenants in creation order")
	// Tenants created while paging sort after the cursor, so they are seen too.
	require.Equal(t, append(slices.Clone(original), inserted...), seen)
}

func count(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func TestTerminateTenant(t *testing.T) {
	t.Parallel()

	t.Run("ViaAPI", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		res := b.do(t, http.MethodPost, "/v1/tenants", b.admin(t), validTenant("Terminated Via API"))
		require.Equal(t, http.StatusCreated, res.status, res.raw)
		id := res.json["id"].(string)

		b.clock.Advance(time.Hour)
		res = b.do(t, http.MethodPost, "/v1/tenants/"+id+"/termination", b.admin(t),
			map[string]any{"contract_end": "2026-12-31", "reason": "mutual_agreement"})
		require.Equal(t, http.StatusOK, res.status, res.raw)
		requireTerminated(t, b, res.json, "2026-12-31", "mutual_agreement", "2027-02-01")

		got := b.do(t, http.MethodGet, "/v1/tenants/"+id, b.admin(t), nil)
		require.Equal(t, http.StatusOK, got.status, got.raw)
		require.Equal(t, res.json, got.json)

		b.clock.Advance(time.Hour)
		again := b.do(t, http.MethodPost, "/v1/tenants/"+id+"/termination", b.admin(t),
			map[string]any{"contract_end": "2026-06-30", "reason": "other"})
		require.Equal(t, http.StatusConflict, again.status, again.raw)
		require.Equal(t, verwerker.ECONFLICT, again.problem(t).Code)

		got = b.do(t, http.MethodGet, "/v1/tenants/"+id, b.admin(t), nil)
		require.Equal(t, res.json, got.json, "a refused termination changes nothing")
	})

	// The termination is recorded by the service here, so that the
	// purge_due computation is covered by the API's answers independently
	// of the termination operation.
	//
	// The expected days are worked out by hand from Regulation 1182/71 and
	// the Dutch calendar, and checked against the deadline package too.
	type testCase struct {
		contractEnd string
		timezone    string
		wantPurge   string
	}
	for name, tt := range map[string]testCase{
		// 2026-12-31 + 30 days = Saturday 2027-01-30: the next working day.
		"PurgeDueSaturday": {"2026-12-31", "", "2027-02-01"},
		// 2026-03-31 + 30 days = Thursday 2026-04-30, an ordinary working day.
		"PurgeDueWorkingDay": {"2026-03-31", "", "2026-04-30"},
		// 2026-11-25 + 30 days = Christmas Day (Friday), then Boxing Day
		// (Saturday) and a Sunday.
		"PurgeDueChristmas": {"2026-11-25", "", "2026-12-28"},
		// 2026-03-28 + 30 days = Monday 2026-04-27, King's Day.
		"PurgeDueKingsDay": {"2026-03-28", "", "2026-04-28"},
		// The contract end is a day in the tenant's own time zone.
		"PurgeDueOtherTimezone": {"2026-12-31", "America/New_York", "2027-02-01"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()

			end, err := deadline.ParseDate(tt.contractEnd)
			require.NoError(t, err)
			cal := deadline.DefaultCalendar()
			require.Equal(t, tt.wantPurge, cal.Deadline(end.In(cal.Location()), tenant.PurgePeriod).LastDay.String(),
				"the expectation agrees with the deadline package")

			tn, err := b.tenants.Create(ctx, tenant.New{Name: "Purge " + name, Country: "NL", ContactEmail: "privacy@example.com", Timezone: tt.timezone})
			require.NoError(t, err)
			before := b.do(t, http.MethodGet, "/v1/tenants/"+tn.ID, b.admin(t), nil)
			require.Equal(t, http.StatusOK, before.status, before.raw)
			require.NotContains(t, before.json, "purge_due")

			b.clock.Advance(time.Hour)
			_, err = b.tenants.Terminate(ctx, tn.ID, tenant.Termination{ContractEnd: end, Reason: tenant.ReasonProcessorNotice})
			require.NoError(t, err)

			res := b.do(t, http.MethodGet, "/v1/tenants/"+tn.ID, b.admin(t), nil)
			require.Equal(t, http.StatusOK, res.status, res.raw)
			requireTerminated(t, b, res.json, tt.contractEnd, "processor_notice", tt.wantPurge)

			list := b.do(t, http.MethodGet, "/v1/tenants?status=terminating", b.admin(t), nil)
			require.Equal(t, http.StatusOK, list.status, list.raw)
			require.Equal(t, []any{res.json}, list.json["items"])
		})
	}

	t.Run("Twice", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.tenants.Terminate(context.Background(), b.tenantA.ID, tenant.Termination{
			ContractEnd: deadline.Date{Year: 2026, Month: time.December, Day: 31}, Reason: tenant.ReasonOther,
		})
		require.NoError(t, err)
		before := b.do(t, http.MethodGet, "/v1/tenants/"+b.tenantA.ID, b.admin(t), nil)

		res := b.do(t, http.MethodPost, "/v1/tenants/"+b.tenantA.ID+"/termination", b.admin(t),
			map[string]any{"contract_end": "2026-06-30", "reason": "customer_notice"})
		require.Equal(t, http.StatusConflict, res.status, res.raw)
		require.Equal(t, verwerker.ECONFLICT, res.problem(t).Code)

		after := b.do(t, http.MethodGet, "/v1/tenants/"+b.tenantA.ID, b.admin(t), nil)
		require.Equal(t, before.json, after.json)
	})

	t.Run("SaturdayReallyIsSaturday", func(t *testing.T) {
		t.Parallel()
		end := deadline.Date{Year: 2026, Month: time.December, Day: 31}
		require.Equal(t, deadline.Date{Year: 2027, Month: time.January, Day: 30}, end.AddDays(30))
		require.Equal(t, time.Saturday, end.AddDays(30).Weekday())
		require.Equal(t, time.Monday, deadline.Date{Year: 2027, Month: time.February, Day: 1}.Weekday())
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		res := b.do(t, http.MethodPost, "/v1/tenants/"+verwerker.NewID(verwerker.PrefixTenant, b.clock.Now())+"/termination",
			b.admin(t), map[string]any{"contract_end": "2026-12-31", "reason": "other"})
		require.Equal(t, http.StatusNotFound, res.status, res.raw)
		require.Equal(t, verwerker.ENOTFOUND, res.problem(t).Code)
	})
}

// requireTerminated checks the termination fields of a tenant's JSON, for
// a contract ending after the bundle's clock: a notice of termination is
// not the end, the tenant is terminating.
func requireTerminated(t *testing.T, b *testBundle, got map[string]any, contractEnd, reason, purgeDue string) {
	t.Helper()
	require.Equal(t, "terminating", got["status"])
	require.Equal(t, contractEnd, got["contract_end"])
	endsAt, err := time.Parse(time.RFC3339, got["contract_ends_at"].(string))
	require.NoError(t, err)
	loc, err := time.LoadLocation(got["timezone"].(string))
	require.NoError(t, err)
	end, err := deadline.ParseDate(contractEnd)
	require.NoError(t, err)
	require.Equal(t, end.AddDays(1), deadline.DateOf(endsAt), "contract_ends_at is in the tenant's time zone")
	require.True(t, end.AddDays(1).In(loc).Equal(endsAt), "contract_ends_at is the first instant after the last day")
	require.Equal(t, reason, got["termination_reason"])
	require.Equal(t, purgeDue, got["purge_due"])
	require.Equal(t, b.clock.Now().UTC().Format(time.RFC3339Nano), got["terminated_at"])
	require.Equal(t, got["terminated_at"], got["updated_at"])
}

// TestTenantBadInput sends input that breaks a rule. Every answer is a
// problem document that names the offending field, never repeats the
// submitted value (each contains "4711") and holds no internal text.
func TestTenantBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)

	with := func(key string, value any) map[string]any {
		body := validTenant("Jan Jansen 4711 B.V.")
		if value == nil {
			delete(body, key)
		} else {
			body[key] = value
		}
		return body
	}
	terminate := "/v1/tenants/{A}/termination"
	huge := `{"name":"` + strings.Repeat("Jan Jansen 4711 ", 1100) + `","country":"NL","contact_email":"privacy@example.com"}`
	require.Greater(t, len(huge), 16<<10)

	type testCase struct {
		method, path string
		body         any
		wantStatus   int
		// wantLocation, if set, must be among the problem's field locations.
		wantLocation string
	}
	for name, tt := range map[string]testCase{
		"MissingName":         {http.MethodPost, "/v1/tenants", with("name", nil), 422, "body.name"},
		"MissingCountry":      {http.MethodPost, "/v1/tenants", with("country", nil), 422, "body.country"},
		"MissingContactEmail": {http.MethodPost, "/v1/tenants", with("contact_email", nil), 422, "body.contact_email"},
		"EmptyName":           {http.MethodPost, "/v1/tenants", map[string]any{"name": "", "country": "NL", "contact_email": "4711@example.com"}, 422, "body.name"},
		"BlankName":           {http.MethodPost, "/v1/tenants", with("name", "   "), 422, "body.name"},
		"ControlCharInName":   {http.MethodPost, "/v1/tenants", with("name", "Jan\x07Jansen 4711"), 422, "body.name"},
		"NameTooLong":         {http.MethodPost, "/v1/tenants", with("name", strings.Repeat("4711", 51)), 422, "body.name"},
		"EmailNoDomain":       {http.MethodPost, "/v1/tenants", with("contact_email", "secret-person-4711@"), 422, "body.contact_email"},
		"EmailNoAt":           {http.MethodPost, "/v1/tenants", with("contact_email", "secret-person-4711"), 422, "body.contact_email"},
		"EmailWithName":       {http.MethodPost, "/v1/tenants", with("contact_email", "Jan Jansen 4711 <jan@example.com>"), 422, "body.contact_email"},
		"EmailUnqualified":    {http.MethodPost, "/v1/tenants", with("contact_email", "secret-person-4711@localhost"), 422, "body.contact_email"},
		"EmailTwoAddresses":   {http.MethodPost, "/v1/tenants", with("contact_email", "a@example.com, secret-person-4711@example.com"), 422, "body.contact_email"},
		"CountryLowercase":    {http.MethodPost, "/v1/tenants", with("country", "nl"), 422, "body.country"},
		"CountryUnknown":      {http.MethodPost, "/v1/tenants", with("country", "XX"), 422, "body.country"},
		"CountryTooLong":      {http.MethodPost, "/v1/tenants", with("country", "NL4711"), 422, "body.country"},
		"TimezoneUnknown":     {http.MethodPost, "/v1/tenants", with("timezone", "Mars/Base4711"), 422, "body.timezone"},
		"TimezoneLocal":       {http.MethodPost, "/v1/tenants", with("timezone", "Local"), 422, "body.timezone"},
		"UnknownField":        {http.MethodPost, "/v1/tenants", with("nickname", "Jan Jansen 4711"), 422, "body.nickname"},
		"WrongType":           {http.MethodPost, "/v1/tenants", with("name", 4711), 422, "body.name"},
		"WrongTypeObject":     {http.MethodPost, "/v1/tenants", with("contact_email", map[string]any{"secret": "4711"}), 422, "body.contact_email"},
		"BodyIsArray":         {http.MethodPost, "/v1/tenants", `["Jan Jansen 4711"]`, 422, ""},
		"MalformedJSON":       {http.MethodPost, "/v1/tenants", `{"name": "Jan Jansen 4711", "country":`, 400, ""},
		"NotJSON":             {http.MethodPost, "/v1/tenants", `name=Jan+Jansen+4711`, 400, ""},
		"EmptyBody":           {http.MethodPost, "/v1/tenants", ``, 400, ""},
		"Oversized":           {http.MethodPost, "/v1/tenants", huge, 413, ""},

		"TerminateBadDate":        {http.MethodPost, terminate, map[string]any{"contract_end": "2026-02-30T4711", "reason": "other"}, 422, "body.contract_end"},
		"TerminateImpossibleDate": {http.MethodPost, terminate, map[string]any{"contract_end": "4711-02-30", "reason": "other"}, 422, "body.contract_end"},
		"TerminateDateWrongType":  {http.MethodPost, terminate, map[string]any{"contract_end": 4711, "reason": "other"}, 422, "body.contract_end"},
		"TerminateBeforeCreation": {http.MethodPost, terminate, map[string]any{"contract_end": "2020-01-01", "reason": "other"}, 422, "body.contract_end"},
		"TerminateTooFarAhead":    {http.MethodPost, terminate, map[string]any{"contract_end": "4711-01-01", "reason": "other"}, 422, "body.contract_end"},
		"TerminateUnknownReason":  {http.MethodPost, terminate, map[string]any{"contract_end": "2026-12-31", "reason": "fired_4711"}, 422, "body.reason"},
		"TerminateMissingReason":  {http.MethodPost, terminate, map[string]any{"contract_end": "2026-12-31"}, 422, "body.reason"},
		"TerminateMissingEnd":     {http.MethodPost, terminate, map[string]any{"reason": "other"}, 422, "body.contract_end"},
		"TerminateUnknownField":   {http.MethodPost, terminate, map[string]any{"contract_end": "2026-12-31", "reason": "other", "note": "Jan Jansen 4711"}, 422, "body.note"},
		"TerminateOversized":      {http.MethodPost, terminate, `{"reason":"other","contract_end":"2026-12-31","x":"` + strings.Repeat("4711", 1100) + `"}`, 413, ""},

		"ListLimitZero":      {http.MethodGet, "/v1/tenants?limit=0", nil, 422, "query.limit"},
		"ListLimitTooLarge":  {http.MethodGet, "/v1/tenants?limit=4711", nil, 422, "query.limit"},
		"ListLimitNegative":  {http.MethodGet, "/v1/tenants?limit=-4711", nil, 422, "query.limit"},
		"ListLimitNotNumber": {http.MethodGet, "/v1/tenants?limit=x4711", nil, 422, "query.limit"},
		"ListBadCursor":      {http.MethodGet, "/v1/tenants?cursor=4711", nil, 422, "query.cursor"},
		"ListForeignCursor":  {http.MethodGet, "/v1/tenants?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("key_4711")), nil, 422, "query.cursor"},
		"ListCursorTooLong":  {http.MethodGet, "/v1/tenants?cursor=" + strings.Repeat("4711", 51), nil, 422, "query.cursor"},
		"ListUnknownStatus":  {http.MethodGet, "/v1/tenants?status=fired4711", nil, 422, "query.status"},
		"GetTenantIDTooLong": {http.MethodGet, "/v1/tenants/tnt_" + strings.Repeat("4711", 20), nil, 422, "path.tenant_id"},
		"TerminateIDTooLong": {http.MethodPost, "/v1/tenants/tnt_" + strings.Repeat("4711", 20) + "/termination", map[string]any{"contract_end": "2026-12-31", "reason": "other"}, 422, "path.tenant_id"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := strings.ReplaceAll(tt.path, "{A}", b.tenantA.ID)
			// A fixed request id, so that no random one can contain "4711".
			res := b.do(t, tt.method, path, b.admin(t), tt.body, "X-Request-Id", "bad-input-test")

			require.GreaterOrEqual(t, res.status, 400, res.raw)
			require.Less(t, res.status, 500, res.raw)
			prob := res.problem(t)
			require.Equal(t, res.status, prob.Status)
			require.Equal(t, "urn:verwerker:request:bad-input-test", prob.Instance)
			require.NotEmpty(t, prob.Code)
			requireNoLeak(t, res.raw)

			var locs []string
			for _, e := range prob.Errors {
				locs = append(locs, e.Location)
			}
			require.Equal(t, tt.wantStatus, res.status, res.raw)
			require.NotContains(t, res.raw, "4711", "the submitted value must not be echoed")
			if tt.wantLocation != "" {
				require.Contains(t, locs, tt.wantLocation, res.raw)
			}
		})
	}

	// Cleanups of the parent run after its parallel subtests have finished.
	t.Cleanup(func() {
		var n int
		require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM tenants`).Scan(&n))
		require.Equal(t, 2, n, "bad input created no tenant")
		tn, err := b.tenants.Get(context.Background(), b.tenantA.ID)
		require.NoError(t, err)
		require.Equal(t, tenant.StatusActive, tn.Status, "bad input terminated nothing")
	})
}

// TestAuthorization checks who may do what, in which tenant.
func TestAuthorization(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A, B := b.tenantA.ID, b.tenantB.ID
	P := verwerker.PlatformDomain
	missing := verwerker.NewID(verwerker.PrefixTenant, b.clock.Now())
	term := map[string]any{"contract_end": "2026-12-31", "reason": "other"}
	// A body the validator refuses: a caller allowed to terminate gets 422,
	// so no tenant is terminated by this test.
	badTerm := map[string]any{"contract_end": "2026-12-31", "reason": "not-a-reason"}

	type testCase struct {
		role, domain string
		method, path string
		body         any
		wantStatus   int
	}
	cases := map[string]testCase{
		"ControllerAdminGetsOwnTenant":        {policy.RoleControllerAdmin, A, http.MethodGet, "/v1/tenants/" + A, nil, 200},
		"ControllerViewerGetsOwnTenant":       {policy.RoleControllerViewer, A, http.MethodGet, "/v1/tenants/" + A, nil, 200},
		"AuditorGetsOwnTenant":                {policy.RoleAuditor, A, http.MethodGet, "/v1/tenants/" + A, nil, 200},
		"ControllerAdminOtherTenantIsHidden":  {policy.RoleControllerAdmin, A, http.MethodGet, "/v1/tenants/" + B, nil, 404},
		"ControllerAdminMissingTenant":        {policy.RoleControllerAdmin, A, http.MethodGet, "/v1/tenants/" + missing, nil, 404},
		"ControllerAdminCannotCreate":         {policy.RoleControllerAdmin, A, http.MethodPost, "/v1/tenants", validTenant("Should Not Exist"), 403},
		"ControllerAdminCannotList":           {policy.RoleControllerAdmin, A, http.MethodGet, "/v1/tenants", nil, 403},
		"ControllerAdminCannotTerminateOwn":   {policy.RoleControllerAdmin, A, http.MethodPost, "/v1/tenants/" + A + "/termination", term, 403},
		"ControllerAdminCannotTerminateOther": {policy.RoleControllerAdmin, A, http.MethodPost, "/v1/tenants/" + B + "/termination", term, 404},
		"ControllerViewerOtherTenantIsHidden": {policy.RoleControllerViewer, B, http.MethodGet, "/v1/tenants/" + A, nil, 404},
		"ChatServiceOtherTenant":              {policy.RoleChatService, A, http.MethodGet, "/v1/tenants/" + B, nil, 404},
		"ChatServiceCannotList":               {policy.RoleChatService, A, http.MethodGet, "/v1/tenants", nil, 403},
		"PlatformAdminGetsAnyTenant":          {policy.RolePlatformAdmin, P, http.MethodGet, "/v1/tenants/" + B, nil, 200},
		"PlatformAdminMayTerminate":           {policy.RolePlatformAdmin, P, http.MethodPost, "/v1/tenants/" + A + "/termination", badTerm, 422},
		"DPOGetsAnyTenant":                    {policy.RoleDPO, P, http.MethodGet, "/v1/tenants/" + A, nil, 200},
		"DPOLists":                            {policy.RoleDPO, P, http.MethodGet, "/v1/tenants", nil, 200},
		"DPOCannotCreate":                     {policy.RoleDPO, P, http.MethodPost, "/v1/tenants", validTenant("Should Not Exist"), 403},
		"DPOCannotTerminate":                  {policy.RoleDPO, P, http.MethodPost, "/v1/tenants/" + A + "/termination", term, 403},
		"SupportLists":                        {policy.RoleSupport, P, http.MethodGet, "/v1/tenants", nil, 200},
		"SupportCannotCreate":                 {policy.RoleSupport, P, http.MethodPost, "/v1/tenants", validTenant("Should Not Exist"), 403},
		"SupportCannotTerminate":              {policy.RoleSupport, P, http.MethodPost, "/v1/tenants/" + B + "/termination", term, 403},
	}
	for name, tt := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := b.do(t, tt.method, tt.path, b.token(t, tt.role, tt.domain), tt.body)
			require.Equal(t, tt.wantStatus, res.status, res.raw)
			if tt.wantStatus >= 400 {
				prob := res.problem(t)
				require.Equal(t, tt.wantStatus, prob.Status)
				require.Empty(t, res.header.Get("WWW-Authenticate"))
			}
			if tt.wantStatus == http.StatusOK && tt.method == http.MethodGet && strings.HasPrefix(tt.path, "/v1/tenants/") {
				require.Equal(t, strings.TrimPrefix(tt.path, "/v1/tenants/"), res.json["id"])
			}
		})
	}

	// A role without tenant:read in its own tenant. Grants gives
	// chat_service no permission on tenants at all.
	t.Run("ChatServiceOwnTenant", func(t *testing.T) {
		t.Parallel()
		require.NotContains(t, policy.Grants[policy.RoleChatService], policy.PermTenantRead)
		res := b.do(t, http.MethodGet, "/v1/tenants/"+A, b.token(t, policy.RoleChatService, A), nil)
		require.Equal(t, http.StatusForbidden, res.status, res.raw)
		require.Equal(t, verwerker.EFORBIDDEN, res.problem(t).Code)
	})

	// The same for a person holding that role in A, whose credential names
	// no tenant, by session and by personal key: a role in a tenant makes
	// it known, so a missing permission there is a 403, not a 404.
	t.Run("PersonWithoutTenantReadInOwnTenant", func(t *testing.T) {
		t.Parallel()
		p := b.sessionOf(t, policy.RoleChatService, A)
		exp := b.clock.Now().Add(24 * time.Hour).Format(time.RFC3339Nano)
		res := send(t, b.http, http.MethodPost, "/v1/me/api-keys", call{cookie: p.cookie, body: map[string]any{"label": "scripts", "expires_at": exp}})
		require.Equal(t, http.StatusCreated, res.status, res.raw)
		for name, c := range map[string]call{"Session": {cookie: p.cookie}, "PersonalKey": {token: res.json["token"].(string)}} {
			res := send(t, b.http, http.MethodGet, "/v1/tenants/"+A, c)
			require.Equal(t, http.StatusForbidden, res.status, "%s: %s", name, res.raw)
			require.Equal(t, verwerker.EFORBIDDEN, res.problem(t).Code, name)
			res = send(t, b.http, http.MethodGet, "/v1/tenants/"+B, c)
			require.Equal(t, http.StatusNotFound, res.status, "%s: another tenant stays hidden: %s", name, res.raw)
		}
	})

	// Another tenant looks exactly like one that does not exist.
	t.Run("HiddenTenantIndistinguishable", func(t *testing.T) {
		t.Parallel()
		tok := b.token(t, policy.RoleControllerAdmin, A)
		other := b.do(t, http.MethodGet, "/v1/tenants/"+B, tok, nil, "X-Request-Id", "hidden-tenant-test")
		none := b.do(t, http.MethodGet, "/v1/tenants/"+missing, tok, nil, "X-Request-Id", "hidden-tenant-test")
		require.Equal(t, http.StatusNotFound, other.status)
		require.Equal(t, none.status, other.status)
		require.Equal(t, none.raw, other.raw)
		require.Equal(t, none.header.Get("Content-Type"), other.header.Get("Content-Type"))
		require.NotContains(t, other.raw, B)

		// The same shape (keys) as a platform caller's answer for a missing
		// tenant.
		adm := b.do(t, http.MethodGet, "/v1/tenants/"+missing, b.admin(t), nil)
		require.Equal(t, http.StatusNotFound, adm.status)
		require.Equal(t, keys(adm.json), keys(other.json))
		require.Equal(t, adm.json["code"], other.json["code"])
		require.Equal(t, adm.json["title"], other.json["title"])
	})

	// Nothing above may create or terminate a tenant. Cleanups of the parent
	// run after its parallel subtests have finished.
	t.Cleanup(func() {
		var n, active int
		require.NoError(t, b.db.Pool.QueryRow(context.Background(),
			`SELECT count(*), count(*) FILTER (WHERE status = 'active') FROM tenants`).Scan(&n, &active))
		require.Equal(t, 2, n)
		require.Equal(t, 2, active)
	})
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		if k != "instance" {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

// TestAuthentication checks that every credential problem is a 401 with a
// Bearer challenge, and that revocation and expiry take effect at once.
func TestAuthentication(t *testing.T) {
	t.Parallel()

	requireUnauthorized := func(t *testing.T, res response) {
		t.Helper()
		require.Equal(t, http.StatusUnauthorized, res.status, res.raw)
		require.Equal(t, `Bearer realm="verwerker"`, res.header.Get("WWW-Authenticate"))
		prob := res.problem(t)
		require.Equal(t, verwerker.EUNAUTHORIZED, prob.Code)
		requireNoLeak(t, res.raw)
	}

	t.Run("BadCredentials", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		good := b.admin(t)
		prefix, _, _ := strings.Cut(strings.TrimPrefix(good, "vwk_"), "_")

		type testCase struct{ authorization string }
		for name, tt := range map[string]testCase{
			"None":            {""},
			"Garbage":         {"Bearer garbage"},
			"Empty":           {"Bearer "},
			"WrongScheme":     {"Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+good))},
			"NoScheme":        {good},
			"LowercaseScheme": {"bearer " + good},
			"WrongSecret":     {"Bearer vwk_" + prefix + "_" + strings.Repeat("A", 43)},
			"UnknownPrefix":   {"Bearer vwk_000000000000_" + strings.Repeat("A", 43)},
			"Truncated":       {"Bearer " + good[:len(good)-1]},
			"Extended":        {"Bearer " + good + "A"},
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				var h []string
				if tt.authorization != "" {
					h = []string{"Authorization", tt.authorization}
				}
				requireUnauthorized(t, b.do(t, http.MethodGet, "/v1/tenants", "", nil, h...))
				requireUnauthorized(t, b.do(t, http.MethodPost, "/v1/tenants", "", validTenant("Unauthenticated"), h...))
			})
		}
	})

	t.Run("Revoked", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tok := b.token(t, policy.RoleControllerAdmin, b.tenantA.ID)
		path := "/v1/tenants/" + b.tenantA.ID

		require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, path, tok, nil).status)
		_, err := b.keys.Revoke(context.Background(), identity.KeyOwner{Domain: b.tenantA.ID}, b.keyIDs[credential{policy.RoleControllerAdmin, b.tenantA.ID}])
		require.NoError(t, err)
		requireUnauthorized(t, b.do(t, http.MethodGet, path, tok, nil))

		// Other keys are unaffected.
		require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, path, b.token(t, policy.RoleControllerViewer, b.tenantA.ID), nil).status)
	})

	t.Run("Expired", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		expires := b.clock.Now().Add(time.Hour)
		_, tok, err := b.keys.Issue(context.Background(), identity.NewKey{
			Label: "expiring support key", Role: policy.RoleSupport, Domain: verwerker.PlatformDomain, ExpiresAt: &expires,
		})
		require.NoError(t, err)

		require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/tenants", tok, nil).status)
		b.clock.Advance(time.Hour - time.Nanosecond)
		require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/tenants", tok, nil).status, "valid until expires_at")
		b.clock.Advance(time.Nanosecond)
		requireUnauthorized(t, b.do(t, http.MethodGet, "/v1/tenants", tok, nil))
		b.clock.Advance(24 * time.Hour)
		requireUnauthorized(t, b.do(t, http.MethodGet, "/v1/tenants", tok, nil))

		// Keys without expiry still work.
		require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/tenants", b.admin(t), nil).status)
	})
}

package api_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/policy"
)

// publicPage returns the path of the customer's public subprocessor page,
// as its controller reads it from the API.
func (b *testBundle) publicPage(t *testing.T, tenantID string) string {
	t.Helper()
	r := b.do(t, http.MethodGet, "/v1/tenants/"+tenantID+"/subprocessor-page", b.token(t, policy.RoleControllerViewer, tenantID), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	return r.json["page_url"].(string)
}

var slugRe = regexp.MustCompile(`^[a-z2-7]{26}$`)

// TestPublicSubprocessorPage: the public page, JSON and feed of a customer
// are addressed by an unguessable slug that the customer's controller_admin
// rotates, never by the customer's id, and never show the id; the old slug
// stops working at once.
func TestPublicSubprocessorPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	A, B := b.tenantA.ID, b.tenantB.ID
	b.activeDPA(t, A, 30, "dpo@a.example")
	get := func(path string) response { t.Helper(); return b.do(t, http.MethodGet, path, "", nil) }

	// The customer's id is no address, in the old form or the new.
	for _, path := range []string{"/public/tenants/" + A + "/subprocessors", "/public/tenants/" + A + "/subprocessors.json",
		"/public/tenants/" + A + "/subprocessors.atom", "/public/pages/" + A + "/subprocessors", "/public/pages/" + A + "/subprocessors.json",
		"/public/pages/" + A + "/subprocessors.atom", "/public/pages/" + strings.ToLower(A) + "/subprocessors"} {
		r := get(path)
		require.Equal(t, http.StatusNotFound, r.status, path)
		require.NotContains(t, r.raw, "Tenant A", path)
	}

	// Every customer role reads the address; it stays the same until
	// rotated.
	r := b.do(t, http.MethodGet, "/v1/tenants/"+A+"/subprocessor-page", b.token(t, policy.RoleAuditor, A), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	slug := r.json["slug"].(string)
	require.Regexp(t, slugRe, slug)
	require.Equal(t, "/public/pages/"+slug+"/subprocessors", r.json["page_url"])
	require.Equal(t, "/public/pages/"+slug+"/subprocessors.json", r.json["json_url"])
	require.Equal(t, "/public/pages/"+slug+"/subprocessors.atom", r.json["feed_url"])
	require.NotContains(t, r.json, "rotated_at")
	page := b.publicPage(t, A)
	require.Equal(t, r.json["page_url"], page)
	pageB := b.publicPage(t, B)
	require.NotEqual(t, page, pageB)
	// Another customer's address is hidden from B.
	r = b.do(t, http.MethodGet, "/v1/tenants/"+A+"/subprocessor-page", b.token(t, policy.RoleControllerAdmin, B), nil)
	require.Equal(t, http.StatusNotFound, r.status, r.raw)

	// The page, its JSON and its feed: the customer's name and list, never
	// its id.
	for _, suffix := range []string{"", "?lang=en", ".json", ".atom"} {
		r = get(page + suffix)
		require.Equal(t, http.StatusOK, r.status, suffix+": "+r.raw)
		require.Contains(t, r.raw, "Tenant A B.V.", suffix)
		if suffix != ".atom" { // the feed has changes only: none yet
			require.Contains(t, r.raw, "Hetzner", suffix)
		}
		require.NotContains(t, r.raw, A, suffix)
		require.NotContains(t, r.raw, "tnt_", suffix)
	}
	require.NotContains(t, get(page+".json").json, "tenant_id")
	require.Contains(t, get(page).raw, `href="`+page+`.atom"`)
	r = get(pageB + ".json")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "Tenant B GmbH", r.json["controller_name"])

	// Only the customer's controller_admin rotates the address.
	rotate := "/v1/tenants/" + A + "/subprocessor-page/rotate"
	for _, c := range []credential{{policy.RoleControllerViewer, A}, {policy.RoleAuditor, A}, {policy.RoleChatService, A},
		{policy.RolePlatformAdmin, verwerker.PlatformDomain}, {policy.RoleDPO, verwerker.PlatformDomain}} {
		r = b.do(t, http.MethodPost, rotate, b.token(t, c.role, c.domain), nil)
		require.Equal(t, http.StatusForbidden, r.status, c.role+": "+r.raw)
	}
	r = b.do(t, http.MethodPost, rotate, b.token(t, policy.RoleControllerAdmin, B), nil)
	require.Equal(t, http.StatusNotFound, r.status, r.raw)
	require.Equal(t, http.StatusOK, get(page).status, "refused rotations change nothing")

	before := countEvents(t, b, A, "subprocessor.page.rotate")
	r = b.do(t, http.MethodPost, rotate, b.token(t, policy.RoleControllerAdmin, A), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	newSlug := r.json["slug"].(string)
	require.Regexp(t, slugRe, newSlug)
	require.NotEqual(t, slug, newSlug)
	require.NotEmpty(t, r.json["rotated_at"])
	newPage := r.json["page_url"].(string)
	require.Equal(t, newPage, b.publicPage(t, A))

	// The old address is gone at once, in every form; the new one works.
	for _, suffix := range []string{"", ".json", ".atom"} {
		old := get(page + suffix)
		require.Equal(t, http.StatusNotFound, old.status, suffix+": "+old.raw)
		require.Equal(t, "application/problem+json", old.header.Get("Content-Type"))
		require.NotContains(t, old.raw, "Tenant A")
		require.Equal(t, http.StatusOK, get(newPage+suffix).status, suffix)
	}
	require.Equal(t, http.StatusOK, get(pageB).status, "B's page is untouched")

	// Audited in A's chain, without either address.
	require.Equal(t, before+1, countEvents(t, b, A, "subprocessor.page.rotate"))
	events, err := b.audit.Events(ctx, A, 0, 1000)
	require.NoError(t, err)
	for _, e := range events {
		for _, s := range []string{slug, newSlug} {
			require.NotContains(t, e.Resource, s)
			require.NotContains(t, e.Reason, s)
		}
	}
}

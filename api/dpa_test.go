package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker"
	"github.com/verwerker/verwerker/dpa"
	"github.com/verwerker/verwerker/policy"
)

// dpaScope is a valid scope with a transfer to the United States.
func dpaScope() dpa.Scope {
	return dpa.Scope{
		Categories: []dpa.CategoryScope{
			{ID: "chat.message", Retention: dpa.Retention30DaysAfterLastInteraction},
			{ID: "chat.metadata", Retention: dpa.Retention30DaysAfterLastInteraction},
		},
		Purposes:      []string{"service.delivery", "security"},
		Regions:       []string{"eea", "us"},
		Transfers:     []dpa.Transfer{{Region: "us", Basis: dpa.BasisSCCs}},
		Subprocessors: []string{"hosting-eu", "llm-us"},
		BreachContact: dpa.Contact{Name: "Privacy team", Email: "breach@a.example"},
		DPOContact:    dpa.Contact{Email: "dpo@a.example"},
	}
}

func dpaScopeJSON() map[string]any {
	return map[string]any{
		"categories": []map[string]any{
			{"id": "chat.message", "retention": "30d_after_last_interaction"},
			{"id": "chat.metadata", "retention": "30d_after_last_interaction"},
		},
		"purposes":       []string{"service.delivery", "security"},
		"regions":        []string{"eea", "us"},
		"transfers":      []map[string]any{{"region": "us", "basis": "sccs"}},
		"subprocessors":  []string{"hosting-eu", "llm-us"},
		"breach_contact": map[string]any{"name": "Privacy team", "email": "breach@a.example"},
		"dpo_contact":    map[string]any{"email": "dpo@a.example"},
	}
}

func TestDPALifecycleOverHTTP(t *testing.T) {
	t.Parallel()
	b := setup(t)
	A := b.tenantA.ID
	base := "/v1/tenants/" + A + "/dpa"
	dpo := b.token(t, policy.RoleDPO, verwerker.PlatformDomain)
	customer := b.token(t, policy.RoleControllerAdmin, A)
	viewer := b.token(t, policy.RoleControllerViewer, A)

	// Bad scope: every field is named, no value is echoed.
	bad := dpaScopeJSON()
	bad["categories"] = []map[string]any{
		{"id": "chat.message", "retention": "30d_after_last_interaction"},
		{"id": "special.health", "retention": "30d_after_last_interaction"},
		{"id": "chat.audio-secret", "retention": "30d_after_last_interaction"},
		{"id": "contact.email"},
	}
	bad["purposes"] = []string{"profiling-secret"}
	bad["regions"] = []string{"eea", "uk"}
	bad["transfers"] = []map[string]any{}
	res := b.do(t, http.MethodPost, base+"/versions", dpo, map[string]any{"scope": bad})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.raw)
	require.ElementsMatch(t, []string{"body.scope.categories[1].special", "body.scope.categories[2].id",
		"body.scope.categories[3].retention", "body.scope.purposes[0]", "body.scope.regions[1]"}, res.locations(t))
	require.NotContains(t, res.raw, "secret")

	// Draft, offer.
	res = b.do(t, http.MethodPost, base+"/versions", dpo, map[string]any{"scope": dpaScopeJSON()})
	require.Equal(t, http.StatusCreated, res.status, res.raw)
	require.EqualValues(t, 1, res.json["version"])
	require.Equal(t, "draft", res.json["status"])
	v := base + "/versions/1"
	res = b.do(t, http.MethodPost, v+"/accept", customer, map[string]any{"document_sha256": strings.Repeat("0", 64)})
	require.Equal(t, http.StatusConflict, res.status, res.raw)
	res = b.do(t, http.MethodPost, v+"/offer", dpo, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, "offered", res.json["status"])

	// The customer reads the document; its digest is what it accepts.
	res = b.do(t, http.MethodGet, v+"/document?lang=en", viewer, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, "text/html; charset=utf-8", res.header.Get("Content-Type"))
	require.Contains(t, res.raw, "Visitors&#39; chat messages")
	require.Contains(t, res.raw, "Standard contractual clauses")
	sum := sha256.Sum256([]byte(res.raw))
	hash := hex.EncodeToString(sum[:])
	require.NotEmpty(t, res.header.Get("Repr-Digest"))
	res = b.do(t, http.MethodGet, v+"/document?lang=nl", viewer, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Contains(t, res.raw, "Chatberichten van bezoekers")
	require.Contains(t, res.raw, "Metagegevens van chats")

	// Only the customer's administrator accepts, and only the offered text.
	res = b.do(t, http.MethodPost, v+"/accept", viewer, map[string]any{"document_sha256": hash})
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
	res = b.do(t, http.MethodPost, v+"/accept", dpo, map[string]any{"document_sha256": hash})
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
	res = b.do(t, http.MethodPost, v+"/accept", customer, map[string]any{"document_sha256": strings.Repeat("a", 64)})
	require.Equal(t, http.StatusConflict, res.status, res.raw)
	res = b.do(t, http.MethodPost, v+"/accept", customer, map[string]any{"document_sha256": hash})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, "accepted", res.json["status"])
	require.Equal(t, b.keyIDs[credential{policy.RoleControllerAdmin, A}], res.json["accepted_by"])
	require.Equal(t, hash, res.json["accepted_sha256"])
	require.Equal(t, "en", res.json["accepted_lang"])

	// Accepted versions do not change.
	res = b.do(t, http.MethodPut, v, dpo, map[string]any{"scope": dpaScopeJSON()})
	require.Equal(t, http.StatusConflict, res.status, res.raw)

	// The customer cannot activate; the processor does.
	res = b.do(t, http.MethodPost, v+"/activate", customer, nil)
	require.Equal(t, http.StatusForbidden, res.status, res.raw)
	res = b.do(t, http.MethodPost, v+"/activate", dpo, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, "active", res.json["status"])

	// The record of processing lists the transfer and its safeguard.
	res = b.do(t, http.MethodGet, base+"/record-of-processing", viewer, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, true, res.json["active"])
	require.Equal(t, []any{map[string]any{"region": "us", "basis": "sccs"}}, res.json["transfers"])
	require.Len(t, res.json["processing"], 2)
	res = b.do(t, http.MethodGet, base+"/record-of-processing.html?lang=en", viewer, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Contains(t, res.raw, "United States")
	require.Contains(t, res.raw, "Standard contractual clauses")

	// Support sees the list (metadata) but not the contents.
	support := b.token(t, policy.RoleSupport, verwerker.PlatformDomain)
	res = b.do(t, http.MethodGet, base+"/versions", support, nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.NotContains(t, res.raw, "breach@a.example")
	res = b.do(t, http.MethodGet, v, support, nil)
	require.Equal(t, http.StatusForbidden, res.status, res.raw)

	// Another tenant's agreement is hidden.
	other := b.token(t, policy.RoleControllerAdmin, b.tenantB.ID)
	for _, p := range []string{v, v + "/document", base + "/versions", base + "/record-of-processing"} {
		res = b.do(t, http.MethodGet, p, other, nil)
		require.Equal(t, http.StatusNotFound, res.status, "%s: %s", p, res.raw)
	}
	res = b.do(t, http.MethodPost, v+"/accept", other, map[string]any{"document_sha256": hash})
	require.Equal(t, http.StatusNotFound, res.status, res.raw)
	// A version that does not exist is a 404 too.
	res = b.do(t, http.MethodGet, base+"/versions/7", viewer, nil)
	require.Equal(t, http.StatusNotFound, res.status, res.raw)

	// Every change is in tenant A's audit chain.
	res = b.do(t, http.MethodGet, fmt.Sprintf("/v1/tenants/%s/audit/events?limit=100", A), b.admin(t), nil)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	var actions []string
	for _, e := range res.json["items"].([]any) {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	for _, a := range []string{"dpa.create", "dpa.offer", "dpa.accept", "dpa.activate"} {
		require.Contains(t, actions, a)
	}
	require.NotContains(t, res.raw, "breach@a.example")
}

// TestDraftsAreTheProcessors: a draft is the processor's work in progress;
// the customer's roles see versions from the offer on.
func TestDraftsAreTheProcessors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	A := b.tenantA.ID
	v, err := b.dpa.Create(ctx, A, dpaScope())
	require.NoError(t, err)
	path := "/v1/tenants/" + A + "/dpa/versions"
	number := strconv.Itoa(v.Number)
	for _, role := range []string{"controller_admin", "controller_viewer", "auditor"} {
		tok := b.token(t, role, A)
		r := b.do(t, http.MethodGet, path, tok, nil)
		require.Equal(t, http.StatusOK, r.status, r.raw)
		require.Empty(t, r.json["items"], role)
		require.Equal(t, http.StatusNotFound, b.do(t, http.MethodGet, path+"/"+number, tok, nil).status, role)
		require.Equal(t, http.StatusNotFound, b.do(t, http.MethodGet, path+"/"+number+"/document?lang=en", tok, nil).status, role)
	}
	r := b.do(t, http.MethodGet, path+"/"+number, b.token(t, "dpo", verwerker.PlatformDomain), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)

	_, err = b.dpa.Offer(ctx, A, v.Number)
	require.NoError(t, err)
	r = b.do(t, http.MethodGet, path+"/"+number+"/document?lang=en", b.token(t, "controller_admin", A), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	r = b.do(t, http.MethodGet, path, b.token(t, "controller_viewer", A), nil)
	require.Len(t, r.json["items"], 1)
}

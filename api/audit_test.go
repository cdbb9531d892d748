package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAuditVerification(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	path := "/v1/tenants/" + b.tenantA.ID + "/audit/verification"

	// The tenant's creation is on its chain, in the same transaction.
	r := b.do(t, http.MethodGet, path, b.token(t, "controller_admin", b.tenantA.ID), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, true, r.json["ok"])
	require.EqualValues(t, 1, r.json["events"])

	// A denial is audited on the platform chain, and terminating is audited
	// on the tenant's chain.
	r = b.do(t, http.MethodPost, "/v1/tenants", b.token(t, "controller_admin", b.tenantA.ID), map[string]any{"name": "Nope", "country": "NL", "contact_email": "a@b.example"})
	require.Equal(t, http.StatusForbidden, r.status)
	platform, err := b.audit.Verify(ctx, "platform")
	require.NoError(t, err)
	require.True(t, platform.OK)
	require.EqualValues(t, 1, platform.Events)

	r = b.do(t, http.MethodPost, "/v1/tenants/"+b.tenantA.ID+"/termination", b.admin(t),
		map[string]any{"contract_end": "2026-12-31", "reason": "customer_notice"})
	require.Equal(t, http.StatusOK, r.status, r.raw)
	r = b.do(t, http.MethodGet, path, b.token(t, "auditor", b.tenantA.ID), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.EqualValues(t, 2, r.json["events"])
	require.Len(t, r.json["head_hash"], 64)

	// Tampering (as a superuser bypassing the guard) is reported at the event.
	conn, err := b.db.Pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, `SET session_replication_role = replica`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `UPDATE audit_events SET actor = 'key_SOMEONE_ELSE' WHERE chain = $1 AND seq = 1`, b.tenantA.ID)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `RESET session_replication_role`)
	require.NoError(t, err)
	r = b.do(t, http.MethodGet, path, b.token(t, "dpo", "platform"), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, false, r.json["ok"])
	require.EqualValues(t, 1, r.json["first_bad"])

	// Another tenant's auditor learns nothing.
	r = b.do(t, http.MethodGet, path, b.token(t, "auditor", b.tenantB.ID), nil)
	require.Equal(t, http.StatusNotFound, r.status)
}

// TestAuditExportVerifiesWithoutVerwerker checks the documented procedure:
// SHA-256 over prev_hash bytes and canonical, linked event to event.
func TestAuditExportVerifiesWithoutVerwerker(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.do(t, http.MethodPost, "/v1/tenants/"+b.tenantA.ID+"/termination", b.admin(t),
		map[string]any{"contract_end": "2026-12-31", "reason": "customer_notice"})
	require.Equal(t, http.StatusOK, r.status, r.raw)

	r = b.do(t, http.MethodGet, "/v1/tenants/"+b.tenantA.ID+"/audit/events?limit=1000", b.token(t, "auditor", b.tenantA.ID), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	items := r.json["items"].([]any)
	require.Len(t, items, 2)
	prev := strings.Repeat("0", 64)
	for _, it := range items {
		e := it.(map[string]any)
		require.Equal(t, prev, e["prev_hash"])
		pb, err := hex.DecodeString(e["prev_hash"].(string))
		require.NoError(t, err)
		sum := sha256.Sum256(append(pb, []byte(e["canonical"].(string))...))
		require.Equal(t, hex.EncodeToString(sum[:]), e["hash"])
		// The canonical form is the sorted-key JSON of the listed fields.
		var c map[string]any
		require.NoError(t, json.Unmarshal([]byte(e["canonical"].(string)), &c))
		for _, k := range []string{"action", "actor", "at", "chain", "id", "outcome", "reason", "resource", "seq"} {
			require.Equal(t, e[k], c[k], k)
		}
		prev = e["hash"].(string)
	}
	r = b.do(t, http.MethodGet, "/v1/tenants/"+b.tenantA.ID+"/audit/events", b.token(t, "controller_viewer", b.tenantA.ID), nil)
	require.Equal(t, http.StatusForbidden, r.status)
}

// TestAuditVerificationInBackground: a tenant starts a verification of its
// own chain and reads its progress and result; another tenant gets 404;
// the platform's verification covers every chain.
func TestAuditVerificationInBackground(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	base := "/v1/tenants/" + b.tenantA.ID + "/audit/verifications"
	r := b.do(t, http.MethodPost, base, b.token(t, "auditor", b.tenantA.ID), nil)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, "queued", r.json["state"])
	require.Equal(t, b.tenantA.ID, r.json["scope"])
	id := r.json["id"].(string)
	again := b.do(t, http.MethodPost, base, b.token(t, "controller_admin", b.tenantA.ID), nil)
	require.Equal(t, id, again.json["id"], "one at a time")

	// The job's work (no River worker runs in these tests).
	require.NoError(t, b.audit.RunVerification(ctx, id))
	r = b.do(t, http.MethodGet, base+"/"+id, b.token(t, "auditor", b.tenantA.ID), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "passed", r.json["state"])
	chains := r.json["chains"].([]any)
	require.Len(t, chains, 1)
	c := chains[0].(map[string]any)
	require.Equal(t, b.tenantA.ID, c["chain"])
	require.Equal(t, c["total"], c["verified"])
	require.EqualValues(t, 1, r.json["events_total"])

	// Another tenant learns nothing, through its own path or A's.
	r = b.do(t, http.MethodGet, "/v1/tenants/"+b.tenantB.ID+"/audit/verifications/"+id, b.token(t, "auditor", b.tenantB.ID), nil)
	require.Equal(t, http.StatusNotFound, r.status)
	r = b.do(t, http.MethodGet, base+"/"+id, b.token(t, "auditor", b.tenantB.ID), nil)
	require.Equal(t, http.StatusNotFound, r.status)
	r = b.do(t, http.MethodPost, "/v1/audit/verifications", b.token(t, "auditor", b.tenantA.ID), nil)
	require.Equal(t, http.StatusForbidden, r.status)

	// The platform's covers every chain.
	r = b.do(t, http.MethodPost, "/v1/audit/verifications", b.token(t, "dpo", "platform"), nil)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	pid := r.json["id"].(string)
	require.NoError(t, b.audit.RunVerification(ctx, pid))
	r = b.do(t, http.MethodGet, "/v1/audit/verifications/"+pid, b.token(t, "dpo", "platform"), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "passed", r.json["state"])
	require.GreaterOrEqual(t, len(r.json["chains"].([]any)), 3)
	r = b.do(t, http.MethodGet, "/v1/audit/verifications/"+id, b.token(t, "dpo", "platform"), nil)
	require.Equal(t, http.StatusNotFound, r.status, "a tenant's verification is not the platform's")
}

package api_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/verwerker/verwerker/audit"
	vwkeys "github.com/verwerker/verwerker/keys"
)

// signing makes the test server's audit log trust a new local key and
// returns a checkpointer that signs with it.
func signing(t *testing.T, b *testBundle) (*vwkeys.LocalSigner, *audit.Checkpointer) {
	t.Helper()
	signer, err := vwkeys.GenerateLocalSigner()
	require.NoError(t, err)
	ks, err := vwkeys.NewKeySet(vwkeys.PublicKeyOf(signer))
	require.NoError(t, err)
	b.audit.SetKeys(ks)
	return signer, audit.NewCheckpointer(b.db, b.clock, signer)
}

func TestAuditCheckpoints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	signer, cp := signing(t, b)
	A := b.tenantA.ID
	auditorA := b.token(t, "auditor", A)

	r := b.do(t, http.MethodGet, "/v1/tenants/"+A+"/audit/checkpoints", auditorA, nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Empty(t, r.json["items"], "nothing signed yet")

	b.clock.Advance(time.Hour)
	n, err := cp.Checkpoint(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 2, "both tenants' chains")

	r = b.do(t, http.MethodGet, "/v1/tenants/"+A+"/audit/checkpoints", auditorA, nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	items := r.json["items"].([]any)
	require.Len(t, items, 1)
	c := items[0].(map[string]any)
	require.Equal(t, A, c["chain"])
	require.EqualValues(t, 1, c["seq"])
	require.Equal(t, testStart.Add(time.Hour+2*time.Millisecond).Format("2006-01-02T15:04:05.000000Z"), c["signed_at"])
	require.Equal(t, signer.KeyID(), c["key_id"])
	require.Equal(t, fmt.Sprintf("verwerker-audit-checkpoint/v1\nchain=%s\nseq=1\nhash=%s\nsigned_at=%s\n", A, c["hash"], c["signed_at"]), c["message"])

	events := b.do(t, http.MethodGet, "/v1/tenants/"+A+"/audit/events", auditorA, nil)
	require.Equal(t, http.StatusOK, events.status, events.raw)
	require.Equal(t, events.json["items"].([]any)[0].(map[string]any)["hash"], c["hash"])

	// The public signing keys, without credentials.
	r = b.do(t, http.MethodGet, "/v1/audit/signing-keys", "", nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	ks := r.json["items"].([]any)
	require.Len(t, ks, 1)
	k := ks[0].(map[string]any)
	require.Equal(t, signer.KeyID(), k["key_id"])
	require.Equal(t, "Ed25519", k["algorithm"])
	raw, err := base64.StdEncoding.DecodeString(k["public_key"].(string))
	require.NoError(t, err)
	require.Equal(t, []byte(signer.PublicKey()), raw)
	block, _ := pem.Decode([]byte(k["public_key_pem"].(string)))
	require.NotNil(t, block)
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	require.NoError(t, err)
	require.Equal(t, signer.PublicKey(), pub)

	// The checkpoint verifies with nothing but SHA-256 and Ed25519: the key
	// id is derived from the key, and the signature covers the message.
	sum := sha256.Sum256(raw)
	require.Equal(t, "ed25519:"+hex.EncodeToString(sum[:8]), k["key_id"])
	sig, err := base64.StdEncoding.DecodeString(c["signature"].(string))
	require.NoError(t, err)
	require.True(t, ed25519.Verify(raw, []byte(c["message"].(string)), sig))

	// Tenant B sees only its own checkpoints, and none of tenant A's.
	r = b.do(t, http.MethodGet, "/v1/tenants/"+b.tenantB.ID+"/audit/checkpoints", b.token(t, "auditor", b.tenantB.ID), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	for _, it := range r.json["items"].([]any) {
		require.Equal(t, b.tenantB.ID, it.(map[string]any)["chain"])
	}
	for _, tc := range []struct {
		role, domain string
		status       int
	}{
		{"auditor", b.tenantB.ID, http.StatusNotFound},
		{"controller_admin", b.tenantB.ID, http.StatusNotFound},
		{"controller_admin", A, http.StatusOK},
		{"controller_viewer", A, http.StatusForbidden},
		{"chat_service", A, http.StatusForbidden},
		{"dpo", "platform", http.StatusOK},
	} {
		r = b.do(t, http.MethodGet, "/v1/tenants/"+A+"/audit/checkpoints", b.token(t, tc.role, tc.domain), nil)
		require.Equal(t, tc.status, r.status, "%s@%s: %s", tc.role, tc.domain, r.raw)
		if tc.status == http.StatusNotFound {
			require.NotContains(t, r.raw, A)
		}
	}
	r = b.do(t, http.MethodGet, "/v1/tenants/"+A+"/audit/checkpoints", "", nil)
	require.Equal(t, http.StatusUnauthorized, r.status)

	// Paging.
	r = b.do(t, http.MethodGet, "/v1/tenants/"+A+"/audit/checkpoints?after_seq=1", auditorA, nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Empty(t, r.json["items"])
}

func TestAuditVerificationChecksCheckpoints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, cp := signing(t, b)
	A := b.tenantA.ID
	path := "/v1/tenants/" + A + "/audit/verification"

	r := b.do(t, http.MethodPost, "/v1/tenants/"+A+"/termination", b.admin(t),
		map[string]any{"contract_end": "2026-12-31", "reason": "customer_notice"})
	require.Equal(t, http.StatusOK, r.status, r.raw)
	b.clock.Advance(time.Hour)
	_, err := cp.Checkpoint(ctx)
	require.NoError(t, err)

	r = b.do(t, http.MethodGet, path, b.token(t, "auditor", A), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, true, r.json["ok"], r.raw)
	require.EqualValues(t, 1, r.json["checkpoints"])
	require.EqualValues(t, 2, r.json["last_checkpoint_seq"])
	require.Equal(t, testStart.Add(time.Hour+2*time.Millisecond).Format("2006-01-02T15:04:05.000000Z"), r.json["last_checkpoint_at"])

	// A superuser rewrites the first event and recomputes every hash and the
	// head: the chain alone looks fine, the checkpoint does not.
	events, err := b.audit.Events(ctx, A, 0, 100)
	require.NoError(t, err)
	require.Len(t, events, 2)
	conn, err := b.db.Pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, `SET session_replication_role = replica`)
	require.NoError(t, err)
	prev := audit.Genesis
	for i, e := range events {
		if i == 0 {
			e.Actor = "key_SOMEONE_ELSE"
		}
		e.PrevHash, e.Hash = prev, audit.ComputeHash(prev, e.Canonical())
		_, err = conn.Exec(ctx, `UPDATE audit_events SET actor = $3, prev_hash = $4, hash = $5 WHERE chain = $1 AND seq = $2`,
			e.Chain, e.Seq, e.Actor, e.PrevHash, e.Hash)
		require.NoError(t, err)
		prev = e.Hash
	}
	_, err = conn.Exec(ctx, `UPDATE audit_heads SET hash = $2 WHERE chain = $1`, A, prev)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `RESET session_replication_role`)
	require.NoError(t, err)

	r = b.do(t, http.MethodGet, path, b.token(t, "controller_admin", A), nil)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, false, r.json["ok"], r.raw)
	require.EqualValues(t, 2, r.json["first_bad"], r.raw)
	require.EqualValues(t, 2, r.json["bad_checkpoint"], r.raw)
	require.EqualValues(t, 0, r.json["last_checkpoint_seq"], r.raw)
	require.True(t, strings.Contains(r.json["problem"].(string), "events 1 to 2 were changed"), r.raw)
}

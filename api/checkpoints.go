package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/keys"
	"github.com/verwerker/verwerker/policy"
)

// AuditCheckpoint is a signed checkpoint of an audit chain: the platform's
// signature over the hash of the chain's head at a moment.
type AuditCheckpoint struct {
	Chain     string `json:"chain" doc:"The tenant id whose chain was signed."`
	Seq       int64  `json:"seq" doc:"Sequence number of the event signed: the chain's head when it was signed."`
	Hash      string `json:"hash" doc:"Hex SHA-256 of that event. It must equal the hash of event seq in the exported chain."`
	SignedAt  string `json:"signed_at" doc:"When it was signed: RFC 3339 UTC with exactly six fractional digits, as signed."`
	KeyID     string `json:"key_id" doc:"The signing key, listed at /v1/audit/signing-keys."`
	Signature string `json:"signature" doc:"Ed25519 signature of message (64 bytes), standard base64."`
	Message   string `json:"message" doc:"The exact bytes signed, five lines each ending in a line feed: verwerker-audit-checkpoint/v1, chain=<chain>, seq=<seq>, hash=<hash>, signed_at=<signed_at>. Rebuild it from the other fields rather than trusting it."`
}

type auditCheckpointsInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	AfterSeq int64  `query:"after_seq" minimum:"0" doc:"Return checkpoints of events after this sequence number."`
	Limit    int    `query:"limit" minimum:"1" maximum:"1000" default:"500" doc:"Page size."`
}

type auditCheckpointsOutput struct {
	Body struct {
		Items []AuditCheckpoint `json:"items" nullable:"false"`
	}
}

// SigningKey is a public key that audit checkpoints are signed with.
type SigningKey struct {
	KeyID        string `json:"key_id" example:"ed25519:3f9c0a1b2c3d4e5f" doc:"The id checkpoints name in key_id."`
	Algorithm    string `json:"algorithm" enum:"Ed25519" doc:"Signature algorithm: pure Ed25519 (RFC 8032) over the whole message."`
	PublicKey    string `json:"public_key" doc:"The 32-byte Ed25519 public key, standard base64."`
	PublicKeyPEM string `json:"public_key_pem" doc:"The same key as a PEM SubjectPublicKeyInfo block (BEGIN PUBLIC KEY), as openssl reads it."`
}

type signingKeysOutput struct {
	Body struct {
		Items []SigningKey `json:"items" nullable:"false"`
	}
}

func checkpointOut(c audit.Checkpoint) AuditCheckpoint {
	return AuditCheckpoint{Chain: c.Chain, Seq: c.Seq, Hash: hex.EncodeToString(c.Hash),
		SignedAt: c.SignedAt.UTC().Format("2006-01-02T15:04:05.000000Z"), KeyID: c.KeyID,
		Signature: base64.StdEncoding.EncodeToString(c.Signature), Message: string(c.Message())}
}

func (s *Server) registerCheckpoints() {
	register(s, huma.Operation{
		OperationID: "listAuditCheckpoints",
		Method:      http.MethodGet,
		Path:        "/v1/tenants/{tenant_id}/audit/checkpoints",
		Summary:     "List a tenant's signed audit checkpoints",
		Description: "Returns the signed checkpoints of the tenant's audit chain in order. Each is an Ed25519 signature, by a key listed at /v1/audit/signing-keys, over a five-line message naming the chain, an event's sequence number, that event's hash and the signing time. Since each event's hash covers every earlier event, a checkpoint vouches for the chain up to its event: check the signature, then check that event seq of the exported chain has the signed hash. Keep the checkpoints you fetch: a later export must still contain them. Page with after_seq.",
		Tags:        []string{"Audit"},
	}, policy.PermAuditRead, tenantScope, func(ctx context.Context, in *auditCheckpointsInput) (*auditCheckpointsOutput, error) {
		if err := s.requireTenant(ctx, in.TenantID); err != nil {
			return nil, err
		}
		cps, err := s.deps.Audit.Checkpoints(ctx, in.TenantID, in.AfterSeq, in.Limit)
		if err != nil {
			return nil, err
		}
		out := &auditCheckpointsOutput{}
		out.Body.Items = make([]AuditCheckpoint, 0, len(cps))
		for _, c := range cps {
			out.Body.Items = append(out.Body.Items, checkpointOut(c))
		}
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "listAuditSigningKeys",
		Method:      http.MethodGet,
		Path:        "/v1/audit/signing-keys",
		Summary:     "List the audit signing keys",
		Description: "Returns the public keys audit checkpoints are signed with, by key id: every key verification trusts, including earlier keys after a rotation. Public keys are not secret. For a local key the id is ed25519: followed by the first 16 hex digits of the SHA-256 of the 32 key bytes. Keep the keys you fetch with the checkpoints: a key that later changes under the same id is a sign of tampering.",
		Tags:        []string{"Audit"},
	}, Public, platformScope, func(ctx context.Context, _ *struct{}) (*signingKeysOutput, error) {
		out := &signingKeysOutput{}
		out.Body.Items = []SigningKey{}
		if s.deps.Audit == nil {
			return out, nil
		}
		for _, k := range s.deps.Audit.Keys().Keys() {
			out.Body.Items = append(out.Body.Items, SigningKey{KeyID: k.ID, Algorithm: keys.AlgorithmEd25519,
				PublicKey: base64.StdEncoding.EncodeToString(k.Key), PublicKeyPEM: k.PEM()})
		}
		return out, nil
	})
}

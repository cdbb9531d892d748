package api

import (
	"context"
	"encoding/hex"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker/policy"
)

// AuditReport is the result of verifying a tenant's audit chain.
type AuditReport struct {
	Chain    string `json:"chain" doc:"The tenant id whose chain was verified."`
	Events   int64  `json:"events" doc:"Events read."`
	HeadSeq  int64  `json:"head_seq" doc:"Sequence number of the last verified event."`
	HeadHash string `json:"head_hash" doc:"Hex SHA-256 of the last verified event (all zeros for an empty chain)."`
	OK       bool   `json:"ok" doc:"True when every event links to its predecessor and hashes to its stored hash."`
	FirstBad int64  `json:"first_bad,omitempty" doc:"Sequence number of the first event that does not verify."`
	Problem  string `json:"problem,omitempty" doc:"What is wrong with first_bad or bad_checkpoint."`

	Checkpoints       int    `json:"checkpoints" doc:"Signed checkpoints of the chain."`
	LastCheckpointSeq int64  `json:"last_checkpoint_seq" doc:"Event of the last checkpoint that verified: the chain up to it is exactly as it was signed. 0 when none."`
	LastCheckpointAt  string `json:"last_checkpoint_at,omitempty" doc:"When that checkpoint was signed, RFC 3339 UTC."`
	BadCheckpoint     int64  `json:"bad_checkpoint,omitempty" doc:"Event of the first checkpoint that does not verify: its signature is wrong or by an unknown key, or the chain no longer holds the hash it signed."`
}

// AuditEvent is one event of an audit chain, as exported for independent
// verification.
type AuditEvent struct {
	Chain     string `json:"chain"`
	Seq       int64  `json:"seq"`
	ID        string `json:"id"`
	At        string `json:"at" doc:"RFC 3339 UTC with exactly six fractional digits, as hashed."`
	Actor     string `json:"actor" doc:"Pseudonymous principal id, or system."`
	Action    string `json:"action"`
	Resource  string `json:"resource"`
	Outcome   string `json:"outcome" enum:"success,denied,failure"`
	Reason    string `json:"reason"`
	PrevHash  string `json:"prev_hash" doc:"Hex SHA-256 of the previous event (64 zeros for the first)."`
	Hash      string `json:"hash" doc:"Hex SHA-256 over the bytes of prev_hash followed by canonical."`
	Canonical string `json:"canonical" doc:"The exact bytes hashed: the JSON object of action, actor, at, chain, id, outcome, reason, resource and seq with sorted keys and no whitespace."`
}

type auditEventsInput struct {
	TenantID string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	AfterSeq int64  `query:"after_seq" minimum:"0" doc:"Return events after this sequence number."`
	Limit    int    `query:"limit" minimum:"1" maximum:"1000" default:"500" doc:"Page size."`
}

type auditEventsOutput struct {
	Body struct {
		Items []AuditEvent `json:"items" nullable:"false"`
	}
}

type auditReportOutput struct {
	Body AuditReport
}

func (s *Server) registerAudit() {
	register(s, huma.Operation{
		OperationID: "listAuditEvents",
		Method:      http.MethodGet,
		Path:        "/v1/tenants/{tenant_id}/audit/events",
		Summary:     "Export a tenant's audit chain",
		Description: "Returns the tenant's audit events in chain order, with their hashes and the exact canonical bytes hashed, so the chain can be verified without verwerker: for each event, SHA-256(prev_hash bytes || canonical) must equal hash, and prev_hash must equal the previous event's hash. Page with after_seq.",
		Tags:        []string{"Audit"},
	}, policy.PermAuditRead, tenantScope, func(ctx context.Context, in *auditEventsInput) (*auditEventsOutput, error) {
		if err := s.requireTenant(ctx, in.TenantID); err != nil {
			return nil, err
		}
		events, err := s.deps.Audit.Events(ctx, in.TenantID, in.AfterSeq, in.Limit)
		if err != nil {
			return nil, err
		}
		out := &auditEventsOutput{}
		out.Body.Items = make([]AuditEvent, 0, len(events))
		for _, e := range events {
			out.Body.Items = append(out.Body.Items, AuditEvent{Chain: e.Chain, Seq: e.Seq, ID: e.ID,
				At: e.At.Format("2006-01-02T15:04:05.000000Z"), Actor: e.Actor, Action: e.Action, Resource: e.Resource,
				Outcome: string(e.Outcome), Reason: e.Reason, PrevHash: hex.EncodeToString(e.PrevHash),
				Hash: hex.EncodeToString(e.Hash), Canonical: string(e.Canonical())})
		}
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "verifyAuditChain",
		Method:      http.MethodGet,
		Path:        "/v1/tenants/{tenant_id}/audit/verification",
		Summary:     "Verify a tenant's audit chain",
		Description: "Recomputes the tenant's hash chain from its first event: each event's hash must be SHA-256 over the previous event's hash and the event's canonical encoding, sequence numbers must be contiguous and the stored head must match the last event. It also checks every signed checkpoint: the signature must verify with a trusted signing key and the chain must still hold the signed hash at the signed event, so a chain rewritten with recomputed hashes, or cut short, fails at the first checkpoint after the change. On tampering it names the first bad event and, when a checkpoint reveals it, the checkpoint.",
		Tags:        []string{"Audit"},
	}, policy.PermAuditRead, tenantScope, func(ctx context.Context, in *tenantPath) (*auditReportOutput, error) {
		if err := s.requireTenant(ctx, in.TenantID); err != nil {
			return nil, err
		}
		r, err := s.deps.Audit.Verify(ctx, in.TenantID)
		if err != nil {
			return nil, err
		}
		out := &auditReportOutput{Body: AuditReport{Chain: r.Chain, Events: r.Events, HeadSeq: r.HeadSeq,
			HeadHash: hex.EncodeToString(r.HeadHash), OK: r.OK, FirstBad: r.FirstBad, Problem: r.Problem,
			Checkpoints: r.Checkpoints, LastCheckpointSeq: r.LastCheckpointSeq, BadCheckpoint: r.BadCheckpoint}}
		if !r.LastCheckpointAt.IsZero() {
			out.Body.LastCheckpointAt = r.LastCheckpointAt.UTC().Format("2006-01-02T15:04:05.000000Z")
		}
		return out, nil
	})

	s.registerCheckpoints()
	s.registerVerifications()
}

package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/verwerker/verwerker/audit"
	"github.com/verwerker/verwerker/policy"
)

// AuditVerification is a verification of audit chains run in the
// background, with its progress per chain.
type AuditVerification struct {
	ID             string                   `json:"id"`
	Scope          string                   `json:"scope" doc:"The tenant id whose chain is verified, or platform: every chain, the platform's included."`
	RequestedBy    string                   `json:"requested_by" doc:"Pseudonymous id of who asked, or system for the periodic verification."`
	RequestedAt    time.Time                `json:"requested_at"`
	StartedAt      *time.Time               `json:"started_at,omitempty"`
	FinishedAt     *time.Time               `json:"finished_at,omitempty"`
	State          string                   `json:"state" enum:"queued,running,passed,failed" doc:"failed: a chain does not verify (see chains), or the verification could not run to its end."`
	EventsVerified int64                    `json:"events_verified" doc:"Events verified so far, over every chain."`
	EventsTotal    int64                    `json:"events_total" doc:"Events to verify: each chain's length when the verification started."`
	Chains         []AuditChainVerification `json:"chains" nullable:"false" doc:"Empty until the verification starts."`
}

// AuditChainVerification is the progress and result of one chain.
type AuditChainVerification struct {
	Chain         string `json:"chain"`
	Verified      int64  `json:"verified" doc:"Events verified so far."`
	Total         int64  `json:"total" doc:"The chain's length when the verification started."`
	State         string `json:"state" enum:"waiting,running,passed,failed"`
	FirstBad      int64  `json:"first_bad,omitempty" doc:"Sequence number of the first event that does not verify."`
	BadCheckpoint int64  `json:"bad_checkpoint,omitempty" doc:"Event of the first checkpoint that does not verify."`
	Problem       string `json:"problem,omitempty" doc:"What is wrong with first_bad or bad_checkpoint."`
}

type verificationOutput struct {
	Body AuditVerification
}

type tenantVerificationInput struct {
	TenantID       string `path:"tenant_id" maxLength:"64" doc:"Tenant id."`
	VerificationID string `path:"verification_id" maxLength:"64"`
}

type platformVerificationInput struct {
	VerificationID string `path:"verification_id" maxLength:"64"`
}

func verificationOut(v audit.Verification) *verificationOutput {
	out := &verificationOutput{Body: AuditVerification{ID: v.ID, Scope: v.Scope, RequestedBy: v.RequestedBy, RequestedAt: v.RequestedAt,
		StartedAt: v.StartedAt, FinishedAt: v.FinishedAt, State: string(v.State), Chains: make([]AuditChainVerification, 0, len(v.Chains))}}
	for _, c := range v.Chains {
		out.Body.EventsVerified += c.Verified
		out.Body.EventsTotal += c.Total
		out.Body.Chains = append(out.Body.Chains, AuditChainVerification{Chain: c.Chain, Verified: c.Verified, Total: c.Total, State: string(c.State),
			FirstBad: c.FirstBad, BadCheckpoint: c.BadCheckpoint, Problem: c.Problem})
	}
	return out
}

const verificationNote = " The verification runs in the background: read its progress (events verified of the total, per chain) and its result with the operation that reads it, until its state is passed or failed. While one of the same scope is queued or running, starting another returns that one. A chain that does not verify is an alarm (GET /v1/alarms, kind audit_chain_broken) and counts in the gauge verwerker_audit_chains_unverified until a later verification passes; every verification's end is an audit.verify event."

func (s *Server) registerVerifications() {
	start := func(ctx context.Context, scope string) (*verificationOutput, error) {
		v, err := s.deps.Audit.StartVerification(ctx, scope, audit.Actor(ctx))
		if err != nil {
			return nil, err
		}
		return verificationOut(v), nil
	}
	get := func(ctx context.Context, scope, id string) (*verificationOutput, error) {
		v, err := s.deps.Audit.Verification(ctx, scope, id)
		if err != nil {
			return nil, err
		}
		return verificationOut(*v), nil
	}
	register(s, huma.Operation{OperationID: "startAuditVerification", Method: http.MethodPost, Path: "/v1/tenants/{tenant_id}/audit/verifications",
		Summary: "Start a verification of a tenant's audit chain", Tags: []string{"Audit"}, DefaultStatus: http.StatusAccepted,
		Description: "Verifies the tenant's chain as GET /v1/tenants/{tenant_id}/audit/verification does (hashes, links, head and signed checkpoints), in the background." + verificationNote},
		policy.PermAuditRead, tenantScope, func(ctx context.Context, in *tenantPath) (*verificationOutput, error) {
			if err := s.requireTenant(ctx, in.TenantID); err != nil {
				return nil, err
			}
			return start(ctx, in.TenantID)
		})
	register(s, huma.Operation{OperationID: "getAuditVerification", Method: http.MethodGet, Path: "/v1/tenants/{tenant_id}/audit/verifications/{verification_id}",
		Summary: "Read a verification of a tenant's audit chain", Tags: []string{"Audit"},
		Description: "Returns the verification's state, its progress and, once finished, its result. A verification of another scope is 404."},
		policy.PermAuditRead, tenantScope, func(ctx context.Context, in *tenantVerificationInput) (*verificationOutput, error) {
			if err := s.requireTenant(ctx, in.TenantID); err != nil {
				return nil, err
			}
			return get(ctx, in.TenantID, in.VerificationID)
		})
	register(s, huma.Operation{OperationID: "startPlatformAuditVerification", Method: http.MethodPost, Path: "/v1/audit/verifications",
		Summary: "Start a verification of every audit chain", Tags: []string{"Audit"}, DefaultStatus: http.StatusAccepted,
		Description: "Verifies every chain, each customer's and the platform's, one after another, in the background; the dashboard's \"verify now\"." + verificationNote},
		policy.PermAuditRead, platformScope, func(ctx context.Context, _ *struct{}) (*verificationOutput, error) {
			return start(ctx, audit.PlatformChain)
		})
	register(s, huma.Operation{OperationID: "getPlatformAuditVerification", Method: http.MethodGet, Path: "/v1/audit/verifications/{verification_id}",
		Summary: "Read a verification of every audit chain", Tags: []string{"Audit"},
		Description: "Returns the verification's state, its progress per chain and, once finished, its result."},
		policy.PermAuditRead, platformScope, func(ctx context.Context, in *platformVerificationInput) (*verificationOutput, error) {
			return get(ctx, audit.PlatformChain, in.VerificationID)
		})
}

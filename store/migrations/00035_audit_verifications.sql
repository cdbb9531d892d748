-- +goose Up
-- audit_verifications (package audit): verifications of the audit chains
-- run in the background (a River job), asked for by a person (the DPO's
-- "verify now", a customer through the API) or by the periodic check. The
-- scope is a tenant id (that tenant's chain) or 'platform' (every chain,
-- the platform's included). Verification ids and chain names only: no
-- events, no personal data.
CREATE TABLE audit_verifications (
    id           text PRIMARY KEY,
    scope        text NOT NULL,
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL,
    started_at   timestamptz,
    finished_at  timestamptz,
    state        text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'passed', 'failed')),
    CHECK ((state IN ('passed', 'failed')) = (finished_at IS NOT NULL))
);
CREATE INDEX audit_verifications_scope ON audit_verifications (scope, requested_at DESC);
-- At most one verification of a scope waits or runs at a time.
CREATE UNIQUE INDEX audit_verifications_one_open ON audit_verifications (scope) WHERE state IN ('queued', 'running');

-- audit_verification_chains is each verification's progress and result per
-- chain: events verified of the total (the chain's head when it started),
-- and for a failed chain the first bad event or checkpoint and the cause.
CREATE TABLE audit_verification_chains (
    verification_id text   NOT NULL REFERENCES audit_verifications (id),
    chain           text   NOT NULL,
    total           bigint NOT NULL CHECK (total >= 0),
    verified        bigint NOT NULL DEFAULT 0 CHECK (verified >= 0),
    state           text   NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'running', 'passed', 'failed')),
    first_bad       bigint NOT NULL DEFAULT 0,
    bad_checkpoint  bigint NOT NULL DEFAULT 0,
    problem         text   NOT NULL DEFAULT '',
    finished_at     timestamptz,
    PRIMARY KEY (verification_id, chain)
);
-- The last finished verification of each chain (the gauge, the alarms).
CREATE INDEX audit_verification_chains_last ON audit_verification_chains (chain, finished_at DESC) WHERE finished_at IS NOT NULL;

ALTER TABLE audit_verifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON audit_verifications USING (verwerker_scope_allows(scope)) WITH CHECK (verwerker_scope_allows(scope));
ALTER TABLE audit_verification_chains ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON audit_verification_chains USING (verwerker_scope_allows(chain)) WITH CHECK (verwerker_scope_allows(chain));

GRANT SELECT, INSERT, UPDATE ON audit_verifications, audit_verification_chains TO verwerker_app;

-- +goose Down
DROP TABLE audit_verification_chains;
DROP TABLE audit_verifications;

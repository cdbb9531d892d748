-- +goose Up
-- Retention (package retention): legal holds, sweeps and their certificates.
--
-- A legal hold suspends deletion of a subject's data, of one data category,
-- or of everything of a customer, with a reason, an owner and a review date.
-- A hold is never deleted: lifting it sets lifted_at, so the register keeps
-- every hold that ever kept data back.
CREATE TABLE legal_holds (
    tenant_id   text NOT NULL REFERENCES tenants (id),
    id          text NOT NULL,
    scope       text NOT NULL CHECK (scope IN ('subject', 'category', 'tenant')),
    subject_id  text,
    category    text,
    reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    owner       text NOT NULL CHECK (length(owner) BETWEEN 1 AND 200),
    review_on   date NOT NULL,
    placed_by   text NOT NULL,
    placed_at   timestamptz NOT NULL,
    lifted_by   text,
    lifted_at   timestamptz,
    lift_reason text,
    PRIMARY KEY (tenant_id, id),
    CHECK ((scope = 'subject') = (subject_id IS NOT NULL)),
    CHECK ((scope = 'category') = (category IS NOT NULL)),
    CHECK ((lifted_at IS NULL) = (lifted_by IS NULL))
);
CREATE INDEX legal_holds_active ON legal_holds (tenant_id) WHERE lifted_at IS NULL;

ALTER TABLE legal_holds ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON legal_holds USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

-- A sweep deletes one customer's records whose deadline passed by its
-- cutoff. The row is written before anything is destroyed (the ledger),
-- every batch adds a line to retention_sweep_batches in the transaction that
-- deletes it, and at completion the totals, the holds that kept data back
-- and the audit event's hash make the row the sweep's deletion certificate.
CREATE TABLE retention_sweeps (
    tenant_id      text NOT NULL REFERENCES tenants (id),
    id             text NOT NULL,
    cutoff         timestamptz NOT NULL,  -- deadlines up to here are due
    contract_ended boolean NOT NULL DEFAULT false, -- contract-end purge: every non-statutory record is due
    status         text NOT NULL CHECK (status IN ('running', 'completed')),
    started_at     timestamptz NOT NULL,
    completed_at   timestamptz,
    what           jsonb,                 -- records deleted per category
    records_count  bigint,
    subjects_count bigint,                -- subjects crypto-shredded
    key_versions_destroyed integer[],
    oldest_deadline timestamptz,
    newest_deadline timestamptz,
    held           jsonb,                 -- [{"hold_id": ..., "records": n}]
    audit_seq      bigint,
    audit_hash     bytea,
    PRIMARY KEY (tenant_id, id),
    CHECK ((status = 'completed') = (completed_at IS NOT NULL AND audit_hash IS NOT NULL))
);
-- At most one running sweep per customer: replicas join it instead of starting another.
CREATE UNIQUE INDEX retention_sweeps_one_running ON retention_sweeps (tenant_id) WHERE status = 'running';

ALTER TABLE retention_sweeps ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON retention_sweeps USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

CREATE TABLE retention_sweep_batches (
    tenant_id   text NOT NULL,
    sweep_id    text NOT NULL,
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    what        jsonb NOT NULL,
    records_count  bigint NOT NULL,
    subjects_count bigint NOT NULL,
    key_versions_destroyed integer[] NOT NULL,
    oldest_deadline timestamptz,
    newest_deadline timestamptz,
    record_ids  text[] NOT NULL,          -- what this batch deleted, verified absent at completion
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, sweep_id, seq),
    FOREIGN KEY (tenant_id, sweep_id) REFERENCES retention_sweeps (tenant_id, id)
);

ALTER TABLE retention_sweep_batches ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON retention_sweep_batches USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

-- Sweeps and forecasts read records by deadline.
CREATE INDEX records_due ON records (tenant_id, delete_after, id) INCLUDE (category);

-- +goose Down
DROP INDEX records_due;
DROP TABLE retention_sweep_batches;
DROP TABLE retention_sweeps;
DROP TABLE legal_holds;

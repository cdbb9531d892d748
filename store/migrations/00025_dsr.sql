-- +goose Up
-- Data-subject requests (GDPR Art. 12, 15-22; seed 001 art. 12.14), owned by
-- the dsr package.
--
-- dsr_verifications holds a request from the public intake until its
-- requester proves the e-mail address with the one-time code: only what
-- verification needs (the customer, the right, the address, the language,
-- the optional chat reference), the code as a SHA-256 hash, and the
-- attempts. A row is deleted when the code is verified, used up or expired
-- (the periodic job dsr.sweep deletes expired rows).
CREATE TABLE dsr_verifications (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id),
    type        text NOT NULL,
    email       text NOT NULL,
    subject_ref text NOT NULL DEFAULT '',
    language    text NOT NULL,
    details     text NOT NULL DEFAULT '',
    code_hash   bytea NOT NULL,
    attempts    int NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX dsr_verifications_expiry ON dsr_verifications (expires_at);

-- dsr_requests: one request of a data subject to one controller. The
-- statutory clock (due_at) runs from received_at: one month by Regulation
-- 1182/71 in the customer's calendar, plus extension_months, shifted by the
-- time spent waiting on the subject (paused_seconds, and paused_at while a
-- pause lasts). forward_due_at is verwerker's own service level for
-- forwarding the request to the controller.
CREATE TABLE dsr_requests (
    tenant_id        text NOT NULL REFERENCES tenants (id),
    id               text NOT NULL,
    type             text NOT NULL CHECK (type IN ('access', 'rectification', 'erasure', 'restriction', 'portability', 'objection')),
    state            text NOT NULL,
    source           text NOT NULL CHECK (source IN ('subject', 'controller')),
    subject_id       text,
    email            text NOT NULL DEFAULT '',
    language         text NOT NULL DEFAULT 'en',
    details          text NOT NULL DEFAULT '',
    received_at      timestamptz NOT NULL,
    due_last_day     date NOT NULL,
    due_at           timestamptz NOT NULL,
    forward_due_at   timestamptz NOT NULL,
    forwarded_at     timestamptz,
    extension_months int NOT NULL DEFAULT 0 CHECK (extension_months BETWEEN 0 AND 2),
    extension_reason text NOT NULL DEFAULT '',
    paused_at        timestamptz,
    paused_seconds   bigint NOT NULL DEFAULT 0,
    duplicate_of     text,
    reject_reason    text NOT NULL DEFAULT '',
    instruction      jsonb,
    progress         int NOT NULL DEFAULT 0,
    certificate_id   text,
    kept             jsonb,
    failure          text NOT NULL DEFAULT '',
    failed_at        timestamptz,
    failed_messages  text[] NOT NULL DEFAULT '{}',
    reminders        int[] NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    completed_at     timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX dsr_requests_open ON dsr_requests (due_at) WHERE state NOT IN ('completed', 'rejected', 'expired', 'duplicate');
CREATE INDEX dsr_requests_subject ON dsr_requests (tenant_id, subject_id, type);
ALTER TABLE dsr_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON dsr_requests USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

-- dsr_steps: a request's timeline, every step with who did it (a
-- principal's id, "subject" or "verwerker") and a detail without personal
-- data.
CREATE TABLE dsr_steps (
    tenant_id  text NOT NULL,
    request_id text NOT NULL,
    seq        bigint GENERATED ALWAYS AS IDENTITY,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    detail     text NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, request_id, seq),
    FOREIGN KEY (tenant_id, request_id) REFERENCES dsr_requests (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE dsr_steps ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON dsr_steps USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

-- dsr_exports: the ZIP of an access or portability request, downloaded by
-- the controller (its tenant's roles only) until expires_at.
CREATE TABLE dsr_exports (
    tenant_id   text NOT NULL,
    request_id  text NOT NULL,
    zip         bytea NOT NULL,
    records     int NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, request_id),
    FOREIGN KEY (tenant_id, request_id) REFERENCES dsr_requests (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE dsr_exports ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON dsr_exports USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

GRANT SELECT, INSERT, UPDATE, DELETE ON dsr_verifications, dsr_requests, dsr_steps, dsr_exports TO verwerker_app;
GRANT USAGE, SELECT ON SEQUENCE dsr_steps_seq_seq TO verwerker_app;

-- +goose Down
DROP TABLE dsr_exports;
DROP TABLE dsr_steps;
DROP TABLE dsr_requests;
DROP TABLE dsr_verifications;

-- +goose Up
-- The records store (package records): the chat service's conversations and
-- messages and the company's admin data, sealed per subject (AES-256-GCM
-- under the subject's data key, bound to tenant, subject and kind). Only the
-- wrapped data key is stored (subject_keys); deleting its row is the
-- crypto-shred of the subject: from that moment the subject's records open
-- nowhere, and after the next rotation cycle not even from a backup.

-- An erased subject keeps its row (its pseudonymous id is what audit events
-- and certificates name) with its reference unlinked: the HMAC is replaced by
-- random bytes, so a returning visitor with the same reference is a new
-- subject.
ALTER TABLE subjects ADD COLUMN erased_at timestamptz;

CREATE TABLE subject_keys (
    tenant_id   text NOT NULL,
    subject_id  text NOT NULL,
    wrapped     text NOT NULL,
    key_version integer NOT NULL CHECK (key_version >= 1),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, subject_id),
    FOREIGN KEY (tenant_id, subject_id) REFERENCES subjects (tenant_id, id)
);

ALTER TABLE subject_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON subject_keys USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

CREATE TABLE records (
    tenant_id       text NOT NULL,
    id              text NOT NULL,
    subject_id      text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('chat.conversation', 'chat.message', 'admin.account', 'admin.user',
                                                  'admin.login_event', 'admin.invoice')),
    conversation_id text,
    category        text NOT NULL,
    purpose         text NOT NULL,
    region          text NOT NULL,
    dpa_version     integer NOT NULL,
    decision_id     text NOT NULL,
    retention_rule  text NOT NULL,
    delete_after    timestamptz,   -- NULL: runs from the contract's end (contract_end+30d)
    created_at      timestamptz NOT NULL,
    sealed          bytea NOT NULL,
    seq             bigint GENERATED ALWAYS AS IDENTITY, -- creation order, also within one millisecond
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, subject_id) REFERENCES subjects (tenant_id, id)
);
-- Exports read one subject's records in creation order.
CREATE INDEX records_subject ON records (tenant_id, subject_id, seq);

ALTER TABLE records ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON records USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

-- Deletion certificates: what was erased, how much, when, which key
-- versions were destroyed, and the hash of the audit event written in the
-- same transaction. They hold ids and counts, never personal data.
CREATE TABLE deletion_certificates (
    tenant_id              text NOT NULL REFERENCES tenants (id),
    id                     text NOT NULL,
    scope                  text NOT NULL CHECK (scope IN ('subject', 'tenant')),
    subject_id             text,
    what                   jsonb NOT NULL,      -- {"chat.message": 12, ...}
    records_count          bigint NOT NULL,
    subjects_count         bigint NOT NULL,
    key_versions_destroyed integer[] NOT NULL,
    key_name               text,                -- tenant scope: the destroyed tenant key
    erased_at              timestamptz NOT NULL,
    audit_seq              bigint NOT NULL,
    audit_hash             bytea NOT NULL,
    rows_purged_at         timestamptz,         -- when the background purge removed the last row
    created_at             timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CHECK ((scope = 'subject') = (subject_id IS NOT NULL))
);
CREATE UNIQUE INDEX deletion_certificates_one_per_tenant ON deletion_certificates (tenant_id) WHERE scope = 'tenant';

ALTER TABLE deletion_certificates ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON deletion_certificates USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

-- +goose Down
DROP TABLE deletion_certificates;
DROP TABLE records;
DROP TABLE subject_keys;
ALTER TABLE subjects DROP COLUMN erased_at;

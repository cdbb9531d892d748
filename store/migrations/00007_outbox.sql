-- +goose Up
-- The outbox (package notify): every webhook and e-mail verwerker sends is
-- first a row here, written in the same transaction as the state change that
-- causes it, then delivered by a River job that carries only the row's id.
-- The exact bytes to send are fixed at enqueue time, so every retry sends the
-- same notice; (tenant_id, idempotency_key) is unique, so a repeated request
-- never produces a second, different one.
CREATE TABLE outbox_messages (
    tenant_id       text NOT NULL REFERENCES tenants (id),
    id              text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('webhook', 'email')),
    idempotency_key text NOT NULL CHECK (idempotency_key <> ''),
    content_hash    bytea NOT NULL,
    event_type      text NOT NULL,
    recipients      text[] NOT NULL DEFAULT '{}', -- e-mail addresses (personal data: never logged)
    subject         text NOT NULL DEFAULT '',
    rendered        bytea NOT NULL,               -- the webhook body or the whole RFC 5322 message
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,                         -- an error code, never error text
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz,
    dead_at         timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (id),
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX outbox_messages_dead ON outbox_messages (dead_at, id) WHERE status = 'dead';

-- The delivery log: one row per attempt.
CREATE TABLE outbox_attempts (
    tenant_id   text NOT NULL,
    message_id  text NOT NULL REFERENCES outbox_messages (id),
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('delivered', 'failed')),
    http_status integer,
    smtp_code   integer,
    error_code  text,
    duration_ms integer NOT NULL,
    PRIMARY KEY (message_id, attempt)
);
CREATE INDEX outbox_attempts_tenant ON outbox_attempts (tenant_id, message_id);

-- Where a tenant's webhooks go. secrets holds the signing secrets, newest
-- first: two during a rotation, one otherwise. They are stored as they are
-- until the key-management work seals them with Vault Transit.
CREATE TABLE webhook_endpoints (
    tenant_id  text PRIMARY KEY REFERENCES tenants (id),
    url        text NOT NULL,
    secrets    text[] NOT NULL CHECK (cardinality(secrets) BETWEEN 1 AND 2),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

ALTER TABLE outbox_messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON outbox_messages USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));
ALTER TABLE outbox_attempts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON outbox_attempts USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));
ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON webhook_endpoints USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

-- +goose Down
DROP TABLE webhook_endpoints;
DROP TABLE outbox_attempts;
DROP TABLE outbox_messages;

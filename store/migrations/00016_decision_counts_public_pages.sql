-- +goose Up
-- Per-customer figures leave the metrics endpoint (whose labels no longer
-- name customers) for the API, and the public subprocessor pages leave the
-- customer's id for an address the customer controls.

-- decision_counts (package decision): each customer's decisions per day of
-- its own calendar, data category and purpose, allowed and denied. Every
-- replica adds what it counted at each flush (VERWERKER_DECISION_FLUSH_INTERVAL),
-- so the sums are the whole fleet's. Counts only: no subjects, no content.
CREATE TABLE decision_counts (
    tenant_id text NOT NULL REFERENCES tenants (id),
    day       date NOT NULL,
    category  text NOT NULL,
    purpose   text NOT NULL,
    allowed   bigint NOT NULL DEFAULT 0 CHECK (allowed >= 0),
    denied    bigint NOT NULL DEFAULT 0 CHECK (denied >= 0),
    PRIMARY KEY (tenant_id, day, category, purpose)
);

ALTER TABLE decision_counts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON decision_counts USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

-- subprocessor_pages (package dpa): the unguessable address (128 random
-- bits, base32) of each customer's public subprocessor page, JSON and feed.
-- The customer's controller_admin rotates it; the old one stops working at
-- once. A customer has no public page until it first asks for its address.
CREATE TABLE subprocessor_pages (
    tenant_id  text PRIMARY KEY REFERENCES tenants (id),
    slug       text NOT NULL UNIQUE CHECK (slug ~ '^[a-z2-7]{26}$'),
    created_at timestamptz NOT NULL,
    rotated_at timestamptz
);

ALTER TABLE subprocessor_pages ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON subprocessor_pages USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

GRANT SELECT, INSERT, UPDATE, DELETE ON decision_counts, subprocessor_pages TO verwerker_app;

-- +goose Down
DROP TABLE subprocessor_pages;
DROP TABLE decision_counts;

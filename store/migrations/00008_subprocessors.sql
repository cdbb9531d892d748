-- +goose Up
-- Subprocessors (GDPR Art. 28(2) and (4); seed 000 art. 10.2, 001 art. 12.10).
--
-- subprocessors is the company's registry: one row per third party that may
-- touch customers' data. It is platform data, readable by every tenant scope
-- (a customer may see the whole registry) and written only in the platform
-- scope.
CREATE TABLE subprocessors (
    id                 text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    name               text NOT NULL CHECK (name <> ''),
    service            text NOT NULL CHECK (service <> ''),
    locations          text[] NOT NULL CHECK (cardinality(locations) >= 1),
    transfer_mechanism text NOT NULL CHECK (transfer_mechanism IN ('none', 'adequacy', 'sccs')),
    categories         text[] NOT NULL CHECK (cardinality(categories) >= 1),
    contract_date      date NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);

-- subprocessor_changes are proposals: add a subprocessor, replace one by
-- another, or remove one, from an effective date. Announcing a change
-- computes the affected customers and writes one notice per customer.
CREATE TABLE subprocessor_changes (
    id             text PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('add', 'replace', 'remove')),
    subprocessor   text REFERENCES subprocessors (id),  -- the new one (add, replace)
    replaces       text REFERENCES subprocessors (id),  -- the old one (replace, remove)
    effective_on   date NOT NULL,
    description    text NOT NULL DEFAULT '',
    status         text NOT NULL DEFAULT 'announced' CHECK (status IN ('announced', 'withdrawn')),
    created_at     timestamptz NOT NULL,
    created_by     text NOT NULL,
    withdrawn_at   timestamptz,
    CONSTRAINT subprocessor_changes_shape CHECK (
        (kind = 'add' AND subprocessor IS NOT NULL AND replaces IS NULL)
        OR (kind = 'replace' AND subprocessor IS NOT NULL AND replaces IS NOT NULL AND subprocessor <> replaces)
        OR (kind = 'remove' AND subprocessor IS NULL AND replaces IS NOT NULL))
);

-- subprocessor_notices: one per affected customer and change. The change
-- takes effect for the customer at effective_at, which is never before
-- window_ends_at (notice + the customer's objection window). An objection
-- holds it until the DPO resolves it; while held, processing through the
-- new subprocessor is blocked for the customer (see subprocessor_blocks).
CREATE TABLE subprocessor_notices (
    tenant_id        text NOT NULL REFERENCES tenants (id),
    change_id        text NOT NULL REFERENCES subprocessor_changes (id),
    window_days      integer NOT NULL CHECK (window_days > 0),
    notified_at      timestamptz NOT NULL,
    window_ends_at   timestamptz NOT NULL,
    effective_at     timestamptz NOT NULL CHECK (effective_at >= window_ends_at),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'objected', 'effective', 'not_applied', 'withdrawn')),
    objected_at      timestamptz,
    objected_by      text,
    objection_reason text,
    resolved_at      timestamptz,
    resolved_by      text,
    resolution       text CHECK (resolution IN ('objection_withdrawn', 'change_not_applied')),
    resolution_note  text,
    applied_at       timestamptz,
    PRIMARY KEY (tenant_id, change_id),
    CONSTRAINT subprocessor_notices_objection_complete CHECK (
        (objected_at IS NULL) = (objected_by IS NULL) AND (objected_at IS NULL) = (objection_reason IS NULL))
);
CREATE INDEX subprocessor_notices_due ON subprocessor_notices (effective_at) WHERE status = 'pending';
CREATE INDEX subprocessor_notices_change ON subprocessor_notices (change_id);

-- tenant_subprocessors is each customer's effective list: the subprocessors
-- that touch its data now. Activating a DPA version sets it to the version's
-- authorised list; a change that takes effect adds or removes one.
CREATE TABLE tenant_subprocessors (
    tenant_id       text NOT NULL REFERENCES tenants (id),
    subprocessor_id text NOT NULL REFERENCES subprocessors (id),
    since           timestamptz NOT NULL,
    source          text NOT NULL, -- a DPA version id or a change id
    PRIMARY KEY (tenant_id, subprocessor_id)
);

-- subprocessor_blocks is the state the decision engine reads: for each
-- customer, the subprocessors whose processing is blocked by an open
-- objection, with the data categories and locations (routes) they cover.
CREATE VIEW subprocessor_blocks WITH (security_invoker = true) AS
SELECT n.tenant_id, c.subprocessor AS subprocessor_id, c.id AS change_id, n.objected_at,
       s.categories, s.locations
FROM subprocessor_notices n
JOIN subprocessor_changes c ON c.id = n.change_id
JOIN subprocessors s ON s.id = c.subprocessor
WHERE n.status = 'objected';

-- decision_state holds a number per tenant that rises whenever anything the
-- decision engine reads about the tenant changes (its active DPA version,
-- its contract, its subprocessor blocks); replicas compare it to know their
-- compiled answers are current (store.TouchDecisionState).
CREATE TABLE decision_state (
    tenant_id text PRIMARY KEY REFERENCES tenants (id),
    version   bigint NOT NULL DEFAULT 0
);

ALTER TABLE subprocessors ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON subprocessors FOR SELECT USING (true);
CREATE POLICY platform_writes ON subprocessors FOR ALL USING (current_setting('verwerker.tenant', true) = '*')
    WITH CHECK (current_setting('verwerker.tenant', true) = '*');
ALTER TABLE subprocessor_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON subprocessor_changes FOR SELECT USING (true);
CREATE POLICY platform_writes ON subprocessor_changes FOR ALL USING (current_setting('verwerker.tenant', true) = '*')
    WITH CHECK (current_setting('verwerker.tenant', true) = '*');
ALTER TABLE subprocessor_notices ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON subprocessor_notices USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));
ALTER TABLE tenant_subprocessors ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON tenant_subprocessors USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));
ALTER TABLE decision_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON decision_state USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

-- +goose Down
DROP TABLE decision_state;
DROP VIEW subprocessor_blocks;
DROP TABLE tenant_subprocessors;
DROP TABLE subprocessor_notices;
DROP TABLE subprocessor_changes;
DROP TABLE subprocessors;

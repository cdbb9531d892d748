-- +goose Up
-- decision_denials (package decision): each customer's denials per day of
-- its own calendar and reason code (policy.ReasonCodes: category, purpose
-- or region not in the agreement, no active agreement, a minor, ...). A
-- denial with several reasons counts under each, so the sum over reasons
-- can exceed the denials in decision_counts. Flushed with decision_counts,
-- in the same transaction. Counts only: no subjects, no content.
CREATE TABLE decision_denials (
    tenant_id text   NOT NULL REFERENCES tenants (id),
    day       date   NOT NULL,
    reason    text   NOT NULL,
    denied    bigint NOT NULL DEFAULT 0 CHECK (denied >= 0),
    PRIMARY KEY (tenant_id, day, reason)
);

ALTER TABLE decision_denials ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON decision_denials USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

-- decision_denials_platform: the same summed over every customer per day
-- and reason, for the DPO's dashboard. Only the platform scope reads it.
CREATE TABLE decision_denials_platform (
    day    date   NOT NULL,
    reason text   NOT NULL,
    denied bigint NOT NULL DEFAULT 0 CHECK (denied >= 0),
    PRIMARY KEY (day, reason)
);

ALTER TABLE decision_denials_platform ENABLE ROW LEVEL SECURITY;
CREATE POLICY platform_only ON decision_denials_platform USING (current_setting('verwerker.tenant', true) = '*')
    WITH CHECK (current_setting('verwerker.tenant', true) = '*');

GRANT SELECT, INSERT, UPDATE, DELETE ON decision_denials, decision_denials_platform TO verwerker_app;

-- +goose Down
DROP TABLE decision_denials_platform;
DROP TABLE decision_denials;

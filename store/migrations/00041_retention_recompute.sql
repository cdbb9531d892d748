-- +goose Up
-- Deadline recompute (package retention): when a customer's active
-- agreement changes a category's retention rule, the stored deadlines of
-- its records in that category are recomputed in batches by the sweep job.
-- One row per customer and agreement version: started when the version is
-- first seen active, completed (with counts per category and the audit
-- event's hash) when no record under an older rule remains.
CREATE TABLE retention_recomputes (
    tenant_id     text NOT NULL REFERENCES tenants (id),
    dpa_version   integer NOT NULL,
    started_at    timestamptz NOT NULL,
    completed_at  timestamptz,
    what          jsonb NOT NULL DEFAULT '{}', -- records recomputed per category
    records_count bigint NOT NULL DEFAULT 0,
    audit_hash    bytea,
    PRIMARY KEY (tenant_id, dpa_version)
);
ALTER TABLE retention_recomputes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON retention_recomputes USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON retention_recomputes TO verwerker_app;

-- The platform-wide forecast for the DPO: per customer and category, the
-- records due within 7, 30 and 90 days, computed by a job (one pass over
-- the records' deadlines) and read in one small query.
CREATE TABLE retention_forecast (
    tenant_id   text NOT NULL REFERENCES tenants (id),
    category    text NOT NULL,
    due         bigint[] NOT NULL,   -- one count per horizon (retention.Horizons)
    computed_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, category)
);
ALTER TABLE retention_forecast ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON retention_forecast USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON retention_forecast TO verwerker_app;
-- When the forecast was last counted (one row; platform data, no tenant).
CREATE TABLE retention_forecast_runs (
    id          integer PRIMARY KEY CHECK (id = 1),
    computed_at timestamptz NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON retention_forecast_runs TO verwerker_app;

-- +goose Down
DROP TABLE retention_forecast_runs;
DROP TABLE retention_forecast;
DROP TABLE retention_recomputes;

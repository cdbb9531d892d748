-- +goose Up
-- Row-level security: a second wall behind the application's checks.
-- Transactions opened with store.DB.InTenantTx run as the role
-- verwerker_app with the setting verwerker.tenant set to one tenant id;
-- they see and write only that tenant's rows. '*' is the platform scope.
-- Connections as the owner (migrations, platform work) are not limited.

-- +goose StatementBegin
DO $$
BEGIN
    CREATE ROLE verwerker_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- another database of this cluster created it
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('GRANT verwerker_app TO %I', current_user);
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
-- +goose StatementEnd

GRANT USAGE ON SCHEMA public TO verwerker_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO verwerker_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO verwerker_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO verwerker_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO verwerker_app;

-- verwerker_scope_allows reports whether the current transaction's tenant
-- scope reaches rows of tenant t.
CREATE FUNCTION verwerker_scope_allows(t text) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('verwerker.tenant', true), '') IN ('*', t) AND t <> '' $$;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON tenants USING (verwerker_scope_allows(id)) WITH CHECK (verwerker_scope_allows(id));

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON api_keys USING (verwerker_scope_allows(domain)) WITH CHECK (verwerker_scope_allows(domain));

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON users USING (verwerker_scope_allows(home_domain)) WITH CHECK (verwerker_scope_allows(home_domain));

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON audit_events USING (verwerker_scope_allows(chain)) WITH CHECK (verwerker_scope_allows(chain));

ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON audit_heads USING (verwerker_scope_allows(chain)) WITH CHECK (verwerker_scope_allows(chain));

ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON audit_checkpoints USING (verwerker_scope_allows(chain)) WITH CHECK (verwerker_scope_allows(chain));

-- +goose Down
DROP POLICY tenant_wall ON audit_checkpoints;
ALTER TABLE audit_checkpoints DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_wall ON audit_heads;
ALTER TABLE audit_heads DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_wall ON audit_events;
ALTER TABLE audit_events DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_wall ON users;
ALTER TABLE users DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_wall ON api_keys;
ALTER TABLE api_keys DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_wall ON tenants;
ALTER TABLE tenants DISABLE ROW LEVEL SECURITY;
DROP FUNCTION verwerker_scope_allows(text);
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM verwerker_app;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM verwerker_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM verwerker_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM verwerker_app;
REVOKE USAGE ON SCHEMA public FROM verwerker_app;

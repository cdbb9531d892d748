-- +goose Up
-- Tenant key-encryption keys (package keys). Each tenant has one key in the
-- keyring (Vault Transit in production, the local keyring in development);
-- the key material never leaves the keyring, this table only names it.
-- shredded_at is a tombstone: once set, the tenant's key is destroyed and
-- the tenant never gets a key or a data key again. The tombstone can be
-- neither cleared nor deleted, whoever runs the UPDATE or DELETE.
CREATE TABLE tenant_keys (
    tenant_id              text PRIMARY KEY REFERENCES tenants (id),
    keyring                text NOT NULL CHECK (keyring IN ('vault-transit', 'local')),
    key_name               text UNIQUE,          -- NULL: shredded before a key was ever made
    created_at             timestamptz NOT NULL,
    latest_version         integer NOT NULL DEFAULT 1 CHECK (latest_version >= 1),
    min_decryption_version integer NOT NULL DEFAULT 1 CHECK (min_decryption_version BETWEEN 1 AND latest_version),
    rotated_at             timestamptz,          -- when the last rotation cycle completed
    shredded_at            timestamptz,          -- the tombstone
    destroyed_at           timestamptz,          -- when the keyring confirmed the key is gone
    CHECK (key_name IS NOT NULL OR shredded_at IS NOT NULL),
    CHECK (destroyed_at IS NULL OR shredded_at IS NOT NULL)
);
CREATE INDEX tenant_keys_rotation_due ON tenant_keys (coalesce(rotated_at, created_at)) WHERE shredded_at IS NULL;

-- +goose StatementBegin
CREATE FUNCTION tenant_keys_guard() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RAISE EXCEPTION 'tenant_keys: a tenant key row is never deleted' USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id OR NEW.keyring IS DISTINCT FROM OLD.keyring
        OR NEW.created_at IS DISTINCT FROM OLD.created_at
        OR (OLD.key_name IS NOT NULL AND NEW.key_name IS DISTINCT FROM OLD.key_name) THEN
        RAISE EXCEPTION 'tenant_keys: identity columns are immutable' USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.shredded_at IS NOT NULL AND (NEW.shredded_at IS DISTINCT FROM OLD.shredded_at
        OR NEW.key_name IS DISTINCT FROM OLD.key_name) THEN
        RAISE EXCEPTION 'tenant_keys: a shredded tenant key stays shredded' USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.destroyed_at IS NOT NULL AND NEW.destroyed_at IS DISTINCT FROM OLD.destroyed_at THEN
        RAISE EXCEPTION 'tenant_keys: a destroyed tenant key stays destroyed' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER tenant_keys_guard BEFORE UPDATE OR DELETE ON tenant_keys
    FOR EACH ROW EXECUTE FUNCTION tenant_keys_guard();
CREATE TRIGGER tenant_keys_no_truncate BEFORE TRUNCATE ON tenant_keys
    FOR EACH STATEMENT EXECUTE FUNCTION tenant_keys_guard();

ALTER TABLE tenant_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON tenant_keys USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

-- +goose Down
DROP TABLE tenant_keys;
DROP FUNCTION tenant_keys_guard();

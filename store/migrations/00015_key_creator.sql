-- +goose Up
-- Who issued each API key: the user id of the person (a signed-in session
-- with a verified second factor), 'system' for keys made by tools (the demo
-- seed), or 'unknown'. Disabling an account lists, and can revoke, the keys
-- it created.
ALTER TABLE api_keys ADD COLUMN created_by text NOT NULL DEFAULT 'unknown';
CREATE INDEX api_keys_created_by ON api_keys (created_by);

-- Keys issued before this migration: the actor of their issuing audit event
-- (a user id also when the person used a personal key), or the owner of a
-- personal key.
UPDATE api_keys k SET created_by = e.actor
    FROM audit_events e
    WHERE e.action = 'apikey.issue' AND e.resource = k.id AND e.outcome = 'success';
UPDATE api_keys SET created_by = user_id WHERE user_id IS NOT NULL AND created_by = 'unknown';

-- Keys with an administrative role expire within 90 days
-- (identity.MaxAdminKeyLife; the roles of policy.AdminRoles). Existing
-- ones without expiry, or expiring later, get 90 days from now, time to
-- replace them.
UPDATE api_keys SET expires_at = now() + interval '90 days'
    WHERE user_id IS NULL AND revoked_at IS NULL AND role IN ('platform_admin', 'controller_admin')
    AND (expires_at IS NULL OR expires_at > now() + interval '90 days');

-- +goose Down
DROP INDEX api_keys_created_by;
ALTER TABLE api_keys DROP COLUMN created_by;

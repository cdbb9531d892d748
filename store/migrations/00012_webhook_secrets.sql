-- +goose Up
-- Webhook signing secrets are sealed (AES-256-GCM) under a data key of the
-- tenant, wrapped by its Vault Transit key: wrapped_key holds the wrapped
-- data key, secrets the sealed secrets ("sealed:" + base64). A row without
-- wrapped_key holds secrets from before this migration, in the clear; the
-- next rotation seals them.
ALTER TABLE webhook_endpoints ADD COLUMN wrapped_key text;

-- +goose Down
ALTER TABLE webhook_endpoints DROP COLUMN wrapped_key;

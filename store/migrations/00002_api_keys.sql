-- +goose Up
-- API keys of machine principals (the chat service, integrations) and of
-- people. Only a SHA-256 hash of the secret is stored; the prefix is public
-- and finds the row.
CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    prefix       text NOT NULL UNIQUE,
    secret_hash  bytea NOT NULL,
    label        text NOT NULL,
    role         text NOT NULL,
    domain       text NOT NULL, -- a tenant id or 'platform'
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_domain ON api_keys (domain, id);

-- +goose Down
DROP TABLE api_keys;

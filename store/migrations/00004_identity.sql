-- +goose Up
-- People: the processor's staff (platform admins, the DPO, support) and the
-- customers' privacy leads and auditors. The e-mail address is the login
-- name and is personal data of the account holder: it never leaves this
-- table (audit events and logs carry the user id).
CREATE TABLE users (
    id               text PRIMARY KEY,
    email            text NOT NULL,
    display_name     text NOT NULL,
    home_domain      text NOT NULL, -- the tenant id or 'platform' that administers the account
    password_hash    text,          -- argon2id, PHC string; NULL until set up
    setup_hash       bytea,         -- SHA-256 of the one-time set-up token
    setup_expires_at timestamptz,
    totp_secret      bytea,         -- confirmed TOTP secret
    totp_pending     bytea,         -- secret offered at enrolment, not yet confirmed
    totp_enabled_at  timestamptz,
    totp_last_step   bigint NOT NULL DEFAULT 0, -- last accepted time step: a code works once
    created_at       timestamptz NOT NULL,
    disabled_at      timestamptz
);
CREATE UNIQUE INDEX users_email ON users (lower(email));
CREATE INDEX users_home_domain ON users (home_domain, id);

-- Sessions of people. Only a SHA-256 hash of the cookie value is stored.
CREATE TABLE sessions (
    id           text PRIMARY KEY,
    token_hash   bytea NOT NULL UNIQUE,
    user_id      text NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL, -- absolute end; idle expiry is last_seen_at + idle timeout
    mfa          boolean NOT NULL,     -- the second factor was given (or enrolment completed) in this session
    revoked_at   timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id, created_at);

-- Failed logins per account and per client address, both stored only as
-- SHA-256 hashes of their keys.
CREATE TABLE login_throttle (
    key          bytea PRIMARY KEY,
    failures     integer NOT NULL,
    window_start timestamptz NOT NULL,
    locked_until timestamptz
);

-- Personal API keys belong to a person and act with that person's roles.
ALTER TABLE api_keys ADD COLUMN user_id text REFERENCES users (id);
CREATE INDEX api_keys_user ON api_keys (user_id) WHERE user_id IS NOT NULL;

-- Casbin policy rows (model rbac_with_domains, see policy/model.conf):
--   p, role, scope, object, action     scope 'tenant' or 'platform'
--   g, subject, role, domain           subject is a key id or user id; domain a tenant id or 'platform'
CREATE TABLE casbin_rule (
    id    bigserial PRIMARY KEY,
    ptype text NOT NULL,
    v0    text NOT NULL DEFAULT '',
    v1    text NOT NULL DEFAULT '',
    v2    text NOT NULL DEFAULT '',
    v3    text NOT NULL DEFAULT '',
    v4    text NOT NULL DEFAULT '',
    v5    text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX casbin_rule_unique ON casbin_rule (ptype, v0, v1, v2, v3, v4, v5);
CREATE INDEX casbin_rule_subject ON casbin_rule (v0) WHERE ptype = 'g';

-- One counter, raised in the same transaction as every policy change and
-- read with every authentication, so no replica decides on an older policy
-- than the request's credential check saw.
CREATE TABLE authz_version (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    version bigint NOT NULL
);
INSERT INTO authz_version VALUES (true, 1);

-- Keys issued before this migration keep their role as a grant.
INSERT INTO casbin_rule (ptype, v0, v1, v2)
    SELECT 'g', id, role, domain FROM api_keys WHERE revoked_at IS NULL;

-- +goose Down
DROP TABLE authz_version;
DROP TABLE casbin_rule;
ALTER TABLE api_keys DROP COLUMN user_id;
DROP TABLE login_throttle;
DROP TABLE sessions;
DROP TABLE users;

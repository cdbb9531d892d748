-- +goose Up
-- Data subjects (chat visitors) as the decision engine knows them: by a
-- pseudonymous reference from the chat service, stored only as an
-- HMAC-SHA256 under a server key (VERWERKER_SUBJECT_KEY_FILE), so the raw
-- reference is never stored. A row exists only once the controller
-- instructed something about the subject or verwerker flagged it:
-- restriction of processing (GDPR Art. 18), objection to purposes (Art. 21),
-- data recognised as a minor's (seed 000 art. 9.5).
CREATE TABLE subjects (
    tenant_id           text NOT NULL REFERENCES tenants (id),
    id                  text NOT NULL UNIQUE,
    ref                 bytea NOT NULL CHECK (length(ref) = 32),
    restricted          boolean NOT NULL DEFAULT false,
    objected_purposes   text[] NOT NULL DEFAULT '{}',
    minor_flagged_at    timestamptz,
    last_interaction_at timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, ref)
);

ALTER TABLE subjects ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON subjects USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

-- +goose Down
DROP TABLE subjects;

-- +goose Up
-- Data processing agreements (GDPR Art. 28(3)): one row per version of a
-- customer's agreement. A version is a draft until offered; the offered
-- documents (Dutch and English HTML) and their SHA-256 are fixed at the
-- offer, and from then on the scope can never change: a change is a new
-- version. The controller accepts the exact text it saw (by its hash).
CREATE TABLE dpa_versions (
    tenant_id        text NOT NULL REFERENCES tenants (id),
    version          integer NOT NULL CHECK (version >= 1),
    id               text NOT NULL UNIQUE,
    status           text NOT NULL DEFAULT 'draft'
                     CHECK (status IN ('draft', 'offered', 'accepted', 'active', 'superseded', 'terminated')),
    controller_name  text NOT NULL,
    scope            jsonb NOT NULL,
    created_at       timestamptz NOT NULL,
    created_by       text NOT NULL,
    updated_at       timestamptz NOT NULL,
    offered_at       timestamptz,
    offered_by       text,
    document_nl      text,
    document_en      text,
    sha256_nl        text CHECK (sha256_nl ~ '^[0-9a-f]{64}$'),
    sha256_en        text CHECK (sha256_en ~ '^[0-9a-f]{64}$'),
    accepted_at      timestamptz,
    accepted_by      text,
    accepted_sha256  text CHECK (accepted_sha256 ~ '^[0-9a-f]{64}$'),
    accepted_lang    text CHECK (accepted_lang IN ('nl', 'en')),
    activated_at     timestamptz,
    superseded_at    timestamptz,
    terminated_at    timestamptz,
    PRIMARY KEY (tenant_id, version),
    CONSTRAINT dpa_versions_offer_complete CHECK (
        (status = 'draft') = (offered_at IS NULL)
        AND (offered_at IS NULL) = (document_nl IS NULL)
        AND (offered_at IS NULL) = (document_en IS NULL)
        AND (offered_at IS NULL) = (sha256_nl IS NULL)
        AND (offered_at IS NULL) = (sha256_en IS NULL)
        AND (offered_at IS NULL) = (offered_by IS NULL)
    ),
    CONSTRAINT dpa_versions_accept_complete CHECK (
        (accepted_at IS NULL) = (accepted_by IS NULL)
        AND (accepted_at IS NULL) = (accepted_sha256 IS NULL)
        AND (accepted_at IS NULL) = (accepted_lang IS NULL)
        AND (status NOT IN ('accepted', 'active', 'superseded') OR accepted_at IS NOT NULL)
    )
);

-- Exactly one active version per customer at a time.
CREATE UNIQUE INDEX dpa_versions_one_active ON dpa_versions (tenant_id) WHERE status = 'active';

-- dpa_versions_guard makes offered and accepted versions immutable and
-- allows only the lifecycle's transitions, whoever runs the UPDATE.
-- +goose StatementBegin
CREATE FUNCTION dpa_versions_guard() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'dpa_versions: only drafts may be deleted' USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id OR NEW.version IS DISTINCT FROM OLD.version
        OR NEW.id IS DISTINCT FROM OLD.id OR NEW.created_at IS DISTINCT FROM OLD.created_at
        OR NEW.created_by IS DISTINCT FROM OLD.created_by THEN
        RAISE EXCEPTION 'dpa_versions: identity columns are immutable' USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.status <> 'draft' AND (
        NEW.scope IS DISTINCT FROM OLD.scope OR NEW.controller_name IS DISTINCT FROM OLD.controller_name
        OR NEW.offered_at IS DISTINCT FROM OLD.offered_at OR NEW.offered_by IS DISTINCT FROM OLD.offered_by
        OR NEW.document_nl IS DISTINCT FROM OLD.document_nl OR NEW.document_en IS DISTINCT FROM OLD.document_en
        OR NEW.sha256_nl IS DISTINCT FROM OLD.sha256_nl OR NEW.sha256_en IS DISTINCT FROM OLD.sha256_en) THEN
        RAISE EXCEPTION 'dpa_versions: an offered version is immutable; make a new version' USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.accepted_at IS NOT NULL AND (
        NEW.accepted_at IS DISTINCT FROM OLD.accepted_at OR NEW.accepted_by IS DISTINCT FROM OLD.accepted_by
        OR NEW.accepted_sha256 IS DISTINCT FROM OLD.accepted_sha256 OR NEW.accepted_lang IS DISTINCT FROM OLD.accepted_lang) THEN
        RAISE EXCEPTION 'dpa_versions: an acceptance is immutable' USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.status <> OLD.status AND (OLD.status, NEW.status) NOT IN (
        ('draft', 'offered'), ('offered', 'accepted'), ('offered', 'terminated'), ('accepted', 'active'),
        ('accepted', 'terminated'), ('active', 'superseded'), ('active', 'terminated')) THEN
        RAISE EXCEPTION 'dpa_versions: transition not allowed' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER dpa_versions_guard BEFORE UPDATE OR DELETE ON dpa_versions
    FOR EACH ROW EXECUTE FUNCTION dpa_versions_guard();

ALTER TABLE dpa_versions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON dpa_versions USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

-- +goose Down
DROP TABLE dpa_versions;
DROP FUNCTION dpa_versions_guard();

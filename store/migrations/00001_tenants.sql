-- +goose Up
-- Customers of the company: the controllers for whom verwerker processes chat
-- data. Every other table is keyed by tenant_id first.
CREATE TABLE tenants (
    id                 text PRIMARY KEY,
    name               text NOT NULL,
    country            text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    contact_email      text NOT NULL,
    timezone           text NOT NULL DEFAULT 'Europe/Amsterdam',
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'terminated')),
    contract_end       date,
    termination_reason text,
    terminated_at      timestamptz,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    CONSTRAINT tenants_termination_complete CHECK (
        (status = 'active' AND contract_end IS NULL AND termination_reason IS NULL AND terminated_at IS NULL)
        OR (status = 'terminated' AND contract_end IS NOT NULL AND termination_reason IS NOT NULL AND terminated_at IS NOT NULL)
    )
);

-- Names are unique regardless of case, so "Acme" and "ACME" cannot both exist.
CREATE UNIQUE INDEX tenants_name_key ON tenants (lower(name));
CREATE INDEX tenants_status_id ON tenants (status, id);

-- +goose Down
DROP TABLE tenants;

-- +goose Up
-- Breaches (package breach; GDPR Art. 33 and 34, seed 001 art. 12.15-12.16).
--
-- breach_incidents is platform data: one row per reported security incident,
-- with its triage (breach, vulnerability, dismissed), its impact as computed
-- from the records store, and its 48-hour clock (deadline_at = discovered_at
-- + 48 h, exact elapsed time, fixed at report and never moved). Customers
-- never read this table: they read their own notices.
CREATE TABLE breach_incidents (
    id              text PRIMARY KEY,
    title           text NOT NULL CHECK (title <> ''),
    description     text NOT NULL DEFAULT '',
    kinds           text[] NOT NULL DEFAULT '{}',     -- confidentiality, integrity, availability
    started_at      timestamptz,
    ended_at        timestamptz,                      -- NULL: ongoing (or unknown)
    discovered_at   timestamptz NOT NULL,
    discovered_how  text NOT NULL DEFAULT '',
    systems         text[] NOT NULL DEFAULT '{}',     -- chat, admin
    categories      text[] NOT NULL DEFAULT '{}',     -- data categories of the taxonomy
    regions         text[] NOT NULL DEFAULT '{}',
    tenants         text[] NOT NULL DEFAULT '{}',     -- empty: every customer
    consequences    text NOT NULL DEFAULT '',
    measures        text NOT NULL DEFAULT '',
    contact         text NOT NULL DEFAULT '',
    reported_by     text NOT NULL,
    reported_via    text NOT NULL CHECK (reported_via IN ('staff', 'detection')),
    status          text NOT NULL DEFAULT 'reported' CHECK (status IN ('reported', 'breach', 'vulnerability', 'dismissed', 'closed')),
    triage          jsonb,                            -- the Rego answer: outcome and reasons
    impact          jsonb,                            -- the last computed impact
    deadline_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CHECK (deadline_at = discovered_at + interval '48 hours'),
    CHECK (ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX breach_incidents_open ON breach_incidents (deadline_at) WHERE status = 'breach';

-- breach_revisions is the incident's append-only history: every report,
-- triage, revision, dismissal, impact run, notice round and closure, with
-- the actor and the reason given.
CREATE TABLE breach_revisions (
    incident_id text NOT NULL REFERENCES breach_incidents (id),
    seq         integer NOT NULL,
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    status      text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    detail      jsonb,
    PRIMARY KEY (incident_id, seq)
);

-- breach_notices: one per affected customer, incident and phase (0 the
-- first notice, 1.. the updates of Art. 33(4)). A notice counts as sent only
-- when a channel delivered it (delivered_at). ack_token_sha256 is the hash of
-- the secret in the e-mail's acknowledgement link.
CREATE TABLE breach_notices (
    tenant_id         text NOT NULL REFERENCES tenants (id),
    incident_id       text NOT NULL REFERENCES breach_incidents (id),
    phase             integer NOT NULL CHECK (phase >= 0),
    content           jsonb NOT NULL,
    delivery          text NOT NULL CHECK (delivery IN ('sending', 'delivered', 'undelivered')),
    channels          jsonb NOT NULL,
    undelivered_since timestamptz,
    delivered_at      timestamptz,
    delivered_via     text,
    ack_token_sha256  bytea NOT NULL UNIQUE,
    acknowledged_at   timestamptz,
    acknowledged_by   text,
    acknowledged_via  text CHECK (acknowledged_via IN ('api', 'link')),
    created_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, incident_id, phase)
);
CREATE INDEX breach_notices_incident ON breach_notices (incident_id, phase);

ALTER TABLE breach_notices ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON breach_notices USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

-- breach_escalations: each escalation of an incident's clock fires once
-- (24, 36, 44 hours after discovery, and 48: overdue), across replicas and
-- restarts.
CREATE TABLE breach_escalations (
    incident_id text NOT NULL REFERENCES breach_incidents (id),
    hours       integer NOT NULL CHECK (hours IN (24, 36, 44, 48)),
    fired_at    timestamptz NOT NULL,
    pending     text[] NOT NULL,  -- the customers whose first notice was not delivered then
    PRIMARY KEY (incident_id, hours)
);

-- Impact scoping reads the records of a time window: an index on the
-- creation time that carries what the counts need, so the count runs as an
-- index-only scan of the window.
CREATE INDEX records_breach_window ON records (created_at) INCLUDE (tenant_id, category, kind, region, subject_id);

-- +goose Down
DROP INDEX records_breach_window;
DROP TABLE breach_escalations;
DROP TABLE breach_notices;
DROP TABLE breach_revisions;
DROP TABLE breach_incidents;

-- +goose Up
-- The records store becomes partitioned by deadline (package records,
-- retention storage layout): one partition per calendar month (UTC) of
-- delete_after, so a month whose every record is past its deadline, held
-- by no legal hold and free of statutory records is purged by dropping its
-- partition (no per-row WAL, no VACUUM) instead of deleting row by row.
--
-- delete_after becomes NOT NULL: a record whose deadline runs from the
-- contract's end (unknown while the contract runs) stores 'infinity' and
-- lives in records_never; package records reads it back as "no deadline".
-- The primary key includes the partition key; lookups by (tenant_id, id)
-- probe each partition's primary-key index (an index scan per partition).
-- Rows outside every month partition (a deadline before the first or after
-- the last one created, such as fiscal records kept seven years) land in
-- records_default, indexed by deadline; the partition job
-- (retention.partitions) creates the months of the next 100 days and moves
-- their rows out of it. Few partitions keep lookups by id cheap.
ALTER TABLE records RENAME TO records_unpartitioned;
ALTER TABLE records_unpartitioned RENAME CONSTRAINT records_pkey TO records_unpartitioned_pkey;
ALTER INDEX records_subject RENAME TO records_unpartitioned_subject;
ALTER INDEX records_due RENAME TO records_unpartitioned_due;
ALTER INDEX records_breach_window RENAME TO records_unpartitioned_breach_window;

CREATE TABLE records (
    tenant_id       text NOT NULL,
    id              text NOT NULL,
    subject_id      text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('chat.conversation', 'chat.message', 'admin.account', 'admin.user',
                                                  'admin.login_event', 'admin.invoice')),
    conversation_id text,
    category        text NOT NULL,
    purpose         text NOT NULL,
    region          text NOT NULL,
    dpa_version     integer NOT NULL,
    decision_id     text NOT NULL,
    retention_rule  text NOT NULL,
    delete_after    timestamptz NOT NULL DEFAULT 'infinity', -- 'infinity': runs from the contract's end
    created_at      timestamptz NOT NULL,
    sealed          bytea NOT NULL,
    seq             bigint GENERATED ALWAYS AS IDENTITY, -- creation order, also within one millisecond
    PRIMARY KEY (tenant_id, id, delete_after),
    FOREIGN KEY (tenant_id, subject_id) REFERENCES subjects (tenant_id, id)
) PARTITION BY RANGE (delete_after);

CREATE TABLE records_never PARTITION OF records FOR VALUES FROM ('infinity') TO (MAXVALUE);
CREATE TABLE records_default PARTITION OF records DEFAULT;
CREATE INDEX records_default_deadline ON records_default (delete_after);

-- verwerker_records_month creates the partition of the month starting at m
-- (UTC) if missing; the partition job calls it ahead of time.
-- +goose StatementBegin
CREATE FUNCTION verwerker_records_month(m timestamptz) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := date_trunc('month', m AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    hi timestamptz := (date_trunc('month', m AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
    name text := 'records_' || to_char(m AT TIME ZONE 'UTC', 'YYYY_MM');
    moved bigint;
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    -- Rows of this month waiting in the default partition move in.
    SELECT count(*) INTO moved FROM records_default WHERE delete_after >= lo AND delete_after < hi;
    IF moved > 0 THEN
        ALTER TABLE records DETACH PARTITION records_default;
        EXECUTE format('CREATE TABLE %I PARTITION OF records FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
        EXECUTE format('INSERT INTO records OVERRIDING SYSTEM VALUE SELECT * FROM records_default WHERE delete_after >= %L AND delete_after < %L', lo, hi);
        EXECUTE format('DELETE FROM records_default WHERE delete_after >= %L AND delete_after < %L', lo, hi);
        ALTER TABLE records ATTACH PARTITION records_default DEFAULT;
    ELSE
        EXECUTE format('CREATE TABLE %I PARTITION OF records FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
    END IF;
    RETURN name;
END
$$;
-- +goose StatementEnd

-- The months of the stored past deadlines, and the next 100 days.
SELECT verwerker_records_month(m)
FROM generate_series(
    date_trunc('month', least(coalesce((SELECT min(delete_after) FROM records_unpartitioned), now()), now()) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
    now() + interval '100 days',
    interval '1 month') AS m;

INSERT INTO records (tenant_id, id, subject_id, kind, conversation_id, category, purpose, region, dpa_version, decision_id, retention_rule,
        delete_after, created_at, sealed, seq)
    OVERRIDING SYSTEM VALUE
    SELECT tenant_id, id, subject_id, kind, conversation_id, category, purpose, region, dpa_version, decision_id, retention_rule,
        coalesce(delete_after, 'infinity'), created_at, sealed, seq
    FROM records_unpartitioned;
-- +goose StatementBegin
DO $$
DECLARE
    next bigint;
BEGIN
    SELECT coalesce(max(seq), 0) + 1 INTO next FROM records;
    EXECUTE format('ALTER TABLE records ALTER COLUMN seq RESTART WITH %s', next);
END
$$;
-- +goose StatementEnd
DROP TABLE records_unpartitioned;

-- Exports read one subject's records in creation order; sweeps and
-- forecasts read records by deadline.
CREATE INDEX records_subject ON records (tenant_id, subject_id, seq);
CREATE INDEX records_due ON records (tenant_id, delete_after, id) INCLUDE (category);
-- Breach impact scoping reads the records of a creation window (package breach).
CREATE INDEX records_breach_window ON records (created_at) INCLUDE (tenant_id, category, kind, region, subject_id);

ALTER TABLE records ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON records USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON records TO verwerker_app;

-- A sweep's ledger line for a dropped partition names it instead of the
-- record ids; completion verifies the partition is gone.
ALTER TABLE retention_sweep_batches ADD COLUMN dropped_partition text;

-- +goose Down
ALTER TABLE retention_sweep_batches DROP COLUMN dropped_partition;
ALTER TABLE records RENAME TO records_partitioned;
-- Free the name records_pkey for the table below, so that migrating up
-- again finds the constraint the Up section renames.
ALTER TABLE records_partitioned RENAME CONSTRAINT records_pkey TO records_partitioned_pkey;
CREATE TABLE records (
    tenant_id       text NOT NULL,
    id              text NOT NULL,
    subject_id      text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('chat.conversation', 'chat.message', 'admin.account', 'admin.user',
                                                  'admin.login_event', 'admin.invoice')),
    conversation_id text,
    category        text NOT NULL,
    purpose         text NOT NULL,
    region          text NOT NULL,
    dpa_version     integer NOT NULL,
    decision_id     text NOT NULL,
    retention_rule  text NOT NULL,
    delete_after    timestamptz,
    created_at      timestamptz NOT NULL,
    sealed          bytea NOT NULL,
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, subject_id) REFERENCES subjects (tenant_id, id)
);
INSERT INTO records (tenant_id, id, subject_id, kind, conversation_id, category, purpose, region, dpa_version, decision_id, retention_rule,
        delete_after, created_at, sealed, seq)
    OVERRIDING SYSTEM VALUE
    SELECT tenant_id, id, subject_id, kind, conversation_id, category, purpose, region, dpa_version, decision_id, retention_rule,
        nullif(delete_after, 'infinity'), created_at, sealed, seq
    FROM records_partitioned;
DROP TABLE records_partitioned;
DROP FUNCTION verwerker_records_month(timestamptz);
CREATE INDEX records_subject ON records (tenant_id, subject_id, seq);
CREATE INDEX records_due ON records (tenant_id, delete_after, id) INCLUDE (category);
CREATE INDEX records_breach_window ON records (created_at) INCLUDE (tenant_id, category, kind, region, subject_id);
ALTER TABLE records ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON records USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON records TO verwerker_app;

-- +goose Up
-- The records store's day rollup (package records, the only writer): per
-- customer, UTC day of creation, category, kind, region and subject, how many
-- of its records exist. The write path adds to it and every delete takes off
-- in the same statement as the records themselves, so it always equals
--   SELECT ..., count(*) FROM records GROUP BY tenant_id, (created_at AT TIME ZONE 'UTC')::date, category, kind, region, subject_id
-- It answers a breach's impact (GDPR Art. 33(3)(a)): exact records and
-- distinct subjects per customer and category for whole days of a window,
-- from one row per subject and day rather than one per record; the partial
-- days at the window's edges are counted from the records themselves.
-- It holds ids and counts only, never personal data. A new table: the
-- records table itself is unchanged.
CREATE TABLE record_days (
    tenant_id  text NOT NULL,
    day        date NOT NULL,
    category   text NOT NULL,
    kind       text NOT NULL,
    region     text NOT NULL,
    subject_id text NOT NULL,
    records    bigint NOT NULL CHECK (records > 0),
    -- The day first: a window reads a range of days across every customer.
    -- tenant_id is in the key (a distribution column for Citus). The only
    -- index: adding to a count is a HOT update.
    PRIMARY KEY (day, tenant_id, category, kind, region, subject_id)
) WITH (fillfactor = 90);

ALTER TABLE record_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON record_days USING (verwerker_scope_allows(tenant_id)) WITH CHECK (verwerker_scope_allows(tenant_id));

-- The records of before this migration.
INSERT INTO record_days (tenant_id, day, category, kind, region, subject_id, records)
SELECT tenant_id, (created_at AT TIME ZONE 'UTC')::date, category, kind, region, subject_id, count(*)
FROM records GROUP BY 1, 2, 3, 4, 5, 6;

-- +goose Down
DROP TABLE record_days;

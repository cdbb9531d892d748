-- +goose Up
-- decision_counts_platform (package decision): every customer's decisions
-- summed per day and purpose, kept with decision_counts in the same
-- transaction, so that the DPO's dashboard reads tens of rows instead of a
-- year of every customer's cells. Counts only.
CREATE TABLE decision_counts_platform (
    day     date NOT NULL,
    purpose text NOT NULL,
    allowed bigint NOT NULL DEFAULT 0 CHECK (allowed >= 0),
    denied  bigint NOT NULL DEFAULT 0 CHECK (denied >= 0),
    PRIMARY KEY (day, purpose)
);

INSERT INTO decision_counts_platform (day, purpose, allowed, denied)
    SELECT day, purpose, sum(allowed), sum(denied) FROM decision_counts GROUP BY day, purpose;

-- Only the platform scope reads or writes the sums over every customer.
ALTER TABLE decision_counts_platform ENABLE ROW LEVEL SECURITY;
CREATE POLICY platform_only ON decision_counts_platform USING (current_setting('verwerker.tenant', true) = '*')
    WITH CHECK (current_setting('verwerker.tenant', true) = '*');

GRANT SELECT, INSERT, UPDATE, DELETE ON decision_counts_platform TO verwerker_app;

-- +goose Down
DROP TABLE decision_counts_platform;

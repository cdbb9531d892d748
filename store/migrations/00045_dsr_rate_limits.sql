-- +goose Up
-- dsr_rate_windows: the public intake's rate limits, shared by every
-- replica on the database (package dsr). One row per limited key and fixed
-- window: the key is an HMAC of the client address or the e-mail address
-- (never the address itself), hits counts the accepted submissions in the
-- window starting at window_start. Rows of past windows are deleted by the
-- periodic sweep (dsr.sweep).
CREATE TABLE dsr_rate_windows (
    key          bytea NOT NULL,
    window_start timestamptz NOT NULL,
    hits         int NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX dsr_rate_windows_start ON dsr_rate_windows (window_start);
GRANT SELECT, INSERT, UPDATE, DELETE ON dsr_rate_windows TO verwerker_app;

-- +goose Down
DROP TABLE dsr_rate_windows;

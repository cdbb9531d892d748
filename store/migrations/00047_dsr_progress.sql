-- +goose Up
-- A running export's progress in records (export_done of export_total),
-- shown on the request beside the percentage.
ALTER TABLE dsr_requests ADD COLUMN export_done int NOT NULL DEFAULT 0,
    ADD COLUMN export_total int NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE dsr_requests DROP COLUMN export_done, DROP COLUMN export_total;

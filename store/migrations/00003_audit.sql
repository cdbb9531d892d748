-- +goose Up
-- The append-only, hash-chained audit log. One chain per tenant and one for
-- the platform ('platform'). Each event's hash is SHA-256 over the previous
-- event's hash and the event's canonical encoding (see audit/event.go).
CREATE TABLE audit_events (
    chain      text        NOT NULL,
    seq        bigint      NOT NULL CHECK (seq > 0),
    id         text        NOT NULL,
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    action     text        NOT NULL,
    resource   text        NOT NULL,
    outcome    text        NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
    reason     text        NOT NULL,
    prev_hash  bytea       NOT NULL,
    hash       bytea       NOT NULL,
    PRIMARY KEY (chain, seq)
);

-- The head of each chain: the last sequence number and hash. Appenders lock
-- the row, so each chain grows strictly one event after another.
CREATE TABLE audit_heads (
    chain text   PRIMARY KEY,
    seq   bigint NOT NULL,
    hash  bytea  NOT NULL
);

-- Signed checkpoints of chain heads.
CREATE TABLE audit_checkpoints (
    chain      text        NOT NULL,
    seq        bigint      NOT NULL,
    hash       bytea       NOT NULL,
    signed_at  timestamptz NOT NULL,
    key_id     text        NOT NULL,
    signature  bytea       NOT NULL,
    PRIMARY KEY (chain, seq)
);

-- +goose StatementBegin
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- +goose Down
DROP TABLE audit_checkpoints;
DROP TABLE audit_heads;
DROP TABLE audit_events;
DROP FUNCTION audit_refuse_change();

-- +goose Up
-- The outbox (package notify) also carries the platform's own messages:
-- e-mail to the processor's DPO, such as a breach clock's escalations
-- (package breach), under the tenant id 'platform' (the platform's audit
-- chain, verwerker.PlatformDomain), which is no customer. Every other
-- message still names an existing customer: the foreign key becomes a
-- trigger that lets 'platform' through.
ALTER TABLE outbox_messages DROP CONSTRAINT outbox_messages_tenant_id_fkey;

-- +goose StatementBegin
CREATE FUNCTION outbox_messages_tenant() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public
    AS $$
BEGIN
    IF NEW.tenant_id <> 'platform' AND NOT EXISTS (SELECT 1 FROM tenants WHERE id = NEW.tenant_id) THEN
        RAISE foreign_key_violation USING MESSAGE = 'outbox_messages: no such tenant';
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER outbox_messages_tenant BEFORE INSERT OR UPDATE OF tenant_id ON outbox_messages
    FOR EACH ROW EXECUTE FUNCTION outbox_messages_tenant();

-- +goose Down
DROP TRIGGER outbox_messages_tenant ON outbox_messages;
DROP FUNCTION outbox_messages_tenant();
DELETE FROM outbox_attempts WHERE tenant_id = 'platform';
DELETE FROM outbox_messages WHERE tenant_id = 'platform';
ALTER TABLE outbox_messages ADD FOREIGN KEY (tenant_id) REFERENCES tenants (id);

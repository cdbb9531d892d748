-- +goose Up
-- The requester's contact and free text are personal data: they are kept
-- sealed (AES-GCM) with a data key of their own per request or
-- verification, wrapped by the tenant's key in the keyring (package keys),
-- as records are. contact is the sealed JSON object {email, details,
-- incorrect, correct, grounds}; contact_key the wrapped data key;
-- email_digest an HMAC of the address (never the address), to recognise a
-- duplicate of an unmatched request.
--
-- Pending verifications live 15 minutes: they are dropped, their
-- requesters file again. The clear email and details columns of
-- dsr_requests stay only for rows written before this migration; the
-- periodic sweep (dsr.sweep) seals those and empties the columns.
DELETE FROM dsr_verifications;
ALTER TABLE dsr_verifications DROP COLUMN email, DROP COLUMN details,
    ADD COLUMN contact_key text NOT NULL,
    ADD COLUMN contact bytea NOT NULL;
ALTER TABLE dsr_requests ADD COLUMN contact_key text,
    ADD COLUMN contact bytea,
    ADD COLUMN email_digest bytea;
CREATE INDEX dsr_requests_email_digest ON dsr_requests (tenant_id, email_digest) WHERE email_digest IS NOT NULL;
CREATE INDEX dsr_requests_clear_contact ON dsr_requests (tenant_id) WHERE contact_key IS NULL AND (email <> '' OR details <> '');

-- +goose Down
DROP INDEX dsr_requests_clear_contact;
DROP INDEX dsr_requests_email_digest;
ALTER TABLE dsr_requests DROP COLUMN contact_key, DROP COLUMN contact, DROP COLUMN email_digest;
DELETE FROM dsr_verifications;
ALTER TABLE dsr_verifications DROP COLUMN contact_key, DROP COLUMN contact,
    ADD COLUMN email text NOT NULL DEFAULT '', ADD COLUMN details text NOT NULL DEFAULT '';

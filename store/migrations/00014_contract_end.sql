-- +goose Up
-- A notice of termination is not the end of the contract (seed 000 art. 8.3;
-- GDPR Art. 28(3)(g)): the customer stays a customer, and its data may be
-- processed, through the contract's last day in its own time zone.
-- contract_ends_at is the instant the contract ends: the first instant after
-- contract_end in the tenant's time zone. Whether a terminated tenant is
-- still "terminating" or has "ended" is computed from it at every read, so
-- the transition needs no job and no write.
--
-- erased_at records when the customer's data was crypto-shredded (its
-- tenant key destroyed): after the contract ended, or before it on the
-- explicit instruction of the customer's controller_admin.
ALTER TABLE tenants
    ADD COLUMN contract_ends_at timestamptz,
    ADD COLUMN erased_at timestamptz;

UPDATE tenants SET contract_ends_at = ((contract_end + 1)::timestamp AT TIME ZONE timezone)
    WHERE contract_end IS NOT NULL;

ALTER TABLE tenants DROP CONSTRAINT tenants_termination_complete;
ALTER TABLE tenants ADD CONSTRAINT tenants_termination_complete CHECK (
    (status = 'active' AND contract_end IS NULL AND contract_ends_at IS NULL AND termination_reason IS NULL AND terminated_at IS NULL)
    OR (status = 'terminated' AND contract_end IS NOT NULL AND contract_ends_at IS NOT NULL AND termination_reason IS NOT NULL AND terminated_at IS NOT NULL)
);
-- Only a customer whose contract was terminated can be erased.
ALTER TABLE tenants ADD CONSTRAINT tenants_erased_terminated CHECK (erased_at IS NULL OR status = 'terminated');

-- +goose Down
ALTER TABLE tenants DROP CONSTRAINT tenants_erased_terminated;
ALTER TABLE tenants DROP CONSTRAINT tenants_termination_complete;
ALTER TABLE tenants ADD CONSTRAINT tenants_termination_complete CHECK (
    (status = 'active' AND contract_end IS NULL AND termination_reason IS NULL AND terminated_at IS NULL)
    OR (status = 'terminated' AND contract_end IS NOT NULL AND termination_reason IS NOT NULL AND terminated_at IS NOT NULL)
);
ALTER TABLE tenants DROP COLUMN erased_at, DROP COLUMN contract_ends_at;

-- +goose Up
-- A subprocessor change is announced to a customer only when a channel
-- delivered the notice (GDPR Art. 28(2): the controller must be informed to
-- have the opportunity to object). Until then the notice has no notified_at,
-- no objection window and no effective time, so the change cannot take effect
-- for the customer; the window counts from the delivery instant, in the
-- customer's calendar.
--
-- delivery is where the notice's delivery stands:
--   sending     a channel is still making its first attempt
--   delivered   a channel delivered it (delivered_via: webhook, email), or
--               the DPO recorded an out-of-band delivery (out_of_band)
--   undelivered no channel delivered it and none is still trying for the
--               first time: no channel configured, or every channel failing.
--               An alarm for the DPO from undelivered_since on.
-- channels is the state of each electronic channel: a JSON array of
-- {channel, state, cause, message_id, attempts, updated_at}, with error codes
-- only (never addresses). out_of_band is the DPO's record of a delivery by
-- other means: {channel, delivered_on, reference, recorded_by, recorded_at}.
ALTER TABLE subprocessor_notices
    ALTER COLUMN notified_at DROP NOT NULL,
    ALTER COLUMN window_ends_at DROP NOT NULL,
    ALTER COLUMN effective_at DROP NOT NULL,
    ADD COLUMN delivery text NOT NULL DEFAULT 'delivered' CHECK (delivery IN ('sending', 'delivered', 'undelivered')),
    ADD COLUMN delivered_via text CHECK (delivered_via IN ('webhook', 'email', 'out_of_band')),
    ADD COLUMN undelivered_since timestamptz,
    ADD COLUMN channels jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN out_of_band jsonb;

-- Notices announced before this migration that no channel delivered were
-- never notice: their window and effective time are cleared, so the change
-- does not take effect for the customer before it is told. A notice whose
-- announcement is still in the outbox waits for it; one without any shows
-- as undelivered for the DPO.
UPDATE subprocessor_notices n
SET delivery = CASE WHEN EXISTS (
        SELECT 1 FROM outbox_messages m WHERE m.tenant_id = n.tenant_id
          AND m.idempotency_key LIKE 'subprocessor/' || n.change_id || '/announce/%' AND m.status = 'pending')
        THEN 'sending' ELSE 'undelivered' END,
    undelivered_since = now(), notified_at = NULL, window_ends_at = NULL, effective_at = NULL
WHERE n.status IN ('pending', 'objected') AND NOT EXISTS (
    SELECT 1 FROM outbox_messages m WHERE m.tenant_id = n.tenant_id
      AND m.idempotency_key LIKE 'subprocessor/' || n.change_id || '/announce/%' AND m.status = 'delivered');
UPDATE subprocessor_notices SET undelivered_since = NULL WHERE delivery <> 'undelivered';

ALTER TABLE subprocessor_notices
    ADD CONSTRAINT subprocessor_notices_delivered CHECK (
        (delivery = 'delivered') = (notified_at IS NOT NULL)
        AND (notified_at IS NULL) = (window_ends_at IS NULL)
        AND (notified_at IS NULL) = (effective_at IS NULL)
        AND (delivery = 'undelivered') = (undelivered_since IS NOT NULL));

CREATE INDEX subprocessor_notices_undelivered ON subprocessor_notices (undelivered_since) WHERE delivery = 'undelivered';

-- +goose Down
DROP INDEX subprocessor_notices_undelivered;
-- Notices never delivered keep their rows but never take effect.
UPDATE subprocessor_notices n SET notified_at = c.created_at, window_ends_at = 'infinity', effective_at = 'infinity'
FROM subprocessor_changes c WHERE c.id = n.change_id AND n.notified_at IS NULL;
ALTER TABLE subprocessor_notices
    DROP CONSTRAINT subprocessor_notices_delivered,
    DROP COLUMN out_of_band,
    DROP COLUMN channels,
    DROP COLUMN undelivered_since,
    DROP COLUMN delivered_via,
    DROP COLUMN delivery,
    ALTER COLUMN notified_at SET NOT NULL,
    ALTER COLUMN window_ends_at SET NOT NULL,
    ALTER COLUMN effective_at SET NOT NULL;

-- +goose Up
-- Replicas that trust their in-memory caches (credentials, compiled
-- decisions) hold a lease here while their LISTEN connection is up, and
-- record the last barrier they processed. A change made through the API
-- issues a barrier after it commits and answers only when every replica
-- with a live lease has processed it (store.Watcher, DB.Sync): so a revoked
-- key or a new agreement takes effect on the very next request on every
-- replica, while requests are answered from memory.
CREATE TABLE replicas (
    id text PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz NOT NULL,
    heard bigint NOT NULL
);

CREATE SEQUENCE replica_barrier_seq;
GRANT SELECT, INSERT, UPDATE, DELETE ON replicas TO verwerker_app;
GRANT USAGE, SELECT ON SEQUENCE replica_barrier_seq TO verwerker_app;

-- +goose Down
DROP SEQUENCE replica_barrier_seq;
DROP TABLE replicas;

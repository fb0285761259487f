-- The tables the runtime keeps in every service's schema, created by the runtime after
-- the service's own migrations (${schema} is the service's schema). IF NOT EXISTS: a
-- service whose migrations created them earlier keeps its own.

-- The outbox: rows are inserted in the same transaction as the change they announce,
-- published to the service's Redis Stream by OutboxRelay in commit order, then deleted.
-- The table holds only what is still to be published.
CREATE TABLE IF NOT EXISTS ${schema}.outbox (
  id bigserial PRIMARY KEY,       -- the relay's order within one publisher lease
  event_id uuid NOT NULL UNIQUE,  -- consumers dedup by it (delivery is at least once)
  payload bytea NOT NULL,         -- the serialized event, relayed byte for byte
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The request log: request_id idempotency, scoped to the caller and the method
-- (server/runtime/idempotency.h), written in the transaction of the change.
CREATE TABLE IF NOT EXISTS ${schema}.request_log (
  identity text NOT NULL,    -- the caller: a request_id is scoped to it...
  method text NOT NULL,      -- ...and to the method (fully qualified)
  request_id text NOT NULL,
  -- PayloadFingerprint of the first call's request; a retry must match it. NULL: recorded
  -- before payloads were compared (a migrated row), any payload counts as the retry.
  payload_sha256 text,
  -- The serialized response the first call returned, given back to retries byte for
  -- byte. NULL only for migrated rows: the store then re-reads `resource`.
  response bytea,
  resource text NOT NULL DEFAULT '',  -- what the call changed, e.g. defects/42
  create_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (identity, method, request_id)
);
CREATE INDEX IF NOT EXISTS request_log_create_time_idx ON ${schema}.request_log (create_time);

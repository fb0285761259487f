-- The outbox table every service creates in its first migration, in its own schema
-- (replace `defect` with the service's schema). OutboxRelay reads exactly these columns:
-- rows are inserted in the same transaction as the change they announce, published to
-- the service's Redis Stream oldest first, then marked with published_at.
CREATE TABLE defect.outbox (
  id bigserial PRIMARY KEY,
  event_id uuid NOT NULL UNIQUE,  -- consumers dedup by it (delivery is at least once)
  payload bytea NOT NULL,         -- the serialized event, relayed byte for byte
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz        -- NULL until relayed
);
-- The relay's scan: only unpublished rows, in id order.
CREATE INDEX ON defect.outbox (id) WHERE published_at IS NULL;

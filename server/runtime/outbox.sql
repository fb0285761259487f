-- The outbox table every service creates in its migrations, in its own schema
-- (replace `defect` with the service's schema). OutboxRelay reads exactly these columns:
-- rows are inserted in the same transaction as the change they announce, published to
-- the service's Redis Stream oldest first, then deleted. The table holds only what is
-- still to be published.
CREATE TABLE defect.outbox (
  id bigserial PRIMARY KEY,       -- the relay's order
  event_id uuid NOT NULL UNIQUE,  -- consumers dedup by it (delivery is at least once)
  payload bytea NOT NULL,         -- the serialized event, relayed byte for byte
  created_at timestamptz NOT NULL DEFAULT now()
);

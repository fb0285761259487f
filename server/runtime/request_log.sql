-- The request log every service creates in its migrations, in its own schema (replace
-- `defect` with the service's schema), like outbox.sql. PgRequestLog reads exactly these
-- columns: one row per idempotent call, written in the same transaction as its change.
CREATE TABLE defect.request_log (
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
CREATE INDEX request_log_create_time_idx ON defect.request_log (create_time);

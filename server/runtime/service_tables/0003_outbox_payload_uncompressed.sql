-- Outbox payloads are stored as they come, out of line but not compressed: a telemetry
-- batch's event (its accepted samples, ~40 KB for 1,000) cost 2.2 ms an INSERT to
-- compress with pglz (bench/run --pg-stats, B2 at 1,000 samples a message: a quarter
-- of PostgreSQL's time), and the relay decompressed it again to publish it, for a row
-- that lives until the next relay round. Serialized protobuf compresses poorly anyway.
ALTER TABLE ${schema}.outbox ALTER COLUMN payload SET STORAGE EXTERNAL;

-- The outbox relay deletes a row once its event is in the Redis Stream (watchers resume
-- from the stream, and the history table is the record of every change), so the outbox
-- holds only what is still to be published instead of growing forever. The mark column
-- and its partial index go.
ALTER TABLE defect.outbox DROP COLUMN published_at;

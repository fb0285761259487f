-- What the relay last published to the service's event stream, written in the
-- transaction that deletes the published outbox rows (server/runtime/stream_history.h).
-- A database restored from a backup brings back an older row: the relay then sees the
-- stream holding events after it that the outbox does not know, and starts a new stream
-- generation (watchers are told to list again) instead of mixing the two histories.
CREATE TABLE IF NOT EXISTS ${schema}.outbox_stream (
  stream_key text PRIMARY KEY,  -- e.g. plantmesh:defect:events
  generation text NOT NULL,     -- the stream's generation key's value (16 hex digits)
  last_id text NOT NULL,        -- the stream's last entry id, <ms>-<seq>, when recorded
  update_time timestamptz NOT NULL DEFAULT now()
);

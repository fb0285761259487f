-- Exactly once without losing what is not a re-send (batch_sequences.h): every batch
-- committed within [telemetry] batch-record-hours, with a fingerprint of its samples, so
-- that a sequence not above the writer's last is told apart: the same samples (a
-- re-sent batch, a duplicate), other samples (refused), or no record (refused). Looked
-- up by primary key for the sequences of each transaction's batches; written once per
-- new batch. Expired rows are deleted by the partition job through the BRIN index:
-- rows arrive in commit order, so a block range's times stay close together and the
-- index costs almost nothing per row, where a btree on commit_time would cost a second
-- index insert per batch.
CREATE TABLE telemetry.ingest_batches (
  writer_id text NOT NULL,
  batch_sequence int8 NOT NULL,
  samples_sha256 bytea NOT NULL,
  commit_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (writer_id, batch_sequence)
);
CREATE INDEX ingest_batches_commit_time_idx ON telemetry.ingest_batches USING brin (commit_time);

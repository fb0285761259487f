-- Rollups by a bounded background job instead of in the ingest transaction.
--
-- 0003 upserted every batch's (data item, minute) and (data item, hour) cells in the
-- batch's transaction. When batches are wide (a collector's batch of 500 samples of 500
-- data items, bench B1) that is two upserted rows per sample — measured at 11 of the 28
-- µs PostgreSQL spent per sample, more than the COPY itself. Now:
--   * the batch's transaction adds one row here (its number, the time range of its
--     numeric samples), so what is not rolled up yet is known exactly and durably;
--   * the rollup job (rollup_job.h, one replica at a time) takes the oldest pending
--     batches, aggregates their raw rows (found by sample_key = batch * 16384 + index,
--     through the sample_key index below) into both levels and deletes their pending rows, in
--     one transaction: every committed sample is rolled up exactly once, late samples
--     (an adapter replaying a day of buffer) land in their old cells like any other;
--   * QueryAggregates stays exact at every moment: in the snapshot it reads, the rollups
--     are complete before the oldest pending batch's first time (the levels'
--     complete_before); from there it reads raw rows, which hold every committed sample.
-- A cell upserted once per job round instead of once per batch.

CREATE TABLE telemetry.rollup_pending (
  batch int8 PRIMARY KEY,                -- sample_key / 16384 of its samples
  samples int4 NOT NULL,                 -- its numeric samples (a round's size)
  min_time timestamptz NOT NULL,         -- of those samples
  max_time timestamptz NOT NULL
);

-- The job's way to a pending batch's rows: its sample_key range. Keys grow with the
-- batch numbers, so each insert goes to the index's rightmost leaf (the cheap case of a
-- btree: no random page per row, unlike the (machine_id, time) index). A BRIN index was
-- tried first: its newest block ranges are unsummarized until vacuum or an autovacuum
-- work item (a full work-item queue leaves them so), and each round then read the whole
-- unsummarized tail.
CREATE INDEX samples_sample_key_idx ON telemetry.samples (sample_key);

-- Each round rewrites the cells it touches; with free space on their pages the new
-- version stays on the page (a HOT update: no new index entry, the old version pruned
-- with the page), instead of growing the primary key by an entry per round. New minute
-- partitions get the same (RollupPartitionDdl).
ALTER TABLE telemetry.rollup_hours SET (fillfactor = 50);
DO $$
DECLARE
  part record;
BEGIN
  FOR part IN
    SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'telemetry.rollup_minutes'::regclass
  LOOP
    EXECUTE format('ALTER TABLE telemetry.%I SET (fillfactor = 50)', part.relname);
  END LOOP;
END
$$;

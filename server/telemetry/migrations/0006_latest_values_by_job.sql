-- Latest values by the rollup job instead of in the ingest transaction.
--
-- 0001 upserted each batch's newest sample per data item into latest_values in the
-- batch's transaction. A collector's batch names hundreds of data items (bench B1: 500
-- samples of 500 items), so that was an upserted row per sample: 4.5 of the 14.7 µs
-- PostgreSQL spent per sample (B1 with it 79,709 samples/s, without it 99,983; with this
-- job 96,464 and 108,046 at 11.0 and 10.2 µs; same machine, bench/README.md), and
-- concurrent batches of one machine waited on each other's row locks. Now:
--   * every batch that stored samples adds its rollup_pending row (0005), whatever their
--     kind: `samples` counts all of them (a round's size), min_time/max_time span all of
--     them (the rollups' complete_before is at most earlier than it must be; aggregate
--     queries stay exact, they read raw rows from there);
--   * the rollup job's round, in the transaction that rolls the batches up and deletes
--     their pending rows, moves latest_values forward from their raw rows (newest by
--     time, then sample_key, as before), so a batch is applied exactly once;
--   * readers stay exact at every moment: the store's latest-values query merges, in one
--     snapshot, latest_values with the raw rows of the batches still pending.
-- A data item's row is rewritten once per round instead of once per batch.

COMMENT ON TABLE telemetry.latest_values IS
  'Newest sample per data item of the batches rolled up (0006_latest_values_by_job.sql); '
  'readers merge the raw rows of telemetry.rollup_pending''s batches.';
COMMENT ON TABLE telemetry.rollup_pending IS
  'Committed batches whose samples are not yet in the rollups nor in latest_values '
  '(0005_rollups_by_job.sql, 0006_latest_values_by_job.sql).';

-- A batch's rejected samples, kept with its record (0007): a re-sent batch is answered with
-- them. Before, a re-send was answered "duplicate" for every sample, and after a crash
-- between a commit and its answer the writer counted the batch's rejected samples as
-- stored (outside testing: a NaN sample reported as a duplicate, never as rejected).
-- "index:reason" pairs separated by commas (RejectReason's numbers; batch_sequences.h),
-- "" when none was rejected, as records written before this migration read; a few bytes
-- per rejected sample, fewer than the sample took on the wire.
ALTER TABLE telemetry.ingest_batches ADD COLUMN rejections text NOT NULL DEFAULT '';

-- A writer_id belongs to the caller that first sent under it (batch_sequences.h JudgeOwner):
-- another caller's batch is refused (PERMISSION_DENIED, WRITER_ID_TAKEN). Outside testing:
-- one integrator sent under another's writer_id a sequence of 9e18, which refused that
-- adapter's next batches, and learnt from "duplicate" answers which batches it had sent.
-- NULL for writers recorded before: the next caller to send under the id adopts it.
ALTER TABLE telemetry.ingest_writers ADD COLUMN owner text;

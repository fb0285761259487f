-- A writer starting again fences its earlier process's batches (ResumeIngestWriter,
-- batch_sequences.h JudgeSequence): none numbered at or below fenced_through commits
-- unless it had, so the last committed batch it is told is final. Outside testing: after
-- an adapter's restart nothing said which of the batches in flight at the crash had been
-- stored, and the adapter sent them again (at-least-once across restarts).
ALTER TABLE telemetry.ingest_writers ADD COLUMN fenced_through int8 NOT NULL DEFAULT 0;

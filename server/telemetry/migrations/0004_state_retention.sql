-- Retention of the machine-state history: state intervals and ended downtimes are
-- deleted once they ended more than [telemetry] retention-days ago, with the samples
-- they were derived from (PgTelemetryStore::DropExpiredStates, run by the partition job).
-- The deletes select by end time; these indexes keep them from scanning the tables every
-- round. Their cost at ingest is small: a row per state change or downtime, not per
-- sample. The open downtime (end_time NULL) is never deleted, so it is left out.
CREATE INDEX state_intervals_end_time_idx ON telemetry.state_intervals (end_time);
CREATE INDEX downtimes_end_time_idx ON telemetry.downtimes (end_time)
  WHERE end_time IS NOT NULL;

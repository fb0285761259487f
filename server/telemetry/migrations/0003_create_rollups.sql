-- Rollups for QueryAggregates: count, min, max, sum, first and last of each data item's
-- numeric samples per minute and per hour (server/telemetry/aggregates.h merges them).
--
-- Maintained in the ingest transaction, not by a background job: each committed batch
-- upserts the partial aggregates of the (data item, minute) and (data item, hour) cells
-- it touches, merged with what the cell held. Why:
--   * exact at every moment: a rollup holds exactly the committed samples, so a query
--     never reads raw rows beyond its edges (no "not rolled up yet" tail to scan), and
--     a re-sent batch, a duplicate before anything is written, counts nothing twice;
--   * late samples (an adapter replaying hours of buffer after an outage) land in their
--     old cells in the same transaction; a job with a time watermark would miss them, or
--     need a record of dirty cells written by ingest anyway;
--   * the cost is one upsert row per (data item, minute) and per (data item, hour) a
--     batch touches, in two statements: an adapter's batch of 500 samples of 20 data
--     items at 1 Hz touches ~20-40 minute cells and ~20 hour cells (a tenth of the rows
--     COPY writes). The cost per batch is measured in the README (telemetry section).
-- Rows are upserted in (machine, data item, cell) order, so concurrent batches lock
-- them in one order and cannot deadlock.
--
-- Retention as the samples': minute cells are partitioned by UTC day like the samples
-- (rollup_minutes_YYYYMMDD, created and dropped with the day's samples partition); hour
-- cells are few (24 per data item and day) and deleted by day when the day is dropped.
-- first/last break ties of time by value (smallest first, largest last), as
-- Aggregate::Merge does.

CREATE TABLE telemetry.rollup_minutes (
  machine_id text NOT NULL,
  data_item_id text NOT NULL,
  cell_start timestamptz NOT NULL,     -- on the minute
  count int8 NOT NULL,
  min float8 NOT NULL,
  max float8 NOT NULL,
  sum float8 NOT NULL,
  first float8 NOT NULL,
  first_time timestamptz NOT NULL,
  last float8 NOT NULL,
  last_time timestamptz NOT NULL,
  PRIMARY KEY (machine_id, data_item_id, cell_start)
) PARTITION BY RANGE (cell_start);

CREATE TABLE telemetry.rollup_hours (
  machine_id text NOT NULL,
  data_item_id text NOT NULL,
  cell_start timestamptz NOT NULL,     -- on the hour
  count int8 NOT NULL,
  min float8 NOT NULL,
  max float8 NOT NULL,
  sum float8 NOT NULL,
  first float8 NOT NULL,
  first_time timestamptz NOT NULL,
  last float8 NOT NULL,
  last_time timestamptz NOT NULL,
  PRIMARY KEY (machine_id, data_item_id, cell_start)
);
-- Retention deletes a day of hour cells of every data item.
CREATE INDEX rollup_hours_cell_start_idx ON telemetry.rollup_hours (cell_start);

-- A minute partition for every day that already has a samples partition.
DO $$
DECLARE
  part record;
  day date;
BEGIN
  FOR part IN
    SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'telemetry.samples'::regclass
  LOOP
    IF part.relname ~ '^samples_[0-9]{8}$' THEN
      day := to_date(substr(part.relname, 9), 'YYYYMMDD');
      EXECUTE format(
          'CREATE TABLE IF NOT EXISTS telemetry.%I PARTITION OF telemetry.rollup_minutes '
          'FOR VALUES FROM (%L) TO (%L)',
          'rollup_minutes_' || to_char(day, 'YYYYMMDD'),
          to_char(day, 'YYYY-MM-DD') || ' 00:00:00+00',
          to_char(day + 1, 'YYYY-MM-DD') || ' 00:00:00+00');
    END IF;
  END LOOP;
END
$$;

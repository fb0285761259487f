-- The telemetry service's schema: machines with their data items, the writers' batch
-- sequences (exactly-once ingest), samples partitioned by day, latest values.

-- Machines. `seq` is the registration order ListMachines pages in.
CREATE TABLE telemetry.machines (
  id text PRIMARY KEY,                 -- plant code, e.g. CNC-07
  seq bigserial NOT NULL UNIQUE,
  display_name text NOT NULL DEFAULT '',
  line text NOT NULL DEFAULT '',
  zone text NOT NULL DEFAULT '',
  ideal_cycle_time_us int8,            -- NULL: unknown
  create_time timestamptz NOT NULL,
  update_time timestamptz NOT NULL,
  version int8 NOT NULL                -- the etag; +1 per stored change
);
CREATE INDEX machines_create_time_seq_idx ON telemetry.machines (create_time, seq);

-- A machine's data items; an update replaces them all.
CREATE TABLE telemetry.data_items (
  machine_id text NOT NULL REFERENCES telemetry.machines (id) ON DELETE CASCADE,
  id text NOT NULL,                    -- the machine's own id (MTConnect dataItemId)
  position int NOT NULL,               -- order in Machine.data_items
  name text NOT NULL DEFAULT '',
  category int2 NOT NULL,              -- DataItemCategory's number
  type int NOT NULL,                   -- DataItemType's number
  units text NOT NULL DEFAULT '',
  native_units text NOT NULL DEFAULT '',
  PRIMARY KEY (machine_id, id)
);

-- Exactly-once ingest: the last batch committed per writer. A batch locks its writer's
-- row, is a duplicate when its sequence is not above last_batch_sequence, and moves it
-- forward in the transaction that stores its samples.
CREATE TABLE telemetry.ingest_writers (
  writer_id text PRIMARY KEY,
  last_batch_sequence int8 NOT NULL,
  update_time timestamptz NOT NULL DEFAULT now()
);

-- Numbers the committed batches: a sample's key is batch * 16384 + its index in the
-- batch, so samples of equal time keep the order they were stored in.
CREATE SEQUENCE telemetry.sample_batches;

-- Raw samples, one partition per UTC day (samples_YYYYMMDD, created ahead by the
-- service, dropped whole when older than retention-days). Written only by binary COPY.
-- kind: 1 number, 2 text, 3 condition, 4 unavailable (the value columns of the other
-- kinds are NULL).
CREATE TABLE telemetry.samples (
  machine_id text NOT NULL,
  data_item_id text NOT NULL,
  time timestamptz NOT NULL,
  sample_key int8 NOT NULL,
  kind int2 NOT NULL,
  number float8,
  text text,
  condition_level int2,
  native_code text,
  message text,
  source_sequence int8
) PARTITION BY RANGE (time);

-- One index, chosen for the reads and what it costs the COPY. Reads: QuerySamples (one
-- machine, a time range, by time, optionally some of its data items) and, later,
-- aggregates of one data item over a range and the tail's catch-up. (machine_id, time)
-- gives each of them an ordered range scan of one machine's rows; the data item filter
-- is applied to those rows (a machine has tens of data items, not thousands).
-- Measured on the 2-core reference machine (STACK-NOTES): binary COPY into an
-- unindexed table 1.56 M rows/s, with BRIN on time 0.93 M, with a composite btree
-- (machine, item, time) 0.26 M. A btree is the price of answering a machine's range
-- without scanning every machine's rows of that range (BRIN would, 4,000 rows/s
-- plant-wide for each one we want); two columns instead of three keep its entries
-- smaller. GetLatestValues never reads this table (latest_values), and there is no
-- unique constraint: equal timestamps are distinct samples, duplicates are excluded
-- by the writers' batch sequences, not by an index.
CREATE INDEX samples_machine_time_idx ON telemetry.samples (machine_id, time);

-- The newest sample of each data item (by its time; a late sample with an older time
-- does not replace it), upserted in the batch's transaction.
CREATE TABLE telemetry.latest_values (
  machine_id text NOT NULL,
  data_item_id text NOT NULL,
  time timestamptz NOT NULL,
  sample_key int8 NOT NULL,
  kind int2 NOT NULL,
  number float8,
  text text,
  condition_level int2,
  native_code text,
  message text,
  source_sequence int8,
  PRIMARY KEY (machine_id, data_item_id)
);

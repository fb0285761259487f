-- Machine states (server/telemetry/states.h): each machine's tracker, the closed state
-- intervals and the downtimes it settled, all written in the transaction of the batch
-- that moved them, so they follow exactly the acknowledged batches. Kept beyond the
-- samples' retention: a few rows per state change, and the history OEE is computed from.

-- The tracker of each machine that has had a state sample: TrackerState as
-- tracker_state_codec.h's JSON. A batch with state samples of the machine locks its row
-- (created on its first one). `pending`: the state at the tracker's last time is not
-- settled yet, so the next batch with any sample of the machine moves it on (read with
-- the batch's catalog, without a lock).
CREATE TABLE telemetry.machine_trackers (
  machine_id text PRIMARY KEY,
  state text,                          -- NULL only in the instant a row is created
  pending boolean NOT NULL DEFAULT false,
  update_time timestamptz NOT NULL DEFAULT now()
);

-- Closed intervals [start_time, end_time) of one state; they never overlap per machine,
-- so the start is the key. The current state is not here but in the tracker.
-- ListStateIntervals and GetUtilization read one machine's intervals overlapping a range
-- in start order: the primary key's range scan (end_time > range start is filtered on
-- rows from just before the range start).
CREATE TABLE telemetry.state_intervals (
  machine_id text NOT NULL,
  state int2 NOT NULL,                 -- MachineState's number
  start_time timestamptz NOT NULL,
  end_time timestamptz NOT NULL,
  PRIMARY KEY (machine_id, start_time)
);

-- Downtimes: one unbroken run of STOPPED and DOWN per row, keyed by (machine, start);
-- end_time NULL while it lasts. The reason fields are the operator's (SetDowntimeReason).
CREATE TABLE telemetry.downtimes (
  id bigserial PRIMARY KEY,
  machine_id text NOT NULL,
  state int2 NOT NULL,                 -- MachineState's number: STOPPED or DOWN
  start_time timestamptz NOT NULL,
  end_time timestamptz,
  reason_code text NOT NULL DEFAULT '',
  comment text NOT NULL DEFAULT '',
  reason_set_by text NOT NULL DEFAULT '',
  reason_set_time timestamptz,
  UNIQUE (machine_id, start_time)
);
-- ListDowntimes pages newest first: plant-wide by (start_time, id) descending; one
-- machine's through the unique (machine_id, start_time) index.
CREATE INDEX downtimes_start_time_id_idx ON telemetry.downtimes (start_time DESC, id DESC);

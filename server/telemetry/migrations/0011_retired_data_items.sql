-- Data items an UpdateMachine left out, with the type they had then. Their samples stay
-- readable by QuerySamples and QueryAggregates, and a retired PART_COUNT item's parts stay
-- in GetUtilization's ranges. An item registered again under its id leaves this table
-- (its type is then the registered one). Outside testing: an adapter upgrade renamed
-- the MTConnect dataItemId part_count, and every closed shift's part count went to 0.
CREATE TABLE telemetry.retired_data_items (
  machine_id text NOT NULL REFERENCES telemetry.machines (id) ON DELETE CASCADE,
  id text NOT NULL,
  type int NOT NULL,                   -- DataItemType's number when it was left out
  retire_time timestamptz NOT NULL,
  PRIMARY KEY (machine_id, id)
);

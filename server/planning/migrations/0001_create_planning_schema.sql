-- The planning service's schema: plant model, shift calendar, plans with revisions,
-- actual output and downtime. Nested parts (shifts, rotation, cycle times, plan items)
-- are jsonb: always read and written whole with their resource.
CREATE TABLE planning.shift_patterns (
  id text PRIMARY KEY,
  display_name text NOT NULL,
  definition jsonb NOT NULL  -- shifts (minutes after local midnight), cycle, rotation
);

CREATE TABLE planning.lines (
  id text PRIMARY KEY,
  display_name text NOT NULL,
  site text NOT NULL,
  area text NOT NULL,
  nominal_rate_per_hour double precision NOT NULL CHECK (nominal_rate_per_hour > 0),
  shift_pattern_id text NOT NULL REFERENCES planning.shift_patterns (id)
);

CREATE TABLE planning.products (
  id text PRIMARY KEY,
  display_name text NOT NULL,
  unit text NOT NULL,
  cycle_times jsonb NOT NULL,
  changeovers jsonb NOT NULL
);

CREATE TABLE planning.crews (
  id text PRIMARY KEY,
  display_name text NOT NULL,
  area text NOT NULL
);

CREATE TABLE planning.holidays (
  date date PRIMARY KEY,
  display_name text NOT NULL
);

CREATE TABLE planning.maintenance_windows (
  id bigserial PRIMARY KEY,
  line_id text NOT NULL REFERENCES planning.lines (id),
  start_time timestamptz NOT NULL,
  end_time timestamptz NOT NULL CHECK (end_time > start_time),
  reason text NOT NULL
);
CREATE INDEX maintenance_windows_line_time_idx
  ON planning.maintenance_windows (line_id, start_time);

CREATE TABLE planning.plans (
  id bigserial PRIMARY KEY,
  line_id text NOT NULL REFERENCES planning.lines (id),
  shift_id text NOT NULL,
  shift_date date NOT NULL,
  shift_start timestamptz NOT NULL,
  shift_end timestamptz NOT NULL,
  items jsonb NOT NULL,
  status int NOT NULL,
  revision int NOT NULL,
  revision_reason text NOT NULL,
  created_by text NOT NULL,
  create_time timestamptz NOT NULL,
  updated_by text NOT NULL,
  update_time timestamptz NOT NULL,
  version bigint NOT NULL,
  CONSTRAINT plans_one_per_line_shift UNIQUE (line_id, shift_id)
);
CREATE INDEX plans_shift_start_idx ON planning.plans (shift_start, id);
CREATE INDEX plans_shift_date_idx ON planning.plans (shift_date, line_id);

CREATE TABLE planning.plan_revisions (
  plan_id bigint NOT NULL REFERENCES planning.plans (id),
  revision int NOT NULL,
  items jsonb NOT NULL,
  reason text NOT NULL,
  revised_by text NOT NULL,
  revise_time timestamptz NOT NULL,
  PRIMARY KEY (plan_id, revision)
);

CREATE TABLE planning.outputs (
  id bigserial PRIMARY KEY,
  line_id text NOT NULL REFERENCES planning.lines (id),
  shift_id text NOT NULL,
  shift_date date NOT NULL,
  product_id text NOT NULL REFERENCES planning.products (id),
  packaged bigint NOT NULL CHECK (packaged >= 0),
  marked bigint NOT NULL CHECK (marked >= 0),
  scrapped bigint NOT NULL CHECK (scrapped >= 0),
  scrap_reason text NOT NULL,
  recorded_by text NOT NULL,
  record_time timestamptz NOT NULL
);
CREATE INDEX outputs_shift_date_idx ON planning.outputs (shift_date, line_id);

CREATE TABLE planning.downtimes (
  id bigserial PRIMARY KEY,
  line_id text NOT NULL REFERENCES planning.lines (id),
  shift_id text NOT NULL,
  shift_date date NOT NULL,
  reason_code text NOT NULL,
  duration_minutes int NOT NULL CHECK (duration_minutes > 0),
  comment text NOT NULL,
  recorded_by text NOT NULL,
  record_time timestamptz NOT NULL
);
CREATE INDEX downtimes_shift_date_idx ON planning.downtimes (shift_date, line_id);

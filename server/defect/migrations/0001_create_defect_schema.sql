-- The defect & repair service's tables. Statuses and severities are the numbers of
-- plantmesh.defect.v1.DefectStatus / Severity; ids of plant resources are plant codes.

CREATE TABLE defect.categories (
  code text PRIMARY KEY,
  title text NOT NULL,
  default_severity int NOT NULL CHECK (default_severity BETWEEN 1 AND 3),
  request_id text NOT NULL DEFAULT '',
  create_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE defect.repair_places (
  id text PRIMARY KEY,
  display_name text NOT NULL,
  zone text NOT NULL,
  request_id text NOT NULL DEFAULT '',
  create_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX repair_places_zone_idx ON defect.repair_places (zone, id);

CREATE TABLE defect.crews (
  id text PRIMARY KEY,
  display_name text NOT NULL,
  zone text NOT NULL,
  request_id text NOT NULL DEFAULT '',
  create_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX crews_zone_idx ON defect.crews (zone, id);

CREATE TABLE defect.mechanics (
  id text PRIMARY KEY,
  display_name text NOT NULL,
  crew_id text NOT NULL REFERENCES defect.crews (id),
  identity text NOT NULL DEFAULT '',
  request_id text NOT NULL DEFAULT '',
  create_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mechanics_crew_idx ON defect.mechanics (crew_id, id);

CREATE TABLE defect.defects (
  id bigserial PRIMARY KEY,
  -- Incremented by every change; the etag is "v<version>".
  version bigint NOT NULL DEFAULT 1,
  -- Idempotency of CreateDefect: a retry with the same request_id returns this row;
  -- request_hash tells a retry from a different request reusing the id.
  request_id text NOT NULL UNIQUE,
  request_hash text NOT NULL,
  vin text NOT NULL,
  model text NOT NULL,
  zone text NOT NULL,
  station text NOT NULL,
  category_code text NOT NULL REFERENCES defect.categories (code),
  severity int NOT NULL CHECK (severity BETWEEN 1 AND 3),
  description text NOT NULL DEFAULT '',
  detected_by text NOT NULL DEFAULT '',
  shift text NOT NULL,
  status int NOT NULL CHECK (status BETWEEN 1 AND 7),
  reported_by text NOT NULL,
  create_time timestamptz NOT NULL,
  update_time timestamptz NOT NULL,
  close_time timestamptz,
  cancel_reason text NOT NULL DEFAULT '',
  -- Assignment (null until assigned).
  repair_place_id text REFERENCES defect.repair_places (id),
  mechanic_id text REFERENCES defect.mechanics (id),
  assigned_by text,
  assign_time timestamptz,
  -- The current or last repair (null until started).
  repair_started_by text,
  repair_start_time timestamptz,
  repair_finished_by text,
  repair_finish_time timestamptz,
  repair_work_done text,
  repair_labor_minutes int,
  -- The last QC decision (null until verified).
  verified_by text,
  verify_time timestamptz,
  verify_accepted boolean,
  rejection_reason text
);
-- List orders (keyset: sort time, then id) and filters.
CREATE INDEX defects_create_time_idx ON defect.defects (create_time, id);
CREATE INDEX defects_update_time_idx ON defect.defects (update_time, id);
CREATE INDEX defects_status_idx ON defect.defects (status, create_time, id);
CREATE INDEX defects_zone_idx ON defect.defects (zone, create_time, id);
CREATE INDEX defects_vin_idx ON defect.defects (vin, create_time, id);
CREATE INDEX defects_shift_idx ON defect.defects (shift, create_time, id);
-- One repair at a time per place: the backstop behind StartRepair's place lock.
CREATE UNIQUE INDEX defects_one_repair_per_place_idx ON defect.defects (repair_place_id)
  WHERE status = 3;

CREATE TABLE defect.history (
  defect_id bigint NOT NULL REFERENCES defect.defects (id),
  sequence bigint NOT NULL,
  change_type int NOT NULL,
  actor text NOT NULL,
  change_time timestamptz NOT NULL,
  -- [{"field": ..., "old_value": ..., "new_value": ...}]
  changes jsonb NOT NULL DEFAULT '[]',
  comment text NOT NULL DEFAULT '',
  request_id text NOT NULL DEFAULT '',
  PRIMARY KEY (defect_id, sequence)
);
-- Idempotency of transitions: a request id applies once per defect.
CREATE UNIQUE INDEX history_request_id_idx ON defect.history (defect_id, request_id)
  WHERE request_id <> '';

CREATE TABLE defect.photos (
  defect_id bigint NOT NULL REFERENCES defect.defects (id),
  photo_no int NOT NULL,
  content_type text NOT NULL,
  size_bytes bigint NOT NULL,
  sha256 text NOT NULL,
  file_name text NOT NULL DEFAULT '',
  uploaded_by text NOT NULL,
  upload_time timestamptz NOT NULL,
  request_id text NOT NULL DEFAULT '',
  bytes bytea NOT NULL,
  PRIMARY KEY (defect_id, photo_no)
);
CREATE UNIQUE INDEX photos_request_id_idx ON defect.photos (defect_id, request_id)
  WHERE request_id <> '';

-- Events for watchers, written in the same transaction as each change (OutboxRelay).
CREATE TABLE defect.outbox (
  id bigserial PRIMARY KEY,
  event_id uuid NOT NULL UNIQUE,
  payload bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
CREATE INDEX ON defect.outbox (id) WHERE published_at IS NULL;

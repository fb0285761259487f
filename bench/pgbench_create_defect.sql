-- B5 baseline: what one CreateDefect costs PostgreSQL, driven by pgbench with nothing in
-- front of it. Same tables (the defect service's migrations, applied by bench/run to a
-- database of their own), same statements as server/defect/pg_store.cc's CreateDefect
-- transaction — defect_insert (ON CONFLICT on the request_id UNIQUE index, every index
-- of defect.defects) and change_record (the history entry, sequence = max + 1, and the
-- outbox event in one statement) — with
-- values of the sizes the service writes: a UUID request id, a 64-hex request hash, the
-- REPORTED history entry's field changes as JSON, and a ~300-byte serialized event.
-- Not included (the service does them, the baseline does not): the first category lookup
-- before the transaction, the batched audit row, the outbox relay to Redis.
-- Run by bench/run as: pgbench -n -M prepared -c N -j 2 -T S -f <this> pgbench_baseline
\set n random(1, 1000000000)
BEGIN;
INSERT INTO defect.defects (request_id, request_hash, vin, model, zone, station,
    category_code, severity, description, detected_by, shift, status, reported_by,
    create_time, update_time, version)
  VALUES (gen_random_uuid()::text,
          'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00',
          'W' || :client_id || '-' || :n, 'SEDAN-2.0', 'PAINT', 'P-07', 'BENCH-PGBENCH', 1,
          'Scratch on the left rear door, 4 cm, found at final inspection', 'bench',
          '2026-11-21/A', 1, 'spiffe://plantmesh.local/user/bench', now(), now(), 1)
  ON CONFLICT (request_id) DO NOTHING RETURNING id AS defect_id \gset
WITH entry AS (INSERT INTO defect.history (defect_id, sequence, change_type, actor, change_time, changes,
    comment, request_id)
  SELECT :defect_id, coalesce(max(sequence), 0) + 1, 1, 'spiffe://plantmesh.local/user/bench',
         now(), '[{"field": "vin", "old_value": "", "new_value": "W1-123456"}, {"field": "model", "old_value": "", "new_value": "SEDAN-2.0"}, {"field": "zone", "old_value": "", "new_value": "PAINT"}, {"field": "station", "old_value": "", "new_value": "P-07"}, {"field": "category_code", "old_value": "", "new_value": "BENCH-PGBENCH"}, {"field": "severity", "old_value": "", "new_value": "SEVERITY_MINOR"}, {"field": "description", "old_value": "", "new_value": "Scratch on the left rear door, 4 cm, found at final inspection"}, {"field": "detected_by", "old_value": "", "new_value": "bench"}, {"field": "shift", "old_value": "", "new_value": "2026-11-21/A"}, {"field": "status", "old_value": "", "new_value": "DEFECT_STATUS_REPORTED"}]'::jsonb,
         '', ''
  FROM defect.history WHERE defect_id = :defect_id)
INSERT INTO defect.outbox (event_id, payload)
  VALUES (gen_random_uuid(), decode(repeat('a5', 300), 'hex'));
COMMIT;

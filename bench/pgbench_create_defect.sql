-- B5 baseline: what one CreateDefect costs PostgreSQL, driven by pgbench with nothing in
-- front of it. Same tables (the defect service's migrations, applied by bench/run to a
-- database of their own), same statements as server/defect/pg_store.cc's CreateDefect
-- transaction: the request log claim (server/runtime/pg_request_log.cc, one statement),
-- defect_insert (every index of defect.defects), change_record (the history entry,
-- sequence = max + 1, and the outbox event in one statement) and the request log record
-- of the response — with values of the sizes the service writes: a request id, a 64-hex
-- payload hash, the REPORTED history entry's field changes as JSON, a ~300-byte
-- serialized event and a ~400-byte serialized response.
-- Not included (the service does them, the baseline does not): the first category lookup
-- before the transaction, the batched audit row, the outbox relay to Redis.
-- Run by bench/run as: pgbench -n -M prepared -c N -j 2 -T S -f <this> pgbench_baseline
\set n random(1, 1000000000)
BEGIN;
WITH claimed AS (INSERT INTO defect.request_log (identity, method, request_id, payload_sha256)
    VALUES ('spiffe://plantmesh.local/user/bench', 'plantmesh.defect.v1.DefectService.CreateDefect',
            'pgbench-' || :client_id || '-' || :n,
            'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00')
    ON CONFLICT DO NOTHING RETURNING 1)
  SELECT true AS claimed, NULL::text AS payload_sha256, NULL::bytea AS response, ''::text AS resource
    FROM claimed
  UNION ALL SELECT false, payload_sha256, response, resource FROM defect.request_log
    WHERE identity = 'spiffe://plantmesh.local/user/bench'
      AND method = 'plantmesh.defect.v1.DefectService.CreateDefect'
      AND request_id = 'pgbench-' || :client_id || '-' || :n;
INSERT INTO defect.defects (request_id, request_hash, vin, model, zone, station,
    category_code, severity, description, detected_by, shift, status, reported_by,
    create_time, update_time, version)
  VALUES ('pgbench-' || :client_id || '-' || :n,
          'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00',
          'W' || :client_id || '-' || :n, 'SEDAN-2.0', 'PAINT', 'P-07', 'BENCH-PGBENCH', 1,
          'Scratch on the left rear door, 4 cm, found at final inspection', 'bench',
          '2026-11-21/A', 1, 'spiffe://plantmesh.local/user/bench', now(), now(), 1)
  RETURNING id AS defect_id \gset
WITH entry AS (INSERT INTO defect.history (defect_id, sequence, change_type, actor, change_time, changes,
    comment, request_id)
  SELECT :defect_id, coalesce(max(sequence), 0) + 1, 1, 'spiffe://plantmesh.local/user/bench',
         now(), '[{"field": "vin", "old_value": "", "new_value": "W1-123456"}, {"field": "model", "old_value": "", "new_value": "SEDAN-2.0"}, {"field": "zone", "old_value": "", "new_value": "PAINT"}, {"field": "station", "old_value": "", "new_value": "P-07"}, {"field": "category_code", "old_value": "", "new_value": "BENCH-PGBENCH"}, {"field": "severity", "old_value": "", "new_value": "SEVERITY_MINOR"}, {"field": "description", "old_value": "", "new_value": "Scratch on the left rear door, 4 cm, found at final inspection"}, {"field": "detected_by", "old_value": "", "new_value": "bench"}, {"field": "shift", "old_value": "", "new_value": "2026-11-21/A"}, {"field": "status", "old_value": "", "new_value": "DEFECT_STATUS_REPORTED"}]'::jsonb,
         '', ''
  FROM defect.history WHERE defect_id = :defect_id)
INSERT INTO defect.outbox (event_id, payload)
  VALUES (gen_random_uuid(), decode(repeat('a5', 300), 'hex'));
UPDATE defect.request_log SET response = decode(repeat('5a', 400), 'hex'),
    resource = 'defects/' || :defect_id
  WHERE identity = 'spiffe://plantmesh.local/user/bench'
    AND method = 'plantmesh.defect.v1.DefectService.CreateDefect'
    AND request_id = 'pgbench-' || :client_id || '-' || :n;
COMMIT;

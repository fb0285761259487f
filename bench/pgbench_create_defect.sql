-- B5 baseline: what one CreateDefect costs PostgreSQL, driven by pgbench with nothing in
-- front of it. Same tables (the defect service's migrations and the server's own audit
-- schema, copied by bench/run into a database of their own), same statements as
-- server/defect/pg_store.cc's CreateDefect, each run on its own (autocommit), as the
-- store runs them:
--   1. defect_next_id: the id drawn first, so that the response and the event are known;
--   2. defect_create: one statement that claims the request_id in the request log with the
--      response (server/runtime/pg_request_log.cc), inserts the defect (every index of
--      defect.defects), its first history entry, its outbox event and the call's audit row
--      (server/runtime/pg_audit_sink.cc), and reads back an earlier call's entry if any.
-- Values have the sizes the service writes: a request id, a 64-hex payload hash, a
-- ~400-byte serialized response, the REPORTED history entry's field changes as JSON, a
-- ~300-byte serialized event, the audit row's identity, roles, trace id and request JSON.
-- Each value the service sends differs per report (the id, the VIN) and differs here
-- too: a constant ('...'::jsonb, decode() of a literal) would be parsed once when the
-- statement is prepared instead of once per transaction as the service's parameters are.
-- Not included (the service does them, the baseline does not): the first category lookup
-- (cached by the store afterwards), the outbox relay to Redis.
-- Run by bench/run as: pgbench -n -M prepared -c N -j 2 -T S -f <this> pgbench_baseline
\set n random(1, 1000000000)
SELECT nextval('defect.defects_id_seq') AS defect_id \gset
WITH claimed AS (INSERT INTO defect.request_log (identity, method, request_id, payload_sha256,
      response, resource)
    SELECT 'spiffe://plantmesh.local/user/bench', 'plantmesh.defect.v1.DefectService.CreateDefect',
           'pgbench-' || :client_id || '-' || :n,
           'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00',
           decode(repeat('5a', 396) || lpad(to_hex(:defect_id::int8), 8, '0'), 'hex'),
           'defects/' || :defect_id
    WHERE 'pgbench-' || :client_id || '-' || :n <> ''
    ON CONFLICT DO NOTHING RETURNING 1),
  go AS (SELECT 1 FROM claimed UNION ALL SELECT 1 WHERE 'pgbench-' || :client_id || '-' || :n = ''),
  created AS (INSERT INTO defect.defects (id, request_id, request_hash, vin, model, zone, station,
      category_code, severity, description, detected_by, shift, status, reported_by,
      create_time, update_time, version)
    SELECT :defect_id, 'pgbench-' || :client_id || '-' || :n,
           'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00',
           'W' || :client_id || '-' || :n, 'SEDAN-2.0', 'PAINT', 'P-07', 'BENCH-PGBENCH', 1,
           'Scratch on the left rear door, 4 cm, found at final inspection', 'bench',
           '2026-11-21/A', 1, 'spiffe://plantmesh.local/user/bench', now(), now(), 1
    FROM go RETURNING id),
  entry AS (INSERT INTO defect.history (defect_id, sequence, change_type, actor, change_time,
      changes, comment, request_id)
    SELECT id, 1, 1, 'spiffe://plantmesh.local/user/bench', now(),
           ('[{"field": "vin", "old_value": "", "new_value": "W' || :client_id || '-' || :n || '"}, {"field": "model", "old_value": "", "new_value": "SEDAN-2.0"}, {"field": "zone", "old_value": "", "new_value": "PAINT"}, {"field": "station", "old_value": "", "new_value": "P-07"}, {"field": "category_code", "old_value": "", "new_value": "BENCH-PGBENCH"}, {"field": "severity", "old_value": "", "new_value": "SEVERITY_MINOR"}, {"field": "description", "old_value": "", "new_value": "Scratch on the left rear door, 4 cm, found at final inspection"}, {"field": "detected_by", "old_value": "", "new_value": "bench"}, {"field": "shift", "old_value": "", "new_value": "2026-11-21/A"}, {"field": "status", "old_value": "", "new_value": "DEFECT_STATUS_REPORTED"}]')::jsonb,
           '', 'pgbench-' || :client_id || '-' || :n
    FROM created),
  event AS (INSERT INTO defect.outbox (event_id, payload)
    SELECT gen_random_uuid(), decode(repeat('a5', 296) || lpad(to_hex(:defect_id::int8), 8, '0'), 'hex') FROM created),
  audited AS (INSERT INTO audit.audit_log (time, identity, roles, method, trace_id, status_code,
      status_message, request)
    SELECT now(), 'spiffe://plantmesh.local/user/bench', '{admin}'::text[],
           'plantmesh.defect.v1.DefectService.CreateDefect', md5(:client_id || '-' || :n), 0, '',
           NULLIF('{"defect":{"vin":"W' || :client_id || '-' || :n || '","model":"SEDAN-2.0","zone":"PAINT","station":"P-07","category_code":"BENCH-PGBENCH","severity":"SEVERITY_MINOR","description":"Scratch on the left rear door, 4 cm, found at final inspection","detected_by":"bench","shift":"2026-11-21/A"},"request_id":"pgbench-' || :client_id || '-' || :n || '"}', '')::jsonb
    FROM created WHERE true)
SELECT true AS claimed, NULL::text AS payload_sha256, NULL::bytea AS response, ''::text AS resource
  FROM go
UNION ALL SELECT false, payload_sha256, response, resource FROM defect.request_log
  WHERE identity = 'spiffe://plantmesh.local/user/bench'
    AND method = 'plantmesh.defect.v1.DefectService.CreateDefect'
    AND request_id = 'pgbench-' || :client_id || '-' || :n
    AND 'pgbench-' || :client_id || '-' || :n <> '';

-- request_id idempotency moves to the runtime's request log (server/runtime/request_log.sql):
-- a request_id is scoped to the caller's identity and the method, the payload is compared on
-- every mutating method, and a retry gets the first call's response back.
CREATE TABLE defect.request_log (
  identity text NOT NULL,
  method text NOT NULL,
  request_id text NOT NULL,
  payload_sha256 text,
  response bytea,
  resource text NOT NULL DEFAULT '',
  create_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (identity, method, request_id)
);
CREATE INDEX request_log_create_time_idx ON defect.request_log (create_time);

-- The request ids recorded so far, so that a retry spanning the upgrade is still a retry.
-- They have no recorded response (the store re-reads the resource). CreateDefect kept a
-- payload hash: SHA-256 of the serialized request without its request_id, which for these
-- messages (no map fields) equals the deterministic fingerprint. Transitions and photos
-- kept none: any payload counts as the retry, as before. Creates of repair places, crews,
-- mechanics and categories recorded no creator, so they cannot be keyed by caller.
INSERT INTO defect.request_log (identity, method, request_id, payload_sha256, resource, create_time)
SELECT reported_by, 'plantmesh.defect.v1.DefectService.CreateDefect', request_id, request_hash,
       'defects/' || id, create_time
FROM defect.defects WHERE request_id <> ''
ON CONFLICT DO NOTHING;

INSERT INTO defect.request_log (identity, method, request_id, resource, create_time)
SELECT uploaded_by, 'plantmesh.defect.v1.DefectService.UploadDefectPhoto', request_id,
       'defects/' || defect_id || '/photos/' || photo_no, upload_time
FROM defect.photos WHERE request_id <> ''
ON CONFLICT DO NOTHING;

INSERT INTO defect.request_log (identity, method, request_id, resource, create_time)
SELECT actor, 'plantmesh.defect.v1.DefectService.' || CASE change_type
         WHEN 2 THEN 'UpdateDefect' WHEN 3 THEN 'AssignDefect' WHEN 4 THEN 'StartRepair'
         WHEN 5 THEN 'FinishRepair' WHEN 6 THEN 'VerifyRepair' WHEN 7 THEN 'VerifyRepair'
         WHEN 8 THEN 'CancelDefect' END,
       request_id, 'defects/' || defect_id, change_time
FROM defect.history WHERE request_id <> '' AND change_type BETWEEN 2 AND 8
ORDER BY defect_id, sequence
ON CONFLICT DO NOTHING;

-- Uniqueness per defect no longer holds: two callers may use the same request_id. The
-- columns stay, as the record of which request made the defect, change or photo.
ALTER TABLE defect.defects DROP CONSTRAINT defects_request_id_key;
ALTER TABLE defect.defects ALTER COLUMN request_id SET DEFAULT '';
ALTER TABLE defect.defects ALTER COLUMN request_hash SET DEFAULT '';
DROP INDEX defect.history_request_id_idx;
DROP INDEX defect.photos_request_id_idx;

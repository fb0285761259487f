-- The catalog's version, so that an ingest replica may keep the catalog in memory
-- (catalog_cache.h) and read one row instead of ~300 data items a transaction (B2). It
-- is the id of the last transaction that wrote machines or data items: every statement
-- that writes either table sets it, in that transaction. A committed catalog therefore
-- has one version and a version one catalog (a transaction id commits once), also
-- across a restore into the same cluster, where a counter could come back to a value a
-- replica remembers with other contents. Catalog writes queue on this one row; they are
-- rare (registering and editing machines), and ingest only reads it.
CREATE TABLE telemetry.catalog_version (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version int8 NOT NULL
);
INSERT INTO telemetry.catalog_version (version) VALUES (pg_current_xact_id()::text::int8);

CREATE FUNCTION telemetry.set_catalog_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE telemetry.catalog_version SET version = pg_current_xact_id()::text::int8;
  RETURN NULL;
END
$$;

CREATE TRIGGER machines_catalog_version
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON telemetry.machines
  FOR EACH STATEMENT EXECUTE FUNCTION telemetry.set_catalog_version();
CREATE TRIGGER data_items_catalog_version
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON telemetry.data_items
  FOR EACH STATEMENT EXECUTE FUNCTION telemetry.set_catalog_version();

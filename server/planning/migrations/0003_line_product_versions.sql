-- Versions of lines and products (UpdateLine, UpdateProduct): +1 with every change that
-- alters them; the etag an update passes back is derived from it. Rows that exist start
-- at 1, as new ones do.
ALTER TABLE planning.lines ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE planning.products ADD COLUMN version bigint NOT NULL DEFAULT 1;

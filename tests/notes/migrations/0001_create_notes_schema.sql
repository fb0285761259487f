-- The test-only notes service's one table.
CREATE TABLE notes.notes (
  id bigserial PRIMARY KEY,
  text text NOT NULL,
  author text NOT NULL,
  request_id text NOT NULL UNIQUE
);

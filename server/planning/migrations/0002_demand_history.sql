-- Daily demand history per product (ImportDemand), read by ForecastDemand. One row per
-- product and local day: a later import of the same day replaces the quantity.
CREATE TABLE planning.demand (
  product_id text NOT NULL REFERENCES planning.products (id),
  day date NOT NULL,
  quantity double precision NOT NULL
    CHECK (quantity >= 0 AND quantity < 'Infinity'::double precision),
  update_time timestamptz NOT NULL,
  PRIMARY KEY (product_id, day)
);

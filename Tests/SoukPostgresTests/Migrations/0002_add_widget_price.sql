ALTER TABLE widgets ADD COLUMN price_minor bigint NOT NULL DEFAULT 0 CHECK (price_minor >= 0);
CREATE INDEX widgets_price_idx ON widgets (price_minor);

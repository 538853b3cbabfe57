-- What an Open311 key reads: `public` (what anyone reads: public categories, points coarsened) or
-- `all` (every category, exact points; never contact data).
ALTER TABLE open311_keys ADD COLUMN reads TEXT NOT NULL DEFAULT 'public';

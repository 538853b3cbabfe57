-- The record keyed (issue 13, M1). Each entry written from now on holds the state of its case after
-- the action (a digest per part, one per document) and its MAC under the record's key, which is not
-- in the database. The head says which key writes the record (`key_id`, a MAC of the key, not the
-- key), from which entry on (`keyed_from`: the entries before it were written before the key and
-- are checked by their hashes only), since when, and carries its own MAC.
ALTER TABLE case_log ADD COLUMN state TEXT;
ALTER TABLE case_log ADD COLUMN mac TEXT;
ALTER TABLE case_log_head ADD COLUMN key_id TEXT;
ALTER TABLE case_log_head ADD COLUMN keyed_from BIGINT;
ALTER TABLE case_log_head ADD COLUMN keyed_at BIGINT;
ALTER TABLE case_log_head ADD COLUMN mac TEXT;

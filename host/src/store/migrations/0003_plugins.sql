-- The plugin lifecycle: publisher keys, every published version of every domain's plugin (kept as
-- long as the database lives: a case pinned to a version must always be able to run it again),
-- which version serves each domain, every change of that, and the faults that quarantine a version.

-- The ed25519 keys a domain team signs its plugins with, registered by an admin.
CREATE TABLE publisher_keys (
    id {{id}},
    domain TEXT NOT NULL,
    name TEXT NOT NULL,
    -- 32 bytes, hex
    public_key TEXT NOT NULL UNIQUE,
    -- the first 16 hex digits of the key's sha256, to tell keys apart
    fingerprint TEXT NOT NULL,
    registered_by BIGINT REFERENCES users (id),
    registered_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_by BIGINT REFERENCES users (id)
);

CREATE TABLE plugin_versions (
    id {{id}},
    domain TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    component {{blob}} NOT NULL,
    -- 'bundled' (shipped with the host) or 'published' (signed by the domain team)
    source TEXT NOT NULL,
    key_id BIGINT REFERENCES publisher_keys (id),
    -- the signature document, as published
    signature TEXT,
    published_by BIGINT REFERENCES users (id),
    published_at BIGINT NOT NULL,
    -- the manifest as JSON: names, in-force dates, the limits the version asks for
    manifest TEXT NOT NULL,
    quarantined_at BIGINT,
    quarantine_reason TEXT,
    -- when an admin last lifted a quarantine: faults before it no longer count
    released_at BIGINT,
    -- a version is immutable: one set of bytes per (domain, version)
    UNIQUE (domain, version)
);

-- Which version serves each domain. `mode` is 'active', or 'manual' when the active version was
-- quarantined with nothing to fall back on: officers work the domain's cases without assessment.
CREATE TABLE plugin_domains (
    domain TEXT PRIMARY KEY,
    enabled BIGINT NOT NULL,
    active_version TEXT NOT NULL,
    mode TEXT NOT NULL,
    changed_at BIGINT NOT NULL
);

-- Every change of what serves a domain, with who made it, when and from where.
CREATE TABLE plugin_activations (
    id {{id}},
    domain TEXT NOT NULL,
    -- install, activate, rollback, enable, disable, quarantine
    action TEXT NOT NULL,
    version TEXT NOT NULL,
    previous TEXT,
    mode TEXT NOT NULL,
    actor_id BIGINT REFERENCES users (id),
    actor TEXT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX plugin_activations_domain ON plugin_activations (domain, id);

-- One row, counted up by every change above: hosts poll it to know when to reload.
CREATE TABLE plugin_state (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL
);
INSERT INTO plugin_state (id, seq) VALUES (1, 0);

-- Timeouts, traps and contract violations of serving calls, from every host.
CREATE TABLE plugin_faults (
    id {{id}},
    domain TEXT NOT NULL,
    version TEXT NOT NULL,
    code TEXT NOT NULL,
    host TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX plugin_faults_version ON plugin_faults (domain, version, at);

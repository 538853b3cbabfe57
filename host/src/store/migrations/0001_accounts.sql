-- Accounts, organisation, sessions, tokens and the security log.

CREATE TABLE departments (
    id {{id}},
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE teams (
    id {{id}},
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    department_id BIGINT NOT NULL REFERENCES departments (id),
    -- the domains the team enforces, comma-separated domain codes
    domains TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id {{id}},
    -- lower-cased; a citizen's login is their phone number or e-mail address
    login TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    email TEXT UNIQUE,
    phone TEXT UNIQUE,
    password_hash TEXT,
    must_change_password BIGINT NOT NULL DEFAULT 0,
    disabled BIGINT NOT NULL DEFAULT 0,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A role held in a scope: 'all', 'department:<id>', 'team:<id>', 'domain:<code>' or 'self'.
CREATE TABLE role_grants (
    id {{id}},
    user_id BIGINT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    scope TEXT NOT NULL,
    granted_by BIGINT REFERENCES users (id),
    granted_at BIGINT NOT NULL,
    UNIQUE (user_id, role, scope)
);
CREATE INDEX role_grants_scope ON role_grants (scope, role);

CREATE TABLE certifications (
    id {{id}},
    user_id BIGINT NOT NULL REFERENCES users (id),
    domain TEXT NOT NULL,
    number TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    granted_by BIGINT REFERENCES users (id),
    granted_at BIGINT NOT NULL,
    UNIQUE (user_id, domain)
);

CREATE TABLE sessions (
    -- sha256 of the cookie's value: a copy of this table signs nobody in
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id {{id}},
    user_id BIGINT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    -- the first characters, to tell tokens apart in a list
    prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT,
    revoked_by BIGINT REFERENCES users (id)
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Open311 GeoReport v2 clients (apps, partner systems) post reports with an api_key.
CREATE TABLE open311_keys (
    id {{id}},
    client TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

-- Who did what to accounts and access, from where. Append-only.
CREATE TABLE security_events (
    id {{id}},
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor_id BIGINT,
    actor TEXT NOT NULL,
    subject_id BIGINT,
    source TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX security_events_at ON security_events (at);
CREATE INDEX security_events_subject ON security_events (subject_id);

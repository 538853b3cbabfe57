-- The grid, citizens' reports with their timelines and attachments, and the notification outbox.

CREATE TABLE grid_cells (
    id {{id}},
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- the GeoJSON geometry (Polygon or MultiPolygon, WGS84)
    geometry TEXT NOT NULL,
    -- its bounding box, so that a point is tested only against cells that may hold it
    min_lat DOUBLE PRECISION NOT NULL,
    min_lon DOUBLE PRECISION NOT NULL,
    max_lat DOUBLE PRECISION NOT NULL,
    max_lon DOUBLE PRECISION NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX grid_cells_bbox ON grid_cells (min_lat, max_lat);

-- Which team acts for which domain in which cell.
CREATE TABLE coverage (
    cell_id BIGINT NOT NULL REFERENCES grid_cells (id),
    domain TEXT NOT NULL,
    team_id BIGINT NOT NULL REFERENCES teams (id),
    PRIMARY KEY (cell_id, domain)
);

-- The team that acts for a domain where no cell covers the point.
CREATE TABLE fallback_teams (
    domain TEXT PRIMARY KEY,
    team_id BIGINT NOT NULL REFERENCES teams (id)
);

CREATE TABLE reports (
    id {{id}},
    tracking_code TEXT NOT NULL UNIQUE,
    -- 'web' or 'open311'
    source TEXT NOT NULL,
    open311_key_id BIGINT REFERENCES open311_keys (id),
    citizen_id BIGINT REFERENCES users (id),
    domain TEXT,
    category TEXT,
    description TEXT NOT NULL,
    lat DOUBLE PRECISION,
    lon DOUBLE PRECISION,
    address TEXT,
    occurred_at BIGINT,
    contact_name TEXT,
    contact_phone TEXT,
    contact_email TEXT,
    -- triage, dispatched, accepted, closed, merged, case-opened
    status TEXT NOT NULL,
    team_id BIGINT REFERENCES teams (id),
    cell_id BIGINT REFERENCES grid_cells (id),
    ack_due_at BIGINT,
    handle_due_at BIGINT,
    acknowledged_at BIGINT,
    reminded_at BIGINT,
    -- escalated for a missed acknowledgement, and for a missed handling deadline
    ack_escalated_at BIGINT,
    escalated_at BIGINT,
    closed_at BIGINT,
    result TEXT,
    duplicate_of BIGINT REFERENCES reports (id),
    rating BIGINT,
    rating_comment TEXT,
    reopened BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX reports_team_status ON reports (team_id, status);
CREATE INDEX reports_status_due ON reports (status, handle_due_at);
CREATE INDEX reports_nearby ON reports (domain, category, created_at);
CREATE INDEX reports_citizen ON reports (citizen_id);

-- The report's timeline. `public` entries are what the citizen sees.
CREATE TABLE report_events (
    id {{id}},
    report_id BIGINT NOT NULL REFERENCES reports (id),
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor_id BIGINT REFERENCES users (id),
    actor TEXT NOT NULL,
    public BIGINT NOT NULL,
    note TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX report_events_report ON report_events (report_id, id);

CREATE TABLE attachments (
    id {{id}},
    report_id BIGINT NOT NULL REFERENCES reports (id),
    object_key TEXT NOT NULL UNIQUE,
    file_name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX attachments_report ON attachments (report_id);

-- Side effects, written in the transaction of the change that causes them and delivered by a
-- worker: each message is claimed by one worker at a time.
CREATE TABLE outbox (
    id {{id}},
    created_at BIGINT NOT NULL,
    -- webhook, email, sms
    channel TEXT NOT NULL,
    destination TEXT NOT NULL,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    -- pending, delivered, failed
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_until BIGINT,
    last_error TEXT,
    delivered_at BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

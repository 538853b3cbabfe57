-- Cases and their legal procedure: joint operations, the cases with their officers, assessments,
-- approvals, evidence, documents, coercive measures and clock stops, and the full-process record,
-- an append-only hash chain of every action on every case.

-- Numbers of documents and cases, per kind and year: 北综执罚决〔2026〕12号.
CREATE TABLE doc_counters (
    kind TEXT NOT NULL,
    year BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (kind, year)
);

-- A joint operation (专项行动): many officers, many cases, one lead team.
CREATE TABLE operations (
    id {{id}},
    code TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    domain TEXT NOT NULL,
    team_id BIGINT NOT NULL REFERENCES teams (id),
    description TEXT NOT NULL,
    starts_on TEXT NOT NULL,
    ends_on TEXT,
    status TEXT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL
);

CREATE TABLE operation_officers (
    operation_id BIGINT NOT NULL REFERENCES operations (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    added_at BIGINT NOT NULL,
    PRIMARY KEY (operation_id, user_id)
);

CREATE TABLE cases (
    id {{id}},
    number TEXT NOT NULL UNIQUE,
    domain TEXT NOT NULL,
    -- the plugin version whose rules were in force on the date of the act, and why that one
    plugin_version TEXT NOT NULL,
    pinned_reason TEXT NOT NULL,
    -- general, summary
    procedure TEXT NOT NULL,
    stage TEXT NOT NULL,
    -- report, patrol, referral, operation
    source TEXT NOT NULL,
    report_id BIGINT REFERENCES reports (id),
    referral TEXT,
    operation_id BIGINT REFERENCES operations (id),
    team_id BIGINT NOT NULL REFERENCES teams (id),
    title TEXT NOT NULL,
    place TEXT NOT NULL,
    summary TEXT NOT NULL,
    -- JSON: kind, name, id_number, address, phone, representative
    party TEXT NOT NULL,
    -- the party's identity number (or, without one, kind and name), normalised: one act, one fine
    party_key TEXT NOT NULL,
    act_date TEXT NOT NULL,
    act_end_date TEXT,
    -- the act harmed life, health or financial safety: the limitation period is five years
    safety_harmed BIGINT NOT NULL,
    discovered_at BIGINT NOT NULL,
    -- declared another act than an overlapping case of the same party, and why
    distinct_act TEXT,
    item_code TEXT,
    -- JSON field values of the plugin's case-facts form
    facts TEXT,
    -- JSON: the penalty proposed, with both assessments of the lighter-law rule
    proposal TEXT,
    -- none, required, passed
    legal_review TEXT NOT NULL,
    -- JSON: notice, hearing, decision, service, payment, referral out, closing
    progress TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    opened_by BIGINT REFERENCES users (id),
    -- the deadline of the stage the case is in, and the reminder and escalation sent for it
    due_at BIGINT,
    due_what TEXT,
    reminded_for BIGINT,
    escalated_for BIGINT,
    closed_at BIGINT,
    -- every change counts it up: a change made on a stale copy is refused
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX cases_team_stage ON cases (team_id, stage);
CREATE INDEX cases_party ON cases (party_key);
CREATE INDEX cases_due ON cases (due_at);
CREATE INDEX cases_operation ON cases (operation_id);

CREATE TABLE case_officers (
    case_id BIGINT NOT NULL REFERENCES cases (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    added_at BIGINT NOT NULL,
    PRIMARY KEY (case_id, user_id)
);

-- Every assessment made for a case, with the exact plugin version and its hash, the item, the facts
-- and the reference time: `casegrid case replay` runs each again.
CREATE TABLE case_assessments (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES cases (id),
    -- assess (an officer's), pinned (the rules at the time of the act), current (the rules now)
    purpose TEXT NOT NULL,
    domain TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    item TEXT NOT NULL,
    facts TEXT NOT NULL,
    reference_at BIGINT NOT NULL,
    -- JSON: {"ok": assessment} or {"refused": {code, message}}
    result TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX case_assessments_case ON case_assessments (case_id, id);

-- The approval chain of a decision; a rejection ends its round and a new proposal starts another.
CREATE TABLE case_approvals (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES cases (id),
    round BIGINT NOT NULL,
    step BIGINT NOT NULL,
    role TEXT NOT NULL,
    requested_at BIGINT,
    decided_at BIGINT,
    decided_by BIGINT REFERENCES users (id),
    -- approved, rejected
    outcome TEXT,
    comment TEXT
);
CREATE INDEX case_approvals_case ON case_approvals (case_id, round, step);

CREATE TABLE case_evidence (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES cases (id),
    -- documentary, physical, audiovisual, electronic, witness, statement, expert, inspection (APL 46)
    kind TEXT NOT NULL,
    description TEXT NOT NULL,
    object_key TEXT,
    file_name TEXT,
    media_type TEXT,
    size_bytes BIGINT,
    sha256 TEXT,
    -- JSON: a form the domain's plugin checked (the inspection record)
    form TEXT,
    recorded_by BIGINT REFERENCES users (id),
    recorded_at BIGINT NOT NULL
);
CREATE INDEX case_evidence_case ON case_evidence (case_id);

CREATE TABLE case_documents (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES cases (id),
    kind TEXT NOT NULL,
    number TEXT NOT NULL,
    title TEXT NOT NULL,
    html TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX case_documents_case ON case_documents (case_id);

-- Seal (查封) and seize (扣押), ACL art. 24–28.
CREATE TABLE coercive_measures (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES cases (id),
    number TEXT NOT NULL,
    -- seal, seize
    kind TEXT NOT NULL,
    item_code TEXT NOT NULL,
    place TEXT NOT NULL,
    -- JSON: [{name, quantity, unit, note}]
    inventory TEXT NOT NULL,
    reason TEXT NOT NULL,
    decided_at BIGINT NOT NULL,
    limit_days BIGINT NOT NULL,
    extended_at BIGINT,
    extension_reason TEXT,
    released_at BIGINT,
    release_reason TEXT,
    -- ACL art. 18, 19: approved by the head before it is taken, or, in an emergency, within 24 hours
    emergency BIGINT NOT NULL,
    approved_by BIGINT REFERENCES users (id),
    approved_at BIGINT,
    -- the next deadline: the approval of an emergency measure, else the end of the measure
    due_at BIGINT NOT NULL,
    reminded_for BIGINT,
    escalated_for BIGINT,
    created_by BIGINT REFERENCES users (id)
);
CREATE INDEX coercive_measures_case ON coercive_measures (case_id);
CREATE INDEX coercive_measures_due ON coercive_measures (due_at);

-- Time the law does not count: a hearing (the decision clock), testing or appraisal (the decision
-- clock, or a measure's when `measure_id` is set).
CREATE TABLE case_pauses (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES cases (id),
    measure_id BIGINT REFERENCES coercive_measures (id),
    reason TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX case_pauses_case ON case_pauses (case_id);

-- The full-process record (APL art. 47): every action on every case, hash-chained. `seq` counts
-- from 1 without gaps; each entry's hash covers the previous one's, so an edited entry breaks the
-- chain at that entry and a deleted one leaves a gap; the head row names the last entry, so a
-- deleted tail is seen too.
CREATE TABLE case_log (
    seq BIGINT PRIMARY KEY,
    case_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actor_id BIGINT,
    actor TEXT NOT NULL,
    source TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX case_log_case ON case_log (case_id, seq);

CREATE TABLE case_log_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO case_log_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

{{append_only:case_log}}

-- A report that became a case points at it.
ALTER TABLE reports ADD COLUMN case_id BIGINT REFERENCES cases (id);
-- The domain report form's fields beyond the envelope (Open311's attribute[…]), as JSON.
ALTER TABLE reports ADD COLUMN attributes TEXT;

//! The case record against someone who can write the database and has not the key: each story
//! does the tampering with raw SQL through `App::db()`, as such a person would, and `casegrid audit
//! verify` (and the admin API) names the case and what is wrong.

use super::cases::{Bureau, bureau, company, decided_and_served, housing_case, planning_facts};
use casegrid::store::Db;
use casegrid_tests::{App, Backend, cli_on, fixture, plugin};
use serde_json::{Value, json};
use sqlx::Row;

async fn spawn_on(backend: Backend) -> App {
    let components = [plugin("housing"), plugin("transport"), fixture("transport-0.9.0"), plugin("ecology")];
    let refs: Vec<&std::path::Path> = components.iter().map(|p| p.as_path()).collect();
    App::spawn_on_with(backend, &refs, |s| s.record.checkpoint_millis = 50).await
}

async fn spawn() -> App {
    spawn_on(Backend::from_env()).await
}

/// What someone with the database's own rights does first: lifts the append-only trigger.
async fn lift_triggers(db: &Db) {
    let lift = if db.backend() == casegrid::store::Backend::Postgres {
        vec!["ALTER TABLE case_log DISABLE TRIGGER case_log_append_only"]
    } else {
        vec!["DROP TRIGGER case_log_no_update", "DROP TRIGGER case_log_no_delete"]
    };
    for sql in lift {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(db.pool()).await.unwrap();
    }
}

async fn exec(db: &Db, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(db.pool()).await.unwrap();
}

async fn head(db: &Db) -> (i64, String, Option<String>) {
    let r = sqlx::query("SELECT seq, hash, mac FROM case_log_head WHERE id = 1").fetch_one(db.pool()).await.unwrap();
    (r.get(0), r.get(1), r.get(2))
}

/// Waits until this host's checkpoint file has seen entry `seq`.
async fn checkpointed(app: &App, seq: i64) {
    let file = app.settings.data.join("record.checkpoint");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let seen = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["seq"].as_i64())
            .unwrap_or(0);
        if seen >= seq {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the checkpoint stayed at {seen}, below {seq}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `audit verify` on the command line: its exit code and its problem lines.
fn verify(app: &App) -> (i32, String) {
    let (code, out, err) = cli_on(app, &["audit", "verify"]);
    (code, format!("{out}{err}"))
}

async fn verify_api(b: &Bureau<'_>) -> Value {
    let (s, v) = b.who("legal").get("/api/v1/audit/verify").await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn number(b: &Bureau<'_>, id: i64) -> String {
    b.who("hz1").get(&format!("/api/v1/cases/{id}")).await.1["case"]["number"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untampered_record_verifies_intact_under_its_key_on_sqlite_and_postgresql() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = spawn_on(backend).await;
        let b = bureau(&app).await;
        let id = decided_and_served(&b, company()).await;
        let other = housing_case(&b, "2026-11-02", company()).await;
        let (s, c) = b
            .who("hz1")
            .post(
                &format!("/api/v1/cases/{other}/evidence"),
                json!({"kind": "documentary", "description": "营业执照复印件"}),
            )
            .await;
        assert_eq!(s, 200, "{c}");
        // The key is in the data directory, for its owner only, and not in the database.
        let key = app.settings.data.join("record.key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let db = app.db().await;
        let (seq, _, mac) = head(&db).await;
        assert!(mac.is_some(), "the head carries its MAC");
        let states: i64 = sqlx::query("SELECT COUNT(*) FROM case_log WHERE state IS NOT NULL AND mac IS NOT NULL")
            .fetch_one(db.pool())
            .await
            .unwrap()
            .get(0);
        assert_eq!(states, seq, "every entry holds its case's state and its MAC");
        checkpointed(&app, seq).await;
        let v = verify_api(&b).await;
        assert_eq!((v["outcome"].as_str(), v["entries"].as_i64()), (Some("intact"), Some(seq)), "{v}");
        assert_eq!(
            (v["keyed_from"].as_i64(), v["cases"].as_i64(), v["documents"].as_i64()),
            (Some(1), Some(2), Some(4)),
            "{v}"
        );
        let (code, out) = verify(&app);
        assert_eq!(code, 0, "{backend:?}: {out}");
        assert!(out.starts_with(&format!("intact: {seq} entries")), "{out}");
        assert!(
            out.contains("keyed with key") && out.contains(&format!("this host's checkpoint: entry {seq}")),
            "{out}"
        );
        // A restart reads the same key back; the record goes on.
        db.close().await;
        // Tokens are rows: they survive the restart.
        let people = b.t.clone();
        let app = app.restart().await;
        let b = Bureau { app: &app, t: people };
        b.ok("hz1", id, json!({"action": "record-payment", "paid_fen": 7_500_000, "receipt": "PJ-0001"})).await;
        let (code, out) = verify(&app);
        assert_eq!(code, 0, "{backend:?}: {out}");
        // A key anyone on the machine may read is refused, by name.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
            let (code, out) = verify(&app);
            assert_eq!(code, 1);
            assert!(out.contains("has mode 0644: only its owner may read it (chmod 600"), "{out}");
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        app.stop().await;
    }
}

/// What someone who knows the algorithm and has not the key does after an edit: every hash from
/// entry `from` on recomputed, and the head moved to the last.
async fn rechain(db: &Db, from: i64) {
    let mut prev: String = if from == 1 {
        casegrid::cases::audit::GENESIS.to_string()
    } else {
        sqlx::query("SELECT hash FROM case_log WHERE seq = $1")
            .bind(from - 1)
            .fetch_one(db.pool())
            .await
            .unwrap()
            .get(0)
    };
    let rows = sqlx::query(
        "SELECT seq, case_id, at, actor_id, actor, source, action, detail, state FROM case_log WHERE seq >= $1 ORDER BY seq",
    )
    .bind(from)
    .fetch_all(db.pool())
    .await
    .unwrap();
    let mut last = from - 1;
    for r in &rows {
        let seq: i64 = r.get(0);
        let state: Option<String> = r.get(8);
        let hash = casegrid::cases::audit::entry_hash(
            &prev,
            seq,
            r.get(1),
            r.get(2),
            r.get(3),
            &r.get::<String, _>(4),
            &r.get::<String, _>(5),
            &r.get::<String, _>(6),
            &r.get::<String, _>(7),
            state.as_deref(),
        );
        sqlx::query("UPDATE case_log SET prev_hash = $1, hash = $2 WHERE seq = $3")
            .bind(&prev)
            .bind(&hash)
            .bind(seq)
            .execute(db.pool())
            .await
            .unwrap();
        (prev, last) = (hash, seq);
    }
    sqlx::query("UPDATE case_log_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(last)
        .bind(&prev)
        .execute(db.pool())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_edited_with_every_later_hash_recomputed_is_named_with_its_case() {
    let app = spawn().await;
    let b = bureau(&app).await;
    let id = housing_case(&b, "2026-10-12", company()).await;
    b.ok("hz1", id, json!({"action": "start-investigation"})).await;
    b.ok("hz1", id, json!({"action": "record-facts", "item": "HC-P-001", "facts": planning_facts("2026-10-12")})).await;
    let n = number(&b, id).await;
    assert_eq!(verify_api(&b).await["outcome"], "intact");
    let db = app.db().await;
    // The table refuses changes…
    assert!(sqlx::query("UPDATE case_log SET detail = '{}' WHERE seq = 2").execute(db.pool()).await.is_err());
    assert!(sqlx::query("DELETE FROM case_log WHERE seq = 4").execute(db.pool()).await.is_err());
    // …until the trigger is lifted. An edit alone breaks the chain at the entry.
    lift_triggers(&db).await;
    exec(&db, "UPDATE case_log SET detail = '{\"officers\":[\"someone-else\"],\"stage\":\"opened\"}' WHERE seq = 2")
        .await;
    let (code, out) = verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("altered: entry 2 (case {n}, id {id}) is not as it was written")), "{out}");
    // Every later hash and the head recomputed, as the unkeyed chain could not tell: the entry's MAC
    // is not the key's.
    rechain(&db, 2).await;
    let (code, out) = verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("forged: entry 2 (case {n}, id {id}) was rewritten")), "{out}");
    let v = verify_api(&b).await;
    let p = &v["problems"][0];
    assert_eq!(
        (v["outcome"].as_str(), p["kind"].as_str(), p["seq"].as_i64(), p["case_id"].as_i64(), p["case"].as_str()),
        (Some("tampered"), Some("forged"), Some(2), Some(id), Some(n.as_str())),
        "{v}"
    );
    // Nothing more is built on a head the key did not write.
    let (s, e) = b.act("hz1", id, json!({"action": "assess"})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("record-mismatch")), "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("the record's head (entry 4)"), "{e}");
    db.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_tail_is_named_by_the_head_and_by_this_hosts_checkpoint() {
    let app = spawn().await;
    let b = bureau(&app).await;
    let id = housing_case(&b, "2026-10-12", company()).await;
    b.ok("hz1", id, json!({"action": "start-investigation"})).await;
    let n = number(&b, id).await;
    let db = app.db().await;
    // A copy of the head as it was after entry 3, kept by someone who reads the database.
    let (kept_seq, kept_hash, kept_mac) = head(&db).await;
    assert_eq!(kept_seq, 3);
    b.ok("hz1", id, json!({"action": "record-facts", "item": "HC-P-001", "facts": planning_facts("2026-10-12")})).await;
    b.ok("hz1", id, json!({"action": "assess"})).await;
    let (last, _, _) = head(&db).await;
    assert_eq!(last, 5);
    checkpointed(&app, last).await;
    lift_triggers(&db).await;
    // The last two entries deleted, the head set to the entry now last: its MAC gives it away, and
    // this host's checkpoint saw entry 5.
    exec(&db, "DELETE FROM case_log WHERE seq > 3").await;
    sqlx::query("UPDATE case_log_head SET seq = 3, hash = $1 WHERE id = 1")
        .bind(&kept_hash)
        .execute(db.pool())
        .await
        .unwrap();
    let (code, out) = verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("head: the head (entry 3) is not as the server wrote it"), "{out}");
    assert!(out.contains("truncated: the record ends at entry 3, and this host's checkpoint of "), "{out}");
    assert!(out.contains("saw entry 5: entries 4–5 were deleted"), "{out}");
    // What the deleted entries did to the case is still on its rows.
    assert!(
        out.contains(&format!(
            "case-state: case {n}, id {id}: the case row, its assessments differ from what entry 3 recorded"
        )),
        "{out}"
    );
    // The head kept from before, put back whole, is one the key wrote; the checkpoint still tells.
    sqlx::query("UPDATE case_log_head SET mac = $1 WHERE id = 1").bind(&kept_mac).execute(db.pool()).await.unwrap();
    let (code, out) = verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(!out.contains("head:") && out.contains("saw entry 5: entries 4–5 were deleted"), "{out}");
    let v = verify_api(&b).await;
    let kinds: Vec<&str> = v["problems"].as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["truncated", "case-state"], "{v}");
    // The case takes no action that would record its rows as they now are.
    let (s, e) = b.act("hz1", id, json!({"action": "propose", "fine_fen": 7_500_000})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("record-mismatch")), "{e}");
    // Everything deleted, the head set back to the start.
    exec(&db, "DELETE FROM case_log").await;
    sqlx::query("UPDATE case_log_head SET seq = 0, hash = $1 WHERE id = 1")
        .bind(casegrid::cases::audit::GENESIS)
        .execute(db.pool())
        .await
        .unwrap();
    let (code, out) = verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entries 1–5 were deleted"), "{out}");
    assert!(out.contains(&format!("case-unrecorded: case {n}, id {id}: has no entry in the record")), "{out}");
    db.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_document_is_named_by_its_hash_and_by_the_record() {
    let app = spawn().await;
    let b = bureau(&app).await;
    let id = decided_and_served(&b, company()).await;
    let n = number(&b, id).await;
    let db = app.db().await;
    let r = sqlx::query("SELECT id, number FROM case_documents WHERE case_id = $1 AND kind = 'decision'")
        .bind(id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    let (doc, dn): (i64, String) = (r.get(0), r.get(1));
    // The decision's fine, in its text, a tenth of what was decided.
    let edit = "UPDATE case_documents SET html = REPLACE(html, '罚款75000.00元', '罚款7500.00元') WHERE id = $1";
    assert_eq!(sqlx::query(edit).bind(doc).execute(db.pool()).await.unwrap().rows_affected(), 1);
    let (code, out) = verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "document: case {n}, id {id}: document {doc} (decision {dn}): its text does not match its SHA-256"
        )),
        "{out}"
    );
    // Its stored hash made to match: the record holds the row it was made with.
    let html: String = sqlx::query("SELECT html FROM case_documents WHERE id = $1")
        .bind(doc)
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(html.as_bytes()));
    sqlx::query("UPDATE case_documents SET sha256 = $1 WHERE id = $2")
        .bind(&sha)
        .bind(doc)
        .execute(db.pool())
        .await
        .unwrap();
    let (code, out) = verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(!out.contains("document: "), "{out}");
    assert!(out.contains(&format!("case-state: case {n}, id {id}: document {doc} differs from what entry")), "{out}");
    let v = verify_api(&b).await;
    assert_eq!(
        (v["problems"][0]["kind"].as_str(), v["problems"][0]["case_id"].as_i64()),
        (Some("case-state"), Some(id))
    );
    db.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_case_row_is_named_and_the_case_takes_no_action_until_it_is_resolved() {
    let app = spawn().await;
    let b = bureau(&app).await;
    let id = decided_and_served(&b, company()).await;
    let n = number(&b, id).await;
    let db = app.db().await;
    let last: i64 = sqlx::query("SELECT MAX(seq) FROM case_log WHERE case_id = $1")
        .bind(id)
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    // The decision's fine, a tenth of what was decided, in the case's own row.
    let edit =
        "UPDATE cases SET progress = REPLACE(progress, '\"fine_fen\":7500000', '\"fine_fen\":750000') WHERE id = $1";
    assert_eq!(sqlx::query(edit).bind(id).execute(db.pool()).await.unwrap().rows_affected(), 1);
    let (_, c) = b.who("hz1").get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(c["case"]["progress"]["decision"]["fine_fen"], 750_000, "the edit is in the row");
    let (code, out) = verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("case-state: case {n}, id {id}: the case row differs from what entry {last} recorded")),
        "{out}"
    );
    let v = verify_api(&b).await;
    let p = &v["problems"][0];
    assert_eq!(
        (p["kind"].as_str(), p["case"].as_str(), p["seq"].as_i64()),
        (Some("case-state"), Some(n.as_str()), Some(last))
    );
    // Paying the edited fine would record the edit as the payment's own state: refused.
    let (s, e) = b.act("hz1", id, json!({"action": "record-payment", "paid_fen": 750_000, "receipt": "PJ-0002"})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("record-mismatch")), "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("the case row"), "{e}");
    // An approval's comment, too.
    exec(&db, "UPDATE case_approvals SET comment = '同意（后补）'").await;
    let (_, out) = verify(&app);
    assert!(out.contains("the case row, its approvals differ from what entry"), "{out}");
    db.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_written_before_the_key_verifies_and_is_keyed_from_where_it_stood() {
    let app = spawn().await;
    let b = bureau(&app).await;
    let first = housing_case(&b, "2026-10-12", company()).await;
    let second = housing_case(&b, "2026-11-02", company()).await;
    checkpointed(&app, 4).await;
    let db = app.db().await;
    lift_triggers(&db).await;
    // The database as the release before this one left it: entries without state or MAC, hashed
    // without state, a head without a key; no key file and no checkpoint.
    exec(&db, "UPDATE case_log SET state = NULL, mac = NULL").await;
    rechain(&db, 1).await;
    exec(&db, "UPDATE case_log_head SET key_id = NULL, keyed_from = NULL, keyed_at = NULL, mac = NULL").await;
    db.close().await;
    for f in ["record.key", "record.checkpoint"] {
        std::fs::remove_file(app.settings.data.join(f)).unwrap();
    }
    let people = b.t.clone();
    let app = app.restart().await;
    let b = Bureau { app: &app, t: people };
    b.ok("hz1", first, json!({"action": "start-investigation"})).await;
    let (code, out) = verify(&app);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("intact: 5 entries"), "{out}");
    assert!(out.contains("from entry 5 on") && out.contains("entries 1–4 were written before the key"), "{out}");
    assert!(out.contains("1 cases were last acted on before the key"), "{out}");
    let v = verify_api(&b).await;
    assert_eq!((v["keyed_from"].as_i64(), v["cases_unkeyed"].as_i64()), (Some(5), Some(1)), "{v}");
    // The entries before the key are sealed by the first one after it: rewritten with recomputed
    // hashes, they break its MAC.
    let db = app.db().await;
    exec(&db, "UPDATE case_log SET detail = '{}' WHERE seq = 1").await;
    rechain(&db, 1).await;
    let (code, out) = verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("forged: entry 5 ("), "{out}");
    let _ = second;
    db.close().await;
    app.stop().await;
}

/// The head's key cleared and the record rehashed without it, as if it had never been keyed: this
/// host's checkpoint and the entries' own MACs give it away, to `audit verify` and at the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_stripped_of_its_key_is_not_taken_for_a_record_written_before_the_key() {
    let app = spawn().await;
    let b = bureau(&app).await;
    housing_case(&b, "2026-10-12", company()).await;
    checkpointed(&app, 2).await;
    let db = app.db().await;
    lift_triggers(&db).await;
    exec(&db, "UPDATE case_log SET detail = '{}' WHERE seq = 1").await;
    rechain(&db, 1).await;
    exec(&db, "UPDATE case_log_head SET key_id = NULL, keyed_from = NULL, keyed_at = NULL, mac = NULL").await;
    let (code, out) = verify(&app);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unkeyed-head") && out.contains("checkpoint"), "{out}");
    let refused = casegrid::cases::audit::Record::open(&db, &app.settings.record, &app.settings.data).await;
    let why = refused.err().expect("a start on the stripped head is refused").to_string();
    assert!(why.contains("never keyed") && why.contains("checkpoint"), "{why}");
    // Without this host's checkpoint, the entries' MACs still say the record was keyed.
    std::fs::remove_file(app.settings.data.join("record.checkpoint")).unwrap();
    let refused = casegrid::cases::audit::Record::open(&db, &app.settings.record, &app.settings.data).await;
    let why = refused.err().expect("a start on the stripped head is refused").to_string();
    assert!(why.contains("carries a MAC"), "{why}");
    db.close().await;
    app.stop().await;
}

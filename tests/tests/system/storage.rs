//! The storage conformance suite: the same stories on SQLite and on PostgreSQL, through the
//! running server. `.ci/run` starts the machine's PostgreSQL; without it the PostgreSQL half fails
//! and says so, it is not skipped.

use casegrid_tests::{ADMIN_PASSWORD, App, Backend, Hook, plugin};
use serde_json::{Value, json};

/// Each story as one test per backend.
macro_rules! on_both_backends {
    ($($story:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $story() { super::$story(casegrid_tests::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $story() { super::$story(casegrid_tests::Backend::Postgres).await } )*
        }
    };
}

on_both_backends!(
    accounts_and_their_record_survive_a_restart_and_the_schema_is_migrated_once,
    concurrent_registrations_all_land,
    a_taken_login_or_email_is_a_conflict_and_nothing_is_half_written,
    two_hosts_on_one_database_share_sessions_tokens_and_lockouts,
    reports_through_two_hosts_are_dispatched_and_each_message_is_delivered_once,
    citizens_who_hang_up_mid_request_leave_no_half_report_and_no_open_transaction,
    a_write_abandoned_while_it_begins_leaves_its_connection_outside_any_transaction,
);

async fn accounts_and_their_record_survive_a_restart_and_the_schema_is_migrated_once(backend: Backend) {
    let app = App::spawn_on(backend, &[]).await;
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let (s, c) = admin
        .post(
            "/api/v1/users",
            json!({"login": "zhou", "display_name": "周", "roles": [{"role": "officer", "team": "TEST-T"}]}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let admin_token = admin.new_token("ops").await;
    drop(admin);

    let app = app.restart().await;
    let admin = app.with_token(&admin_token);
    let (s, users) = admin.get("/api/v1/users").await;
    assert_eq!(s, 200, "the token outlives the restart");
    let zhou = users["users"].as_array().unwrap().iter().find(|u| u["login"] == "zhou").expect("zhou survives").clone();
    assert_eq!(zhou["roles"][0]["scope"], "team:TEST-T");
    assert_eq!(zhou["must_change_password"], true);
    // The first admin was made once; the second start found it.
    let (_, ev) = admin.get("/api/v1/security-events?kind=admin-bootstrapped").await;
    assert_eq!(ev["events"].as_array().unwrap().len(), 1);
    let (_, ev) = admin.get("/api/v1/security-events?kind=user-created&limit=1000").await;
    assert_eq!(ev["events"].as_array().unwrap().len(), 2, "tester and zhou: {ev}");
    app.stop().await;
}

async fn concurrent_registrations_all_land(backend: Backend) {
    let app = App::spawn_on(backend, &[]).await;
    let mut calls = Vec::new();
    for i in 0..40 {
        let (client, url) = (app.client.clone(), app.url("/api/v1/auth/register"));
        calls.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .json(&json!({"login": format!("139{i:08}"), "password": "Citizen-pw-2026"}))
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }));
    }
    for c in calls {
        assert_eq!(c.await.unwrap(), 201);
    }
    let (_, ev) =
        app.sign_in("admin", ADMIN_PASSWORD).await.get("/api/v1/security-events?kind=registered&limit=1000").await;
    assert_eq!(ev["events"].as_array().unwrap().len(), 40);
    app.stop().await;
}

async fn a_taken_login_or_email_is_a_conflict_and_nothing_is_half_written(backend: Backend) {
    let app = App::spawn_on(backend, &[]).await;
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let (s, _) =
        admin.post("/api/v1/users", json!({"login": "wu", "display_name": "吴", "email": "wu@zf.example.cn"})).await;
    assert_eq!(s, 201);
    let (s, e) = admin.post("/api/v1/users", json!({"login": "wu", "display_name": "另一个吴"})).await;
    assert_eq!((s, e["error"]["code"].as_str(), e["error"]["field"].as_str()), (409, Some("conflict"), Some("login")));
    let (s, _) =
        admin.post("/api/v1/users", json!({"login": "wu2", "display_name": "吴二", "email": "WU@zf.example.cn"})).await;
    assert_eq!(s, 409, "e-mail addresses are unique, whatever their case");
    // The second member of this import clashes: the first is not created either.
    let (_, before) = admin.get("/api/v1/users").await;
    let doc = json!({"members": [{"login": "zheng", "display_name": "郑"}, {"login": "wu", "display_name": "吴"}, {"login": "feng", "display_name": "冯", "email": "wu@zf.example.cn"}]});
    let (s, e) = admin.post("/api/v1/org/import", doc).await;
    assert_eq!((s, e["error"]["field"].as_str()), (409, Some("members[2].login")), "{e}");
    assert_eq!(admin.get("/api/v1/users").await.1, before);
    let (_, ev) = admin.get("/api/v1/security-events?kind=user-created&limit=1000").await;
    assert!(!ev.to_string().contains("zheng"), "no record of what did not happen");
    app.stop().await;
}

async fn two_hosts_on_one_database_share_sessions_tokens_and_lockouts(backend: Backend) {
    let a = App::spawn_on_with(backend, &[], |s| s.auth.lockout_threshold = 2).await;
    let b = a.another().await;
    // A session begun on one host is honoured by the other, and ended on both by sign-out.
    let session = a.sign_in("admin", ADMIN_PASSWORD).await;
    let on_b = casegrid_tests::As { app: &b, auth: session.auth.clone() };
    assert_eq!(on_b.get("/api/v1/auth/me").await.0, 200);
    let token = session.new_token("shared").await;
    let (_, list) = session.get("/api/v1/tokens").await;
    let id = list["tokens"].as_array().unwrap().iter().find(|t| t["name"] == "shared").unwrap()["id"].as_i64().unwrap();
    assert_eq!(b.with_token(&token).get("/api/v1/auth/me").await.0, 200);
    assert_eq!(on_b.delete(&format!("/api/v1/tokens/{id}")).await.0, 204);
    assert_eq!(a.with_token(&token).get("/api/v1/auth/me").await.0, 401, "revoked on b, refused on a");
    assert_eq!(on_b.post("/api/v1/auth/logout", Value::Null).await.0, 204);
    assert_eq!(session.get("/api/v1/auth/me").await.0, 401);
    // Failures counted on either host lock the account on both.
    let wrong = json!({"login": "tester", "password": "wrong-wrong-1"});
    assert_eq!(a.anon().post("/api/v1/auth/login", wrong.clone()).await.0, 401);
    assert_eq!(b.anon().post("/api/v1/auth/login", wrong).await.0, 401);
    let (s, e) = a.anon().post("/api/v1/auth/login", json!({"login": "tester", "password": "Staff-pw-2026-xy"})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (429, Some("account-locked")));
    b.stop().await;
    a.stop().await;
}

async fn reports_through_two_hosts_are_dispatched_and_each_message_is_delivered_once(backend: Backend) {
    let hook = Hook::start(0).await;
    let notify = hook.settings("k");
    let a = App::spawn_on_with(backend, &[&plugin("housing")], |s| s.notify = notify).await;
    let b = a.another().await;
    let admin = a.sign_in("admin", ADMIN_PASSWORD).await;
    let grid = json!({"type": "FeatureCollection", "fallback": {"housing": "TEST-T"}, "features": [
        {"type": "Feature", "properties": {"code": "C1", "name": "一", "coverage": {"housing": "TEST-T"}},
         "geometry": {"type": "Polygon", "coordinates": [[[120.0, 30.0], [120.1, 30.0], [120.1, 30.1], [120.0, 30.1], [120.0, 30.0]]]}}]});
    let (s, g) = admin.post("/api/v1/grid/import", grid).await;
    assert_eq!(s, 200, "{g}");
    let mut calls = Vec::new();
    for i in 0..30 {
        let (client, url) = if i % 2 == 0 {
            (a.client.clone(), a.url("/api/v1/reports"))
        } else {
            (b.client.clone(), b.url("/api/v1/reports"))
        };
        calls.push(tokio::spawn(async move {
            let body = json!({"description": format!("楼顶违章搭建彩钢房 {i}"), "domain": "housing", "category": "illegal-construction",
                              "location": {"lat": 30.05, "lon": 120.05}});
            let r = client.post(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut codes = std::collections::BTreeSet::new();
    for c in calls {
        let (s, r) = c.await.unwrap();
        assert_eq!((s, r["status"].as_str()), (201, Some("dispatched")), "{r}");
        codes.insert(r["tracking_code"].as_str().unwrap().to_string());
    }
    assert_eq!(codes.len(), 30);
    let (_, list) = b.get("/api/v1/reports?limit=1000").await;
    assert_eq!(list["reports"].as_array().unwrap().len(), 30);
    // Both hosts' workers poll the one outbox: every message arrives, none twice.
    let got = hook.wait_for(30, 20).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let got = if hook.received.lock().unwrap().len() > got.len() { hook.received.lock().unwrap().clone() } else { got };
    let ids: std::collections::BTreeSet<&str> = got.iter().map(|d| d.id.as_str()).collect();
    assert_eq!((got.len(), ids.len()), (30, 30), "each delivered exactly once");
    b.stop().await;
    a.stop().await;
}

/// Clients that give up at every point of a report's path (the request dropped while the server
/// reads it, classifies it, begins its transaction, writes or commits) leave each report whole or
/// absent, no connection inside a transaction, and a server that takes the next reports as ever.
async fn citizens_who_hang_up_mid_request_leave_no_half_report_and_no_open_transaction(backend: Backend) {
    let app = App::spawn_on_with(backend, &[&plugin("housing")], |s| s.auth.intake_per_minute = 0).await;
    let body = json!({"description": "楼顶违章搭建彩钢房", "domain": "housing", "category": "illegal-construction", "address": "湖滨路1号"});
    let (mut answered, mut dropped) = (Vec::new(), 0);
    for round in 0..10u64 {
        let mut calls = Vec::new();
        for i in 0..32u64 {
            let (url, body) = (app.url("/api/v1/reports"), body.clone());
            // Timeouts spread from 0.1 ms to 19 ms: some before the server reads, most inside.
            let wait = std::time::Duration::from_micros(100 + (round * 32 + i) * 60);
            calls.push(tokio::spawn(async move {
                let client = reqwest::Client::builder().timeout(wait).build().unwrap();
                let answer = client.post(url).json(&body).send().await.ok()?;
                let status = answer.status().as_u16();
                Some((status, answer.json::<serde_json::Value>().await.ok()?))
            }));
        }
        for c in calls {
            match c.await.unwrap() {
                Some((201, r)) => answered.push(r["tracking_code"].as_str().expect("a tracking code").to_owned()),
                Some((status, r)) => panic!("a report was refused: {status} {r}"),
                None => dropped += 1,
            }
        }
    }
    assert!(dropped > 0, "no client hung up: the story tested nothing");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let db = app.db().await;
    let mut c = db.pool().acquire().await.unwrap();
    let (reports, whole): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM reports), \
                (SELECT COUNT(*) FROM reports r WHERE (SELECT COUNT(*) FROM report_events e WHERE e.report_id = r.id) >= 2)",
    )
    .fetch_one(&mut *c)
    .await
    .unwrap();
    assert_eq!(reports, whole, "every stored report has its timeline");
    assert!(reports >= answered.len() as i64);
    if backend == Backend::Postgres {
        let open: (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND state LIKE 'idle in transaction%'",
        )
        .fetch_one(&mut *c)
        .await
        .unwrap();
        assert_eq!(open.0, 0, "a connection was left inside a transaction");
    }
    drop(c);
    // Every report whose citizen got an answer is there to track.
    for code in &answered {
        let (s, r) = app.anon().get(&format!("/api/v1/track/{code}")).await;
        assert_eq!(s, 200, "{code}: {r}");
    }
    // The server goes on: every one of the next reports lands, whole.
    for _ in 0..20 {
        let (s, r) = app.anon().post("/api/v1/reports", body.clone()).await;
        assert_eq!(s, 201, "{r}");
    }
    let mut c = db.pool().acquire().await.unwrap();
    let after: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM reports").fetch_one(&mut *c).await.unwrap();
    assert_eq!(after.0, reports + 20);
    app.stop().await;
}

/// A request dropped between sending `BEGIN` and reading its answer (a client hanging up, a
/// timeout) must not leave its connection inside a transaction for the next request to run in:
/// sqlx 0.9.0 did exactly that on PostgreSQL (transact-rs/sqlx#4393, fixed in 0.9.1). The write is
/// polled once — `BEGIN` sent, its answer not yet read — and dropped, deterministically, fifty times.
async fn a_write_abandoned_while_it_begins_leaves_its_connection_outside_any_transaction(backend: Backend) {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let app = App::spawn_on(backend, &[]).await;
    let db = app.db().await;
    let mut c = db.pool().acquire().await.unwrap();
    let mut abandoned = 0;
    for round in 0..50 {
        {
            let mut begin = std::pin::pin!(db.write_on(&mut c));
            match begin.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                Poll::Pending => abandoned += 1,
                Poll::Ready(tx) => tx.expect("begin").rollback().await.expect("roll back"),
            }
        }
        if backend == Backend::Postgres {
            // PostgreSQL takes a savepoint only inside a transaction block: outside one it
            // answers 25P01 (no_active_sql_transaction).
            let probe = sqlx::raw_sql("SAVEPOINT probe").execute(&mut *c).await;
            let code =
                probe.as_ref().err().and_then(|e| e.as_database_error()).and_then(|e| e.code().map(|c| c.into_owned()));
            assert_eq!(
                code.as_deref(),
                Some("25P01"),
                "round {round}: the connection was left inside the abandoned transaction ({probe:?})"
            );
        }
        // A whole write on the same connection goes through and is kept.
        let mut tx = db.write_on(&mut c).await.expect("a new write begins");
        sqlx::query("INSERT INTO departments (code, name, created_at) VALUES ($1, '测试支队', 0)")
            .bind(format!("abandoned-{round}"))
            .execute(&mut *tx)
            .await
            .expect("insert");
        tx.commit().await.expect("commit");
    }
    assert!(abandoned > 0, "every BEGIN answered in one poll: nothing was abandoned");
    drop(c);
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM departments WHERE code LIKE 'abandoned-%'")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(kept, 50);
    app.stop().await;
}

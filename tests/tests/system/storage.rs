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

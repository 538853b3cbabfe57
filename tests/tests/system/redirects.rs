//! The server's own requests to the outside follow no redirect: a webhook receiver, an SMS gateway
//! or an object store that answers 3xx has failed that delivery (the reason names the redirect),
//! and the address it pointed to is never reached.

use casegrid_tests::{ADMIN_PASSWORD, App, Hook, plugin};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A server that counts every request it gets, whatever its method and path.
async fn target() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let seen = seen.clone();
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            axum::http::StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

/// A server that answers every request with a redirect to `to` + the same path: 302 for
/// `/hook…`, 307 (which keeps the method and body) for `/sms…`, 308 for anything else (S3).
async fn redirector(to: String) -> String {
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let to = to.clone();
        async move {
            let status = match uri.path() {
                p if p.starts_with("/hook") => axum::http::StatusCode::FOUND,
                p if p.starts_with("/sms") => axum::http::StatusCode::TEMPORARY_REDIRECT,
                _ => axum::http::StatusCode::PERMANENT_REDIRECT,
            };
            (status, [(axum::http::header::LOCATION, format!("{to}{}", uri.path()))])
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A small PNG, as the host checks it (the signature).
fn png() -> Vec<u8> {
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89".to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_sms_and_the_object_store_follow_no_redirect() {
    let (target_url, hits) = target().await;
    let away = redirector(target_url.clone()).await;
    let mut notify = Hook::start(0).await.settings("hook-secret");
    notify.webhooks[0].url = format!("{away}/hook");
    notify.sms = Some(casegrid::notify::Sms {
        url: format!("{away}/sms"),
        body_template: r#"{"mobile": "{phone}", "content": "{text}"}"#.into(),
        content_type: "application/json".into(),
        headers: [("x-api-key".to_string(), casegrid::auth::secrets::Secret::new("gw-key"))].into(),
        receipts_per_hour: 3,
    });
    // One attempt: the first failure is final, so the test need not wait out a backoff.
    notify.max_attempts = 1;
    let s3 = casegrid_tests::FakeS3::start().await;
    let casegrid::intake::objects::ObjectSettings::S3(mut bucket) = s3.settings("casegrid-files", "") else {
        unreachable!()
    };
    bucket.endpoint = away.clone();
    let app = App::spawn_with(&[&plugin("housing")], |s| {
        s.notify = notify;
        s.intake.objects = casegrid::intake::objects::ObjectSettings::S3(bucket);
    })
    .await;
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let doc = json!({"departments": [{"code": "D1", "name": "住建"}],
        "teams": [{"code": "T1", "name": "一中队", "department": "D1", "domains": ["housing"]}], "members": []});
    assert_eq!(admin.post("/api/v1/org/import", doc).await.0, 200);
    let grid = json!({"type": "FeatureCollection", "fallback": {"housing": "T1"}, "features": []});
    assert_eq!(admin.post("/api/v1/grid/import", grid).await.0, 200);
    let report = json!({"description": "楼顶违章搭建彩钢房", "address": "湖滨路1号", "domain": "housing",
        "category": "illegal-construction", "contact": {"phone": "13912340000"}});

    // A photo for a store that redirects: not kept anywhere, and the citizen is told to try again.
    let form = reqwest::multipart::Form::new()
        .text("report", report.to_string())
        .part("photos", reqwest::multipart::Part::bytes(png()).file_name("a.png").mime_str("image/png").unwrap());
    let r = app.client.post(app.url("/api/v1/reports")).multipart(form).send().await.unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("attachment-store")), "{body}");

    // A report without photos: its webhook and its SMS are failed deliveries that say why.
    let (s, r) = app.anon().post("/api/v1/reports", report).await;
    assert_eq!((s, r["status"].as_str()), (201, Some("dispatched")), "{r}");
    let db = app.db().await;
    let mut settled = Vec::new();
    for _ in 0..200 {
        let rows = sqlx::query("SELECT channel, status, last_error FROM outbox ORDER BY id").fetch_all(db.pool()).await;
        settled = rows
            .unwrap()
            .iter()
            .map(|x| {
                use sqlx::Row;
                (x.get::<String, _>(0), x.get::<String, _>(1), x.get::<Option<String>, _>(2).unwrap_or_default())
            })
            .collect::<Vec<_>>();
        if settled.len() == 2 && settled.iter().all(|(_, status, _)| status != "pending") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let channels: Vec<&str> = settled.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!(channels, ["webhook", "sms"], "{settled:?}");
    for (channel, status, error) in &settled {
        assert_eq!(status, "failed", "{channel}: {settled:?}");
        // The reason names the redirect and where it pointed.
        assert!(error.contains("redirects are not followed") && error.contains(&target_url), "{channel}: {error}");
    }
    assert!(settled[0].2.contains("302"), "{settled:?}");
    assert!(settled[1].2.contains("307"), "{settled:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the redirects' target was reached");
    app.stop().await;
}

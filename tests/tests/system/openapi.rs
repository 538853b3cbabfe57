//! `GET /api/v1/openapi.json`: a client generator (or schemathesis, in `scripts/fuzz-api`) reads the
//! API from the server itself. Every operation the document lists is served, and a malformed path
//! or query is answered in the API's error shape, as the document says.

use casegrid_tests::{ADMIN_PASSWORD, App, plugin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_is_served() {
    let app = App::spawn(&[&plugin("housing")]).await;
    let (s, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 60, "{} paths", paths.len());
    let mut checked = 0;
    for (path, item) in paths {
        let concrete = path.replace("{file}", "discovery.json");
        let concrete: String =
            concrete.split('/').map(|seg| if seg.starts_with('{') { "1" } else { seg }).collect::<Vec<_>>().join("/");
        for method in item.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut rb = app.anon().request(m, &concrete);
            if method != "get" && method != "delete" {
                rb = rb.header("content-type", "application/json").body("{}");
            }
            let r = rb.send().await.unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert!(!body.contains("no such route"), "{method} {path} is documented but not routed: {body}");
            checked += 1;
        }
    }
    assert!(checked >= 70, "{checked} operations");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_path_or_query_is_an_api_error() {
    let app = App::spawn(&[&plugin("housing")]).await;
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let (s, body) = admin.get("/api/v1/users/not-a-number").await;
    assert_eq!((s, body["error"]["code"].as_str()), (400, Some("invalid-path")), "{body}");
    let (s, body) = admin.get("/api/v1/security-events?limit=many").await;
    assert_eq!((s, body["error"]["code"].as_str()), (400, Some("invalid-query")), "{body}");
    app.stop().await;
}

/// Every 201 says where what it created is read (`Location`), the document declares it on every
/// 201 it lists, and following it answers the creator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_created_is_found_at_its_location() {
    let app = App::spawn(&[&plugin("housing")]).await;
    let (_, doc) = app.get("/api/v1/openapi.json").await;
    let mut created = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(r) = op["responses"].get("201") {
                assert!(r["headers"].get("Location").is_some(), "{method} {path}: a 201 without Location: {r}");
                created += 1;
            }
        }
    }
    assert!(created >= 14, "{created} operations answer 201");

    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let follow = |r: reqwest::Response| {
        assert_eq!(r.status().as_u16(), 201);
        r.headers().get("location").expect("Location").to_str().unwrap().to_string()
    };
    let r = admin
        .request(reqwest::Method::POST, "/api/v1/users")
        .json(&serde_json::json!({"login": "located", "name": "Located"}))
        .send()
        .await
        .unwrap();
    let at = follow(r);
    let (s, user) = admin.get(&at).await;
    assert_eq!((s, user["user"]["login"].as_str()), (200, Some("located")), "{at}: {user}");

    let r = admin
        .request(reqwest::Method::POST, "/api/v1/tokens")
        .json(&serde_json::json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    let at = follow(r);
    let (s, body) = admin.delete(&at).await;
    assert!(s == 200 || s == 204, "{at}: {s} {body}");

    let r = app
        .anon()
        .request(reqwest::Method::POST, "/api/v1/reports")
        .json(&serde_json::json!({"description": "小区楼顶有人违章搭建了一层彩钢板房", "location": {"lat": 30.245, "lon": 120.135}}))
        .send()
        .await
        .unwrap();
    let at = follow(r);
    assert!(at.starts_with("/api/v1/track/"), "{at}");
    let (s, body) = app.anon().get(&at).await;
    assert_eq!(s, 200, "{at}: {body}");
    app.stop().await;
}

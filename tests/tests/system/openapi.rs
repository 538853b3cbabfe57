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

//! `/metrics`: an operator's Prometheus scrapes the host's requests and every plugin call, by
//! domain, version, export and outcome, and sees a hostile plugin's timeouts counted apart.

use casegrid_tests::{App, fixture, plugin};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_calls_and_requests_are_counted_by_domain_version_and_outcome() {
    let app = App::spawn(&[&plugin("housing"), &fixture("hostile")]).await;
    let (s, _) = app.post("/api/v1/domains/housing/forms/report/validate", json!({"values": []})).await;
    assert_eq!(s, 200);
    let (s, _) = app.post("/api/v1/domains/hostile/classify", json!({"text": "loop"})).await;
    assert_eq!(s, 503);
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    let housing = app.get("/api/v1/domains/housing").await.1;
    let version = housing["version"].as_str().unwrap();
    let line = format!(
        "casegrid_plugin_calls_total{{domain=\"housing\",version=\"{version}\",export=\"validate\",outcome=\"ok\"}} 1"
    );
    assert!(text.contains(&line), "{line} in\n{text}");
    assert!(
        text.contains("export=\"classify\",outcome=\"plugin-timeout\"} 1") && text.contains("domain=\"hostile\""),
        "{text}"
    );
    assert!(text.contains("casegrid_plugin_call_duration_seconds_count{domain=\"housing\""), "{text}");
    // Requests by route template, not by path.
    assert!(
        text.contains(
            "casegrid_http_requests_total{method=\"POST\",route=\"/api/v1/domains/{domain}/classify\",status=\"503\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains(&format!("casegrid_plugin_info{{domain=\"housing\",version=\"{version}\"")), "{text}");
    app.stop().await;
}

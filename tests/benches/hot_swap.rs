//! How long after an admin's switch another host serves the new version: two hosts (in-process
//! servers on 127.0.0.1, as `App::another` starts them) on one PostgreSQL database, the admin
//! activating 0.9.0 and 1.1.0 of transport in turn on host A, host B's
//! `GET /api/v1/domains/transport` polled every 5 ms until it names the new version.
//!
//! `scripts/build-plugins --fixtures && cargo bench -p casegrid-tests --bench hot_swap`
//! (PostgreSQL at 127.0.0.1:5432, or CG_TEST_POSTGRES). `SWITCHES=N` (default 60).

use casegrid_tests::{ADMIN_PASSWORD, App, Backend, fixture, plugin, print_timings};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and gets one quick switch.
    let benching = std::env::args().any(|a| a == "--bench");
    let switches: usize =
        if benching { std::env::var("SWITCHES").ok().and_then(|s| s.parse().ok()).unwrap_or(60) } else { 1 };
    let a = App::spawn_on(Backend::Postgres, &[&plugin("transport"), &fixture("transport-0.9.0")]).await;
    let b = a.another().await;
    let admin = a.sign_in("admin", ADMIN_PASSWORD).await;
    let serving = |app: &App| {
        let url = app.url("/api/v1/domains/transport");
        let client = app.client.clone();
        async move {
            let v: serde_json::Value = client.get(url).send().await.unwrap().json().await.unwrap();
            v["version"].as_str().unwrap_or_default().to_string()
        }
    };
    let (mut on_a, mut on_b) = (Vec::new(), Vec::new());
    for i in 0..switches {
        let to = if i % 2 == 0 { "0.9.0" } else { "1.1.0" };
        // Start each switch at a random point of B's polling period, as an admin would.
        tokio::time::sleep(Duration::from_millis(37 * (i as u64 % 17))).await;
        let t0 = Instant::now();
        let (s, r) = admin.post("/api/v1/plugins/transport/activate", json!({"version": to})).await;
        assert_eq!(s, 200, "{r}");
        on_a.push(t0.elapsed());
        assert_eq!(serving(&a).await, to, "host A serves the new version as it answers");
        loop {
            if serving(&b).await == to {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "host B never switched to {to}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        on_b.push(t0.elapsed());
    }
    print_timings("activation answered on host A (the change committed, A's snapshot rebuilt)", &mut on_a);
    print_timings("host B serves the new version", &mut on_b);
    b.stop().await;
    a.stop().await;
}

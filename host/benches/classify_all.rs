//! The cost the intake pays per citizen report: every bundled plugin classifies the text and the
//! routing rule decides. Latency per report, median and tail, over many reports.
//!
//! Run: `scripts/build-plugins && cargo bench -p casegrid --bench classify_all`

use casegrid::plugins::{Limits, Runtime, Snapshot, load_dir};
use casegrid::routing::{RoutingRules, route};
use std::path::Path;
use std::time::{Duration, Instant};

const REPORTS: usize = 3000;
const AT: i64 = 1_795_651_200; // 2026-11-26T00:00:00Z

/// Texts as citizens write them, across domains, and one that fits none.
const TEXTS: [&str; 8] = [
    "我家楼下有人在楼顶私自加盖铁皮房，已经搭了好几天了",
    "晚上十一点多还有渣土车在河边偷倒建筑垃圾，味道很大",
    "小区门口天天有黑车拉客去机场，也没有营运证",
    "工厂烟囱半夜冒黑烟，附近居民都不敢开窗",
    "村里有人在基本农田上挖地基建房子",
    "旅行社组织的低价团强迫我们购物，不买导游就骂人",
    "老板拖欠我们三个月工资不发，已经找了好几次",
    "公园里的路灯坏了好几天",
];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{label:<44} median {:>8.1} µs   p90 {:>8.1} µs   p99 {:>8.1} µs   max {:>8.1} µs   (n = {})",
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.9).as_secs_f64() * 1e6,
        percentile(&times, 0.99).as_secs_f64() * 1e6,
        times.last().unwrap().as_secs_f64() * 1e6,
        times.len()
    );
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins");
    let rt = Runtime::new(Limits::default(), None).unwrap();
    let (loaded, failures) = load_dir(&rt, &dir).unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    let registry = Snapshot::of(loaded.into_iter().map(|(p, _)| p));
    println!("classify across {} plugins ({}), {REPORTS} reports", registry.len(), dir.display());

    // One thread, one plugin after another: the plain sum of the calls.
    let plugins: Vec<_> = registry.iter().cloned().collect();
    let mut sequential = Vec::with_capacity(REPORTS);
    for i in 0..REPORTS + 200 {
        let text = TEXTS[i % TEXTS.len()];
        let t = Instant::now();
        for p in &plugins {
            p.call_blocking(AT, text.len(), |g| g.classify(text)).unwrap();
        }
        if i >= 200 {
            sequential.push(t.elapsed());
        }
    }
    report("sequential, one thread", sequential);

    // What the intake does: `route` on the server's multi-thread runtime (one task per plugin).
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut routed = Vec::with_capacity(REPORTS);
    for i in 0..REPORTS + 200 {
        let text = TEXTS[i % TEXTS.len()];
        let t = Instant::now();
        let d = tokio.block_on(route(&registry, text, AT, RoutingRules::default()));
        if i >= 200 {
            routed.push(t.elapsed());
        }
        assert!(d.failed.is_empty());
    }
    report("route() on a 2-worker tokio runtime", routed);
}

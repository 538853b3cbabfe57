//! After hostile calls the host's memory returns to its baseline: a finished call's instance memory
//! goes back to the operating system. Alone in its own test binary, so no other test moves the
//! process's resident set.

use casegrid::plugins::{Limits, Runtime};
use casegrid_tests::fixture;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kb * 1024
}

#[tokio::test]
async fn memory_returns_to_its_baseline_after_hostile_calls() {
    let rt = Runtime::new(Limits::default(), None).unwrap();
    let hostile = rt.load_file(&fixture("hostile")).unwrap();
    // Warm up: the first calls size the pool's bookkeeping and the allocator's arenas.
    for _ in 0..3 {
        let _ = hostile.classify("alloc", 0).await;
        let _ = hostile.classify("big-output", 0).await;
    }
    let baseline = rss_bytes();
    // Each `alloc` call fills its whole 32 MiB before it is stopped; 40 of them would hold
    // 1.25 GiB if instance memory were kept.
    for _ in 0..40 {
        assert!(hostile.classify("alloc", 0).await.is_err());
        assert!(hostile.classify("big-output", 0).await.is_err());
    }
    let after = rss_bytes();
    let grown = after.saturating_sub(baseline);
    assert!(grown < 48 << 20, "resident memory grew by {} MiB (baseline {} MiB)", grown >> 20, baseline >> 20);
}

//! A domain team's tools (`casegrid plugin check|inspect`) and the precompiled-plugin cache.

use casegrid::plugins::{Limits, Runtime};
use casegrid_tests::{TempDir, casegrid_bin, fixture, plugin};
use std::process::Command;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(casegrid_bin()).args(args).output().expect("run casegrid");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_domain_team_checks_its_plugin_before_publishing() {
    let housing = plugin("housing");
    let (code, out) = run(&["plugin", "check", housing.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("contract    ✓"), "{out}");
    let tests = out.lines().find_map(|l| l.trim().strip_prefix("self-tests")).expect("a self-tests line");
    let (passed, total) = tests.trim().trim_end_matches(" passed").split_once('/').expect("n/m passed");
    assert_eq!(passed, total, "{out}");
    assert!(total.parse::<u32>().unwrap() >= 14, "{out}");
    assert!(out.trim_end().ends_with("PASS"));

    for (f, code_word) in [
        ("wrong-world", "wrong-world"),
        ("import-http", "forbidden-import"),
        ("import-unknown", "forbidden-import"),
        ("duplicate-codes", "checklist item code `X-1` appears more than once"),
    ] {
        let (code, out) = run(&["plugin", "check", fixture(f).to_str().unwrap()]);
        assert_eq!(code, 1, "{f}: {out}");
        assert!(out.contains(code_word), "{f}: {out}");
    }

    let (code, out) = run(&["plugin", "inspect", housing.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("HC-P-001") && out.contains("中华人民共和国城乡规划法 第64条"), "{out}");
}

#[test]
fn a_restart_loads_plugins_from_the_cache_and_a_spoilt_cache_entry_is_rebuilt() {
    let dir = TempDir::new("cache");
    let bytes = std::fs::read(plugin("housing")).unwrap();
    let first = Runtime::new(Limits::default(), Some(dir.0.clone())).unwrap().load_bytes(&bytes).unwrap();
    let entries: Vec<_> = std::fs::read_dir(&dir.0).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1);
    let cached = &entries[0];
    assert!(cached.file_name().unwrap().to_str().unwrap().starts_with(&first.sha256), "keyed by the component's hash");
    let modified = std::fs::metadata(cached).unwrap().modified().unwrap();

    // A second process (a new engine with the same settings) uses the artifact as it is.
    let second = Runtime::new(Limits::default(), Some(dir.0.clone())).unwrap().load_bytes(&bytes).unwrap();
    assert_eq!(second.manifest(), first.manifest());
    assert_eq!(std::fs::metadata(cached).unwrap().modified().unwrap(), modified);

    // A damaged artifact is discarded and rebuilt, never trusted.
    std::fs::write(cached, b"not a compiled component").unwrap();
    let third = Runtime::new(Limits::default(), Some(dir.0.clone())).unwrap().load_bytes(&bytes).unwrap();
    assert_eq!(third.data().checklist.len(), first.data().checklist.len());
    assert!(std::fs::metadata(cached).unwrap().len() > 1000);
}

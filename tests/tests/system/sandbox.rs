//! A hostile plugin is contained: every misbehaviour becomes a typed failure, the host keeps serving
//! and the other domains keep answering.

use casegrid::plugins::{Limits, LoadError, PluginError, Runtime};
use casegrid_tests::{ADMIN_PASSWORD, App, fixture, plugin};
use serde_json::json;
use std::sync::Arc;

fn runtime() -> Arc<Runtime> {
    Runtime::new(Limits::default(), None).expect("a runtime")
}

async fn classify(rt: &Runtime, file: &str, text: &str, at: i64) -> Result<Vec<String>, PluginError> {
    let p = rt.load_file(&fixture(file)).expect("the fixture loads");
    let scores = p.classify(text, at).await?;
    Ok(scores.into_iter().flat_map(|s| s.matched).collect())
}

#[tokio::test]
async fn each_misbehaviour_is_a_typed_failure_and_never_poisons_the_next_call() {
    let rt = runtime();
    let hostile = rt.load_file(&fixture("hostile")).expect("the hostile fixture is a well-formed plugin");
    let housing = rt.load_file(&plugin("housing")).expect("housing loads");
    type Expect = fn(&PluginError) -> bool;
    let cases: [(&str, Expect); 6] = [
        ("loop", |e| matches!(e, PluginError::Timeout { millis: 300 })),
        ("alloc", |e| matches!(e, PluginError::OutOfMemory { .. })),
        // Rust's shadow stack lives in linear memory: overflowing it is an out-of-bounds trap, or a
        // native stack overflow for toolchains that recurse on the wasm stack. Either is a crash.
        (
            "recurse",
            |e| matches!(e, PluginError::Crash { trap, .. } if trap.contains("stack") || trap.contains("out of bounds")),
        ),
        ("panic", |e| matches!(e, PluginError::Crash { message, .. } if message.contains("panicked on purpose"))),
        ("big-output", |e| matches!(e, PluginError::OutputTooLarge { .. })),
        ("bad-score", |e| matches!(e, PluginError::ContractViolation(m) if m.contains("outside 0..1"))),
    ];
    for (cmd, expected) in cases {
        let err = hostile.classify(cmd, 0).await.expect_err(cmd);
        assert!(expected(&err), "{cmd}: {err:?}");
        assert!(err.is_fault());
        // The same plugin answers the next call; so does another domain.
        assert_eq!(hostile.classify("hello", 0).await.expect("after a failure")[0].matched, vec!["ok"]);
        assert!(!housing.classify("楼顶违章搭建", 0).await.expect("housing answers").is_empty());
    }
    let big = "字".repeat(400_000);
    assert!(matches!(hostile.classify(&big, 0).await, Err(PluginError::InputTooLarge { .. })));
}

#[tokio::test]
async fn sleeping_never_holds_a_host_thread_and_a_chatty_plugin_is_not_a_crashing_one() {
    let rt = runtime();
    // An hour's sleep, then an unrepresentably long one: both return at once (time is frozen),
    // well inside the 300 ms deadline that could not have interrupted a wait in host code.
    assert_eq!(classify(&rt, "hostile", "sleep", 0).await.unwrap(), vec!["slept"]);
    assert_eq!(classify(&rt, "hostile", "chatty", 0).await.unwrap(), vec!["ok"]);
}

#[tokio::test]
async fn an_assessment_that_does_not_fit_the_published_checklist_is_refused() {
    let rt = runtime();
    let p = rt.load_file(&fixture("hostile")).unwrap();
    let facts = |serious: bool| {
        vec![casegrid::plugins::bindings::FieldValue {
            field: "serious".into(),
            value: casegrid::plugins::bindings::Value::Boolean(serious),
        }]
    };
    let now = casegrid_tests::now();
    assert_eq!(p.assess("X-1", facts(false), now).await.unwrap().tier, "only");
    match p.assess("X-1", facts(true), now).await {
        Err(PluginError::ContractViolation(m)) => assert!(m.contains("no tier invented"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn plugins_get_no_files_no_sockets_no_environment() {
    let rt = runtime();
    let fs = classify(&rt, "hostile", "fs", 0).await.unwrap();
    assert!(fs[0].starts_with("read:Err(") && fs[1].starts_with("list:Err("), "{fs:?}");
    let net = classify(&rt, "hostile", "socket", 0).await.unwrap();
    assert!(net[0].starts_with("tcp:Err(") && net[1].starts_with("udp:Err("), "{net:?}");
    let env = classify(&rt, "hostile", "env", 0).await.unwrap();
    assert_eq!(env[0], "vars:0");
}

#[tokio::test]
async fn plugins_see_the_calls_reference_time_and_fixed_randomness() {
    let rt = runtime();
    let at = 1_767_225_600; // 2026-01-01T00:00:00Z
    let clock = classify(&rt, "hostile", "clock", at).await.unwrap();
    assert_eq!(clock[0], format!("wall:{at}"));
    assert_eq!(clock[1], "elapsed-ns:0", "the monotonic clock never moves");
    let first = classify(&rt, "hostile", "random", at).await.unwrap();
    let second = classify(&rt, "hostile", "random", at + 999).await.unwrap();
    assert_eq!(first, second, "randomness is seeded: the same call gives the same answer");
}

#[test]
fn a_plugin_asking_for_more_is_granted_up_to_the_ceilings_and_its_imports_are_linked_with_nothing() {
    let generous = Runtime::new(Limits::default(), None).unwrap();
    let p = generous.load_file(&fixture("hostile")).unwrap();
    assert_eq!((p.granted.memory_bytes, p.granted.call_millis), (48 << 20, 300), "asked for 48 MiB and 300 ms");
    // A Rust std guest imports the filesystem and sockets interfaces: they must link, granting nothing.
    assert!(p.imports.iter().any(|i| i.starts_with("wasi:filesystem/")), "{:?}", p.imports);
    assert!(p.imports.iter().any(|i| i.starts_with("wasi:sockets/")), "{:?}", p.imports);

    let strict =
        Runtime::new(Limits { max_memory_bytes: 40 << 20, max_call_millis: 250, ..Limits::default() }, None).unwrap();
    let p = strict.load_file(&fixture("hostile")).unwrap();
    assert_eq!((p.granted.memory_bytes, p.granted.call_millis), (40 << 20, 250), "capped by the admin's ceilings");
    let housing = strict.load_file(&plugin("housing")).unwrap();
    assert_eq!((housing.granted.memory_bytes, housing.granted.call_millis), (32 << 20, 200), "the defaults");
}

#[test]
fn components_reaching_for_more_than_wasi_or_exporting_another_world_are_refused_by_name() {
    let rt = Runtime::new(Limits::default(), None).unwrap();
    match rt.load_file(&fixture("import-http")) {
        Err(LoadError::ForbiddenImport(name)) => {
            assert!(name.starts_with("wasi:http/outgoing-handler"), "{name}")
        }
        other => panic!("wasi:http import: {other:?}"),
    }
    match rt.load_file(&fixture("import-unknown")) {
        Err(LoadError::ForbiddenImport(name)) => assert_eq!(name, "acme:spy/exfil"),
        other => panic!("unknown import: {other:?}"),
    }
    assert!(matches!(rt.load_file(&fixture("wrong-world")), Err(LoadError::WrongWorld(_))));
    match rt.load_file(&fixture("duplicate-codes")) {
        Err(LoadError::Contract(problems)) => {
            assert_eq!(problems, vec!["checklist item code `X-1` appears more than once".to_string()])
        }
        other => panic!("duplicate item codes: {other:?}"),
    }
    assert!(matches!(rt.load_bytes(b"\0asm not really"), Err(LoadError::Invalid(_))));

    let small = Runtime::new(Limits { max_component_bytes: 100_000, ..Limits::default() }, None).unwrap();
    assert!(matches!(small.load_file(&plugin("housing")), Err(LoadError::ComponentTooLarge { cap: 100_000, .. })));
}

// Multi-threaded, as `casegrid serve` runs: plugin calls take the `block_in_place` path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_keeps_serving_while_a_hostile_plugin_misbehaves() {
    let app =
        App::spawn(&[&plugin("housing"), &fixture("hostile"), &fixture("import-http"), &fixture("wrong-world")]).await;
    let (_, health) = app.get("/healthz").await;
    assert_eq!(health["domains"], 2, "{health}");
    let refused: Vec<_> =
        health["refused"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap().to_string()).collect();
    assert_eq!(refused, vec!["forbidden-import", "wrong-world"]);

    for (cmd, status, code) in [
        ("loop", 503, "plugin-timeout"),
        ("alloc", 502, "plugin-out-of-memory"),
        ("panic", 502, "plugin-crash"),
        ("recurse", 502, "plugin-crash"),
    ] {
        let (s, e) = app.post("/api/v1/domains/hostile/classify", json!({ "text": cmd })).await;
        assert_eq!((s, e["error"]["code"].as_str()), (status, Some(code)), "{cmd}: {e}");
        // A crash's trap text and stderr stay in the host's log, not in the answer.
        assert!(!e.to_string().contains("panicked on purpose"));
        let (s, scores) = app.post("/api/v1/domains/housing/classify", json!({ "text": "有人在楼顶违章搭建" })).await;
        assert_eq!(s, 200);
        assert_eq!(scores[0]["category"], "illegal-construction");
    }
    // Calls at once, some hostile: each gets its own answer.
    let mut calls = Vec::new();
    for i in 0..24 {
        let text = if i % 3 == 0 { "loop" } else { "hello" };
        let (client, url, token) = (app.client.clone(), app.url("/api/v1/domains/hostile/classify"), app.token.clone());
        calls.push(tokio::spawn(async move {
            client.post(url).bearer_auth(token).json(&json!({ "text": text })).send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(c.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 503).count(), 8, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 16, "{statuses:?}");
    app.stop().await;
}

/// S2: a plugin that keeps asking the host for resources (pollables it never drops, each held in
/// host memory outside its memory limit) is stopped at the cap with a named fault. The memory is
/// measured in a process of its own (this test binary, running only the ignored test below), so
/// no other test's allocations blur the figure.
#[test]
fn a_plugin_hoarding_host_resources_is_stopped_at_the_cap_and_host_memory_stays_bounded() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["sandbox::hoarding_calls_in_a_process_of_their_own", "--exact", "--ignored", "--nocapture"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let grew: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("peak memory grew by bytes: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no figure in {stdout}"));
    assert!(grew < 64 << 20, "64 hoarding calls, 16 at once, grew the host's peak memory by {grew} bytes");
}

/// The peak resident memory of this process (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches("kB").trim();
    kb.parse::<u64>().unwrap() * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run in a process of its own by a_plugin_hoarding_host_resources_is_stopped_at_the_cap_and_host_memory_stays_bounded"]
async fn hoarding_calls_in_a_process_of_their_own() {
    let rt = runtime();
    let hostile = rt.load_file(&fixture("hostile")).unwrap();
    let round = |text: &'static str| {
        let calls: Vec<_> = (0..64)
            .map(|_| {
                let p = hostile.clone();
                tokio::spawn(async move { p.classify(text, 0).await })
            })
            .collect();
        async move {
            let mut out = Vec::new();
            for c in calls {
                out.push(c.await.unwrap());
            }
            out
        }
    };
    // Every slot warmed by an ordinary call first, so the figure is what hoarding adds.
    assert!(round("hello").await.iter().all(|r| r.is_ok()));
    let before = peak_rss();
    for r in round("resources").await {
        let e = r.expect_err("hoarding must be stopped");
        assert!(matches!(e, PluginError::TooManyResources { cap: 4096 }), "{e:?}");
        assert_eq!(e.code(), "plugin-resource-limit");
        assert!(e.is_fault(), "hoarding is the plugin's own misbehaviour");
    }
    assert_eq!(hostile.classify("hello", 0).await.unwrap()[0].matched, vec!["ok"], "the next call is clean");
    println!("peak memory grew by bytes: {}", peak_rss().saturating_sub(before));
}

/// S1: an anonymous flood of validations on a host saturated by other work: calls miss their
/// deadline while they wait for a core, and those misses are the host's (`host-overloaded`), not
/// the plugin's: the healthy plugin is not quarantined. (The hostile fixture that loops on an idle
/// host is still quarantined: `lifecycle::a_version_that_keeps_failing_is_quarantined…`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_anonymous_validations_on_a_saturated_host_does_not_quarantine_a_healthy_plugin() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let app = App::spawn_with(&[&plugin("housing")], |s| {
        s.plugin_policy.max_faults = 3;
        s.plugin_policy.window_minutes = 10;
        // A deadline a healthy call meets on an idle host by far, and misses when it has to wait
        // for a core.
        s.limits.default_call_millis = 5;
        s.limits.max_call_millis = 5;
    })
    .await;
    // The host is saturated: many more busy threads than cores, for the length of the flood.
    let stop = Arc::new(AtomicBool::new(false));
    let burners: Vec<_> = (0..8)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            })
        })
        .collect();
    let url = app.url("/api/v1/domains/housing/forms/report/validate");
    // A report form with a description only: the plugin rejects it (fields missing).
    let body = json!({"values": [{"field": "description", "value": {"Text": "楼顶违章搭建"}}]});
    let (mut codes, started) = (std::collections::BTreeMap::<String, usize>::new(), std::time::Instant::now());
    // Waves of 64 anonymous requests at once, for 15 seconds.
    while started.elapsed() < std::time::Duration::from_secs(15) {
        let wave: Vec<_> = (0..64)
            .map(|_| {
                let (client, url, body) = (app.client.clone(), url.clone(), body.clone());
                tokio::spawn(async move {
                    let r = client.post(url).json(&body).send().await.unwrap();
                    let v: serde_json::Value = r.json().await.unwrap();
                    v["error"]["code"].as_str().map_or("answered".to_string(), str::to_string)
                })
            })
            .collect();
        for w in wave {
            *codes.entry(w.await.unwrap()).or_default() += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for b in burners {
        b.join().unwrap();
    }
    println!("flood answers: {codes:?}");
    assert!(codes.get("answered").is_some_and(|n| *n > 0), "{codes:?}");
    assert_eq!(codes.get("plugin-timeout"), None, "no miss was the plugin's: {codes:?}");
    assert_eq!(codes.get("manual-mode"), None, "{codes:?}");
    // Whatever the fault recorder had to record is recorded by now; the plugin still serves.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let (_, v) = admin.get("/api/v1/plugins/housing").await;
    assert_eq!(
        (v["state"]["active_version"].as_str(), v["state"]["mode"].as_str()),
        (Some("1.0.0"), Some("active")),
        "{v}"
    );
    assert!(v["versions"][0]["quarantined_at"].is_null(), "{v}");
    assert_eq!(v["recent_faults"], json!([]), "{v}");
    let (s, r) = app.anon().post("/api/v1/domains/housing/forms/report/validate", body).await;
    assert_eq!(s, 200, "{r}");
    app.stop().await;
}

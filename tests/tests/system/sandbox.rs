//! A hostile plugin is contained: every misbehaviour becomes a typed failure, the host keeps serving
//! and the other domains keep answering.

use casegrid::plugins::{Limits, LoadError, PluginError, Runtime};
use casegrid_tests::{App, fixture, plugin};
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

//! A domain plugin in another language: Python, built by componentize-py (~18 MB, importing the
//! filesystem, sockets, clocks and randomness a CPython runtime needs). The host links all of it
//! with nothing granted, grants the limits it asks for up to the ceilings, and serves it like any
//! other plugin, in the same sandbox.

use casegrid::plugins::bindings::{FieldValue, Value};
use casegrid::plugins::{Limits, Runtime};
use casegrid_tests::{TempDir, fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_plugin_loads_asks_for_more_and_still_gets_nothing() {
    let cache = TempDir::new("python-cache");
    let rt = Runtime::new(Limits::default(), Some(cache.0.clone())).unwrap();
    let p = rt.load_file(&fixture("python")).expect("a componentize-py plugin loads");
    assert!(p.size > 8 << 20, "a CPython component is large: {} bytes", p.size);
    // It asked for 256 MiB, 2 s and 60 MiB; the ceilings allow them.
    assert_eq!((p.granted.memory_bytes, p.granted.call_millis, p.granted.component_bytes), (256 << 20, 2000, 60 << 20));
    for wanted in ["wasi:filesystem/", "wasi:sockets/", "wasi:random/", "wasi:clocks/"] {
        assert!(p.imports.iter().any(|i| i.starts_with(wanted)), "{wanted} in {:?}", p.imports);
    }

    let at = 1_767_225_600; // 2026-01-01T00:00:00Z
    let seen = p.classify("sandbox", at).await.unwrap().remove(0).matched;
    assert!(seen[0].starts_with("read-denied:"), "{seen:?}");
    assert!(seen[1].starts_with("socket-denied:"), "{seen:?}");
    assert_eq!(seen[2], format!("wall:{at}"), "Python's time.time() is the call's reference time");
    assert_eq!(seen[3], "env:0");
    assert_eq!(p.classify("I saw a python", at).await.unwrap()[0].category, "snakes");

    let errors = p.validate("report", vec![], at).await.unwrap();
    assert_eq!(errors[0].code, "required");
    let ok = vec![FieldValue { field: "description".into(), value: Value::Text("蟒蛇".into()) }];
    assert!(p.validate("report", ok, at).await.unwrap().is_empty());
    assert_eq!(p.assess("PY-1", vec![], at).await.unwrap().tier, "only");
}

//! Per-call cost of the housing plugin on a fresh pooled instance, the same logic compiled natively
//! as the lower bound, and loading a plugin from the precompiled cache versus compiling it.
//!
//! Run: `scripts/build-plugins && cargo bench -p casegrid --bench plugin_calls`

use casegrid::plugins::bindings as host;
use casegrid::plugins::{Limits, Runtime};
use casegrid_plugin_housing::Housing;
use casegrid_plugin_sdk::bindings::exports::casegrid::domain::types as guest;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;

const AT: i64 = 1_795_651_200; // 2026-11-26T00:00:00Z

fn housing_wasm() -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins/housing.wasm");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}; run scripts/build-plugins first", p.display()))
}

/// A complete, valid on-site inspection record: every field checked, three patterns, two check
/// digits — the realistic cost of a form an officer submits.
macro_rules! inspection {
    ($t:ident) => {
        vec![
            $t::FieldValue {
                field: "inspected_at".into(),
                value: $t::Value::Datetime($t::Datetime { seconds: AT - 3600, offset_minutes: 480 }),
            },
            $t::FieldValue {
                field: "address".into(), value: $t::Value::Text("北海市海城区北部湾中路88号".into())
            },
            $t::FieldValue {
                field: "location".into(),
                value: $t::Value::Geo($t::GeoPoint { lat: 21.4811, lon: 109.1202 }),
            },
            $t::FieldValue { field: "officer_1".into(), value: $t::Value::Text("GX0501001".into()) },
            $t::FieldValue { field: "officer_2".into(), value: $t::Value::Text("GX0501002".into()) },
            $t::FieldValue { field: "ids_shown".into(), value: $t::Value::Boolean(true) },
            $t::FieldValue { field: "party_kind".into(), value: $t::Value::Choice("organisation".into()) },
            $t::FieldValue { field: "party_name".into(), value: $t::Value::Text("北海某建设有限公司".into()) },
            $t::FieldValue { field: "party_id".into(), value: $t::Value::Text("914403001922038216".into()) },
            $t::FieldValue { field: "structure_status".into(), value: $t::Value::Choice("under-construction".into()) },
            $t::FieldValue { field: "area_m2".into(), value: $t::Value::Decimal(320.5) },
            $t::FieldValue {
                field: "findings".into(),
                value: $t::Value::Text("现场正在施工，当事人未能出示建设工程规划许可证".into()),
            },
            $t::FieldValue {
                field: "evidence".into(),
                value: $t::Value::Attachments(vec![$t::Attachment {
                    id: "att-1".into(),
                    media_type: "image/jpeg".into(),
                    size_bytes: 2_400_000,
                }]),
            },
            $t::FieldValue { field: "party_signed".into(), value: $t::Value::Boolean(true) },
        ]
    };
}

/// Facts for 城乡规划法 art. 64, correctable, ordinary circumstances, cost ¥1,000,000.
macro_rules! facts {
    ($t:ident) => {
        vec![
            $t::FieldValue { field: "party_kind".into(), value: $t::Value::Choice("organisation".into()) },
            $t::FieldValue {
                field: "act_date".into(),
                value: $t::Value::Date($t::Date { year: 2026, month: 3, day: 2 }),
            },
            $t::FieldValue { field: "correctable".into(), value: $t::Value::Boolean(true) },
            $t::FieldValue { field: "first_offence".into(), value: $t::Value::Boolean(false) },
            $t::FieldValue { field: "corrected_promptly".into(), value: $t::Value::Boolean(false) },
            $t::FieldValue { field: "harm".into(), value: $t::Value::Choice("ordinary".into()) },
            $t::FieldValue { field: "refused_to_correct".into(), value: $t::Value::Boolean(false) },
            $t::FieldValue { field: "project_cost".into(), value: $t::Value::Money(100_000_000) },
        ]
    };
}

fn calls(c: &mut Criterion) {
    let rt = Runtime::new(Limits::default(), None).unwrap();
    let plugin = rt.load_bytes(&housing_wasm()).unwrap();
    let values = inspection!(host);
    let facts = facts!(host);
    let errors = plugin.call_blocking(AT, 0, |guest| guest.validate("inspection", &values)).unwrap();
    assert_eq!(errors, Ok(vec![]), "the benchmark's record is valid");

    let mut g = c.benchmark_group("housing");
    g.bench_function("call-state/new", |b| b.iter(|| casegrid::plugins::sandbox::CallState::new(AT, 32 << 20)));
    // The fixed cost of a call: a fresh store and instance, and the smallest answer (the manifest).
    g.bench_function("empty-call/fresh-instance", |b| {
        b.iter(|| plugin.call_blocking(AT, 0, |guest| guest.describe()).unwrap())
    });
    g.bench_function("validate/fresh-instance", |b| {
        b.iter(|| plugin.call_blocking(AT, 0, |guest| guest.validate("inspection", black_box(&values))).unwrap())
    });
    g.bench_function("assess/fresh-instance", |b| {
        b.iter(|| plugin.call_blocking(AT, 0, |guest| guest.assess("HC-P-001", black_box(&facts))).unwrap())
    });
    g.bench_function("validate/native", |b| {
        b.iter(|| casegrid_plugin_sdk::entry::validate::<Housing>("inspection", black_box(inspection!(guest))).unwrap())
    });
    g.bench_function("assess/native", |b| {
        b.iter(|| casegrid_plugin_sdk::entry::assess::<Housing>("HC-P-001", black_box(facts!(guest))).unwrap())
    });

    // The whole async path a request takes: a task on the server's multi-thread runtime, the
    // concurrency permit, then the fresh-instance call.
    let tokio = tokio::runtime::Runtime::new().unwrap();
    g.bench_function("validate/async-path", |b| {
        b.iter(|| {
            let (plugin, values) = (plugin.clone(), values.clone());
            tokio
                .block_on(tokio.spawn(async move { plugin.validate("inspection", values, AT).await }))
                .unwrap()
                .unwrap()
        })
    });
    g.finish();
}

fn loading(c: &mut Criterion) {
    let bytes = housing_wasm();
    let dir = std::env::temp_dir().join(format!("casegrid-bench-cache-{}", std::process::id()));
    let cached = Runtime::new(Limits::default(), Some(dir.clone())).unwrap();
    cached.load_bytes(&bytes).unwrap(); // fill the cache
    let uncached = Runtime::new(Limits::default(), None).unwrap();

    let mut g = c.benchmark_group("load");
    g.sample_size(20);
    // Load = component (compiled or from cache) + link + read and check the static data.
    g.bench_function("housing/from-cache", |b| b.iter(|| cached.load_bytes(black_box(&bytes)).unwrap()));
    g.bench_function("housing/compile", |b| b.iter(|| uncached.load_bytes(black_box(&bytes)).unwrap()));
    g.finish();
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, calls, loading);
criterion_main!(benches);

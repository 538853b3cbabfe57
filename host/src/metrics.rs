//! Prometheus metrics at `/metrics` (text format 0.0.4): the host's HTTP requests and every
//! plugin call, by domain, version, export and outcome, with latency histograms. A small registry
//! of its own, owned by the runtime rather than process-global, so that each server (and each test
//! server in one process) counts only its own.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Histogram bucket bounds in seconds: from 100 µs (a plugin call) to 5 s (a call's ceiling).
const BOUNDS: [f64; 15] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Default)]
struct Histogram {
    buckets: [u64; BOUNDS.len()],
    count: u64,
    sum: f64,
}

type Key = (&'static str, String);

#[derive(Default)]
struct Inner {
    counters: BTreeMap<Key, u64>,
    histograms: BTreeMap<Key, Histogram>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// `{a="x",b="y"}`, values escaped as the text format requires.
fn labels(pairs: &[(&str, &str)]) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        let _ = write!(s, "{k}=\"{v}\"");
    }
    s.push('}');
    s
}

/// What each metric is, for `# HELP` and `# TYPE`.
const DESCRIPTIONS: &[(&str, &str, &str)] = &[
    ("casegrid_http_requests_total", "counter", "HTTP requests served, by method, route template and status"),
    ("casegrid_http_request_duration_seconds", "histogram", "HTTP request latency, by method and route template"),
    (
        "casegrid_plugin_calls_total",
        "counter",
        "Calls into domain plugins, by domain, version, export and outcome (ok or the failure's code)",
    ),
    (
        "casegrid_password_verifications_total",
        "counter",
        "Passwords checked against a stored hash (argon2), by purpose: sign-in or password-change",
    ),
    (
        "casegrid_plugin_call_duration_seconds",
        "histogram",
        "Plugin call latency (instantiation included), by domain, version and export",
    ),
];

impl Metrics {
    pub fn inc(&self, name: &'static str, l: &[(&str, &str)]) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.counters.entry((name, labels(l))).or_default() += 1;
    }

    pub fn observe(&self, name: &'static str, l: &[(&str, &str)], seconds: f64) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let h = m.histograms.entry((name, labels(l))).or_default();
        for (i, b) in BOUNDS.iter().enumerate() {
            if seconds <= *b {
                h.buckets[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The text exposition of everything counted so far.
    pub fn render(&self) -> String {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for (name, kind, help) in DESCRIPTIONS {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for ((n, l), v) in m.counters.iter().filter(|((n, _), _)| n == name) {
                let _ = writeln!(out, "{n}{l} {v}");
            }
            for ((n, l), h) in m.histograms.iter().filter(|((n, _), _)| n == name) {
                // `le` goes inside the label set: `{a="x",le="0.1"}`.
                let with = |le: &str| {
                    if l == "{}" { format!("{{le=\"{le}\"}}") } else { format!("{},le=\"{le}\"}}", &l[..l.len() - 1]) }
                };
                for (i, b) in BOUNDS.iter().enumerate() {
                    let _ = writeln!(out, "{n}_bucket{} {}", with(&b.to_string()), h.buckets[i]);
                }
                let _ = writeln!(out, "{n}_bucket{} {}", with("+Inf"), h.count);
                let _ = writeln!(out, "{n}_sum{l} {}", h.sum);
                let _ = writeln!(out, "{n}_count{l} {}", h.count);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_as_prometheus_text() {
        let m = Metrics::default();
        m.inc("casegrid_plugin_calls_total", &[("domain", "housing"), ("outcome", "ok")]);
        m.inc("casegrid_plugin_calls_total", &[("domain", "housing"), ("outcome", "ok")]);
        m.observe("casegrid_plugin_call_duration_seconds", &[("domain", r#"a"b"#)], 0.0003);
        let t = m.render();
        assert!(t.contains(r#"casegrid_plugin_calls_total{domain="housing",outcome="ok"} 2"#), "{t}");
        assert!(t.contains(r#"casegrid_plugin_call_duration_seconds_bucket{domain="a\"b",le="0.00025"} 0"#), "{t}");
        assert!(t.contains(r#"casegrid_plugin_call_duration_seconds_bucket{domain="a\"b",le="0.0005"} 1"#), "{t}");
        assert!(t.contains(r#"casegrid_plugin_call_duration_seconds_count{domain="a\"b"} 1"#), "{t}");
        assert!(t.contains("# TYPE casegrid_http_requests_total counter"));
    }
}

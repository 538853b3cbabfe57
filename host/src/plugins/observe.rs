//! What the server learns of every serving plugin call: counted in the metrics by domain, version,
//! export and outcome with its latency, and, where the plugin itself misbehaved, sent to the fault
//! recorder of the registry, which holds it against the version's fault policy.

use super::lifecycle::Fault;
use crate::metrics::Metrics;
use casegrid_runtime::{Call, Observer};
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc::UnboundedSender;

#[derive(Debug, Default)]
pub struct HostObserver {
    /// Also the server's own counts (HTTP requests, approval steps), served at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Connected by the registry's fault recorder; unconnected (tools), faults are only counted.
    faults: OnceLock<UnboundedSender<Fault>>,
}

impl HostObserver {
    pub fn connect(&self, tx: UnboundedSender<Fault>) {
        let _ = self.faults.set(tx);
    }
}

impl Observer for HostObserver {
    fn call_finished(&self, call: &Call<'_>) {
        let outcome = match call.outcome {
            Ok(()) => "ok",
            Err(e) => {
                if e.is_fault()
                    && let Some(tx) = self.faults.get()
                {
                    let (domain, version) = (call.domain.to_string(), call.version.to_string());
                    let _ = tx.send(Fault { domain, version, code: e.code(), at: crate::store::now_ms() });
                }
                e.code()
            }
        };
        let (domain, version, export) = (call.domain, call.version, call.export);
        self.metrics.inc(
            "casegrid_plugin_calls_total",
            &[("domain", domain), ("version", version), ("export", export), ("outcome", outcome)],
        );
        self.metrics.observe(
            "casegrid_plugin_call_duration_seconds",
            &[("domain", domain), ("version", version), ("export", export)],
            call.elapsed.as_secs_f64(),
        );
    }
}

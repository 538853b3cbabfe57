//! The plugin runtime: loading domain plugins into a capability-free sandbox and calling them.

pub mod bindings;
mod cache;
pub mod check;
mod error;
mod runtime;
pub mod sandbox;

pub use error::{LoadError, PluginError};
pub use runtime::{Granted, Limits, Plugin, Runtime, StaticData, json_size};

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The loaded plugins, one per domain, and the files that were refused.
#[derive(Debug, Default)]
pub struct Registry {
    domains: BTreeMap<String, Arc<Plugin>>,
    pub failures: Vec<LoadFailure>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadFailure {
    pub file: String,
    pub code: &'static str,
    pub error: String,
}

impl Registry {
    /// Loads every `*.wasm` in `dir`, in name order. A refused file is recorded, not fatal: one bad
    /// plugin must not take the other domains down with it.
    pub fn load_dir(runtime: &Runtime, dir: &Path) -> anyhow::Result<Self> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("reading the plugin directory {}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        files.sort();
        let mut reg = Registry::default();
        for path in files {
            let file = path.display().to_string();
            match runtime.load_file(&path) {
                Ok(p) => {
                    let domain = p.domain().to_string();
                    if reg.domains.contains_key(&domain) {
                        let error = format!("domain `{domain}` is already served by another file");
                        tracing::error!(%file, %error, "plugin refused");
                        reg.failures.push(LoadFailure { file, code: "duplicate-domain", error });
                        continue;
                    }
                    tracing::info!(%file, %domain, version = %p.manifest().version, sha256 = %p.sha256, "plugin loaded");
                    reg.domains.insert(domain, p);
                }
                Err(e) => {
                    tracing::error!(%file, error = %e, "plugin refused");
                    reg.failures.push(LoadFailure { file, code: e.code(), error: e.to_string() });
                }
            }
        }
        Ok(reg)
    }

    pub fn get(&self, domain: &str) -> Option<&Arc<Plugin>> {
        self.domains.get(domain)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.domains.values()
    }

    pub fn len(&self) -> usize {
        self.domains.len()
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }
}

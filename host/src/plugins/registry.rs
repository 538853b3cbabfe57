//! Which plugin version serves each domain, in this process, swapped without a restart.
//!
//! Requests take a [`Snapshot`] once and keep it: a call in flight finishes on the version it
//! started with, however the domain changes meanwhile. The snapshot is rebuilt from the database
//! whenever `plugin_state.seq` moves, which every host polls, so a change made on one host serves
//! on all of them within one poll interval plus a load. Versions a case is pinned to are loaded on
//! demand and kept ([`Registry::version`]).

use super::lifecycle::{self, FaultPolicy};
use super::{LoadError, Plugin, Runtime};
use crate::store::{Db, StoreError};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

/// A bundled file that could not be served.
#[derive(Debug, Clone, Serialize)]
pub struct LoadFailure {
    pub file: String,
    pub code: &'static str,
    pub error: String,
}

/// A stored version this process refused to load, and why: shown in `/healthz`, the metrics and
/// the admin's view of the domain, and told once to the fault log, the security log and the admins.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    pub domain: String,
    pub version: String,
    pub code: String,
    pub error: String,
    /// When this process refused it (RFC 3339).
    pub since: String,
    #[serde(skip)]
    pub at: i64,
    /// Told to the fault log and the admins already.
    #[serde(skip)]
    told: bool,
}

/// What serves one domain.
#[derive(Debug, Clone)]
pub struct Served {
    pub plugin: Arc<Plugin>,
    /// The active version was quarantined with nothing to fall back on: its published data still
    /// shows, but nothing calls it; officers work without assessment.
    pub manual: bool,
}

/// The domains served at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    seq: i64,
    domains: BTreeMap<String, Served>,
}

impl Snapshot {
    /// A snapshot serving exactly these plugins (tools and benchmarks, without a database).
    pub fn of(plugins: impl IntoIterator<Item = Arc<Plugin>>) -> Snapshot {
        let domains =
            plugins.into_iter().map(|p| (p.domain().to_string(), Served { plugin: p, manual: false })).collect();
        Snapshot { seq: 0, domains }
    }

    /// The plugin that answers calls for `domain`: none when the domain is disabled, unknown or in
    /// manual mode.
    pub fn get(&self, domain: &str) -> Option<&Arc<Plugin>> {
        self.domains.get(domain).filter(|s| !s.manual).map(|s| &s.plugin)
    }

    /// What serves `domain`, manual mode included.
    pub fn served(&self, domain: &str) -> Option<&Served> {
        self.domains.get(domain)
    }

    /// The plugin whose published data (categories, forms, checklist) describes `domain`, manual
    /// mode included: that data was checked when the version loaded and stays true while nothing
    /// is called.
    pub fn published(&self, domain: &str) -> Option<&Arc<Plugin>> {
        self.domains.get(domain).map(|s| &s.plugin)
    }

    /// The plugins that answer calls, in domain order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.domains.values().filter(|s| !s.manual).map(|s| &s.plugin)
    }

    /// Every enabled domain, manual ones included.
    pub fn all(&self) -> impl Iterator<Item = &Served> {
        self.domains.values()
    }

    pub fn len(&self) -> usize {
        self.domains.len()
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }
}

/// Loads every `*.wasm` in `dir`, in name order, with its bytes. A refused file is recorded, not
/// fatal: one bad plugin must not take the other domains down with it.
/// A loaded component with its bytes.
pub type Loaded = (Arc<Plugin>, Vec<u8>);

pub fn load_dir(runtime: &Runtime, dir: &Path) -> anyhow::Result<(Vec<Loaded>, Vec<LoadFailure>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("reading the plugin directory {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    files.sort();
    let (mut loaded, mut failures) = (Vec::new(), Vec::new());
    for path in files {
        let file = path.display().to_string();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                failures.push(LoadFailure { file, code: "io", error: e.to_string() });
                continue;
            }
        };
        match runtime.load_bytes(&bytes) {
            Ok(p) => loaded.push((p, bytes)),
            Err(e) => {
                tracing::error!(%file, error = %e, "plugin refused");
                failures.push(LoadFailure { file, code: e.code(), error: e.to_string() });
            }
        }
    }
    Ok((loaded, failures))
}

/// The process's plugin registry.
pub struct Registry {
    runtime: Arc<Runtime>,
    db: Db,
    current: RwLock<Arc<Snapshot>>,
    /// Every version loaded so far, by (domain, version): the serving ones and those cases are
    /// pinned to. Versions are immutable, so an entry never goes stale.
    loaded: Mutex<HashMap<(String, String), Arc<Plugin>>>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    /// The bundled files that could not be served, at start.
    failures: Vec<LoadFailure>,
    /// The sha256 of every component of the plugin directory, installed at start: what vouches
    /// for a version recorded as bundled.
    bundled: Arc<HashSet<String>>,
    /// Stored versions refused at load, by (domain, version), until one loads.
    refused: Mutex<BTreeMap<(String, String), Refusal>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("current", &self.current).finish_non_exhaustive()
    }
}

/// Why a stored version could not be had.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("no version {version} of {domain} is stored")]
    Unknown { domain: String, version: String },
    #[error("version {version} of {domain} does not load any more: {error}")]
    Load { domain: String, version: String, error: LoadError },
    #[error("version {version} of {domain} is refused: {error}")]
    Untrusted { domain: String, version: String, error: lifecycle::Untrusted },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Registry {
    /// Installs the bundled plugins of `dir` (enabling each domain on its first start), then loads
    /// what the database says serves.
    pub async fn start(runtime: Arc<Runtime>, db: Db, dir: &Path) -> anyhow::Result<Arc<Registry>> {
        let (bundled, mut failures) = {
            let (rt, dir) = (runtime.clone(), dir.to_path_buf());
            tokio::task::spawn_blocking(move || load_dir(&rt, &dir)).await??
        };
        // Newest first within a domain: on a domain's first start, the newest bundled version is
        // the one enabled.
        let mut bundled = bundled;
        bundled.sort_by(|(a, _), (b, _)| {
            a.domain()
                .cmp(b.domain())
                .then_with(|| semver_key(&b.manifest().version).cmp(&semver_key(&a.manifest().version)))
        });
        let (mut loaded, mut shas) = (HashMap::new(), HashSet::new());
        for (p, bytes) in bundled {
            let (domain, version) = (p.domain().to_string(), p.manifest().version.clone());
            match lifecycle::install_bundled(&db, &p, &bytes).await? {
                lifecycle::Installed::Conflict { installed_sha256 } => {
                    let error = format!(
                        "{domain} {version} is installed with other bytes (sha256 {}…); a version is immutable: bump the bundled plugin's version",
                        &installed_sha256[..12]
                    );
                    tracing::error!(%domain, %version, %error, "bundled plugin not installed");
                    failures.push(LoadFailure { file: format!("{domain} {version}"), code: "version-conflict", error });
                }
                installed => {
                    tracing::info!(%domain, %version, sha256 = %p.sha256, new = installed == lifecycle::Installed::New, "bundled plugin installed");
                    shas.insert(p.sha256.clone());
                    loaded.insert((domain, version), p);
                }
            }
        }
        let registry = Arc::new(Registry {
            runtime,
            db,
            current: RwLock::new(Arc::new(Snapshot { seq: -1, domains: BTreeMap::new() })),
            loaded: Mutex::new(loaded),
            reloading: tokio::sync::Mutex::new(()),
            failures,
            bundled: Arc::new(shas),
            refused: Mutex::new(BTreeMap::new()),
        });
        registry.refresh().await?;
        Ok(registry)
    }

    /// What serves now. Take it once per request and keep it.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Rebuilds the snapshot if what serves changed since it was built; true when it did.
    pub async fn refresh(&self) -> Result<bool, StoreError> {
        let _one = self.reloading.lock().await;
        let mut c = self.db.pool().acquire().await?;
        let seq = lifecycle::seq(&mut c).await?;
        if seq == self.snapshot().seq {
            return Ok(false);
        }
        let rows = lifecycle::domains(&mut c).await?;
        drop(c);
        let previous = self.snapshot();
        let mut domains = BTreeMap::new();
        for row in rows.into_iter().filter(|r| r.enabled) {
            match self.version(&row.domain, &row.active_version).await {
                Ok(plugin) => {
                    domains.insert(row.domain.clone(), Served { plugin, manual: row.mode == "manual" });
                }
                // The database did not answer: try again at the next poll, serving what served.
                Err(VersionError::Store(e)) => return Err(e),
                // A version that loaded once and no longer does (a changed contract check, a
                // smaller ceiling): the domain keeps what served before, if anything, and the log
                // says why.
                Err(e) => {
                    tracing::error!(domain = %row.domain, version = %row.active_version, error = %e, "cannot serve");
                    if let Some(s) = previous.served(&row.domain) {
                        domains.insert(row.domain.clone(), s.clone());
                    }
                }
            }
        }
        let next = Arc::new(Snapshot { seq, domains });
        tracing::info!(
            seq,
            serving = ?next.all().map(|s| format!("{} {}{}", s.plugin.domain(), s.plugin.manifest().version, if s.manual { " (manual)" } else { "" })).collect::<Vec<_>>(),
            "plugins reloaded"
        );
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(true)
    }

    /// A stored version, loaded once and kept. Its bytes are checked first, every time they are
    /// read from the database ([`lifecycle::trust`]): bytes nothing vouches for are refused before
    /// they are compiled or looked up in the precompiled cache, and the refusal is recorded.
    pub async fn version(&self, domain: &str, version: &str) -> Result<Arc<Plugin>, VersionError> {
        let key = (domain.to_string(), version.to_string());
        if let Some(p) = self.loaded.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(p.clone());
        }
        let mut c = self.db.pool().acquire().await.map_err(StoreError::from)?;
        let stored = lifecycle::stored(&mut c, domain, version)
            .await?
            .ok_or_else(|| VersionError::Unknown { domain: domain.into(), version: version.into() })?;
        drop(c);
        let (rt, bundled, d, v) = (self.runtime.clone(), self.bundled.clone(), key.0.clone(), key.1.clone());
        let loaded = tokio::task::spawn_blocking(move || {
            lifecycle::trust(&stored, &d, &v, &bundled).map_err(|error| VersionError::Untrusted {
                domain: d.clone(),
                version: v.clone(),
                error,
            })?;
            rt.load_bytes(&stored.bytes).map_err(|error| VersionError::Load { domain: d, version: v, error })
        })
        .await
        .unwrap_or_else(|e| {
            let error = LoadError::Io(format!("the load task failed: {e}"));
            Err(VersionError::Load { domain: domain.into(), version: version.into(), error })
        });
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        match loaded {
            Ok(p) => {
                refused.remove(&key);
                drop(refused);
                Ok(self.loaded.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_insert(p).clone())
            }
            Err(e) => {
                let code = match &e {
                    VersionError::Untrusted { error, .. } => error.code(),
                    VersionError::Load { error, .. } => error.code(),
                    _ => "storage",
                };
                tracing::error!(%domain, %version, code, error = %e, "stored plugin version refused");
                let (code, error) = (code.to_string(), e.to_string());
                let same = refused.get(&key).is_some_and(|r| r.code == code && r.error == error);
                if !same {
                    let ((domain, version), at) = (key.clone(), crate::store::now_ms());
                    let since = crate::store::rfc3339(at);
                    refused.insert(key, Refusal { domain, version, code, error, since, at, told: false });
                }
                Err(e)
            }
        }
    }

    /// What could not be served: the bundled files refused at start, then the stored versions
    /// refused since.
    pub fn failures(&self) -> Vec<LoadFailure> {
        let refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        let later = refused.values().map(|r| LoadFailure {
            file: format!("{} {}", r.domain, r.version),
            code: "refused",
            error: format!("{}: {}", r.code, r.error),
        });
        self.failures.iter().cloned().chain(later).collect()
    }

    /// The stored versions of `domain` (every domain: none) refused at load.
    pub fn refused(&self, domain: Option<&str>) -> Vec<Refusal> {
        let refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        refused.values().filter(|r| domain.is_none_or(|d| r.domain == d)).cloned().collect()
    }

    /// Tells the fault log, the security log and the admins of each refusal not told yet.
    async fn tell_refusals(&self, notify: &crate::notify::NotifySettings, host: &str) {
        let untold: Vec<Refusal> = self.refused(None).into_iter().filter(|r| !r.told).collect();
        for r in untold {
            match lifecycle::record_refusal(&self.db, notify, &r, host).await {
                Ok(()) => {
                    let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(now) = refused.get_mut(&(r.domain.clone(), r.version.clone()))
                        && now.error == r.error
                    {
                        now.told = true;
                    }
                }
                Err(e) => tracing::warn!(error = %e, domain = %r.domain, "recording a refused plugin version failed"),
            }
        }
    }

    /// Polls for changes made by any host, and records the faults of serving calls (quarantining
    /// a version that faults too often), until the process ends.
    pub fn spawn_background(
        self: &Arc<Self>,
        notify: crate::notify::NotifySettings,
        policy: FaultPolicy,
        host: String,
        observer: &super::HostObserver,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let (tx, mut faults) = tokio::sync::mpsc::unbounded_channel();
        observer.connect(tx);
        let poller = {
            let (reg, notify, host) = (self.clone(), notify.clone(), host.clone());
            let every = std::time::Duration::from_millis(policy.poll_millis.max(50));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if let Err(e) = reg.refresh().await {
                        tracing::warn!(error = %e, "checking for plugin changes failed");
                    }
                    reg.tell_refusals(&notify, &host).await;
                }
            })
        };
        let recorder = {
            let reg = self.clone();
            tokio::spawn(async move {
                while let Some(fault) = faults.recv().await {
                    match lifecycle::record_fault(&reg.db, &notify, &policy, &fault, &host).await {
                        Ok(Some(_)) => {
                            if let Err(e) = reg.refresh().await {
                                tracing::warn!(error = %e, "reloading after a quarantine failed");
                            }
                        }
                        Ok(None) => {}
                        Err(e) => tracing::warn!(error = %e, domain = %fault.domain, "recording a plugin fault failed"),
                    }
                }
            })
        };
        vec![poller, recorder]
    }
}

/// Orders versions by their numbers (`1.10.0` after `1.9.0`); a pre-release sorts before its
/// release.
pub fn semver_key(v: &str) -> (Vec<u64>, bool) {
    let (core, pre) = match v.split_once(['-', '+']) {
        Some((c, rest)) => (c, !v[c.len()..].starts_with('+') && !rest.is_empty()),
        None => (v, false),
    };
    (core.split('.').map(|p| p.parse().unwrap_or(0)).collect(), !pre)
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_order_by_number() {
        use super::semver_key as k;
        assert!(k("1.10.0") > k("1.9.0"));
        assert!(k("1.0.0") > k("1.0.0-rc.1"));
        assert!(k("0.9.0") < k("1.1.0"));
        assert!(k("1.0.0+build.5") == k("1.0.0"));
    }
}

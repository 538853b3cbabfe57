//! Settings in layers: built-in defaults, then `casegrid.toml` (or the file named by `--config`),
//! then `CASEGRID_*` environment variables (`CASEGRID_LISTEN`, `CASEGRID_DATA`,
//! `CASEGRID_DATABASE_URL`, `CASEGRID_AUTH__COOKIE_SECURE`, `CASEGRID_LIMITS__MAX_MEMORY_BYTES`, …),
//! then command-line flags.

use crate::plugins::Limits;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The address the server listens on.
    pub listen: SocketAddr,
    /// Where Casegrid keeps its data (database, attachments, the precompiled plugin cache).
    pub data: PathBuf,
    /// The directory of bundled plugin components (`*.wasm`) loaded at start.
    pub plugins: PathBuf,
    #[serde(default)]
    pub limits: Limits,
    /// When a citizen's text is routed without a person.
    #[serde(default)]
    pub routing: crate::routing::RoutingRules,
    /// A PostgreSQL URL (`postgres://user:password@host/db`); without one, SQLite in the data
    /// directory.
    #[serde(default)]
    pub database_url: Option<crate::auth::secrets::Secret>,
    /// Sessions, sign-in throttling, rate limits, the first admin.
    #[serde(default)]
    pub auth: crate::auth::AuthSettings,
    /// Citizens' reports: deadlines, duplicates, attachments, the calendar.
    #[serde(default)]
    pub intake: crate::intake::IntakeSettings,
    /// Webhooks and the outbox worker.
    #[serde(default)]
    pub notify: crate::notify::NotifySettings,
    /// When a plugin version that keeps failing is quarantined; how often hosts look for changes.
    #[serde(default)]
    pub plugin_policy: crate::plugins::lifecycle::FaultPolicy,
    /// The case procedure: the authority's name, the legal limits, the approval chains.
    #[serde(default)]
    pub cases: crate::cases::CaseSettings,
    /// The case record's key: `record.key` in the data directory, or a secret shared by every host.
    #[serde(default)]
    pub record: crate::cases::audit::RecordSettings,
    /// The address clients reach this server at (`https://cases.example.gov.cn`), for the links
    /// it gives out (Open311's discovery); never taken from a request's `Host`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Open311: which categories anyone may list, and how exact public points are.
    #[serde(default)]
    pub open311: crate::open311::Open311Settings,
}

impl Settings {
    /// Reads the layers. `file`: an explicit config file, which must exist; without one,
    /// `./casegrid.toml` is read if present.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut b = config::Config::builder()
            .set_default("listen", "127.0.0.1:8080")?
            .set_default("data", "./casegrid-data")?
            .set_default("plugins", default_plugins_dir().display().to_string())?;
        b = match file {
            Some(f) => b.add_source(config::File::from(f).required(true)),
            None => b.add_source(config::File::with_name("casegrid.toml").required(false)),
        };
        // The command line's client settings (`casegrid plugin publish`) are not the server's.
        let env = std::env::vars()
            .filter(|(k, _)| k.starts_with("CASEGRID_") && !CLIENT_ONLY.contains(&k.as_str()))
            .collect();
        b = b.add_source(
            config::Environment::with_prefix("CASEGRID")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(env)),
        );
        let s: Settings = b.build()?.try_deserialize()?;
        Ok(s)
    }

    /// Defaults for the given data and plugin directories, as tests and tools start it.
    pub fn new(data: PathBuf, plugins: PathBuf) -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data,
            plugins,
            limits: Limits::default(),
            routing: Default::default(),
            database_url: None,
            auth: Default::default(),
            intake: Default::default(),
            notify: Default::default(),
            plugin_policy: Default::default(),
            cases: Default::default(),
            record: Default::default(),
            public_url: None,
            open311: Default::default(),
        }
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.data.join("plugin-cache")
    }
}

/// Environment variables of the command line's client commands, which are no server settings.
pub const CLIENT_ONLY: [&str; 2] = ["CASEGRID_SERVER", "CASEGRID_TOKEN"];

/// Where `scripts/build-plugins` puts the bundled plugins of this checkout.
pub fn default_plugins_dir() -> PathBuf {
    let host = Path::new(env!("CARGO_MANIFEST_DIR"));
    host.parent().unwrap_or(host).join("target/plugins")
}

//! Domain plugins as the server serves them: the lifecycle of their versions (publish, sign, enable,
//! pin, roll back, quarantine), the registry of which version serves each domain, and what the
//! server counts of their calls. Loading and calling a plugin is the runtime crate's
//! (`casegrid-runtime`), reached only through its public API.

pub mod lifecycle;
pub mod observe;
pub mod registry;
pub mod routes;
pub mod signing;

pub use casegrid_runtime::{
    Granted, Limits, LoadError, Plugin, PluginError, Runtime, StaticData, bindings, check, json_size, sandbox,
};
pub use observe::HostObserver;
pub use registry::{LoadFailure, Registry, Served, Snapshot, load_dir};

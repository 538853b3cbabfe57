//! The plugin runtime: loading domain plugins into a capability-free sandbox and calling them; the
//! lifecycle of their versions (publish, sign, enable, pin, roll back, quarantine); and the registry
//! of which version serves each domain.

pub mod bindings;
mod cache;
pub mod check;
mod error;
pub mod lifecycle;
pub mod registry;
pub mod routes;
mod runtime;
pub mod sandbox;
pub mod signing;

pub use error::{LoadError, PluginError};
pub use registry::{LoadFailure, Registry, Served, Snapshot, load_dir};
pub use runtime::{FaultSink, Granted, Limits, Plugin, Runtime, StaticData, json_size};

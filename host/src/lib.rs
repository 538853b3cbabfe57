//! Casegrid: the case platform of a city's comprehensive administrative law-enforcement bureau.
//! Each enforcement domain is a sandboxed WebAssembly component plugin; this crate is the host.

#![deny(unsafe_code)] // the one exception, loading a precompiled plugin, is in plugins/cache.rs

pub mod api_error;
pub mod cli;
pub mod config;
pub mod domains;
pub mod plugins;
pub mod routing;
pub mod server;

pub use config::Settings;
pub use server::run;

//! Casegrid: the case platform of a city's comprehensive administrative law-enforcement bureau.
//! Each enforcement domain is a sandboxed WebAssembly component plugin; this crate is the host.

#![forbid(unsafe_code)] // the one exception, loading a precompiled plugin, is in the runtime crate

pub mod admin;
pub mod api_error;
pub mod auth;
pub mod cases;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod dispatch;
pub mod domains;
pub mod ids;
pub mod intake;
pub mod metrics;
pub use casegrid_runtime::money;
pub mod notify;
pub mod open311;
pub mod openapi;
pub mod outbound;
pub mod plugins;
pub mod routing;
pub mod server;
pub mod store;

pub use config::Settings;
pub use server::run;

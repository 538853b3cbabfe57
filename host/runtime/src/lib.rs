//! The plugin runtime: one wasmtime engine per process, components compiled once and cached, and a
//! fresh capability-free instance for every call, under an epoch deadline, a memory cap and bounded
//! concurrency; the host side of the WIT contract; the host's checks of a plugin's static data and
//! answers against that contract.
//!
//! It knows no HTTP, no SQL and no wall clock: time reaches a plugin only as the `at` of a call, and
//! what the server wants to know of calls (metrics, faults) reaches it through an [`Observer`].

#![deny(unsafe_code)] // the one exception, loading a precompiled component, is in cache.rs

pub mod bindings;
mod cache;
pub mod check;
pub mod day;
mod engine;
mod error;
pub mod money;
pub mod sandbox;

pub use engine::{Call, Granted, Guest, Limits, Observer, Plugin, Runtime, StaticData, json_size};
pub use error::{LoadError, PluginError};

//! The black-box stories of the whole system, in one test binary: each module is one part of the
//! bureau's work. One binary links the host once instead of once per file (each link is ~180 MB and
//! tens of seconds). `memory.rs` stays apart: it measures the process's resident set.

mod accounts;
mod cache_and_cli;
mod cases;
mod demo;
mod domains;
mod eight_domains;
mod intake;
mod lifecycle;
mod metrics;
mod notify;
mod open311;
mod openapi;
mod python_plugin;
mod record;
mod redirects;
mod sandbox;
mod storage;

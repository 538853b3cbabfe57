//! The `casegrid` command line: `serve`, and the plugin tools a domain team runs before publishing.

use crate::config::Settings;
use crate::plugins::bindings::{ItemKind, Manifest};
use crate::plugins::{Plugin, Runtime, check};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "casegrid",
    version,
    about = "The case platform of a comprehensive administrative law-enforcement bureau"
)]
pub struct Cli {
    /// A config file (TOML); without it ./casegrid.toml is read when present.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the server with the bundled domain plugins.
    Serve {
        /// Address to listen on [env: CASEGRID_LISTEN] [default: 127.0.0.1:8080]
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Data directory [env: CASEGRID_DATA] [default: ./casegrid-data]
        #[arg(long)]
        data: Option<PathBuf>,
        /// Directory of plugin components to load [env: CASEGRID_PLUGINS]
        #[arg(long)]
        plugins: Option<PathBuf>,
    },
    /// Domain plugin tools.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// The conformance check to run before publishing: loads the component under the production
    /// limits, checks its static data, runs its self-tests; exits non-zero on any failure.
    Check { file: PathBuf },
    /// Print a plugin's manifest and a summary of its checklist.
    Inspect { file: PathBuf },
}

impl Command {
    /// Applies the flags of `serve` over the layered settings.
    pub fn settings(&self, config: Option<&Path>) -> anyhow::Result<Settings> {
        let mut s = Settings::load(config)?;
        if let Command::Serve { listen, data, plugins } = self {
            if let Some(l) = listen {
                s.listen = *l;
            }
            if let Some(d) = data {
                s.data = d.clone();
            }
            if let Some(p) = plugins {
                s.plugins = p.clone();
            }
        }
        Ok(s)
    }
}

/// Loads a component for the plugin tools; prints the refusal and returns None when it fails.
fn load(settings: &Settings, file: &Path) -> anyhow::Result<Option<Plugin>> {
    let runtime = Runtime::new(settings.limits.clone(), None)?;
    let bytes = std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    match runtime.load_unchecked(&bytes) {
        Ok(p) => Ok(Some(p)),
        Err(e) => {
            println!("✗ {}: refused ({}): {e}", file.display(), e.code());
            Ok(None)
        }
    }
}

fn manifest_line(m: &Manifest) -> String {
    let d = &m.in_force.from;
    let until = m
        .in_force
        .until
        .as_ref()
        .map(|u| format!(" until {:04}-{:02}-{:02}", u.year, u.month, u.day))
        .unwrap_or_default();
    format!(
        "{} {} — {} / {} — by {}; contract {}; in force from {:04}-{:02}-{:02}{until}",
        m.domain, m.version, m.name.zh, m.name.en, m.publisher, m.contract, d.year, d.month, d.day
    )
}

pub fn plugin_check(settings: &Settings, file: &Path) -> anyhow::Result<ExitCode> {
    println!("casegrid plugin check {}", file.display());
    let Some(p) = load(settings, file)? else {
        return Ok(ExitCode::FAILURE);
    };
    let m = p.manifest();
    let g = p.granted;
    println!("  component   {} bytes, sha256 {}", p.size, p.sha256);
    println!("  manifest    {}", manifest_line(m));
    println!(
        "  limits      memory {} MiB, {} ms a call, component cap {} MiB (asked: memory {:?}, time {:?}, size {:?})",
        g.memory_bytes >> 20,
        g.call_millis,
        g.component_bytes >> 20,
        m.limits.memory_bytes,
        m.limits.call_millis,
        m.limits.component_bytes
    );
    println!(
        "  sandbox     ✓ exports casegrid:domain/domain-plugin@1.0.0; imports only standard WASI, granted nothing:"
    );
    for chunk in p.imports.chunks(3) {
        println!("                {}", chunk.join(", "));
    }
    let d = p.data();
    let coercive = d.checklist.iter().filter(|i| i.kind == ItemKind::CoerciveMeasure).count();
    println!(
        "  data        {} report categories, {} forms, {} checklist items ({} penalty, {coercive} coercive)",
        d.categories.len(),
        d.forms.len(),
        d.checklist.len(),
        d.checklist.len() - coercive
    );
    let problems = check::static_data(&p);
    if problems.is_empty() {
        println!("  contract    ✓ static data sound");
    } else {
        println!("  contract    ✗ {} problems:", problems.len());
        for pr in &problems {
            println!("      ✗ {pr}");
        }
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    let outcomes = check::self_tests(&p, now);
    let passed = outcomes.iter().filter(|o| o.passed).count();
    println!("  self-tests  {passed}/{} passed", outcomes.len());
    for o in &outcomes {
        println!("      {} {} — {}", if o.passed { "✓" } else { "✗" }, o.name, o.detail);
    }
    let ok = problems.is_empty() && passed == outcomes.len();
    println!("{}", if ok { "PASS" } else { "FAIL" });
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

pub fn plugin_inspect(settings: &Settings, file: &Path) -> anyhow::Result<ExitCode> {
    let Some(p) = load(settings, file)? else {
        return Ok(ExitCode::FAILURE);
    };
    println!("{}", manifest_line(p.manifest()));
    println!("sha256 {}  ({} bytes)", p.sha256, p.size);
    println!();
    println!("report categories:");
    for c in &p.data().categories {
        println!("  {:<24} {} / {}", c.code, c.name.zh, c.name.en);
    }
    println!();
    println!("checklist:");
    for it in &p.data().checklist {
        let kind = if it.kind == ItemKind::Penalty { "penalty " } else { "coercive" };
        let basis = it.penalty_basis.first().map(|c| format!("{} 第{}条", c.statute.zh, c.article)).unwrap_or_default();
        println!("  {:<10} {kind} {:>2} tiers  {}  [{basis}]", it.code, it.tiers.len(), it.title.zh);
    }
    Ok(ExitCode::SUCCESS)
}

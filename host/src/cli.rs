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
    /// Data directory [env: CASEGRID_DATA] [default: ./casegrid-data]
    #[arg(long, global = true)]
    pub data: Option<PathBuf>,
    /// PostgreSQL URL; without it, SQLite in the data directory [env: CASEGRID_DATABASE_URL]
    #[arg(long, global = true)]
    pub database_url: Option<String>,
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
        /// Directory of plugin components to load [env: CASEGRID_PLUGINS]
        #[arg(long)]
        plugins: Option<PathBuf>,
    },
    /// Domain plugin tools.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Accounts: add, list, disable, grant and revoke roles, certify.
    #[command(subcommand)]
    User(UserCommand),
    /// The organisation: departments, teams and members.
    #[command(subcommand)]
    Org(OrgCommand),
    /// The grid: cells, which team covers which domains in each, fallback teams.
    #[command(subcommand)]
    Grid(GridCommand),
    /// A demo city to try every story on.
    #[command(subcommand)]
    Demo(DemoCommand),
}

#[derive(Debug, Subcommand)]
pub enum GridCommand {
    /// Grid cells from a GeoJSON FeatureCollection (see README: "Grid file").
    Import { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Departments and teams for the eight domains, a 5 × 4 grid, an account for every role (with
    /// passwords printed once) and an Open311 key.
    Seed,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; prints its one-time password once.
    Add {
        login: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        /// A role, with its scope after @: officer@team:HZ-T01, team-lead@department:HZ-D01,
        /// publisher@domain:housing, dispatcher, leader, legal-reviewer, admin. Repeatable.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// List accounts with their roles.
    List,
    /// Disable an account: its sessions end and its tokens stop working.
    Disable { login: String },
    /// Enable a disabled account.
    Enable { login: String },
    /// Grant a role (ROLE or ROLE@team:CODE, @department:CODE, @domain:CODE).
    Grant { login: String, role: String },
    /// Revoke a role held in a scope.
    Revoke { login: String, role: String },
    /// Set or renew a law-enforcement certificate for a domain.
    Certify {
        login: String,
        domain: String,
        #[arg(long)]
        number: String,
        /// Last day of validity, YYYY-MM-DD.
        #[arg(long)]
        valid_until: String,
    },
    /// A new one-time password, to be changed at next sign-in.
    ResetPassword { login: String },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Departments, teams and members from one TOML or JSON file (see README: "Organisation file").
    Import { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// The conformance check to run before publishing: loads the component under the production
    /// limits, checks its static data, runs its self-tests; exits non-zero on any failure.
    Check { file: PathBuf },
    /// Print a plugin's manifest and a summary of its checklist.
    Inspect { file: PathBuf },
}

impl Cli {
    /// Applies the command line's flags over the layered settings.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let mut s = Settings::load(self.config.as_deref())?;
        if let Some(d) = &self.data {
            s.data = d.clone();
        }
        if let Some(u) = &self.database_url {
            s.database_url = Some(crate::auth::secrets::Secret::new(u.clone()));
        }
        if let Command::Serve { listen, plugins } = &self.command {
            if let Some(l) = listen {
                s.listen = *l;
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

async fn open_db(settings: &Settings) -> anyhow::Result<crate::store::Db> {
    crate::store::Db::open(settings.database_url.as_ref().map(|u| u.expose()), &settings.data).await
}

/// An API error as the command line prints it.
fn fail(e: crate::api_error::ApiError) -> anyhow::Error {
    match e.field {
        Some(f) if !f.is_empty() => anyhow::anyhow!("{} ({}): {}", f, e.code, e.message),
        _ => anyhow::anyhow!("{} ({})", e.message, e.code),
    }
}

pub async fn user(settings: &Settings, cmd: &UserCommand) -> anyhow::Result<ExitCode> {
    use crate::admin::ops;
    let db = open_db(settings).await?;
    let actor = crate::auth::store::Actor::cli();
    let role = |r: &str| ops::RoleIn::parse(r).map_err(|e| anyhow::anyhow!(e));
    match cmd {
        UserCommand::Add { login, name, email, phone, roles } => {
            let roles = roles.iter().map(|r| role(r)).collect::<anyhow::Result<Vec<_>>>()?;
            let u = ops::UserIn {
                login: login.clone(),
                display_name: name.clone(),
                email: email.clone(),
                phone: phone.clone(),
                roles,
                certifications: vec![],
            };
            let c = ops::create_user(&db, &actor, &u).await.map_err(fail)?;
            println!("created `{}` (id {})", c.login, c.id);
            if let Some(p) = c.one_time_password {
                println!("one-time password: {p}  (shown once; to be changed at first sign-in)");
            }
        }
        UserCommand::List => {
            let mut conn = db.pool().acquire().await?;
            let org = crate::auth::store::org_index(&mut conn).await?;
            for u in crate::auth::store::list_users(&mut conn, None).await? {
                let grants = crate::auth::store::grants_of(&mut conn, u.id).await?;
                let roles: Vec<String> =
                    grants.iter().map(|g| format!("{}@{}", g.role, org.scope_label(&g.scope))).collect();
                let certs = crate::auth::store::certifications_of(&mut conn, u.id).await?;
                let certs: Vec<String> =
                    certs.iter().map(|c| format!("{} until {}", c.domain, c.valid_until)).collect();
                println!(
                    "{:<6} {:<24} {:<16} {}{}{}",
                    u.id,
                    u.login,
                    u.display_name,
                    roles.join(", "),
                    if certs.is_empty() { String::new() } else { format!("  [certified: {}]", certs.join(", ")) },
                    if u.disabled { "  (disabled)" } else { "" }
                );
            }
        }
        UserCommand::Disable { login } | UserCommand::Enable { login } => {
            let id = ops::user_id(&db, login).await.map_err(fail)?;
            let disable = matches!(cmd, UserCommand::Disable { .. });
            ops::set_disabled(&db, &actor, id, disable).await.map_err(fail)?;
            println!("`{login}` {}", if disable { "disabled" } else { "enabled" });
        }
        UserCommand::Grant { login, role: r } => {
            let id = ops::user_id(&db, login).await.map_err(fail)?;
            let (_, new) = ops::grant_role(&db, &actor, id, &role(r)?).await.map_err(fail)?;
            println!(
                "{}",
                if new { format!("`{login}` now holds {r}") } else { format!("`{login}` already held {r}") }
            );
        }
        UserCommand::Revoke { login, role: r } => {
            let id = ops::user_id(&db, login).await.map_err(fail)?;
            let grant = ops::grant_named(&db, id, &role(r)?).await.map_err(fail)?;
            ops::revoke_role(&db, &actor, id, grant).await.map_err(fail)?;
            println!("`{login}` no longer holds {r}");
        }
        UserCommand::Certify { login, domain, number, valid_until } => {
            let id = ops::user_id(&db, login).await.map_err(fail)?;
            let c = ops::CertIn { domain: domain.clone(), number: number.clone(), valid_until: valid_until.clone() };
            ops::certify(&db, &actor, id, &c).await.map_err(fail)?;
            println!("`{login}` certified for {domain} until {valid_until}");
        }
        UserCommand::ResetPassword { login } => {
            let id = ops::user_id(&db, login).await.map_err(fail)?;
            let p = ops::reset_password(&db, &actor, id).await.map_err(fail)?;
            println!("one-time password for `{login}`: {p}  (shown once; to be changed at next sign-in)");
        }
    }
    db.close().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn org(settings: &Settings, cmd: &OrgCommand) -> anyhow::Result<ExitCode> {
    let OrgCommand::Import { file } = cmd;
    let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let doc: crate::admin::ops::OrgDoc = if file.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
    } else {
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
    };
    let db = open_db(settings).await?;
    let s = crate::admin::ops::import_org(&db, &crate::auth::store::Actor::cli(), &doc).await.map_err(fail)?;
    println!(
        "departments: {} created, {} updated; teams: {} created, {} updated; members: {} created, {} updated; {} roles granted, {} certifications set",
        s.departments_created,
        s.departments_updated,
        s.teams_created,
        s.teams_updated,
        s.members_created.len(),
        s.members_updated,
        s.roles_granted,
        s.certifications_set
    );
    for c in &s.members_created {
        if let Some(p) = &c.one_time_password {
            println!("  {:<24} one-time password {p}", c.login);
        }
    }
    db.close().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn grid(settings: &Settings, cmd: &GridCommand) -> anyhow::Result<ExitCode> {
    let GridCommand::Import { file } = cmd;
    let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let db = open_db(settings).await?;
    let s = crate::dispatch::import_grid(&db, &crate::auth::store::Actor::cli(), &doc).await.map_err(fail)?;
    println!(
        "cells: {} created, {} updated; {} coverage entries; {} fallback teams",
        s.cells_created, s.cells_updated, s.coverage, s.fallbacks
    );
    db.close().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn demo(settings: &Settings, cmd: &DemoCommand) -> anyhow::Result<ExitCode> {
    let DemoCommand::Seed = cmd;
    let db = open_db(settings).await?;
    crate::auth::ensure_admin(&db, &settings.auth).await?;
    let (accounts, key) = crate::demo::seed(&db).await?;
    println!(
        "demo city seeded: 9 departments, 16 teams, 20 grid cells over the city centre (30.24–30.28 N, 120.13–120.18 E)"
    );
    if accounts.is_empty() {
        println!("the demo accounts exist already; their passwords were printed when they were made");
    } else {
        println!("accounts (shown once):");
        for (login, password) in &accounts {
            println!("  {login:<34} {password}");
        }
    }
    if let Some(k) = key {
        println!("Open311 api_key for the demo app (shown once): {k}");
    }
    db.close().await;
    Ok(ExitCode::SUCCESS)
}

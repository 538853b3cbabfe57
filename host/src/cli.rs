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
    /// The full-process record of every case.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Cases.
    #[command(subcommand)]
    Case(CaseCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walks the record under its key (record.key in the data directory, or [record] key) and
    /// this host's checkpoint, and compares every case and document with what the record holds;
    /// names each case and what is wrong, and exits 1 unless intact.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// Re-runs every stored assessment of a case (by number or id) under the plugin version it was
    /// made with; reports any difference and exits 1.
    Replay { case: String },
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
    /// Make a domain team's signing key: FILE (secret, mode 0600) and FILE.pub (for the admin to
    /// register).
    Keygen {
        #[arg(long)]
        domain: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a component with a team's key: writes FILE.wasm.sig (or --out).
    Sign {
        file: PathBuf,
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check, sign and publish a component to a server, as a publisher of its domain.
    Publish {
        file: PathBuf,
        #[arg(long)]
        key: PathBuf,
        /// The server's base URL.
        #[arg(long, env = "CASEGRID_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// A publisher's API token.
        #[arg(long, env = "CASEGRID_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// Register a domain team's public key (FILE.pub from keygen) in this server's database, as an
    /// admin on the server's machine would (the API: POST /api/v1/plugin-keys).
    Trust {
        file: PathBuf,
        /// Who holds the key, e.g. "housing domain team, release key 2026".
        #[arg(long)]
        name: String,
    },
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
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    let report = check::full(&p, now);
    if report.problems.is_empty() {
        println!("  contract    ✓ static data sound");
    } else {
        println!("  contract    ✗ {} problems:", report.problems.len());
        for pr in &report.problems {
            println!("      ✗ {pr}");
        }
    }
    let passed = report.self_tests.iter().filter(|o| o.passed).count();
    println!("  self-tests  {passed}/{} passed", report.self_tests.len());
    for o in &report.self_tests {
        println!("      {} {} — {}", if o.passed { "✓" } else { "✗" }, o.name, o.detail);
    }
    let ok = report.passed();
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

fn read_json<T: serde::de::DeserializeOwned>(file: &Path, what: &str) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{} is not a {what}: {e}", file.display()))
}

/// `casegrid plugin keygen`.
pub fn plugin_keygen(domain: &str, out: &Path) -> anyhow::Result<ExitCode> {
    crate::admin::ops::check_domain_code(domain, "domain").map_err(fail)?;
    let public_path = PathBuf::from(format!("{}.pub", out.display()));
    for p in [out, public_path.as_path()] {
        if p.exists() {
            anyhow::bail!("{} exists: a key is never overwritten", p.display());
        }
    }
    let (secret, public) = crate::plugins::signing::generate(domain);
    let mut f = {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        o.open(out).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?
    };
    std::io::Write::write_all(&mut f, serde_json::to_string_pretty(&secret)?.as_bytes())?;
    std::fs::write(&public_path, serde_json::to_string_pretty(&public)?)?;
    println!("secret key  {} (keep it with the domain team; mode 0600)", out.display());
    println!("public key  {} — give this file to an admin to register", public_path.display());
    println!("domain {}  fingerprint {}  key {}", public.domain, public.fingerprint, public.public_key);
    Ok(ExitCode::SUCCESS)
}

/// Loads and checks a component as `plugin check` does; the plugin and its bytes when it passes.
fn checked(settings: &Settings, file: &Path) -> anyhow::Result<Option<(Plugin, Vec<u8>)>> {
    if plugin_check(settings, file)? != ExitCode::SUCCESS {
        return Ok(None);
    }
    let bytes = std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let runtime = Runtime::new(settings.limits.clone(), None)?;
    Ok(runtime.load_unchecked(&bytes).ok().map(|p| (p, bytes)))
}

fn signed(
    settings: &Settings,
    file: &Path,
    key: &Path,
) -> anyhow::Result<Option<(crate::plugins::signing::SignatureDoc, Vec<u8>)>> {
    let key: crate::plugins::signing::KeyFile = read_json(key, "publisher key file (casegrid plugin keygen)")?;
    let Some((p, bytes)) = checked(settings, file)? else { return Ok(None) };
    let m = p.manifest();
    if key.domain != m.domain {
        anyhow::bail!("the key is {}'s, the plugin is {}'s: a team signs only its own domain", key.domain, m.domain);
    }
    let doc = crate::plugins::signing::sign(&key, &m.domain, &m.version, &bytes).map_err(|e| anyhow::anyhow!(e))?;
    Ok(Some((doc, bytes)))
}

/// `casegrid plugin sign`.
pub fn plugin_sign(settings: &Settings, file: &Path, key: &Path, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let Some((doc, _)) = signed(settings, file, key)? else { return Ok(ExitCode::FAILURE) };
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(format!("{}.sig", file.display())));
    std::fs::write(&out, serde_json::to_string_pretty(&doc)?)?;
    println!("signed {} {} (sha256 {}) → {}", doc.domain, doc.version, doc.sha256, out.display());
    Ok(ExitCode::SUCCESS)
}

/// `casegrid plugin publish`: check here, sign, upload; the server checks everything again.
pub async fn plugin_publish(
    settings: &Settings,
    file: &Path,
    key: &Path,
    server: &str,
    token: &str,
) -> anyhow::Result<ExitCode> {
    let (settings, file, key) = (settings.clone(), file.to_path_buf(), key.to_path_buf());
    let Some((doc, bytes)) = tokio::task::spawn_blocking(move || signed(&settings, &file, &key)).await?? else {
        println!("not published: the plugin does not pass its checks");
        return Ok(ExitCode::FAILURE);
    };
    let form = reqwest::multipart::Form::new()
        .part(
            "component",
            reqwest::multipart::Part::bytes(bytes).file_name("plugin.wasm").mime_str("application/wasm")?,
        )
        .part("signature", reqwest::multipart::Part::text(serde_json::to_string(&doc)?).mime_str("application/json")?);
    let url = format!("{}/api/v1/plugins", server.trim_end_matches('/'));
    // The token goes to the server named, never where a redirect points.
    let res = crate::outbound::client(std::time::Duration::from_secs(300))?
        .post(&url)
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    let status = res.status();
    if status.is_redirection() {
        anyhow::bail!("{url}: {}", crate::outbound::refusal("the server", &res));
    }
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    if status.is_success() {
        let created = body["created"].as_bool().unwrap_or(false);
        println!(
            "{} {} {} on {server} (sha256 {}); an admin activates it: POST /api/v1/plugins/{}/activate",
            doc.domain,
            doc.version,
            if created { "published" } else { "was already published, with these very bytes," },
            doc.sha256,
            doc.domain
        );
        Ok(ExitCode::SUCCESS)
    } else {
        let e = &body["error"];
        println!(
            "refused ({status}): {} — {}",
            e["code"].as_str().unwrap_or("?"),
            e["message"].as_str().unwrap_or("no message")
        );
        if let Some(d) = e.get("details") {
            println!("{}", serde_json::to_string_pretty(d)?);
        }
        Ok(ExitCode::FAILURE)
    }
}

/// `casegrid plugin trust`.
pub async fn plugin_trust(settings: &Settings, file: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let public: crate::plugins::signing::PublicKeyFile = read_json(file, "public key file (FILE.pub of keygen)")?;
    let db = open_db(settings).await?;
    let (id, fp) = crate::plugins::lifecycle::register_key(
        &db,
        &crate::auth::store::Actor::cli(),
        &public.domain,
        name,
        &public.public_key,
    )
    .await
    .map_err(fail)?;
    println!("registered key {fp} (id {id}) for {}", public.domain);
    Ok(ExitCode::SUCCESS)
}

/// `casegrid audit verify`: under this host's key and checkpoint; exits 1 unless intact.
pub async fn audit(settings: &Settings, cmd: &AuditCommand) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify = cmd;
    let key = crate::cases::audit::Key::load(&settings.record, &settings.data, false)?;
    let checkpoint = match &key {
        Some(k) => {
            crate::cases::audit::Checkpoint::read(&crate::cases::audit::key::checkpoint_path(&settings.data), k)?
        }
        None => None,
    };
    let db = open_db(settings).await?;
    let r = crate::cases::audit::verify(&db, key.as_ref(), checkpoint.as_ref()).await?;
    db.close().await;
    if r.problems.is_empty() {
        println!("intact: {} entries, head {}", r.entries, r.head);
    } else {
        println!("TAMPERED: {} problems", r.problems.len());
        for p in &r.problems {
            println!("  {}: {}", p.kind, p.message);
        }
    }
    match (&r.key_id, r.keyed_from) {
        (Some(id), Some(from)) if from > 1 => println!(
            "keyed with key {id} from entry {from} on ({}); entries 1–{} were written before the key and are checked by \
             their hashes only",
            r.keyed_at.map(|t| crate::store::rfc3339(t)).unwrap_or_default(),
            from - 1
        ),
        (Some(id), _) => println!("keyed with key {id} from the first entry on"),
        (None, _) => println!("not keyed: no server with a key has written this record yet; checked by hashes only"),
    }
    println!(
        "{} cases, {} documents checked{}",
        r.cases,
        r.documents,
        if r.cases_unkeyed > 0 {
            format!("; {} cases were last acted on before the key and their rows are not compared", r.cases_unkeyed)
        } else {
            String::new()
        }
    );
    match &r.checkpoint {
        Some(cp) => println!("this host's checkpoint: entry {} at {}", cp.seq, crate::store::rfc3339(cp.at)),
        None => println!("this host has no checkpoint: a deleted tail cannot be told from a short record here"),
    }
    Ok(if r.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `casegrid case replay`.
pub async fn case(settings: &Settings, cmd: &CaseCommand) -> anyhow::Result<ExitCode> {
    let CaseCommand::Replay { case } = cmd;
    let db = open_db(settings).await?;
    let mut c = db.pool().acquire().await?;
    let row = match case.parse::<i64>() {
        Ok(id) => crate::cases::store::load(&mut c, id).await?,
        Err(_) => crate::cases::store::by_number(&mut c, case).await?,
    };
    drop(c);
    let Some(k) = row else {
        anyhow::bail!("no case {case}");
    };
    let runtime = Runtime::new(settings.limits.clone(), Some(settings.cache_dir()))?;
    let outcomes = crate::cases::replay::replay(&db, &runtime, k.id).await?;
    db.close().await;
    println!("case {} ({} {}): {} assessments", k.number, k.domain, k.plugin_version, outcomes.len());
    for o in &outcomes {
        println!(
            "  #{:<5} {:<8} {} {} at {}  {}{}",
            o.assessment,
            o.purpose,
            o.version,
            o.item,
            crate::store::rfc3339(o.reference_at * 1000),
            if o.same { "same" } else { "DIFFERENT" },
            if o.same { String::new() } else { format!(": {}", o.note) }
        );
    }
    let differ = outcomes.iter().filter(|o| !o.same).count();
    if differ == 0 {
        println!("every assessment replays to the answer stored");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{differ} assessments did not replay to the answer stored");
        Ok(ExitCode::FAILURE)
    }
}

//! Identity and access: who is calling (a session cookie, an API token, or nobody), which roles
//! they hold in which part of the organisation, and the checks every route makes before it acts.
//! Everything here is enforced on the server; a client's claims are never trusted.

pub mod extract;
pub mod lockout;
pub mod ratelimit;
pub mod routes;
pub mod secrets;
pub mod service;
pub mod store;

use crate::api_error::ApiError;
use extract::ClientIp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The roles of DOMAIN.md. A role is always held in a [`Scope`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Citizen,
    Dispatcher,
    Officer,
    TeamLead,
    LegalReviewer,
    Leader,
    Publisher,
    Admin,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Citizen,
        Role::Dispatcher,
        Role::Officer,
        Role::TeamLead,
        Role::LegalReviewer,
        Role::Leader,
        Role::Publisher,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Citizen => "citizen",
            Role::Dispatcher => "dispatcher",
            Role::Officer => "officer",
            Role::TeamLead => "team-lead",
            Role::LegalReviewer => "legal-reviewer",
            Role::Leader => "leader",
            Role::Publisher => "publisher",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Which kinds of scope the role can be held in: an officer works in a team, a team lead
    /// leads a team or heads a department, a publisher publishes for one domain, and so on.
    pub fn allows(self, scope: &Scope) -> bool {
        matches!(
            (self, scope),
            (Role::Citizen, Scope::Own)
                | (Role::Dispatcher, Scope::All)
                | (Role::Officer, Scope::Team(_))
                | (Role::TeamLead, Scope::Team(_) | Scope::Department(_))
                | (Role::LegalReviewer | Role::Leader, Scope::All | Scope::Department(_))
                | (Role::Publisher, Scope::Domain(_))
                | (Role::Admin, Scope::All)
        )
    }

    /// Everyone but citizens works for the bureau.
    pub fn is_staff(self) -> bool {
        self != Role::Citizen
    }

    /// A role a machine client's account may hold (publishing from a build job), so that an admin
    /// may make its API tokens. Every other role is a person's, who makes their own.
    pub fn is_machine_client(self) -> bool {
        self == Role::Publisher
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a role applies. Stored as text: `all`, `department:<id>`, `team:<id>`, `domain:<code>`,
/// `own`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    All,
    Department(i64),
    Team(i64),
    Domain(String),
    /// A citizen acts only on what is theirs.
    Own,
}

impl Scope {
    pub fn to_db(&self) -> String {
        match self {
            Scope::All => "all".into(),
            Scope::Department(id) => format!("department:{id}"),
            Scope::Team(id) => format!("team:{id}"),
            Scope::Domain(d) => format!("domain:{d}"),
            Scope::Own => "own".into(),
        }
    }

    pub fn from_db(s: &str) -> Option<Scope> {
        Some(match s.split_once(':') {
            None if s == "all" => Scope::All,
            None if s == "own" => Scope::Own,
            Some(("department", id)) => Scope::Department(id.parse().ok()?),
            Some(("team", id)) => Scope::Team(id.parse().ok()?),
            Some(("domain", d)) => Scope::Domain(d.to_string()),
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub id: i64,
    pub role: Role,
    pub scope: Scope,
}

/// An officer's law-enforcement certificate for one domain, valid until a date (inclusive).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Certification {
    pub domain: String,
    pub number: String,
    /// `YYYY-MM-DD`
    pub valid_until: String,
}

/// How the caller proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A browser session; state-changing requests must carry this CSRF token.
    Session {
        id_hash: String,
        csrf_token: String,
    },
    ApiToken {
        id: i64,
    },
}

/// The caller of a request, resolved by the auth middleware.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: i64,
    pub login: String,
    pub display_name: String,
    pub grants: Vec<Grant>,
    pub certifications: Vec<Certification>,
    pub must_change_password: bool,
    pub credential: Credential,
}

/// Which teams' work a caller may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TeamSet {
    All,
    Some(Vec<i64>),
}

impl TeamSet {
    pub fn contains(&self, team: i64) -> bool {
        match self {
            TeamSet::All => true,
            TeamSet::Some(t) => t.contains(&team),
        }
    }
}

impl Principal {
    /// The caller as the records name them, acting from `ip`: staff by their login; a citizen
    /// (who holds no other role) as `citizen-{id}`, since a citizen's login is their mobile
    /// number and the report timeline, the case record and the exports are read by staff.
    pub fn actor(&self, ip: ClientIp) -> store::Actor {
        let citizen = self.grants.iter().all(|g| g.role == Role::Citizen) && self.has(Role::Citizen);
        let label = if citizen { format!("citizen-{}", self.user_id) } else { self.login.clone() };
        store::Actor { id: Some(self.user_id), label, source: ip.0.to_string() }
    }

    /// 403 unless the caller holds one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.has_any(roles) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::forbidden(format!("this needs the role {}", names.join(" or "))))
        }
    }

    pub fn has(&self, role: Role) -> bool {
        self.grants.iter().any(|g| g.role == role)
    }

    pub fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.has(*r))
    }

    pub fn is_admin(&self) -> bool {
        self.has(Role::Admin)
    }

    pub fn is_staff(&self) -> bool {
        self.grants.iter().any(|g| g.role.is_staff())
    }

    /// Holds `role` in a scope covering everything (`all`).
    pub fn has_everywhere(&self, role: Role) -> bool {
        self.grants.iter().any(|g| g.role == role && g.scope == Scope::All)
    }

    /// Certified for `domain` on `date` (`YYYY-MM-DD`).
    pub fn certified_for(&self, domain: &str, date: &str) -> bool {
        self.certifications.iter().any(|c| c.domain == domain && c.valid_until.as_str() >= date)
    }

    /// Holds one of `roles` in a scope covering team `team`: the team itself, or (for a team
    /// lead heading a department) the team's department. Roles held elsewhere do not count: an
    /// officer of one team who is also a dispatcher does not act for every team.
    pub fn acts_for_team(&self, roles: &[Role], team: i64, org: &store::OrgIndex) -> bool {
        let dept = org.team(team).map(|t| t.department_id);
        self.grants.iter().any(|g| {
            roles.contains(&g.role)
                && match g.scope {
                    Scope::Team(t) => t == team,
                    Scope::Department(d) => Some(d) == dept,
                    _ => false,
                }
        })
    }

    /// The domains this caller may publish plugins for.
    pub fn publishes_for(&self, domain: &str) -> bool {
        self.grants.iter().any(|g| g.role == Role::Publisher && g.scope == Scope::Domain(domain.to_string()))
    }

    /// The teams whose reports, cases and people this caller may see: all for the command
    /// centre, leaders, legal reviewers and admins in scope `all`; a department's teams for its
    /// head; one's own teams otherwise.
    pub fn team_set(&self, org: &store::OrgIndex) -> TeamSet {
        let mut teams = Vec::new();
        for g in &self.grants {
            if !g.role.is_staff() || g.role == Role::Publisher {
                continue;
            }
            match &g.scope {
                Scope::All => return TeamSet::All,
                Scope::Department(d) => teams.extend(org.teams_of(*d)),
                Scope::Team(t) => teams.push(*t),
                Scope::Domain(_) | Scope::Own => {}
            }
        }
        teams.sort_unstable();
        teams.dedup();
        TeamSet::Some(teams)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_through_text() {
        for s in [Scope::All, Scope::Own, Scope::Department(3), Scope::Team(12), Scope::Domain("housing".into())] {
            assert_eq!(Scope::from_db(&s.to_db()), Some(s));
        }
        assert_eq!(Scope::from_db("team:x"), None);
        assert_eq!(Scope::from_db("planet:1"), None);
    }

    #[test]
    fn roles_are_held_only_in_their_kind_of_scope() {
        assert!(Role::Officer.allows(&Scope::Team(1)));
        assert!(!Role::Officer.allows(&Scope::All));
        assert!(!Role::Admin.allows(&Scope::Team(1)));
        assert!(Role::Publisher.allows(&Scope::Domain("labour".into())));
        assert!(!Role::Citizen.allows(&Scope::All));
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}

/// `[auth]` in the settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Mark the session cookie `Secure` (sent over HTTPS only). Turn off only for plain-HTTP
    /// development on loopback.
    pub cookie_secure: bool,
    /// A session ends after this long without a request…
    pub session_idle_minutes: u32,
    /// …and at the latest this long after sign-in.
    pub session_max_hours: u32,
    /// Failed sign-ins in a row, from one client address, that lock the account for that
    /// address (0: no lock-out)…
    pub lockout_threshold: u32,
    /// …for this long.
    pub lockout_minutes: u32,
    /// Sign-in and registration attempts per client address per minute (0: no limit).
    pub login_per_minute: u32,
    /// Public intake requests per client address per minute (0: no limit).
    pub intake_per_minute: u32,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Citizens may create accounts themselves.
    pub allow_registration: bool,
    /// The first admin's password. Without it, one is generated and printed once at first start.
    pub bootstrap_admin_password: Option<secrets::Secret>,
}

impl AuthSettings {
    /// The session cookie's name. Served over HTTPS (`cookie_secure`), it carries the `__Host-`
    /// prefix: browsers then keep it only if it is `Secure`, for `/`, with no `Domain`, so that
    /// neither a sibling host nor a plain-HTTP page can set one in its place.
    pub fn session_cookie(&self) -> &'static str {
        if self.cookie_secure { extract::HOST_SESSION_COOKIE } else { extract::SESSION_COOKIE }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            cookie_secure: true,
            session_idle_minutes: 30,
            session_max_hours: 12,
            lockout_threshold: 5,
            lockout_minutes: 15,
            login_per_minute: 10,
            intake_per_minute: 30,
            trust_forwarded_for: false,
            allow_registration: true,
            bootstrap_admin_password: None,
        }
    }
}

/// Auth's share of the server state.
#[derive(Debug)]
pub struct AuthState {
    pub settings: AuthSettings,
    pub login_limiter: ratelimit::RateLimiter,
    pub intake_limiter: ratelimit::RateLimiter,
}

impl AuthState {
    pub fn new(settings: AuthSettings) -> Self {
        Self {
            login_limiter: ratelimit::RateLimiter::per_minute(settings.login_per_minute),
            intake_limiter: ratelimit::RateLimiter::per_minute(settings.intake_per_minute),
            settings,
        }
    }
    pub fn idle_ms(&self) -> i64 {
        i64::from(self.settings.session_idle_minutes) * 60_000
    }
}

/// First start: when no enabled account holds admin, creates `admin` with the configured
/// password, or a generated one-time password printed once to the console and to be changed at
/// first sign-in. Nothing ships with a default password.
pub async fn ensure_admin(db: &crate::store::Db, settings: &AuthSettings) -> anyhow::Result<()> {
    let mut tx = db.write().await?;
    if store::other_admins(&mut tx, -1).await? > 0 {
        return Ok(());
    }
    let (password, generated) = match &settings.bootstrap_admin_password {
        Some(p) => {
            secrets::check_password_strength(p.expose(), "admin")
                .map_err(|rule| anyhow::anyhow!("auth.bootstrap_admin_password {rule}"))?;
            (p.expose().to_string(), false)
        }
        None => (secrets::one_time_password(), true),
    };
    let hash = {
        let p = password.clone();
        tokio::task::spawn_blocking(move || secrets::hash_password(&p)).await?
    };
    let user = match store::user_by_login(&mut tx, "admin").await? {
        // An `admin` account that lost its role (or was disabled) is restored, with a new password.
        Some(u) => {
            store::set_password(&mut tx, u.id, &hash, generated).await?;
            store::set_disabled(&mut tx, u.id, false).await?;
            u.id
        }
        None => {
            let new = store::NewUser {
                login: "admin",
                display_name: "Administrator",
                email: None,
                phone: None,
                password_hash: &hash,
                must_change_password: generated,
            };
            store::insert_user(&mut tx, &new).await?
        }
    };
    store::grant(&mut tx, user, Role::Admin, &Scope::All, None).await?;
    store::record(
        &mut tx,
        "admin-bootstrapped",
        &store::Actor::system(),
        Some(user),
        serde_json::json!({"generated": generated}),
    )
    .await?;
    tx.commit().await?;
    if generated {
        // Printed once, to the console only: it is not logged and not stored.
        println!("casegrid: first start: created the account `admin` with the one-time password {password}");
        println!("casegrid: sign in and change it; it will not be shown again.");
    }
    tracing::info!(generated, "first start: admin account created");
    Ok(())
}

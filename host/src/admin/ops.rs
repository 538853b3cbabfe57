//! Account and organisation changes, shared by the HTTP API and the command line so that both
//! check the same rules and record the same security events. Each runs in one transaction: it
//! happens whole, with its record, or not at all. The reads admin's routes answer with (people
//! in the caller's sight, Open311 keys, the security log) are here too, so the routes only shape.

use crate::api_error::ApiError;
use crate::auth::service::{UserView, hash_password, user_view};
use crate::auth::store::{self, Actor, OrgIndex};
use crate::auth::{Certification, Principal, Role, Scope, TeamSet, secrets};
use crate::store::{Db, StoreError, Tx};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

/// The name of a whole entry from its prefix: `members[2].roles[0].` → `members[2].roles[0]`.
fn whole(at: &str, alone: &str) -> String {
    if at.is_empty() { alone.to_string() } else { at.trim_end_matches('.').to_string() }
}

fn invalid(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).field(field)
}

/// A role and where it is held, as people write it: `{"role": "officer", "team": "HZ-T01"}`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleIn {
    pub role: String,
    pub team: Option<String>,
    pub department: Option<String>,
    pub domain: Option<String>,
}

impl RoleIn {
    /// The command line's form: `officer@team:HZ-T01`, `leader`, `publisher@domain:housing`.
    pub fn parse(s: &str) -> Result<RoleIn, String> {
        let (role, scope) = match s.split_once('@') {
            Some((r, sc)) => (r, Some(sc)),
            None => (s, None),
        };
        let mut r = RoleIn { role: role.to_string(), team: None, department: None, domain: None };
        if let Some(sc) = scope {
            match sc.split_once(':') {
                Some(("team", c)) => r.team = Some(c.into()),
                Some(("department", c)) => r.department = Some(c.into()),
                Some(("domain", c)) => r.domain = Some(c.into()),
                _ => return Err(format!("`{s}`: the scope after @ is team:CODE, department:CODE or domain:CODE")),
            }
        }
        Ok(r)
    }

    /// The grant this names, checked against the organisation; `at` prefixes the names of the
    /// fields an error names (`members[2].roles[0].`, or empty).
    pub fn resolve(&self, org: &OrgIndex, at: &str) -> Result<(Role, Scope), ApiError> {
        let role = Role::parse(&self.role).ok_or_else(|| {
            let all: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            invalid(
                format!("{at}role"),
                "unknown-role",
                format!("`{}` is not a role; roles: {}", self.role, all.join(", ")),
            )
        })?;
        let scope = match (&self.team, &self.department, &self.domain) {
            (Some(t), None, None) => Scope::Team(
                org.team_by_code(t)
                    .ok_or_else(|| invalid(format!("{at}team"), "unknown-team", format!("no team `{t}`")))?
                    .id,
            ),
            (None, Some(d), None) => Scope::Department(
                org.department_by_code(d)
                    .ok_or_else(|| {
                        invalid(format!("{at}department"), "unknown-department", format!("no department `{d}`"))
                    })?
                    .id,
            ),
            (None, None, Some(d)) => {
                check_domain_code(d, &format!("{at}domain"))?;
                Scope::Domain(d.clone())
            }
            (None, None, None) if role == Role::Citizen => Scope::Own,
            (None, None, None) => Scope::All,
            _ => {
                return Err(invalid(
                    whole(at, "role"),
                    "ambiguous-scope",
                    "name at most one of team, department and domain",
                ));
            }
        };
        if !role.allows(&scope) {
            let need = match role {
                Role::Officer => "a team",
                Role::TeamLead => "a team or a department",
                Role::Publisher => "a domain",
                Role::Citizen => "no scope",
                Role::LegalReviewer | Role::Leader => "no scope (all) or a department",
                Role::Dispatcher | Role::Admin => "no scope (all)",
            };
            return Err(invalid(whole(at, "role"), "scope-not-allowed", format!("{role} is held in {need}")));
        }
        Ok((role, scope))
    }
}

pub fn check_domain_code(d: &str, field: &str) -> Result<(), ApiError> {
    let ok = (2..=32).contains(&d.len())
        && d.starts_with(|c: char| c.is_ascii_lowercase())
        && d.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok { Ok(()) } else { Err(invalid(field, "invalid-domain", format!("`{d}` is not a domain code (a-z, 0-9, -)"))) }
}

fn check_code(s: &str, field: &str) -> Result<(), ApiError> {
    let ok = (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(invalid(field, "invalid-code", "1 to 32 letters, digits, - or _")) }
}

fn check_name(s: &str, field: &str) -> Result<(), ApiError> {
    let n = s.trim().chars().count();
    if (1..=64).contains(&n) { Ok(()) } else { Err(invalid(field, "invalid-name", "1 to 64 characters")) }
}

/// A staff login: 2–64 of a-z, 0-9, `.`, `_`, `-`; or a mobile number or e-mail address.
pub fn check_login(s: &str, field: &str) -> Result<(), ApiError> {
    let plain = (2..=64).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if plain || crate::ids::is_email(s) || crate::ids::is_mobile(s) {
        Ok(())
    } else {
        Err(invalid(field, "invalid-login", "2 to 64 of a-z 0-9 . _ -, or a mobile number or e-mail address"))
    }
}

/// A real calendar date `YYYY-MM-DD`.
pub fn check_date(s: &str, field: &str) -> Result<(), ApiError> {
    let bad = || invalid(field, "invalid-date", format!("`{s}` is not a date YYYY-MM-DD"));
    let p: Vec<&str> = s.split('-').collect();
    if p.len() != 3 || p[0].len() != 4 || p[1].len() != 2 || p[2].len() != 2 {
        return Err(bad());
    }
    let (y, m, d): (u32, u32, u32) =
        (p[0].parse().map_err(|_| bad())?, p[1].parse().map_err(|_| bad())?, p[2].parse().map_err(|_| bad())?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&m) || d == 0 || d > days[(m - 1) as usize] || y < 2000 {
        return Err(bad());
    }
    Ok(())
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertIn {
    pub domain: String,
    pub number: String,
    pub valid_until: String,
}

impl CertIn {
    fn check(&self, at: &str) -> Result<Certification, ApiError> {
        check_domain_code(&self.domain, &format!("{at}domain"))?;
        let number = self.number.trim();
        if number.is_empty() || number.chars().count() > 64 {
            return Err(invalid(format!("{at}number"), "invalid-number", "1 to 64 characters"));
        }
        check_date(&self.valid_until, &format!("{at}valid_until"))?;
        Ok(Certification {
            domain: self.domain.clone(),
            number: number.to_string(),
            valid_until: self.valid_until.clone(),
        })
    }
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    pub login: String,
    #[serde(alias = "name")]
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[serde(default)]
    pub roles: Vec<RoleIn>,
    #[serde(default)]
    pub certifications: Vec<CertIn>,
}

impl UserIn {
    fn check(&self, field: &str) -> Result<(), ApiError> {
        check_login(&self.login.to_lowercase(), &format!("{field}login"))?;
        check_name(&self.display_name, &format!("{field}display_name"))?;
        if let Some(e) = &self.email
            && !crate::ids::is_email(e)
        {
            return Err(invalid(format!("{field}email"), "invalid-email", format!("`{e}` is not an e-mail address")));
        }
        if let Some(p) = &self.phone
            && !crate::ids::is_mobile(p)
        {
            return Err(invalid(format!("{field}phone"), "invalid-phone", "a mainland mobile number, 11 digits"));
        }
        Ok(())
    }
}

/// A created account and, when the bureau did not choose its password, the one-time password
/// to hand over (shown once; to be changed at first sign-in).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Created {
    pub id: i64,
    pub login: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub one_time_password: Option<String>,
}

/// Inserts a user with its roles and certifications inside `tx`; `path` prefixes field names.
async fn insert_user_in(
    tx: &mut Tx,
    actor: &Actor,
    org: &OrgIndex,
    u: &UserIn,
    path: &str,
) -> Result<Created, ApiError> {
    u.check(path)?;
    let grants: Vec<(Role, Scope)> = u
        .roles
        .iter()
        .enumerate()
        .map(|(i, r)| r.resolve(org, &format!("{path}roles[{i}].")))
        .collect::<Result<_, _>>()?;
    let certs: Vec<Certification> = u
        .certifications
        .iter()
        .enumerate()
        .map(|(i, c)| c.check(&format!("{path}certifications[{i}].")))
        .collect::<Result<_, _>>()?;
    let otp = secrets::one_time_password();
    let h = hash_password(otp.clone()).await?;
    let login = u.login.to_lowercase();
    let new = store::NewUser {
        login: &login,
        display_name: u.display_name.trim(),
        email: u.email.as_deref(),
        phone: u.phone.as_deref(),
        password_hash: &h,
        must_change_password: true,
    };
    let id = store::insert_user(tx, &new).await.map_err(|e| conflict_field(e, &format!("{path}login")))?;
    store::record(tx, "user-created", actor, Some(id), json!({"login": login})).await?;
    for (role, scope) in grants {
        store::grant(tx, id, role, &scope, actor.id).await?;
        store::record(tx, "role-granted", actor, Some(id), json!({"role": role, "scope": org.scope_label(&scope)}))
            .await?;
    }
    for c in certs {
        store::set_certification(tx, id, &c, actor.id).await?;
        store::record(
            tx,
            "certification-set",
            actor,
            Some(id),
            json!({"domain": c.domain, "number": c.number, "valid_until": c.valid_until}),
        )
        .await?;
    }
    Ok(Created { id, login, one_time_password: Some(otp) })
}

fn conflict_field(e: StoreError, field: &str) -> ApiError {
    let f = field.to_string();
    ApiError::from(e).field(f)
}

pub async fn create_user(db: &Db, actor: &Actor, u: &UserIn) -> Result<Created, ApiError> {
    let mut tx = db.write().await?;
    let org = store::org_index(&mut tx).await?;
    let created = insert_user_in(&mut tx, actor, &org, u, "").await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(created)
}

pub async fn user_id(db: &Db, login: &str) -> Result<i64, ApiError> {
    let mut c = db.pool().acquire().await.map_err(StoreError::from)?;
    store::user_by_login(&mut c, login).await?.map(|u| u.id).ok_or_else(|| ApiError::not_found("account", login))
}

async fn existing(tx: &mut Tx, user: i64) -> Result<store::UserRow, ApiError> {
    store::user_by_id(tx, user).await?.ok_or_else(|| ApiError::not_found("account", &user.to_string()))
}

pub async fn grant_role(db: &Db, actor: &Actor, user: i64, r: &RoleIn) -> Result<(i64, bool), ApiError> {
    let mut tx = db.write().await?;
    existing(&mut tx, user).await?;
    let org = store::org_index(&mut tx).await?;
    let (role, scope) = r.resolve(&org, "")?;
    let (id, new) = store::grant(&mut tx, user, role, &scope, actor.id).await?;
    if new {
        store::record(
            &mut tx,
            "role-granted",
            actor,
            Some(user),
            json!({"role": role, "scope": org.scope_label(&scope)}),
        )
        .await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok((id, new))
}

/// Serialises changes that could remove the last admin: on PostgreSQL two admins removing each
/// other at once would each still count the other (SQLite's writes are serial already).
async fn lock_admins(db: &Db, tx: &mut Tx) -> Result<(), ApiError> {
    Ok(db.serialise(tx, crate::store::Lock::Admins).await?)
}

pub async fn revoke_role(db: &Db, actor: &Actor, user: i64, grant: i64) -> Result<(), ApiError> {
    let mut tx = db.write().await?;
    lock_admins(db, &mut tx).await?;
    let org = store::org_index(&mut tx).await?;
    let g = store::grants_of(&mut tx, user).await?.into_iter().find(|g| g.id == grant);
    let g = g.ok_or_else(|| ApiError::not_found("grant", &grant.to_string()))?;
    if g.role == Role::Admin && store::other_admins(&mut tx, user).await? == 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "last-admin",
            "the last admin keeps the role: grant it to another account first",
        ));
    }
    store::revoke_grant(&mut tx, user, grant).await?;
    store::record(
        &mut tx,
        "role-revoked",
        actor,
        Some(user),
        json!({"role": g.role, "scope": org.scope_label(&g.scope)}),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// Finds the grant a role text names, for the command line's `user revoke LOGIN ROLE`.
pub async fn grant_named(db: &Db, user: i64, r: &RoleIn) -> Result<i64, ApiError> {
    let mut c = db.pool().acquire().await.map_err(StoreError::from)?;
    let org = store::org_index(&mut c).await?;
    let (role, scope) = r.resolve(&org, "")?;
    store::grants_of(&mut c, user)
        .await?
        .into_iter()
        .find(|g| g.role == role && g.scope == scope)
        .map(|g| g.id)
        .ok_or_else(|| ApiError::not_found("grant", &format!("{role} in {}", org.scope_label(&scope))))
}

pub async fn set_disabled(db: &Db, actor: &Actor, user: i64, disabled: bool) -> Result<(), ApiError> {
    let mut tx = db.write().await?;
    lock_admins(db, &mut tx).await?;
    let u = existing(&mut tx, user).await?;
    if u.disabled == disabled {
        return Ok(());
    }
    if disabled {
        let admin = store::grants_of(&mut tx, user).await?.iter().any(|g| g.role == Role::Admin);
        if admin && store::other_admins(&mut tx, user).await? == 0 {
            return Err(ApiError::new(StatusCode::CONFLICT, "last-admin", "the last admin cannot be disabled"));
        }
    }
    store::set_disabled(&mut tx, user, disabled).await?;
    let kind = if disabled { "user-disabled" } else { "user-enabled" };
    store::record(&mut tx, kind, actor, Some(user), json!({"login": u.login})).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// A new one-time password for an account, which must change it at next sign-in; its sessions
/// end and its API tokens are revoked.
pub async fn reset_password(db: &Db, actor: &Actor, user: i64) -> Result<String, ApiError> {
    let otp = secrets::one_time_password();
    let h = hash_password(otp.clone()).await?;
    let mut tx = db.write().await?;
    let u = existing(&mut tx, user).await?;
    store::set_password(&mut tx, user, &h, true).await?;
    store::delete_sessions_of(&mut tx, user, None).await?;
    // A reset means the account may have been someone else's: its tokens go too. Its locks end:
    // the new password is the bureau's.
    let revoked = store::revoke_tokens_of(&mut tx, user, actor.id, &[]).await?;
    store::clear_attempts(&mut tx, &store::login_key(&u.login), None).await?;
    store::record(&mut tx, "password-reset", actor, Some(user), json!({"tokens_revoked": revoked})).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(otp)
}

pub async fn certify(db: &Db, actor: &Actor, user: i64, c: &CertIn) -> Result<Certification, ApiError> {
    let cert = c.check("")?;
    let mut tx = db.write().await?;
    existing(&mut tx, user).await?;
    let old = store::set_certification(&mut tx, user, &cert, actor.id).await?;
    store::record(
        &mut tx,
        "certification-set",
        actor,
        Some(user),
        json!({"domain": cert.domain, "number": cert.number, "valid_until": cert.valid_until,
               "previous": old.map(|o| json!({"number": o.number, "valid_until": o.valid_until}))}),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(cert)
}

pub async fn uncertify(db: &Db, actor: &Actor, user: i64, domain: &str) -> Result<(), ApiError> {
    let mut tx = db.write().await?;
    let old = store::remove_certification(&mut tx, user, domain).await?;
    store::record(
        &mut tx,
        "certification-removed",
        actor,
        Some(user),
        json!({"domain": old.domain, "number": old.number}),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

// ---- organisation ----

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentIn {
    pub code: String,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamIn {
    pub code: String,
    pub name: String,
    pub department: String,
    pub domains: Vec<String>,
}

/// One file with the departments, teams and members of the bureau (`casegrid org import`, `POST
/// /api/v1/org/import`). Importing is additive and repeatable: departments and teams are matched
/// by code and updated, members by login; roles and certifications listed are added or renewed,
/// and nothing unlisted is removed.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgDoc {
    #[serde(default)]
    pub departments: Vec<DepartmentIn>,
    #[serde(default)]
    pub teams: Vec<TeamIn>,
    #[serde(default)]
    pub members: Vec<UserIn>,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct ImportSummary {
    pub departments_created: usize,
    pub departments_updated: usize,
    pub teams_created: usize,
    pub teams_updated: usize,
    pub members_created: Vec<Created>,
    pub members_updated: usize,
    pub roles_granted: usize,
    pub certifications_set: usize,
}

async fn refuse_existing(db: &Db, department: Option<&str>, team: Option<&str>) -> Result<(), ApiError> {
    let mut c = db.pool().acquire().await.map_err(StoreError::from)?;
    let org = store::org_index(&mut c).await?;
    if let Some(d) = department.filter(|d| org.department_by_code(d).is_some()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("department {d} already exists (import a file to update)"),
        )
        .field("code"));
    }
    if let Some(t) = team.filter(|t| org.team_by_code(t).is_some()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("team {t} already exists (import a file to update)"),
        )
        .field("code"));
    }
    Ok(())
}

/// A new department; 409 if the code is taken (updates go through an import).
pub async fn create_department(db: &Db, actor: &Actor, d: &DepartmentIn) -> Result<i64, ApiError> {
    refuse_existing(db, Some(&d.code), None).await?;
    import_org(db, actor, &OrgDoc { departments: vec![d.clone()], ..Default::default() }).await?;
    let mut c = db.pool().acquire().await.map_err(StoreError::from)?;
    Ok(store::org_index(&mut c).await?.department_by_code(&d.code).map(|x| x.id).unwrap_or_default())
}

/// A new team; 409 if the code is taken.
pub async fn create_team(db: &Db, actor: &Actor, t: &TeamIn) -> Result<i64, ApiError> {
    refuse_existing(db, None, Some(&t.code)).await?;
    import_org(db, actor, &OrgDoc { teams: vec![t.clone()], ..Default::default() }).await?;
    let mut c = db.pool().acquire().await.map_err(StoreError::from)?;
    Ok(store::org_index(&mut c).await?.team_by_code(&t.code).map(|x| x.id).unwrap_or_default())
}

pub async fn import_org(db: &Db, actor: &Actor, doc: &OrgDoc) -> Result<ImportSummary, ApiError> {
    let mut s = ImportSummary::default();
    let mut tx = db.write().await?;
    for (i, d) in doc.departments.iter().enumerate() {
        check_code(&d.code, &format!("departments[{i}].code"))?;
        check_name(&d.name, &format!("departments[{i}].name"))?;
        let (_, new) = store::upsert_department(&mut tx, &d.code, d.name.trim()).await?;
        if new { s.departments_created += 1 } else { s.departments_updated += 1 }
    }
    let org = store::org_index(&mut tx).await?;
    for (i, t) in doc.teams.iter().enumerate() {
        check_code(&t.code, &format!("teams[{i}].code"))?;
        check_name(&t.name, &format!("teams[{i}].name"))?;
        let dept = org.department_by_code(&t.department).ok_or_else(|| {
            invalid(format!("teams[{i}].department"), "unknown-department", format!("no department `{}`", t.department))
        })?;
        if t.domains.is_empty() {
            return Err(invalid(format!("teams[{i}].domains"), "required", "a team enforces at least one domain"));
        }
        for (j, d) in t.domains.iter().enumerate() {
            check_domain_code(d, &format!("teams[{i}].domains[{j}]"))?;
        }
        let (_, new) = store::upsert_team(&mut tx, &t.code, t.name.trim(), dept.id, &t.domains).await?;
        if new { s.teams_created += 1 } else { s.teams_updated += 1 }
    }
    let org = store::org_index(&mut tx).await?;
    for (i, m) in doc.members.iter().enumerate() {
        let path = format!("members[{i}].");
        match store::user_by_login(&mut tx, &m.login).await? {
            None => {
                let created = insert_user_in(&mut tx, actor, &org, m, &path).await?;
                s.roles_granted += m.roles.len();
                s.certifications_set += m.certifications.len();
                s.members_created.push(created);
            }
            Some(u) => {
                m.check(&path)?;
                s.members_updated += 1;
                for (j, r) in m.roles.iter().enumerate() {
                    let (role, scope) = r.resolve(&org, &format!("{path}roles[{j}]."))?;
                    if store::grant(&mut tx, u.id, role, &scope, actor.id).await?.1 {
                        s.roles_granted += 1;
                        store::record(
                            &mut tx,
                            "role-granted",
                            actor,
                            Some(u.id),
                            json!({"role": role, "scope": org.scope_label(&scope)}),
                        )
                        .await?;
                    }
                }
                for (j, c) in m.certifications.iter().enumerate() {
                    let cert = c.check(&format!("{path}certifications[{j}]."))?;
                    let old = store::set_certification(&mut tx, u.id, &cert, actor.id).await?;
                    if old.as_ref() != Some(&cert) {
                        s.certifications_set += 1;
                        store::record(
                            &mut tx,
                            "certification-set",
                            actor,
                            Some(u.id),
                            json!({"domain": cert.domain, "number": cert.number, "valid_until": cert.valid_until}),
                        )
                        .await?;
                    }
                }
            }
        }
    }
    store::record(
        &mut tx,
        "org-imported",
        actor,
        None,
        json!({"departments": doc.departments.len(), "teams": doc.teams.len(), "members": doc.members.len()}),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(s)
}

// ---- people ----

/// Staff who see people: admins all; leaders, dispatchers, legal reviewers, team leads and
/// officers those holding roles in the teams they see. Citizens and publishers see no one else.
fn people_scope(p: &Principal, org: &OrgIndex) -> Result<TeamSet, ApiError> {
    if p.is_admin() {
        return Ok(TeamSet::All);
    }
    p.require(&[Role::Dispatcher, Role::Officer, Role::TeamLead, Role::LegalReviewer, Role::Leader])?;
    Ok(p.team_set(org))
}

/// The accounts `caller` may see, with personal data only on their own and, for an admin, on all.
pub async fn list_users(db: &Db, caller: &Principal) -> Result<Vec<UserView>, ApiError> {
    let mut c = db.pool().acquire().await.map_err(StoreError::from)?;
    let org = store::org_index(&mut c).await?;
    let scope = people_scope(caller, &org)?;
    let rows = match &scope {
        TeamSet::All if caller.is_admin() => store::list_users(&mut c, None).await?,
        // Staff with an all-scope role see every member of every team, never citizens.
        TeamSet::All => store::list_users(&mut c, Some(&org.teams.iter().map(|t| t.id).collect::<Vec<_>>())).await?,
        TeamSet::Some(teams) => store::list_users(&mut c, Some(teams)).await?,
    };
    let mut users = Vec::with_capacity(rows.len());
    for u in rows {
        let personal = caller.is_admin() || u.id == caller.user_id;
        users.push(user_view(&mut c, u, &org, personal).await?);
    }
    Ok(users)
}

/// Account `id`, if it is the caller's own or within what `caller` may see; 404 otherwise.
pub async fn user(db: &Db, caller: &Principal, id: i64) -> Result<UserView, ApiError> {
    let mut c = db.pool().acquire().await.map_err(StoreError::from)?;
    let org = store::org_index(&mut c).await?;
    let own = id == caller.user_id;
    if !own {
        let scope = people_scope(caller, &org)?;
        let grants = store::grants_of(&mut c, id).await?;
        let visible = caller.is_admin()
            || grants.iter().any(|g| match g.scope {
                Scope::Team(t) => scope.contains(t),
                _ => false,
            });
        if !visible {
            // Whether an account exists outside one's scope is not told either.
            return Err(ApiError::not_found("account", &id.to_string()));
        }
    }
    let u = store::user_by_id(&mut c, id).await?.ok_or_else(|| ApiError::not_found("account", &id.to_string()))?;
    user_view(&mut c, u, &org, own || caller.is_admin()).await
}

/// The departments and teams.
pub async fn org(db: &Db) -> Result<OrgIndex, ApiError> {
    let mut c = db.pool().acquire().await.map_err(StoreError::from)?;
    Ok(store::org_index(&mut c).await?)
}

// ---- Open311 client keys ----

pub async fn open311_keys(db: &Db) -> Result<Vec<store::Open311Key>, ApiError> {
    let mut c = db.pool().acquire().await.map_err(StoreError::from)?;
    Ok(store::open311_keys(&mut c).await?)
}

/// A new Open311 key. The key itself is in this value only: it is stored hashed.
pub struct IssuedKey {
    pub key: String,
    pub info: store::Open311Key,
}

/// A key for the Open311 client `client` (1 to 64 characters) that reads `reads` (`public`, the
/// default, or `all`), made by `actor` and on the record.
pub async fn create_open311_key(
    db: &Db,
    actor: &Actor,
    client: &str,
    reads: Option<&str>,
) -> Result<IssuedKey, ApiError> {
    let client = client.trim();
    if client.is_empty() || client.chars().count() > 64 {
        return Err(invalid("client", "invalid-name", "1 to 64 characters"));
    }
    let reads = crate::open311::Reads::parse(reads.unwrap_or("public")).ok_or_else(|| {
        invalid("reads", "invalid-reads", "`public` (what anyone reads) or `all` (every category, exact points)")
    })?;
    let key = secrets::new_token("cgk_");
    let mut tx = db.write().await?;
    let info =
        store::insert_open311_key(&mut tx, client, &secrets::token_hash(&key), &key[..10], actor.id, reads.as_str())
            .await?;
    let detail = json!({"key_id": info.id, "client": client, "reads": reads.as_str()});
    store::record(&mut tx, "open311-key-created", actor, None, detail).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(IssuedKey { key, info })
}

/// Revokes Open311 key `id`; 404 unless it is live.
pub async fn revoke_open311_key(db: &Db, actor: &Actor, id: i64) -> Result<(), ApiError> {
    let mut tx = db.write().await?;
    if !store::revoke_open311_key(&mut tx, id).await? {
        return Err(ApiError::not_found("live Open311 key", &id.to_string()));
    }
    store::record(&mut tx, "open311-key-revoked", actor, None, json!({"key_id": id})).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

// ---- the security log ----

/// The newest security events, by kind and subject if given: 100 unless `limit` says otherwise,
/// and never more than 1000 in one answer.
pub async fn security_events(
    db: &Db,
    kind: Option<&str>,
    subject: Option<i64>,
    limit: Option<i64>,
) -> Result<Vec<store::SecurityEvent>, ApiError> {
    let limit = limit.unwrap_or(100).clamp(1, 1000);
    let mut c = db.pool().acquire().await.map_err(StoreError::from)?;
    Ok(store::events(&mut c, kind, subject, limit).await?)
}

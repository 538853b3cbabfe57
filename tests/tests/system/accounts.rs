//! Accounts, roles and access control, told as the bureau's people use them: an admin imports the
//! organisation, officers and leads sign in, citizens register, and every route answers each role
//! as the access rules say, without showing anyone another person's data.

use casegrid_tests::{ADMIN_PASSWORD, App, As, Auth, TempDir, casegrid_bin, cli, plugin};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const ROLES: [&str; 9] =
    ["anon", "citizen", "dispatcher", "officer", "team-lead", "legal-reviewer", "leader", "publisher", "admin"];

/// Everyone of DOMAIN.md, signed in with a token each.
struct People {
    tokens: BTreeMap<&'static str, String>,
    ids: BTreeMap<&'static str, i64>,
    /// Each person's e-mail and phone, which only they and admins may see.
    personal: BTreeMap<&'static str, Vec<String>>,
}

fn member(login: &str, n: u32, roles: Value) -> Value {
    json!({"login": login, "display_name": format!("职员{n}"), "email": format!("{login}@zf.example.cn"),
           "phone": format!("1380000{n:04}"), "roles": roles})
}

async fn everyone(app: &App) -> People {
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let doc = json!({
        "departments": [{"code": "D1", "name": "住建执法支队"}, {"code": "D2", "name": "交通执法支队"}],
        "teams": [{"code": "T-A", "name": "城东中队", "department": "D1", "domains": ["housing"]},
                  {"code": "T-B", "name": "交通一中队", "department": "D2", "domains": ["transport"]}],
        "members": [
            member("disp", 1, json!([{"role": "dispatcher"}])),
            {"login": "off-a", "display_name": "王警官", "email": "off-a@zf.example.cn", "phone": "13800000002",
             "roles": [{"role": "officer", "team": "T-A"}],
             "certifications": [{"domain": "housing", "number": "ZF-0002", "valid_until": "2099-12-31"}]},
            member("off-b", 3, json!([{"role": "officer", "team": "T-B"}])),
            member("lead-a", 4, json!([{"role": "team-lead", "team": "T-A"}])),
            member("legal", 5, json!([{"role": "legal-reviewer"}])),
            member("head-1", 6, json!([{"role": "leader", "department": "D1"}])),
            member("leader", 7, json!([{"role": "leader"}])),
            member("pub", 8, json!([{"role": "publisher", "domain": "housing"}])),
            member("spare", 9, json!([{"role": "officer", "team": "T-B"}])),
        ]
    });
    let (s, out) = admin.post("/api/v1/org/import", doc).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["members_created"].as_array().unwrap().len(), 9, "{out}");
    let mut people = People { tokens: BTreeMap::new(), ids: BTreeMap::new(), personal: BTreeMap::new() };
    let logins = [
        ("dispatcher", "disp"),
        ("officer", "off-a"),
        ("off-b", "off-b"),
        ("team-lead", "lead-a"),
        ("legal-reviewer", "legal"),
        ("head-1", "head-1"),
        ("leader", "leader"),
        ("publisher", "pub"),
        ("spare", "spare"),
    ];
    for (i, (role, login)) in logins.iter().enumerate() {
        let c = &out["members_created"].as_array().unwrap().iter().find(|c| c["login"] == *login).unwrap().clone();
        let otp = c["one_time_password"].as_str().unwrap();
        let s = app.sign_in_changing(login, otp, &format!("New-pass-{i}-2026")).await;
        people.tokens.insert(role, s.new_token("matrix").await);
        people.ids.insert(role, c["id"].as_i64().unwrap());
        people.personal.insert(role, vec![format!("{login}@zf.example.cn")]);
    }
    people.personal.get_mut("officer").unwrap().push("13800000002".into());
    for (role, n) in [("dispatcher", 1), ("off-b", 3), ("team-lead", 4), ("legal-reviewer", 5)] {
        people.personal.get_mut(role).unwrap().push(format!("1380000{n:04}"));
    }
    // A citizen registers with a phone number; another with an e-mail address.
    for (key, login) in [("citizen", "13912345678"), ("citizen-2", "li.na@mail.example.cn")] {
        let (s, b) =
            app.anon().post("/api/v1/auth/register", json!({"login": login, "password": "Citizen-pw-2026"})).await;
        assert_eq!(s, 201, "{b}");
        let session = app.sign_in(login, "Citizen-pw-2026").await;
        people.tokens.insert(key, session.new_token("app").await);
        people.ids.insert(key, b["id"].as_i64().unwrap());
        people.personal.insert(key, vec![login.to_string()]);
    }
    let (s, b) = admin.post("/api/v1/tokens", json!({"name": "admin"})).await;
    assert_eq!(s, 201, "{b}");
    people.tokens.insert("admin", b["token"].as_str().unwrap().to_string());
    people.ids.insert("admin", 1);
    people
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Served: anything but 401 and 403.
    Ok,
    Unauthenticated,
    Forbidden,
    /// Out of the caller's scope, answered as if absent.
    Hidden,
}

/// What each role gets from a route: anonymous callers 401 unless the route is public; the roles
/// listed are served; every other role 403 (or 404 where named as hidden).
fn expect(role: &str, public: bool, allowed: &[&str], hidden: &[&str]) -> Expect {
    if public || allowed.contains(&role) {
        Expect::Ok
    } else if role == "anon" {
        Expect::Unauthenticated
    } else if hidden.contains(&role) {
        Expect::Hidden
    } else {
        Expect::Forbidden
    }
}

#[tokio::test]
async fn every_route_answers_every_role_as_the_access_rules_say_and_shows_no_one_elses_data() {
    let app = App::spawn(&[&plugin("housing")]).await;
    let p = everyone(&app).await;
    let spare = p.ids["spare"];
    let off_b = p.ids["off-b"];
    let admin = app.with_token(&p.tokens["admin"]);
    let (_, key) = admin.post("/api/v1/open311-keys", json!({"client": "city app"})).await;
    let key_id = key["info"]["id"].as_i64().unwrap();
    let (_, g) = admin.post(&format!("/api/v1/users/{spare}/grants"), json!({"role": "dispatcher"})).await;
    let grant_id = g["id"].as_i64().unwrap();
    // A report on team T-A's desk (the fallback team for housing).
    let grid = json!({"type": "FeatureCollection", "fallback": {"housing": "T-A"}, "features": []});
    assert_eq!(admin.post("/api/v1/grid/import", grid.clone()).await.0, 200);
    let roof = json!({"description": "楼顶违章搭建彩钢房", "address": "湖滨路1号", "domain": "housing", "category": "illegal-construction",
                      "contact": {"phone": "13700000000"}});
    let (s, r) = app.anon().post("/api/v1/reports", roof.clone()).await;
    assert_eq!(s, 201, "{r}");
    let (report_id, code) = (r["id"].as_i64().unwrap(), r["tracking_code"].as_str().unwrap().to_string());

    // A case on team T-A's desk, opened on patrol by its officer.
    let (s, k) = app
        .with_token(&p.tokens["officer"])
        .post(
            "/api/v1/cases",
            json!({"source": "patrol", "domain": "housing", "title": "违法建设", "place": "湖滨路1号", "summary": "楼顶违章搭建彩钢房",
                   "party": {"kind": "person", "name": "某住户", "phone": "13600000000"}, "act_date": "2026-11-01"}),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    let case_id = k["case"]["id"].as_i64().unwrap();
    let (_, keys) = admin
        .post(
            "/api/v1/plugin-keys",
            json!({"domain": "housing", "name": "住建领域组", "public_key": casegrid::plugins::signing::generate("housing").1.public_key}),
        )
        .await;
    let plugin_key = keys["id"].as_i64().unwrap();
    const CASE_WORKERS: &[&str] = &["officer", "team-lead"];
    const CASE_SEERS: &[&str] = &["dispatcher", "officer", "team-lead", "legal-reviewer", "leader", "admin"];
    const STAFF: &[&str] = &["dispatcher", "officer", "team-lead", "legal-reviewer", "leader", "publisher", "admin"];
    const PEOPLE_SEERS: &[&str] = &["dispatcher", "officer", "team-lead", "legal-reviewer", "leader", "admin"];
    const SIGNED_IN: &[&str] =
        &["citizen", "dispatcher", "officer", "team-lead", "legal-reviewer", "leader", "publisher", "admin"];
    let report = json!({"values": []});
    let n = std::sync::atomic::AtomicU32::new(0);
    let fresh = || n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // (method, path, body, public, allowed roles, roles answered 404)
    #[allow(clippy::type_complexity)]
    let routes: Vec<(&str, String, Box<dyn Fn() -> Value>, bool, &[&str], &[&str])> = vec![
        ("GET", "/healthz".into(), Box::new(|| Value::Null), true, &[], &[]),
        ("GET", "/metrics".into(), Box::new(|| Value::Null), true, &[], &[]),
        ("GET", "/api/v1/domains".into(), Box::new(|| Value::Null), true, &[], &[]),
        ("GET", "/api/v1/domains/housing".into(), Box::new(|| Value::Null), true, &[], &[]),
        ("GET", "/api/v1/domains/housing/checklist".into(), Box::new(|| Value::Null), true, &[], &[]),
        ("GET", "/api/v1/domains/housing/checklist/HC-P-001".into(), Box::new(|| Value::Null), true, &[], &[]),
        ("GET", "/api/v1/domains/housing/forms/report".into(), Box::new(|| Value::Null), true, &[], &[]),
        (
            "POST",
            "/api/v1/domains/housing/forms/report/validate".into(),
            Box::new(move || report.clone()),
            true,
            &[],
            &[],
        ),
        (
            "POST",
            "/api/v1/domains/housing/assess".into(),
            Box::new(|| json!({"item": "HC-P-001", "facts": []})),
            false,
            &["officer", "team-lead", "legal-reviewer"],
            &[],
        ),
        (
            "POST",
            "/api/v1/domains/housing/classify".into(),
            Box::new(|| json!({"text": "楼顶违章搭建"})),
            false,
            &["dispatcher", "officer", "team-lead"],
            &[],
        ),
        (
            "POST",
            "/api/v1/classify".into(),
            Box::new(|| json!({"text": "楼顶违章搭建"})),
            false,
            &["dispatcher", "officer", "team-lead"],
            &[],
        ),
        ("GET", "/api/v1/auth/me".into(), Box::new(|| Value::Null), false, SIGNED_IN, &[]),
        (
            "POST",
            "/api/v1/auth/password".into(),
            Box::new(|| json!({"current_password": "wrong-password-1", "new_password": "Another-pw-2026"})),
            false,
            SIGNED_IN,
            &[],
        ),
        ("GET", "/api/v1/tokens".into(), Box::new(|| Value::Null), false, SIGNED_IN, &[]),
        ("GET", "/api/v1/users".into(), Box::new(|| Value::Null), false, PEOPLE_SEERS, &[]),
        (
            "POST",
            "/api/v1/users".into(),
            Box::new(move || json!({"login": format!("new-{}", fresh()), "display_name": "新人"})),
            false,
            &["admin"],
            &[],
        ),
        (
            "GET",
            format!("/api/v1/users/{off_b}"),
            Box::new(|| Value::Null),
            false,
            &["dispatcher", "legal-reviewer", "leader", "admin"],
            &["officer", "team-lead"],
        ),
        ("POST", format!("/api/v1/users/{spare}/disable"), Box::new(|| Value::Null), false, &["admin"], &[]),
        ("POST", format!("/api/v1/users/{spare}/enable"), Box::new(|| Value::Null), false, &["admin"], &[]),
        ("POST", format!("/api/v1/users/{spare}/reset-password"), Box::new(|| Value::Null), false, &["admin"], &[]),
        (
            "POST",
            format!("/api/v1/users/{spare}/grants"),
            Box::new(|| json!({"role": "officer", "team": "T-A"})),
            false,
            &["admin"],
            &[],
        ),
        (
            "DELETE",
            format!("/api/v1/users/{spare}/grants/{grant_id}"),
            Box::new(|| Value::Null),
            false,
            &["admin"],
            &[],
        ),
        (
            "PUT",
            format!("/api/v1/users/{spare}/certifications/housing"),
            Box::new(|| json!({"number": "ZF-9", "valid_until": "2030-01-01"})),
            false,
            &["admin"],
            &[],
        ),
        (
            "DELETE",
            format!("/api/v1/users/{spare}/certifications/housing"),
            Box::new(|| Value::Null),
            false,
            &["admin"],
            &[],
        ),
        ("GET", format!("/api/v1/users/{spare}/tokens"), Box::new(|| Value::Null), false, &["admin"], &[]),
        ("GET", "/api/v1/org".into(), Box::new(|| Value::Null), false, STAFF, &[]),
        (
            "POST",
            "/api/v1/org/departments".into(),
            Box::new(move || json!({"code": format!("DX{}", fresh()), "name": "新支队"})),
            false,
            &["admin"],
            &[],
        ),
        (
            "POST",
            "/api/v1/org/teams".into(),
            Box::new(|| json!({"code": "T-C", "name": "新中队", "department": "D1", "domains": ["housing"]})),
            false,
            &["admin"],
            &[],
        ),
        ("POST", "/api/v1/org/import".into(), Box::new(|| json!({})), false, &["admin"], &[]),
        ("GET", "/api/v1/open311-keys".into(), Box::new(|| Value::Null), false, &["admin"], &[]),
        ("POST", "/api/v1/open311-keys".into(), Box::new(|| json!({"client": "partner"})), false, &["admin"], &[]),
        ("DELETE", format!("/api/v1/open311-keys/{key_id}"), Box::new(|| Value::Null), false, &["admin"], &[]),
        ("GET", "/api/v1/security-events".into(), Box::new(|| Value::Null), false, &["admin"], &[]),
        ("POST", "/api/v1/reports".into(), Box::new(move || roof.clone()), true, &[], &[]),
        (
            "GET",
            "/api/v1/reports".into(),
            Box::new(|| Value::Null),
            false,
            &["citizen", "dispatcher", "officer", "team-lead", "legal-reviewer", "leader"],
            &[],
        ),
        (
            "GET",
            format!("/api/v1/reports/{report_id}"),
            Box::new(|| Value::Null),
            false,
            &["dispatcher", "officer", "team-lead", "legal-reviewer", "leader"],
            &["citizen"],
        ),
        (
            "POST",
            format!("/api/v1/reports/{report_id}/actions"),
            Box::new(|| json!({"action": "accept"})),
            false,
            &["officer", "team-lead"],
            &["citizen"],
        ),
        ("GET", format!("/api/v1/track/{code}"), Box::new(|| Value::Null), true, &[], &[]),
        ("GET", "/api/v1/grid".into(), Box::new(|| Value::Null), false, STAFF, &[]),
        ("POST", "/api/v1/grid/import".into(), Box::new(move || grid.clone()), false, &["admin"], &[]),
        ("GET", "/open311/v2/services.json".into(), Box::new(|| Value::Null), true, &[], &[]),
        ("GET", "/open311/v2/discovery.json".into(), Box::new(|| Value::Null), true, &[], &[]),
        (
            "GET",
            "/open311/v2/services/housing.illegal-construction.xml".into(),
            Box::new(|| Value::Null),
            true,
            &[],
            &[],
        ),
        ("GET", "/open311/v2/requests.json".into(), Box::new(|| Value::Null), true, &[], &[]),
        ("GET", format!("/open311/v2/requests/{report_id}.json"), Box::new(|| Value::Null), true, &[], &[]),
        (
            "POST",
            "/api/v1/auth/register".into(),
            Box::new(move || json!({"login": format!("1390000{:04}", fresh()), "password": "Citizen-pw-2026"})),
            true,
            &[],
            &[],
        ),
        ("POST", format!("/api/v1/track/{code}/rating"), Box::new(|| json!({"score": 5})), true, &[], &[]),
        ("POST", format!("/api/v1/track/{code}/reopen"), Box::new(|| json!({"reason": "没有处理"})), true, &[], &[]),
        // The plugin lifecycle: publishers see and publish their own domain; admins decide.
        ("GET", "/api/v1/plugins".into(), Box::new(|| Value::Null), false, &["publisher", "admin"], &[]),
        ("GET", "/api/v1/plugins/housing".into(), Box::new(|| Value::Null), false, &["publisher", "admin"], &[]),
        ("POST", "/api/v1/plugins".into(), Box::new(|| json!({})), false, &["publisher"], &[]),
        (
            "POST",
            "/api/v1/plugins/housing/activate".into(),
            Box::new(|| json!({"version": "1.0.0"})),
            false,
            &["admin"],
            &[],
        ),
        ("POST", "/api/v1/plugins/housing/rollback".into(), Box::new(|| json!({})), false, &["admin"], &[]),
        ("POST", "/api/v1/plugins/housing/enable".into(), Box::new(|| json!({})), false, &["admin"], &[]),
        (
            "POST",
            "/api/v1/plugins/housing/versions/1.0.0/release".into(),
            Box::new(|| json!({"reason": "测试解除隔离"})),
            false,
            &["admin"],
            &[],
        ),
        ("GET", "/api/v1/plugin-keys".into(), Box::new(|| Value::Null), false, &["publisher", "admin"], &[]),
        (
            "POST",
            "/api/v1/plugin-keys".into(),
            Box::new(
                || json!({"domain": "housing", "name": "另一把钥匙", "public_key": casegrid::plugins::signing::generate("housing").1.public_key}),
            ),
            false,
            &["admin"],
            &[],
        ),
        ("DELETE", format!("/api/v1/plugin-keys/{plugin_key}"), Box::new(|| Value::Null), false, &["admin"], &[]),
        // Cases: the team works them; those over it see them; nobody else learns they exist.
        (
            "POST",
            "/api/v1/cases".into(),
            Box::new(|| {
                json!({"source": "patrol", "domain": "housing", "title": "违法建设", "place": "湖滨路2号", "summary": "擅自搭建",
                              "party": {"kind": "person", "name": "另一住户"}, "act_date": "2026-11-02"})
            }),
            false,
            CASE_WORKERS,
            &[],
        ),
        ("GET", "/api/v1/cases".into(), Box::new(|| Value::Null), false, CASE_SEERS, &[]),
        (
            "GET",
            format!("/api/v1/cases/{case_id}"),
            Box::new(|| Value::Null),
            false,
            CASE_SEERS,
            &["citizen", "publisher"],
        ),
        (
            "POST",
            format!("/api/v1/cases/{case_id}/actions"),
            Box::new(|| json!({"action": "assess"})),
            false,
            CASE_WORKERS,
            &["citizen", "publisher"],
        ),
        (
            "POST",
            format!("/api/v1/cases/{case_id}/evidence"),
            Box::new(|| json!({"kind": "statement", "description": "当事人陈述笔录"})),
            false,
            CASE_WORKERS,
            &["citizen", "publisher"],
        ),
        (
            "GET",
            format!("/api/v1/cases/{case_id}/dossier"),
            Box::new(|| Value::Null),
            false,
            CASE_SEERS,
            &["citizen", "publisher"],
        ),
        (
            "GET",
            format!("/api/v1/cases/{case_id}/replay"),
            Box::new(|| Value::Null),
            false,
            CASE_SEERS,
            &["citizen", "publisher"],
        ),
        ("GET", "/api/v1/audit/verify".into(), Box::new(|| Value::Null), false, &["legal-reviewer", "admin"], &[]),
        (
            "GET",
            "/api/v1/operations".into(),
            Box::new(|| Value::Null),
            false,
            &["dispatcher", "officer", "team-lead", "legal-reviewer", "leader"],
            &[],
        ),
        (
            "POST",
            "/api/v1/operations".into(),
            Box::new(move || {
                json!({"code": format!("OP-{}", fresh()), "title": "专项整治", "domain": "housing", "team": "T-A",
                                   "description": "违法建设专项整治", "starts_on": "2026-11-01"})
            }),
            false,
            &["team-lead", "leader"],
            &[],
        ),
    ];

    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, path, body, public, allowed, hidden) in &routes {
        // Admin last: its changes (a disabled account, a revoked grant) must not alter what the
        // others are answered.
        for role in ROLES {
            let caller = match role {
                "anon" => As { app: &app, auth: Auth::None },
                r => app.with_token(&p.tokens[r]),
            };
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut rq = caller.request(m, path);
            let b = body();
            if !b.is_null() {
                rq = rq.json(&b);
            }
            let r = rq.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            let got = match status {
                401 => Expect::Unauthenticated,
                403 => Expect::Forbidden,
                404 if !hidden.is_empty() => Expect::Hidden,
                _ => Expect::Ok,
            };
            let want = expect(role, *public, allowed, hidden);
            checked += 1;
            if got != want {
                let head: String = text.chars().take(200).collect();
                failures.push(format!("{method} {path} as {role}: want {want:?}, got {status} {head}"));
            }
            if want == Expect::Ok && status >= 500 {
                failures.push(format!("{method} {path} as {role}: server error {status}"));
            }
            // A reporter's and a party's phone numbers are for the staff handling them only.
            if matches!(role, "anon" | "citizen" | "publisher") {
                for d in ["13700000000", "13600000000"] {
                    if text.contains(d) {
                        failures.push(format!("{method} {path} as {role} shows `{d}`, a reporter's or a party's"));
                    }
                }
            }
            // Personal data: only the person and admins see an e-mail or phone number.
            if role != "admin" {
                for (who, data) in &p.personal {
                    let own = *who == role;
                    for d in data {
                        if !own && text.contains(d.as_str()) {
                            failures.push(format!("{method} {path} as {role} shows {who}'s `{d}`"));
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} checks failed:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(checked, routes.len() * ROLES.len());
    app.stop().await;
}

#[tokio::test]
async fn scope_a_team_lead_sees_the_team_a_department_head_the_department_the_leader_everyone() {
    let app = App::spawn(&[&plugin("housing")]).await;
    let p = everyone(&app).await;
    let logins = |b: &Value| -> Vec<String> {
        b["users"].as_array().unwrap().iter().map(|u| u["login"].as_str().unwrap().to_string()).collect()
    };
    let (_, lead) = app.with_token(&p.tokens["team-lead"]).get("/api/v1/users").await;
    assert_eq!(logins(&lead), ["lead-a", "off-a"], "team T-A only");
    let (_, head) = app.with_token(&p.tokens["head-1"]).get("/api/v1/users").await;
    assert_eq!(logins(&head), ["lead-a", "off-a"], "department D1 has only team T-A");
    let (_, off_b) = app.with_token(&p.tokens["off-b"]).get("/api/v1/users").await;
    assert_eq!(logins(&off_b), ["off-b", "spare"]);
    let (_, leader) = app.with_token(&p.tokens["leader"]).get("/api/v1/users").await;
    let all = logins(&leader);
    assert!(all.contains(&"off-b".to_string()) && all.contains(&"off-a".to_string()), "{all:?}");
    assert!(!all.iter().any(|l| l.starts_with("139") || l.contains("li.na")), "no citizens: {all:?}");
    // An officer of team A asking for an officer of team B gets nothing, not even existence.
    let (s, _) = app.with_token(&p.tokens["officer"]).get(&format!("/api/v1/users/{}", p.ids["off-b"])).await;
    assert_eq!(s, 404);
    // Each sees themselves whole, with their own phone.
    let (s, me) = app.with_token(&p.tokens["officer"]).get(&format!("/api/v1/users/{}", p.ids["officer"])).await;
    assert_eq!((s, me["user"]["phone"].as_str()), (200, Some("13800000002")));
    assert_eq!(me["user"]["certifications"][0]["domain"], "housing");
    assert_eq!(me["user"]["roles"][0]["scope"], "team:T-A");
    app.stop().await;
}

#[tokio::test]
async fn citizens_register_with_a_phone_or_email_and_see_only_themselves() {
    let app = App::spawn(&[]).await;
    let anon = app.anon();
    let (s, e) = anon.post("/api/v1/auth/register", json!({"login": "12345", "password": "Citizen-pw-2026"})).await;
    assert_eq!((s, e["error"]["field"].as_str()), (422, Some("login")));
    let (s, e) = anon.post("/api/v1/auth/register", json!({"login": "13912345678", "password": "short"})).await;
    assert_eq!(
        (s, e["error"]["code"].as_str(), e["error"]["field"].as_str()),
        (422, Some("weak-password"), Some("password"))
    );
    let (s, _) =
        anon.post("/api/v1/auth/register", json!({"login": "13912345678", "password": "Citizen-pw-2026"})).await;
    assert_eq!(s, 201);
    let (s, e) =
        anon.post("/api/v1/auth/register", json!({"login": "13912345678", "password": "Citizen-pw-2027"})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("login-taken")));
    let (s, _) = anon
        .post("/api/v1/auth/register", json!({"login": "Wang@Mail.example.cn", "password": "Citizen-pw-2026"}))
        .await;
    assert_eq!(s, 201);

    let citizen = app.sign_in("13912345678", "Citizen-pw-2026").await;
    let (_, me) = citizen.get("/api/v1/auth/me").await;
    assert_eq!(me["user"]["roles"][0]["role"], "citizen");
    assert_eq!(me["user"]["phone"], "13912345678");
    let other = app.sign_in("wang@mail.example.cn", "Citizen-pw-2026").await;
    let (_, other_me) = other.get("/api/v1/auth/me").await;
    let other_id = other_me["user"]["id"].as_i64().unwrap();
    let (s, b) = citizen.get(&format!("/api/v1/users/{other_id}")).await;
    assert_eq!(s, 403, "{b}");
    assert!(!b.to_string().contains("wang@"), "{b}");
    let (s, _) = citizen.get("/api/v1/users").await;
    assert_eq!(s, 403);
    app.stop().await;
}

#[tokio::test]
async fn a_new_session_at_every_sign_in_the_brought_one_ended_and_sign_out_ends_it() {
    let app = App::spawn(&[]).await;
    // Session fixation: an attacker plants a cookie value before the victim signs in.
    let planted = "cgs_attacker-chosen-value";
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("cookie", format!("cg_session={planted}"))
        .json(&json!({"login": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(!set.contains(planted), "{set}");
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"), "{set}");
    let planted_session = As { app: &app, auth: Auth::Session { cookie: planted.into(), csrf: String::new() } };
    assert_eq!(planted_session.get("/api/v1/auth/me").await.0, 401);

    // Signing in again with a live session replaces it: the old id stops working.
    let first = app.sign_in("admin", ADMIN_PASSWORD).await;
    assert_eq!(first.get("/api/v1/auth/me").await.0, 200);
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("cookie", format!("cg_session={}", first.cookie().unwrap()))
        .json(&json!({"login": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(first.get("/api/v1/auth/me").await.0, 401, "the session brought to sign-in is ended");

    let s = app.sign_in("admin", ADMIN_PASSWORD).await;
    let (st, _) = s.post("/api/v1/auth/logout", Value::Null).await;
    assert_eq!(st, 204);
    assert_eq!(s.get("/api/v1/auth/me").await.0, 401);
    app.stop().await;
}

#[tokio::test]
async fn a_change_through_a_session_needs_its_csrf_token() {
    let app = App::spawn(&[]).await;
    let s = app.sign_in("admin", ADMIN_PASSWORD).await;
    let Auth::Session { cookie, csrf } = s.auth.clone() else { unreachable!() };
    let body = json!({"name": "ci"});
    // A hostile page can make the browser send the cookie, but not the token.
    let r = app
        .client
        .post(app.url("/api/v1/tokens"))
        .header("cookie", format!("cg_session={cookie}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "csrf");
    let wrong = As { app: &app, auth: Auth::Session { cookie: cookie.clone(), csrf: format!("{csrf}x") } };
    assert_eq!(wrong.post("/api/v1/tokens", body.clone()).await.0, 403);
    // Reading needs no token; the right token lets the change through.
    assert_eq!(wrong.get("/api/v1/tokens").await.0, 200);
    assert_eq!(s.post("/api/v1/tokens", body).await.0, 201);
    // The CSRF token is the session's: GET /auth/me gives it to the page.
    let (_, me) = s.get("/api/v1/auth/me").await;
    assert_eq!(me["csrf_token"], csrf);
    app.stop().await;
}

#[tokio::test]
async fn tokens_are_shown_once_act_as_their_owner_and_stop_when_revoked() {
    let app = App::spawn(&[]).await;
    let p = everyone(&app).await;
    let lead = app.sign_in("lead-a", "New-pass-3-2026").await;
    let (s, created) = lead.post("/api/v1/tokens", json!({"name": "laptop", "expires_in_days": 30})).await;
    assert_eq!(s, 201);
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("cgt_"));
    let id = created["info"]["id"].as_i64().unwrap();
    let (_, list) = lead.get("/api/v1/tokens").await;
    assert!(!list.to_string().contains(&token), "the token is not shown again: {list}");
    assert!(list["tokens"].as_array().unwrap().iter().any(|t| t["id"] == id && t["expires_at"].is_string()));

    let t = app.with_token(&token);
    let (s, me) = t.get("/api/v1/auth/me").await;
    assert_eq!((s, me["user"]["login"].as_str()), (200, Some("lead-a")));
    // A token makes no tokens, and someone else's token cannot be revoked (nor seen to exist).
    let (s, e) = t.post("/api/v1/tokens", json!({"name": "more"})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("session-required")));
    assert_eq!(app.with_token(&p.tokens["officer"]).delete(&format!("/api/v1/tokens/{id}")).await.0, 404);
    assert_eq!(t.get("/api/v1/auth/me").await.0, 200);

    assert_eq!(lead.delete(&format!("/api/v1/tokens/{id}")).await.0, 204);
    let (s, e) = t.get("/api/v1/auth/me").await;
    assert_eq!((s, e["error"]["code"].as_str()), (401, Some("invalid-token")));
    assert_eq!(lead.delete(&format!("/api/v1/tokens/{id}")).await.0, 409);

    // An admin revokes anyone's token; disabling an account stops all of its tokens.
    let officer = app.with_token(&p.tokens["officer"]);
    let (_, list) = app.with_token(&p.tokens["admin"]).get(&format!("/api/v1/users/{}/tokens", p.ids["officer"])).await;
    let officer_token = list["tokens"][0]["id"].as_i64().unwrap();
    assert_eq!(officer.get("/api/v1/auth/me").await.0, 200);
    assert_eq!(app.with_token(&p.tokens["admin"]).delete(&format!("/api/v1/tokens/{officer_token}")).await.0, 204);
    assert_eq!(officer.get("/api/v1/auth/me").await.0, 401);
    let off_b = app.with_token(&p.tokens["off-b"]);
    assert_eq!(off_b.get("/api/v1/auth/me").await.0, 200);
    let (s, _) = app
        .with_token(&p.tokens["admin"])
        .post(&format!("/api/v1/users/{}/disable", p.ids["off-b"]), Value::Null)
        .await;
    assert_eq!(s, 204);
    assert_eq!(off_b.get("/api/v1/auth/me").await.0, 401);
    // A password reset by an admin revokes the account's tokens too.
    let spare = app.with_token(&p.tokens["spare"]);
    assert_eq!(spare.get("/api/v1/auth/me").await.0, 200);
    let (s, _) = app
        .with_token(&p.tokens["admin"])
        .post(&format!("/api/v1/users/{}/reset-password", p.ids["spare"]), Value::Null)
        .await;
    assert_eq!(s, 200);
    assert_eq!(spare.get("/api/v1/auth/me").await.0, 401);
    app.stop().await;
}

#[tokio::test]
async fn repeated_failures_lock_the_account_and_one_address_is_rate_limited() {
    let app = App::spawn_with(&[], |s| s.auth.lockout_threshold = 3).await;
    let anon = app.anon();
    for _ in 0..3 {
        let (s, e) = anon.post("/api/v1/auth/login", json!({"login": "admin", "password": "guess-guess-1"})).await;
        assert_eq!((s, e["error"]["code"].as_str()), (401, Some("bad-credentials")));
    }
    // Locked: even the right password is refused until the lock ends.
    let r = login_response(&app, "admin", ADMIN_PASSWORD, None).await;
    assert_eq!(r.status().as_u16(), 429);
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((800..=900).contains(&wait), "15 minutes: {wait}");
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "account-locked");
    // An unknown login and a wrong password answer alike.
    let (s, e) = anon.post("/api/v1/auth/login", json!({"login": "nobody", "password": "guess-guess-1"})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (401, Some("bad-credentials")));
    app.stop().await;

    let app = App::spawn_with(&[], |s| s.auth.login_per_minute = 3).await;
    let anon = app.anon();
    // Three a minute from one address; setting up the test server used two of them.
    let mut attempts = 0;
    let r = loop {
        let r = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"login": "x", "password": "y"}))
            .send()
            .await
            .unwrap();
        if r.status().as_u16() != 401 {
            break r;
        }
        attempts += 1;
        assert!(attempts <= 3, "no limit after {attempts} attempts");
    };
    assert_eq!(attempts, 1);
    assert_eq!(r.status().as_u16(), 429);
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=21).contains(&wait), "{wait}");
    let (s, e) =
        anon.post("/api/v1/auth/register", json!({"login": "13912345678", "password": "Citizen-pw-2026"})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (429, Some("rate-limited")));
    app.stop().await;
}

#[tokio::test]
async fn every_access_change_is_recorded_with_actor_time_and_address() {
    let app = App::spawn(&[]).await;
    let p = everyone(&app).await;
    let admin = app.with_token(&p.tokens["admin"]);
    let off_b = p.ids["off-b"];
    let _ = app.anon().post("/api/v1/auth/login", json!({"login": "off-b", "password": "wrong-pw-123"})).await;
    let (_, g) =
        admin.post(&format!("/api/v1/users/{off_b}/grants"), json!({"role": "team-lead", "team": "T-B"})).await;
    let gid = g["id"].as_i64().unwrap();
    assert_eq!(admin.delete(&format!("/api/v1/users/{off_b}/grants/{gid}")).await.0, 204);
    let (s, _) = admin
        .put(
            &format!("/api/v1/users/{off_b}/certifications/transport"),
            json!({"number": "ZF-77", "valid_until": "2028-06-30"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, e) = admin
        .put(
            &format!("/api/v1/users/{off_b}/certifications/transport"),
            json!({"number": "ZF-77", "valid_until": "2028-02-30"}),
        )
        .await;
    assert_eq!((s, e["error"]["field"].as_str()), (422, Some("valid_until")));

    let (_, ev) = admin.get(&format!("/api/v1/security-events?subject={off_b}&limit=1000")).await;
    let events = ev["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for k in [
        "user-created",
        "role-granted",
        "role-revoked",
        "certification-set",
        "sign-in",
        "sign-in-failed",
        "password-changed",
        "token-created",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    let revoked = events.iter().find(|e| e["kind"] == "role-revoked").unwrap();
    assert_eq!(revoked["actor"], "admin");
    assert_eq!(revoked["source"], "127.0.0.1");
    assert_eq!(revoked["detail"]["role"], "team-lead");
    assert_eq!(revoked["detail"]["scope"], "team:T-B");
    assert!(revoked["at"].as_str().unwrap().ends_with('Z'));
    let failed = events.iter().find(|e| e["kind"] == "sign-in-failed").unwrap();
    assert_eq!(failed["detail"]["reason"], "wrong password");
    let (_, all) = admin.get("/api/v1/security-events?kind=admin-bootstrapped").await;
    assert_eq!(all["events"][0]["actor"], "system");
    app.stop().await;
}

#[tokio::test]
async fn the_last_admin_keeps_the_role_and_cannot_be_disabled() {
    let app = App::spawn(&[]).await;
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let (_, me) = admin.get("/api/v1/auth/me").await;
    let id = me["user"]["id"].as_i64().unwrap();
    let gid = me["user"]["roles"][0]["id"].as_i64().unwrap();
    let (s, e) = admin.delete(&format!("/api/v1/users/{id}/grants/{gid}")).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("last-admin")));
    let (s, e) = admin.post(&format!("/api/v1/users/{id}/disable"), Value::Null).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("last-admin")));
    // With a second admin, the first may step down.
    let (s, c) = admin
        .post("/api/v1/users", json!({"login": "admin2", "display_name": "二号管理员", "roles": [{"role": "admin"}]}))
        .await;
    assert_eq!(s, 201, "{c}");
    assert!(c["one_time_password"].as_str().unwrap().len() >= 16);
    assert_eq!(admin.delete(&format!("/api/v1/users/{id}/grants/{gid}")).await.0, 204);
    assert_eq!(admin.get("/api/v1/security-events").await.0, 403, "no longer an admin");
    app.stop().await;
}

#[tokio::test]
async fn an_organisation_file_with_a_bad_entry_changes_nothing_and_names_the_entry() {
    let app = App::spawn(&[]).await;
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let (_, before) = admin.get("/api/v1/org").await;
    let (_, users_before) = admin.get("/api/v1/users").await;
    let doc = json!({
        "departments": [{"code": "D9", "name": "九支队"}],
        "teams": [{"code": "T9", "name": "九中队", "department": "D9", "domains": ["housing"]}],
        "members": [
            {"login": "good", "display_name": "好人", "roles": [{"role": "officer", "team": "T9"}]},
            {"login": "bad", "display_name": "坏人", "roles": [{"role": "officer", "team": "T-NOPE"}]}
        ]
    });
    let (s, e) = admin.post("/api/v1/org/import", doc).await;
    assert_eq!(
        (s, e["error"]["code"].as_str(), e["error"]["field"].as_str()),
        (422, Some("unknown-team"), Some("members[1].roles[0].team"))
    );
    assert_eq!(admin.get("/api/v1/org").await.1, before, "no department or team half-written");
    assert_eq!(admin.get("/api/v1/users").await.1, users_before, "no account half-written");
    let (s, e) = admin
        .post(
            "/api/v1/org/import",
            json!({"members": [{"login": "x1", "display_name": "x", "roles": [{"role": "officer"}]}]}),
        )
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("scope-not-allowed")), "an officer works in a team");
    // A single department or team is created, never overwritten: updates go through an import.
    assert_eq!(admin.post("/api/v1/org/departments", json!({"code": "D9", "name": "九"})).await.0, 201);
    let (s, e) = admin.post("/api/v1/org/departments", json!({"code": "D9", "name": "改名"})).await;
    assert_eq!((s, e["error"]["field"].as_str()), (409, Some("code")));
    let (s, e) = admin.post("/api/v1/org/import", json!({"teams": [], "unknown": 1})).await;
    assert_eq!(s, 422, "{e}");
    app.stop().await;
}

#[tokio::test]
async fn an_officer_assesses_only_with_a_valid_certificate_for_the_domain() {
    let app = App::spawn(&[&plugin("housing"), &plugin("transport")]).await;
    let p = everyone(&app).await;
    let admin = app.with_token(&p.tokens["admin"]);
    let officer = app.with_token(&p.tokens["officer"]);
    let body = json!({"item": "HC-P-001", "facts": []});
    // Certified for housing: served (the empty facts are refused by the plugin, not by access).
    assert_eq!(officer.post("/api/v1/domains/housing/assess", body.clone()).await.0, 422);
    let (s, e) = officer.post("/api/v1/domains/transport/assess", json!({"item": "TR-P-001", "facts": []})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("not-certified")));
    // The certificate lapses: no more assessing.
    let id = p.ids["officer"];
    let (s, _) = admin
        .put(
            &format!("/api/v1/users/{id}/certifications/housing"),
            json!({"number": "ZF-0002", "valid_until": "2020-12-31"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, e) = officer.post("/api/v1/domains/housing/assess", body).await;
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("not-certified")));
    app.stop().await;
}

/// Signs `admin` in at `base` once the server there answers; (the cookie pair, the body).
async fn sign_in_when_up(client: &reqwest::Client, base: &str, password: &str) -> (String, Value) {
    for _ in 0..200 {
        let sent = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"login": "admin", "password": password}))
            .send()
            .await;
        if let Ok(r) = sent {
            assert_eq!(r.status().as_u16(), 200);
            let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
            return (cookie, r.json().await.unwrap());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the server at {base} did not come up");
}

#[tokio::test]
async fn the_cli_imports_the_organisation_and_manages_accounts() {
    let data = TempDir::new("cli-accounts");
    let file = data.0.join("org.toml");
    std::fs::write(
        &file,
        r#"
[[departments]]
code = "D1"
name = "住建执法支队"

[[teams]]
code = "T-A"
name = "城东中队"
department = "D1"
domains = ["housing", "ecology"]

[[members]]
login = "zhang.wei"
display_name = "张伟"
phone = "13800001111"
roles = [{ role = "officer", team = "T-A" }]
certifications = [{ domain = "housing", number = "ZF-1", valid_until = "2030-12-31" }]
"#,
    )
    .unwrap();
    let (code, out, err) = cli(&data, &["org", "import", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("teams: 1 created") && out.contains("zhang.wei") && out.contains("one-time password"),
        "{out}"
    );
    // Importing again is harmless: matched by code and login.
    let (code, out, _) = cli(&data, &["org", "import", file.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("departments: 0 created, 1 updated") && out.contains("members: 0 created, 1 updated"),
        "{out}"
    );

    let (code, out, err) = cli(&data, &["user", "add", "li.na", "--name", "李娜", "--role", "team-lead@team:T-A"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("one-time password"), "{out}");
    let (code, _, err) = cli(&data, &["user", "add", "li.na", "--name", "重复"]);
    assert_ne!(code, 0);
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = cli(&data, &["user", "grant", "li.na", "officer@team:T-NOPE"]);
    assert_ne!(code, 0);
    assert!(err.contains("no team `T-NOPE`"), "{err}");
    assert_eq!(cli(&data, &["user", "grant", "li.na", "publisher@domain:housing"]).0, 0);
    assert_eq!(cli(&data, &["user", "revoke", "li.na", "team-lead@team:T-A"]).0, 0);
    assert_eq!(
        cli(&data, &["user", "certify", "li.na", "ecology", "--number", "ZF-2", "--valid-until", "2029-01-31"]).0,
        0
    );
    assert_eq!(cli(&data, &["user", "disable", "zhang.wei"]).0, 0);
    let (code, out, _) = cli(&data, &["user", "list"]);
    assert_eq!(code, 0);
    let li = out.lines().find(|l| l.contains("li.na")).unwrap();
    assert!(
        li.contains("publisher@domain:housing") && !li.contains("team-lead") && li.contains("ecology until 2029-01-31"),
        "{li}"
    );
    assert!(out.lines().any(|l| l.contains("zhang.wei") && l.contains("(disabled)")), "{out}");

    // The server on the same data directory finds what the CLI did, and its record.
    let plugins = TempDir::new("cli-plugins");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let settings = casegrid_tests::test_settings(&data.0, &plugins.0);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(casegrid::run(settings, listener, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let (cookie, _) = sign_in_when_up(&client, &format!("http://{addr}"), ADMIN_PASSWORD).await;
    let ev: Value = client
        .get(format!("http://{addr}/api/v1/security-events?kind=user-disabled"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ev["events"][0]["source"], "cli");
    assert!(ev["events"][0]["actor"].as_str().unwrap().starts_with("cli:"));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn first_start_prints_a_one_time_admin_password_that_must_be_changed() {
    use std::io::{BufRead, BufReader};
    let data = TempDir::new("first-start");
    let plugins = TempDir::new("first-start-plugins");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = std::process::Command::new(casegrid_bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--plugins"])
        .arg(&plugins.0)
        .arg("--data")
        .arg(&data.0)
        .env("CASEGRID_AUTH__COOKIE_SECURE", "false")
        .env_remove("CASEGRID_DATABASE_URL")
        .env_remove("CASEGRID_AUTH__BOOTSTRAP_ADMIN_PASSWORD")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    let password = line.rsplit(' ').next().unwrap().to_string();
    assert!(line.contains("one-time password") && password.len() == 16, "{line}");

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let (cookie, body) = sign_in_when_up(&client, &base, &password).await;
    assert_eq!(body["user"]["must_change_password"], true);
    let csrf = body["csrf_token"].as_str().unwrap();
    let blocked = client.get(format!("{base}/api/v1/users")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(blocked.status().as_u16(), 403);
    assert_eq!(blocked.json::<Value>().await.unwrap()["error"]["code"], "password-change-required");
    let changed = client
        .post(format!("{base}/api/v1/auth/password"))
        .header("cookie", &cookie)
        .header("x-csrf-token", csrf)
        .json(&json!({"current_password": password, "new_password": "Chosen-root-pw-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status().as_u16(), 204);
    let ok = client.get(format!("{base}/api/v1/users")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    child.kill().unwrap();
    child.wait().unwrap();

    // A second start finds the admin and prints no password.
    let mut again = std::process::Command::new(casegrid_bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--plugins"])
        .arg(&plugins.0)
        .arg("--data")
        .arg(&data.0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    again.kill().unwrap();
    let out = again.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("password"), "printed only once");
}

#[tokio::test]
async fn an_admin_makes_a_token_for_a_machine_clients_account_from_a_session_only() {
    let app = App::spawn(&[&plugin("housing")]).await;
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let (s, u) = admin.post("/api/v1/users", json!({"login": "report-bridge", "display_name": "市民热线对接"})).await;
    assert_eq!(s, 201, "{u}");
    let id = u["id"].as_i64().unwrap();
    let (s, t) = admin
        .post(&format!("/api/v1/users/{id}/tokens"), json!({"name": "12345 hotline", "expires_in_days": 365}))
        .await;
    assert_eq!(s, 201, "{t}");
    let token = t["token"].as_str().unwrap().to_string();
    let (s, me) = app.with_token(&token).get("/api/v1/auth/me").await;
    assert_eq!((s, me["user"]["login"].as_str()), (200, Some("report-bridge")), "{me}");
    // The account's one-time password was never used; its token works all the same.
    assert_eq!(app.with_token(&token).get("/api/v1/tokens").await.0, 200);
    // Not with a token (a leaked one cannot breed), and not by anyone but an admin.
    let (_, admin_token) = admin.post("/api/v1/tokens", json!({"name": "ops"})).await;
    let (s, e) = app
        .with_token(admin_token["token"].as_str().unwrap())
        .post(&format!("/api/v1/users/{id}/tokens"), json!({"name": "x"}))
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("session-required")));
    assert_eq!(app.post(&format!("/api/v1/users/{id}/tokens"), json!({"name": "x"})).await.0, 403);
    assert_eq!(admin.post("/api/v1/users/99999/tokens", json!({"name": "x"})).await.0, 404);
    let (_, events) = admin.get(&format!("/api/v1/security-events?kind=token-created&subject={id}")).await;
    assert_eq!(events["events"].as_array().unwrap().len(), 1, "{events}");
    assert_eq!(events["events"][0]["actor"], "admin");
    app.stop().await;
}

/// How many passwords the server has checked against a stored hash for `purpose` (`sign-in`,
/// `password-change`), from its `/metrics`.
async fn verifications(app: &App, purpose: &str) -> u64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let prefix = format!("casegrid_password_verifications_total{{purpose=\"{purpose}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0, |n| n.trim().parse().unwrap())
}

/// One sign-in attempt, from `source` (sent as `X-Forwarded-For`, which the server must trust).
async fn login_response(app: &App, login: &str, password: &str, source: Option<&str>) -> reqwest::Response {
    let mut rb = app.client.post(app.url("/api/v1/auth/login")).json(&json!({"login": login, "password": password}));
    if let Some(ip) = source {
        rb = rb.header("x-forwarded-for", ip);
    }
    rb.send().await.unwrap()
}

/// [`login_response`]'s status, `Retry-After` and body.
async fn attempt(app: &App, login: &str, password: &str, source: Option<&str>) -> (u16, Option<u64>, Value) {
    let r = login_response(app, login, password, source).await;
    let status = r.status().as_u16();
    let wait = r.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().unwrap());
    (status, wait, r.json().await.unwrap_or_default())
}

/// Sign-ins of `(login, password)`, all at once; each answer's status and error code.
async fn all_at_once(app: &App, attempts: Vec<(String, String)>) -> Vec<(u16, String)> {
    let mut set = tokio::task::JoinSet::new();
    for (login, password) in attempts {
        let (client, url) = (app.client.clone(), app.url("/api/v1/auth/login"));
        set.spawn(async move {
            let r = client.post(url).json(&json!({"login": login, "password": password})).send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or_default();
            (status, body["error"]["code"].as_str().unwrap_or("").to_string())
        });
    }
    set.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_wrong_passwords_are_checked_at_most_five_times_before_the_lock() {
    let app = App::spawn(&[]).await;
    let (_, me) = app.get("/api/v1/auth/me").await;
    let tester = me["user"]["id"].as_i64().unwrap();
    let before = verifications(&app, "sign-in").await;
    let guesses = (0..50).map(|i| ("tester".to_string(), format!("wrong-guess-{i:02}"))).collect();
    let answers = all_at_once(&app, guesses).await;
    let wrong = answers.iter().filter(|a| *a == &(401, "bad-credentials".to_string())).count();
    let locked = answers.iter().filter(|a| *a == &(429, "account-locked".to_string())).count();
    assert_eq!(wrong + locked, 50, "only refusals, no server error: {answers:?}");
    let checked = verifications(&app, "sign-in").await - before;
    assert!((1..=5).contains(&checked), "{checked} guesses were checked against the hash: {answers:?}");
    assert_eq!(checked, wrong as u64, "every guess checked was answered as wrong, the others as locked");
    // The security log tells the same: five failures, one lock, the rest refused unchecked.
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let count = |kind: &'static str| {
        let admin = &admin;
        async move {
            let (_, ev) = admin.get(&format!("/api/v1/security-events?kind={kind}&subject={tester}&limit=1000")).await;
            ev["events"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("sign-in-failed").await, wrong);
    assert_eq!(count("account-locked").await, 1);
    assert_eq!(count("sign-in-refused").await, locked);
    // Locked: the right password is not even checked.
    let before = verifications(&app, "sign-in").await;
    let (s, _, e) = attempt(&app, "tester", "Staff-pw-2026-xy", None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (429, Some("account-locked")));
    assert_eq!(verifications(&app, "sign-in").await, before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_officers_signing_in_at_once_all_get_in() {
    let app = App::spawn(&[]).await;
    // A shift change: a hundred accounts, made underneath the API (one hash: argon2 is slow on purpose).
    let db = app.db().await;
    let hash = casegrid::auth::secrets::hash_password("Shift-change-2026");
    let mut tx = db.write().await.unwrap();
    for i in 0..100 {
        let login = format!("shift-{i:03}");
        let new = casegrid::auth::store::NewUser {
            login: &login,
            display_name: "值班执法队员",
            email: None,
            phone: None,
            password_hash: &hash,
            must_change_password: false,
        };
        casegrid::auth::store::insert_user(&mut tx, &new).await.unwrap();
    }
    tx.commit().await.unwrap();
    db.close().await;
    let started = std::time::Instant::now();
    let answers =
        all_at_once(&app, (0..100).map(|i| (format!("shift-{i:03}"), "Shift-change-2026".to_string())).collect()).await;
    println!("100 parallel sign-ins: {:.1} s", started.elapsed().as_secs_f64());
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s != 200).collect();
    assert!(refused.is_empty(), "{} of 100 were refused: {refused:?}", refused.len());
    app.stop().await;
}

#[tokio::test]
async fn a_locked_login_answers_as_an_unknown_one_and_the_officer_still_signs_in_from_elsewhere() {
    let app = App::spawn_with(&[], |s| s.auth.trust_forwarded_for = true).await;
    let (attacker, office) = (Some("203.0.113.7"), Some("198.51.100.20"));
    let mut answers = Vec::new();
    for login in ["tester", "nobody-here"] {
        let before = verifications(&app, "sign-in").await;
        let mut seen = Vec::new();
        for i in 0..5 {
            seen.push(attempt(&app, login, &format!("wrong-guess-{i}"), attacker).await);
        }
        // Each guess, real login or not, costs one argon2 verification and gets the same answer.
        assert_eq!(verifications(&app, "sign-in").await - before, 5, "{login}");
        assert!(seen.iter().all(|a| *a == seen[0] && a.0 == 401), "{login}: {seen:?}");
        let (s, wait, body) = attempt(&app, login, "wrong-guess-5", attacker).await;
        assert_eq!(verifications(&app, "sign-in").await - before, 5, "{login}: a locked login checks nothing");
        assert!(wait.is_some_and(|w| (800..=900).contains(&w)), "{login}: {wait:?}");
        answers.push((seen[0].clone(), (s, body)));
    }
    assert_eq!(answers[0], answers[1], "a real account and an unknown login answer alike, locked or not");
    assert_eq!(answers[0].1.0, 429);
    assert_eq!(answers[0].1.1["error"]["code"], "account-locked");

    // The lock holds where the guesses came from: there, even the right password is refused…
    let (s, _, _) = attempt(&app, "tester", "Staff-pw-2026-xy", attacker).await;
    assert_eq!(s, 429);
    // …but the officer at the office signs in, and that does not lift the attacker's lock.
    let (s, _, body) = attempt(&app, "tester", "Staff-pw-2026-xy", office).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(attempt(&app, "tester", "Staff-pw-2026-xy", attacker).await.0, 429);
    // An admin's password reset lifts every lock of the account.
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let (_, me) = app.get("/api/v1/auth/me").await;
    let (s, reset) = admin.post(&format!("/api/v1/users/{}/reset-password", me["user"]["id"]), Value::Null).await;
    assert_eq!(s, 200, "{reset}");
    let otp = reset["one_time_password"].as_str().unwrap();
    assert_eq!(attempt(&app, "tester", otp, attacker).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn an_admin_mints_tokens_only_for_accounts_that_hold_machine_client_roles_alone() {
    let app = App::spawn(&[]).await;
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let accounts = [
        ("bridge-none", json!([]), true),
        ("bridge-pub", json!([{"role": "publisher", "domain": "housing"}]), true),
        ("a-officer", json!([{"role": "officer", "team": "TEST-T"}]), false),
        ("a-lead", json!([{"role": "team-lead", "team": "TEST-T"}]), false),
        ("a-legal", json!([{"role": "legal-reviewer"}]), false),
        ("a-leader", json!([{"role": "leader", "department": "TEST"}]), false),
        ("a-disp", json!([{"role": "dispatcher"}]), false),
        ("a-admin", json!([{"role": "admin"}]), false),
        ("a-citizen", json!([{"role": "citizen"}]), false),
        (
            "pub-officer",
            json!([{"role": "publisher", "domain": "housing"}, {"role": "officer", "team": "TEST-T"}]),
            false,
        ),
    ];
    for (login, roles, allowed) in accounts {
        let (s, u) = admin.post("/api/v1/users", json!({"login": login, "display_name": "账户", "roles": roles})).await;
        assert_eq!(s, 201, "{u}");
        let (s, e) = admin.post(&format!("/api/v1/users/{}/tokens", u["id"]), json!({"name": "job"})).await;
        if allowed {
            assert_eq!(s, 201, "{login}: {e}");
        } else {
            assert_eq!((s, e["error"]["code"].as_str()), (403, Some("not-a-machine-client")), "{login}: {e}");
        }
    }
    // An admin's own tokens are theirs to make, through either route.
    let (_, me) = admin.get("/api/v1/auth/me").await;
    assert_eq!(admin.post(&format!("/api/v1/users/{}/tokens", me["user"]["id"]), json!({"name": "own"})).await.0, 201);
    let (_, events) = admin.get("/api/v1/security-events?kind=token-created&limit=100").await;
    let by_admin = events["events"].as_array().unwrap().iter().filter(|e| e["actor"] == "admin").count();
    assert_eq!(by_admin, 3, "{events}");
    app.stop().await;
}

#[tokio::test]
async fn a_password_change_revokes_the_tokens_not_kept_and_a_wrong_current_password_counts_towards_the_lock() {
    let app = App::spawn(&[]).await;
    let tester = app.sign_in("tester", "Staff-pw-2026-xy").await;
    let laptop = tester.new_token("laptop").await;
    let (_, ci) = tester.post("/api/v1/tokens", json!({"name": "ci"})).await;
    let (ci, ci_id) = (ci["token"].as_str().unwrap().to_string(), ci["info"]["id"].as_i64().unwrap());
    let change = |current: &str, new: &str, keep: Value| json!({"current_password": current, "new_password": new, "keep_tokens": keep});
    // Only live tokens of one's own can be kept.
    let (s, e) =
        tester.post("/api/v1/auth/password", change("Staff-pw-2026-xy", "Second-pw-2026", json!([ci_id, 99999]))).await;
    assert_eq!(
        (s, e["error"]["code"].as_str(), e["error"]["field"].as_str()),
        (422, Some("unknown-token"), Some("keep_tokens[1]"))
    );
    let (s, e) =
        tester.post("/api/v1/auth/password", change("Staff-pw-2026-xy", "Second-pw-2026", json!([ci_id]))).await;
    assert_eq!(s, 204, "{e}");
    for revoked in [&laptop, &app.token] {
        let (s, e) = app.with_token(revoked).get("/api/v1/auth/me").await;
        assert_eq!((s, e["error"]["code"].as_str()), (401, Some("invalid-token")));
    }
    assert_eq!(app.with_token(&ci).get("/api/v1/auth/me").await.0, 200, "the token named to keep works");
    assert_eq!(tester.get("/api/v1/auth/me").await.0, 200, "the session making the change stays");
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let (_, ev) = admin.get("/api/v1/security-events?kind=password-changed&limit=10").await;
    let detail = &ev["events"].as_array().unwrap().iter().find(|e| e["actor"] == "tester").unwrap()["detail"];
    assert_eq!(detail["tokens_revoked"], 2, "{ev}");
    // Without `keep_tokens`, every token goes.
    let (s, _) = tester
        .post("/api/v1/auth/password", json!({"current_password": "Second-pw-2026", "new_password": "Third-pw-2026"}))
        .await;
    assert_eq!(s, 204);
    assert_eq!(app.with_token(&ci).get("/api/v1/auth/me").await.0, 401);

    // Guessing the current password through a stolen session costs what guessing at sign-in does.
    let before = verifications(&app, "password-change").await;
    for i in 0..5 {
        let (s, e) =
            tester.post("/api/v1/auth/password", change(&format!("guess-{i}-pw"), "Fourth-pw-2026", json!([]))).await;
        assert_eq!(
            (s, e["error"]["code"].as_str(), e["error"]["field"].as_str()),
            (422, Some("bad-credentials"), Some("current_password"))
        );
    }
    assert_eq!(verifications(&app, "password-change").await - before, 5);
    let (s, e) = tester.post("/api/v1/auth/password", change("Third-pw-2026", "Fourth-pw-2026", json!([]))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (429, Some("account-locked")), "{e}");
    assert_eq!(verifications(&app, "password-change").await - before, 5, "locked: nothing checked");
    // The same counter as sign-in's: from this address the account is locked there too.
    assert_eq!(attempt(&app, "tester", "Third-pw-2026", None).await.0, 429);
    app.stop().await;
}

#[tokio::test]
async fn the_session_cookie_is_secure_by_default_and_a_host_cookie() {
    let app = App::spawn_with(&[], |s| s.auth.cookie_secure = true).await;
    let r = login_response(&app, "admin", ADMIN_PASSWORD, None).await;
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let csrf = r.json::<Value>().await.unwrap()["csrf_token"].as_str().unwrap().to_string();
    let value = set.strip_prefix("__Host-cg_session=").expect(&set).split(';').next().unwrap().to_string();
    assert!(set.contains("; Secure") && set.contains("; Path=/;") && set.contains("HttpOnly"), "{set}");
    assert!(!set.to_lowercase().contains("domain="), "{set}");
    let me = |cookie: String| {
        let r = app.client.get(app.url("/api/v1/auth/me")).header("cookie", cookie);
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(me(format!("__Host-cg_session={value}")).await, 200);
    // A cookie without the prefix (which a sibling host or plain HTTP could have set) is not read.
    assert_eq!(me(format!("cg_session={value}")).await, 401);
    let r = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .header("cookie", format!("__Host-cg_session={value}"))
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let cleared = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("__Host-cg_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    app.stop().await;
}

//! The plugin lifecycle, told as the domain teams and admins live it: the transport team signs and
//! publishes the rules of another period, the admin registers the team's key, switches the domain
//! to that version and back without a restart, every host follows within two seconds, a version
//! that keeps failing is quarantined and the domain falls back (or goes to manual mode), and every
//! change is on record.

use casegrid::plugins::signing;
use casegrid_tests::{ADMIN_PASSWORD, App, Hook, TempDir, casegrid_bin, fixture, plugin};
use serde_json::{Value, json};
use std::process::Command;

fn publishers() -> Value {
    json!({"members": [
        {"login": "tr-team", "display_name": "交通领域组", "roles": [{"role": "publisher", "domain": "transport"}]},
        {"login": "hz-team", "display_name": "住建领域组", "roles": [{"role": "publisher", "domain": "housing"}]},
        {"login": "hostile-team", "display_name": "测试领域组", "roles": [{"role": "publisher", "domain": "hostile"}]}
    ]})
}

/// The component with a custom section appended: the same plugin, the same version, other bytes.
fn with_custom_section(mut bytes: Vec<u8>, payload: &[u8]) -> Vec<u8> {
    let name = b"casegrid-test";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(payload);
    bytes.push(0); // custom section id
    let mut n = section.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            bytes.push(byte);
            break;
        }
        bytes.push(byte | 0x80);
    }
    bytes.extend_from_slice(&section);
    bytes
}

/// A key pair for `domain`, its public half registered by the admin.
async fn registered_key(app: &App, domain: &str) -> signing::KeyFile {
    let (key, public) = signing::generate(domain);
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let (s, b) = admin
        .post(
            "/api/v1/plugin-keys",
            json!({"domain": domain, "name": format!("{domain} team"), "public_key": public.public_key}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["fingerprint"], public.fingerprint.as_str());
    key
}

fn signature(key: &signing::KeyFile, domain: &str, version: &str, bytes: &[u8]) -> Value {
    serde_json::to_value(signing::sign(key, domain, version, bytes).unwrap()).unwrap()
}

/// The hostile team, its key registered, publishes hostile 0.2.0 signed; its bytes.
async fn publish_hostile_v2(app: &App) -> Vec<u8> {
    let team = app.people(publishers()).await;
    let key = registered_key(app, "hostile").await;
    let v2 = std::fs::read(fixture("hostile-0.2.0")).unwrap();
    let (s, b) = app
        .with_token(&team["hostile-team"])
        .publish(v2.clone(), Some(&signature(&key, "hostile", "0.2.0", &v2)))
        .await;
    assert_eq!(s, 201, "{b}");
    v2
}

async fn serving(app: &App, domain: &str) -> (String, String) {
    let (s, d) = app.get(&format!("/api/v1/domains/{domain}")).await;
    assert_eq!(s, 200, "{d}");
    (d["version"].as_str().unwrap().to_string(), d["mode"].as_str().unwrap().to_string())
}

// Multi-threaded: the command line blocks this thread while the server answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transport_team_publishes_signed_rules_and_the_admin_switches_to_them_and_back() {
    let app = App::spawn(&[&plugin("transport"), &plugin("housing")]).await;
    let team = app.people(publishers()).await;
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    assert_eq!(serving(&app, "transport").await, ("1.1.0".into(), "active".into()), "bundled, enabled on first start");

    // The team makes its key; a key file is never overwritten.
    let dir = TempDir::new("team-keys");
    let key = dir.0.join("transport.key");
    let keygen = || {
        Command::new(casegrid_bin())
            .args(["plugin", "keygen", "--domain", "transport", "--out"])
            .arg(&key)
            .output()
            .unwrap()
    };
    let out = keygen();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!keygen().status.success(), "a second keygen onto the same file is refused");
    #[cfg(unix)]
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions()) & 0o777, 0o600);
    let public: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("transport.key.pub")).unwrap()).unwrap();
    assert!(!public.to_string().contains("secret"), "the public half holds no secret: {public}");

    // The admin registers it; the team publishes the 2022 rules with the command line.
    let (s, b) = admin
        .post(
            "/api/v1/plugin-keys",
            json!({"domain": "transport", "name": "交通领域组 2026", "public_key": public["public_key"]}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let publish = |token: &str| {
        Command::new(casegrid_bin())
            .args(["plugin", "publish"])
            .arg(fixture("transport-0.9.0"))
            .arg("--key")
            .arg(&key)
            .args(["--server", &app.url(""), "--token", token])
            .output()
            .unwrap()
    };
    let out = publish(&team["tr-team"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("PASS") && stdout.contains("transport 0.9.0 published"), "{stdout}");
    // Published is not serving: the admin decides.
    assert_eq!(serving(&app, "transport").await.0, "1.1.0");
    let tr = app.with_token(&team["tr-team"]);
    let (s, v) = tr.get("/api/v1/plugins/transport").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"]["active_version"], "1.1.0");
    let versions = v["versions"].as_array().unwrap();
    let by = |ver: &str| versions.iter().find(|x| x["version"] == ver).unwrap().clone();
    assert_eq!(by("1.1.0")["source"], "bundled");
    assert_eq!(
        (by("0.9.0")["source"].as_str(), by("0.9.0")["published_by"].as_str()),
        (Some("published"), Some("tr-team"))
    );
    assert_eq!(by("0.9.0")["key_fingerprint"], public["fingerprint"]);
    assert_eq!(by("0.9.0")["manifest"]["in_force"]["until"]["year"], 2023);

    // Each team sees its own domains only.
    let hz = app.with_token(&team["hz-team"]);
    assert_eq!(hz.get("/api/v1/plugins/transport").await.0, 403);
    let (_, mine) = hz.get("/api/v1/plugins").await;
    let domains: Vec<&str> =
        mine["domains"].as_array().unwrap().iter().map(|d| d["domain"].as_str().unwrap()).collect();
    assert_eq!(domains, ["housing"]);
    assert_eq!(
        tr.post("/api/v1/plugins/transport/activate", json!({"version": "0.9.0"})).await.0,
        403,
        "admins switch"
    );

    // The admin switches the domain to 0.9.0, seeing what it asks for and is granted.
    let (s, b) =
        admin.post("/api/v1/plugins/transport/activate", json!({"version": "0.9.0", "reason": "核对2022年规则"})).await;
    assert_eq!(s, 200, "{b}");
    let limits = &b["serving"]["limits"];
    assert_eq!(limits["granted"]["memory_bytes"], 32 << 20);
    assert_eq!(limits["granted"]["call_millis"], 200);
    assert_eq!(limits["ceilings"]["memory_bytes"], 512 << 20);
    assert!(limits["requested"]["memory_bytes"].is_null(), "the plugin asks for nothing beyond the defaults");
    assert_eq!(serving(&app, "transport").await.0, "0.9.0", "served at once, without a restart");
    assert_eq!(
        admin.post("/api/v1/plugins/transport/activate", json!({"version": "0.9.0"})).await.1["error"]["code"],
        "already-active"
    );
    assert_eq!(admin.post("/api/v1/plugins/transport/activate", json!({"version": "7.0.0"})).await.0, 404);

    // …and back.
    let (s, b) = admin.post("/api/v1/plugins/transport/rollback", json!({"reason": "核对完毕"})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["state"]["active_version"], "1.1.0");
    assert_eq!(serving(&app, "transport").await.0, "1.1.0");

    // Disabled, the domain takes no reports and serves nothing; enabled, it serves its version again.
    assert_eq!(admin.post("/api/v1/plugins/transport/disable", json!({})).await.0, 200);
    assert_eq!(app.get("/api/v1/domains/transport").await.0, 404);
    let report = json!({"description": "火车站门口黑车拉客", "address": "站前路", "domain": "transport", "category": "illegal-passenger-transport"});
    let (s, e) = app.anon().post("/api/v1/reports", report.clone()).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("unknown-domain")));
    assert_eq!(admin.post("/api/v1/plugins/transport/enable", json!({})).await.0, 200);
    assert_eq!(serving(&app, "transport").await.0, "1.1.0");

    // Every change is on record: who, when, from where, why.
    let (_, v) = admin.get("/api/v1/plugins/transport").await;
    let log: Vec<(String, String, String)> = v["activations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap().into(),
                a["version"].as_str().unwrap().into(),
                a["actor"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("install", "1.1.0", "system"),
        ("activate", "0.9.0", "admin"),
        ("rollback", "1.1.0", "admin"),
        ("disable", "1.1.0", "admin"),
        ("enable", "1.1.0", "admin"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(log, expected);
    let activated = &v["activations"][1];
    assert_eq!(
        (activated["reason"].as_str(), activated["source"].as_str()),
        (Some("核对2022年规则"), Some("127.0.0.1"))
    );
    assert_eq!(activated["previous"], "1.1.0");

    // A version is immutable: the same bytes again are no new version; other bytes under it are refused.
    let out = publish(&team["tr-team"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("already published"));
    let key_file: signing::KeyFile = serde_json::from_str(&std::fs::read_to_string(&key).unwrap()).unwrap();
    let other = with_custom_section(std::fs::read(fixture("transport-0.9.0")).unwrap(), b"rebuilt");
    let (s, e) = tr.publish(other.clone(), Some(&signature(&key_file, "transport", "0.9.0", &other))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("version-exists")), "{e}");
    app.stop().await;
}

#[tokio::test]
async fn a_publication_that_is_not_the_teams_own_is_refused_each_with_its_reason_and_nothing_is_stored() {
    let app = App::spawn(&[&plugin("transport"), &plugin("housing"), &fixture("hostile")]).await;
    let team = app.people(publishers()).await;
    let transport_key = registered_key(&app, "transport").await;
    let housing_key = registered_key(&app, "housing").await;
    let hostile_key = registered_key(&app, "hostile").await;
    let tr = app.with_token(&team["tr-team"]);
    let bytes = std::fs::read(fixture("transport-0.9.0")).unwrap();
    let good = signature(&transport_key, "transport", "0.9.0", &bytes);
    let code = |r: (u16, Value)| {
        (
            r.0,
            r.1["error"]["code"].as_str().unwrap_or("").to_string(),
            r.1["error"]["field"].as_str().unwrap_or("").to_string(),
        )
    };

    assert_eq!(code(tr.publish(bytes.clone(), None).await), (422, "unsigned".into(), "signature".into()));
    let mut forged = good.clone();
    let sig = forged["signature"].as_str().unwrap().to_string();
    forged["signature"] = json!(format!("{}{}", if sig.starts_with('0') { "1" } else { "0" }, &sig[1..]));
    assert_eq!(code(tr.publish(bytes.clone(), Some(&forged)).await).1, "bad-signature");
    let (stranger, _) = signing::generate("transport");
    let unknown = signature(&stranger, "transport", "0.9.0", &bytes);
    assert_eq!(code(tr.publish(bytes.clone(), Some(&unknown)).await).1, "unknown-key");
    let by_housing = signature(&housing_key, "transport", "0.9.0", &bytes);
    assert_eq!(
        code(tr.publish(bytes.clone(), Some(&by_housing)).await).1,
        "wrong-domain",
        "signed with another domain's key"
    );
    let altered = with_custom_section(bytes.clone(), b"slipped in after signing");
    assert_eq!(code(tr.publish(altered, Some(&good)).await).1, "tampered");

    // Only a publisher of the domain publishes it.
    assert_eq!(app.with_token(&app.token).publish(bytes.clone(), Some(&good)).await.0, 403, "an officer");
    assert_eq!(
        app.with_token(&team["hz-team"]).publish(bytes.clone(), Some(&good)).await.0,
        403,
        "another domain's team"
    );
    assert_eq!(app.anon().publish(bytes.clone(), Some(&good)).await.0, 401);

    // A signed component that breaks the contract is refused by the same checks as `plugin check`.
    let broken = std::fs::read(fixture("duplicate-codes")).unwrap();
    let hostile_team = app.with_token(&team["hostile-team"]);
    let (s, e) =
        hostile_team.publish(broken.clone(), Some(&signature(&hostile_key, "hostile", "0.1.0", &broken))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("contract-violation")), "{e}");
    assert!(e["error"]["details"].to_string().contains("appears more than once"), "{e}");
    // Not a component at all.
    let junk = b"not wasm".to_vec();
    let (s, e) = hostile_team.publish(junk.clone(), Some(&signature(&hostile_key, "hostile", "0.1.0", &junk))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("invalid-component")), "{e}");

    // None of it was stored; the good one is.
    let (_, v) = tr.get("/api/v1/plugins/transport").await;
    assert_eq!(v["versions"].as_array().unwrap().len(), 1, "{v}");
    let (s, b) = tr.publish(bytes.clone(), Some(&good)).await;
    assert_eq!((s, b["created"].as_bool()), (201, Some(true)), "{b}");
    assert_eq!(b["version"]["sha256"], good["sha256"]);
    // A revoked key signs nothing any more.
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let (_, keys) = admin.get("/api/v1/plugin-keys").await;
    let id =
        keys["keys"].as_array().unwrap().iter().find(|k| k["domain"] == "hostile").unwrap()["id"].as_i64().unwrap();
    assert_eq!(admin.delete(&format!("/api/v1/plugin-keys/{id}")).await.0, 204);
    let hostile = std::fs::read(fixture("hostile-0.2.0")).unwrap();
    let (s, e) =
        hostile_team.publish(hostile.clone(), Some(&signature(&hostile_key, "hostile", "0.2.0", &hostile))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("unknown-key")), "{e}");
    // Key registrations are access changes, on the security record.
    let (_, events) = admin.get("/api/v1/security-events").await;
    let kinds: Vec<&str> = events["events"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    for k in ["publisher-key-registered", "publisher-key-revoked", "plugin-published"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_host_serves_the_new_version_within_two_seconds_and_no_call_fails_during_the_switch() {
    let a = App::spawn(&[&plugin("transport"), &fixture("transport-0.9.0")]).await;
    let b = a.another().await;
    // Both versions were bundled: the newest serves on first start.
    assert_eq!(serving(&b, "transport").await.0, "1.1.0");
    let admin = a.sign_in("admin", ADMIN_PASSWORD).await;

    // Officers keep assessing on host B while the admin switches on host A.
    let facts = json!([
        {"field": "party_kind", "value": {"Choice": "organisation"}},
        {"field": "act_date", "value": {"Date": {"year": 2026, "month": 3, "day": 2}}},
        {"field": "gains_band", "value": {"Choice": "3000-to-10000"}},
        {"field": "illegal_gains", "value": {"Money": 600000}},
        {"field": "first_offence", "value": {"Boolean": false}},
        {"field": "corrected_promptly", "value": {"Boolean": false}},
        {"field": "refused_to_correct", "value": {"Boolean": false}},
        {"field": "harm", "value": {"Choice": "ordinary"}}
    ]);
    let body = json!({"item": "TR-P-002", "facts": facts});
    let switched = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (client, url, token, body) =
            (b.client.clone(), b.url("/api/v1/domains/transport/assess"), b.token.clone(), body.clone());
        let switched = switched.clone();
        tokio::spawn(async move {
            // Until host B serves the new version, and 20 calls after.
            let (mut answers, mut after) = (Vec::new(), 0);
            while after < 20 {
                let r = client.post(&url).bearer_auth(&token).json(&body).send().await.unwrap();
                let status = r.status().as_u16();
                let v: Value = r.json().await.unwrap();
                answers.push((status, v["tier"].as_str().or(v["error"]["code"].as_str()).unwrap_or("").to_string()));
                if switched.load(std::sync::atomic::Ordering::SeqCst) {
                    after += 1;
                }
            }
            answers
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let (s, r) = admin.post("/api/v1/plugins/transport/activate", json!({"version": "0.9.0"})).await;
    assert_eq!(s, 200, "{r}");
    let changed = std::time::Instant::now();
    loop {
        if serving(&b, "transport").await.0 == "0.9.0" {
            break;
        }
        assert!(changed.elapsed() < std::time::Duration::from_secs(2), "host B still serves 1.1.0 two seconds later");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    switched.store(true, std::sync::atomic::Ordering::SeqCst);
    // Every call was answered whole by one version or the other: 1.1.0 assesses the 2026 act, the
    // 2022 rules were no longer in force then.
    let answers = load.await.unwrap();
    assert!(answers.iter().any(|a| a.0 == 200), "some calls ran on 1.1.0 before the switch");
    let mut kinds: Vec<(u16, String)> = answers.clone();
    kinds.sort();
    kinds.dedup();
    assert!(
        kinds.iter().all(|k| *k == (200, "ordinary".to_string()) || *k == (422, "not-in-force".to_string())),
        "{kinds:?}"
    );
    assert_eq!(answers.last().unwrap(), &(422, "not-in-force".to_string()), "the last calls ran on 0.9.0");
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_call_that_took_the_old_version_finishes_on_it_after_the_switch() {
    use casegrid::plugins::lifecycle::{Change, apply};
    let data = TempDir::new("in-flight");
    let dir = TempDir::new("in-flight-plugins");
    for (src, name) in [(plugin("transport"), "transport.wasm"), (fixture("transport-0.9.0"), "transport-0.9.0.wasm")] {
        std::fs::copy(src, dir.0.join(name)).unwrap();
    }
    let db = casegrid::store::Db::open(None, &data.0).await.unwrap();
    let rt = casegrid::plugins::Runtime::new(Default::default(), None).unwrap();
    let registry = casegrid::plugins::Registry::start(rt, db.clone(), &dir.0).await.unwrap();
    // A request takes what serves as it starts…
    let taken = registry.snapshot().get("transport").unwrap().clone();
    assert_eq!(taken.manifest().version, "1.1.0");
    // …the admin switches…
    apply(&db, &casegrid::auth::store::Actor::cli(), "transport", Change::Activate("0.9.0"), None).await.unwrap();
    assert!(registry.refresh().await.unwrap());
    assert_eq!(registry.snapshot().get("transport").unwrap().manifest().version, "0.9.0");
    // …and the request's calls still run on 1.1.0, whose TR-P-002 is the 2023 one.
    use casegrid::plugins::bindings::{FieldValue, Value as V};
    let f = |field: &str, value: V| FieldValue { field: field.into(), value };
    let facts = vec![
        f("party_kind", V::Choice("organisation".into())),
        f("act_date", V::Date(casegrid::plugins::bindings::Date { year: 2026, month: 3, day: 2 })),
        f("gains_band", V::Choice("none".into())),
        f("first_offence", V::Boolean(false)),
        f("corrected_promptly", V::Boolean(false)),
        f("refused_to_correct", V::Boolean(false)),
        f("harm", V::Choice("ordinary".into())),
    ];
    let at = casegrid_tests::now();
    let a = taken.assess("TR-P-002", facts.clone(), at).await.unwrap();
    assert_eq!((a.tier.as_str(), a.fine_range.map(|r| (r.min, r.max))), ("ordinary", Some((510_000, 790_000))));
    let now_serving = registry.snapshot().get("transport").unwrap().clone();
    assert_eq!(now_serving.assess("TR-P-002", facts, at).await.unwrap_err().code(), "not-in-force");
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_keeps_failing_is_quarantined_and_the_domain_falls_back_then_goes_manual() {
    let hook = Hook::start(0).await;
    let notify = hook.settings("quarantine-secret");
    let app = App::spawn_with(&[&fixture("hostile")], |s| {
        s.notify = notify.clone();
        s.plugin_policy.max_faults = 3;
        s.plugin_policy.window_minutes = 10;
    })
    .await;
    publish_hostile_v2(&app).await;
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    assert_eq!(admin.post("/api/v1/plugins/hostile/activate", json!({"version": "0.2.0"})).await.0, 200);
    assert_eq!(serving(&app, "hostile").await, ("0.2.0".into(), "active".into()));

    let classify = |text: &'static str| {
        let app = &app;
        async move { app.post("/api/v1/domains/hostile/classify", json!({"text": text})).await }
    };
    let wait_for = |want: (&'static str, &'static str)| {
        let app = &app;
        async move {
            for _ in 0..100 {
                let now = serving(app, "hostile").await;
                if (now.0.as_str(), now.1.as_str()) == want {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("hostile never came to serve {want:?}");
        }
    };
    // Three timeouts are within the policy; the fourth is one too many.
    for _ in 0..3 {
        assert_eq!(classify("loop").await.0, 503);
    }
    assert_eq!(classify("ordinary words").await.0, 200, "a good call counts for nothing either way");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(serving(&app, "hostile").await.0, "0.2.0");
    assert_eq!(classify("loop").await.0, 503);
    wait_for(("0.1.0", "active")).await;
    let (_, v) = admin.get("/api/v1/plugins/hostile").await;
    let v2_row = v["versions"].as_array().unwrap().iter().find(|x| x["version"] == "0.2.0").unwrap().clone();
    assert!(v2_row["quarantined_at"].is_string(), "{v2_row}");
    assert!(v2_row["quarantine_reason"].as_str().unwrap().contains("4 faults"), "{v2_row}");
    assert_eq!(v["recent_faults"][0]["code"], "plugin-timeout");
    let last = v["activations"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["action"].as_str(), last["actor"].as_str(), last["version"].as_str()),
        (Some("quarantine"), Some("system"), Some("0.1.0"))
    );
    // The admins are told, through the outbox.
    let told = hook.wait_for(1, 10).await;
    let q: Value = serde_json::from_str(&told.iter().find(|d| d.event == "plugin.quarantined").unwrap().body).unwrap();
    assert_eq!(
        (q["data"]["version"].as_str(), q["data"]["now_serving"]["version"].as_str()),
        (Some("0.2.0"), Some("0.1.0"))
    );

    // 0.1.0 fails the same way, and nothing is left to fall back on: manual mode.
    for _ in 0..4 {
        classify("loop").await;
    }
    wait_for(("0.1.0", "manual")).await;
    let (s, e) = classify("ordinary words").await;
    assert_eq!((s, e["error"]["code"].as_str()), (503, Some("manual-mode")), "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("without automatic validation or assessment"));
    assert_eq!(app.get("/api/v1/domains/hostile/checklist").await.0, 200, "the published checklist still shows");
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"casegrid_plugin_info{domain="hostile",version="0.1.0""#)
            && metrics.contains(r#"mode="manual""#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"outcome="plugin-timeout""#));
    let told = hook.wait_for(2, 10).await;
    let q: Value =
        serde_json::from_str(&told.iter().filter(|d| d.event == "plugin.quarantined").nth(1).unwrap().body).unwrap();
    assert_eq!(q["data"]["now_serving"]["mode"], "manual");

    // The admin lifts 0.2.0's quarantine without making it serve (cases pinned to it may be
    // assessed again); the domain stays as it is.
    let (s, r) =
        admin.post("/api/v1/plugins/hostile/versions/0.2.0/release", json!({"reason": "排查为测试输入所致"})).await;
    assert_eq!((s, r["quarantined_at"].is_null()), (200, true), "{r}");
    assert_eq!(serving(&app, "hostile").await, ("0.1.0".into(), "manual".into()));
    assert_eq!(
        admin.post("/api/v1/plugins/hostile/versions/0.2.0/release", json!({"reason": "再次解除该版本隔离"})).await.1["error"]
            ["code"],
        "not-quarantined"
    );
    // The admin puts 0.1.0 back in service: its quarantine is lifted, on record.
    let (s, b) = admin.post("/api/v1/plugins/hostile/activate", json!({"version": "0.1.0", "reason": "已排查"})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(serving(&app, "hostile").await, ("0.1.0".into(), "active".into()));
    assert_eq!(classify("ordinary words").await.0, 200);
    app.stop().await;
}

/// M2: the stored bytes of a published version are swapped underneath it (a database writer's
/// edit, leaving the signed sha256 in place). Every load reads the bytes again and checks the
/// signature against them: a reload refuses the version by name and the domain keeps what served;
/// a restart, whose precompiled cache holds the genuine version, refuses it too, and the domain is
/// not served and says why. Admins see it in their view, the metrics, `/healthz`, the fault and
/// security logs and the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_version_whose_stored_bytes_were_swapped_is_refused_at_every_load_and_admins_are_told() {
    let hook = Hook::start(0).await;
    let notify = hook.settings("refusal-secret");
    let app = App::spawn_with(&[&fixture("hostile")], |s| s.notify = notify.clone()).await;
    let v2 = publish_hostile_v2(&app).await;
    assert_eq!(serving(&app, "hostile").await.0, "0.1.0");

    // Other bytes under the signed version: a component that loads and serves the same domain.
    let db = app.db().await;
    let swapped = with_custom_section(v2, b"not what the hostile team signed");
    sqlx::query("UPDATE plugin_versions SET component = $1 WHERE domain = 'hostile' AND version = '0.2.0'")
        .bind(swapped)
        .execute(db.pool())
        .await
        .unwrap();
    // It is made to serve, as an admin's change on any host would: one reload later this host
    // has refused it by name and keeps serving 0.1.0.
    for sql in [
        "UPDATE plugin_domains SET active_version = '0.2.0' WHERE domain = 'hostile'",
        "UPDATE plugin_state SET seq = seq + 1 WHERE id = 1",
    ] {
        sqlx::query(sql).execute(db.pool()).await.unwrap();
    }
    db.close().await;
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let mut view = Value::Null;
    for _ in 0..100 {
        view = admin.get("/api/v1/plugins/hostile").await.1;
        if !view["refused"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let refused = &view["refused"][0];
    assert_eq!((refused["version"].as_str(), refused["code"].as_str()), (Some("0.2.0"), Some("tampered")), "{view}");
    assert!(refused["error"].as_str().unwrap().contains("not the one that was signed"), "{view}");
    assert_eq!(serving(&app, "hostile").await, ("0.1.0".into(), "active".into()), "the domain keeps what served");
    let (s, scores) = app.post("/api/v1/domains/hostile/classify", json!({"text": "hello"})).await;
    assert_eq!((s, scores[0]["matched"][0].as_str()), (200, Some("ok")), "{scores}");
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"casegrid_plugin_refused{domain="hostile",version="0.2.0",code="tampered"} 1"#),
        "{metrics}"
    );
    // The admins are told, once, through the outbox; the fault and security logs have it.
    let told = hook.wait_for(1, 10).await;
    let r: Value = serde_json::from_str(&told.iter().find(|d| d.event == "plugin.refused").unwrap().body).unwrap();
    assert_eq!((r["data"]["version"].as_str(), r["data"]["code"].as_str()), (Some("0.2.0"), Some("tampered")), "{r}");
    let faults = admin.get("/api/v1/plugins/hostile").await.1["recent_faults"].clone();
    assert!(faults.as_array().unwrap().iter().any(|f| f["version"] == "0.2.0" && f["code"] == "tampered"), "{faults}");
    let (_, events) = admin.get("/api/v1/security-events").await;
    assert!(events["events"].as_array().unwrap().iter().any(|e| e["kind"] == "plugin-refused"), "{events}");

    // A restart loads what the database says serves, and refuses it again, though the precompiled
    // cache holds the genuine 0.2.0 under the signed hash: the domain is not served, and says why.
    let app = app.restart().await;
    let (s, e) = app.get("/api/v1/domains/hostile").await;
    assert_eq!((s, e["error"]["code"].as_str()), (503, Some("plugin-refused")), "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("tampered"), "{e}");
    let (_, health) = app.get("/healthz").await;
    assert!(
        health["refused"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["file"] == "hostile 0.2.0" && r["error"].as_str().unwrap().starts_with("tampered")),
        "{health}"
    );
    // The admin puts the bundled version back in service.
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let (s, b) = admin.post("/api/v1/plugins/hostile/activate", json!({"version": "0.1.0"})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(serving(&app, "hostile").await, ("0.1.0".into(), "active".into()));
    app.stop().await;
}

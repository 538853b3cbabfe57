//! Notifications: every change to a report leaves a message in the outbox in its own transaction;
//! a worker delivers it to the webhook, signed, retrying when the receiver is down; the reports'
//! clock reminds before a deadline and escalates after it, once.

use casegrid_tests::{App, FakeSmtp, Hook, plugin};
use serde_json::{Value, json};

fn roof_report() -> Value {
    json!({"description": "楼顶违章搭建彩钢房", "address": "湖滨路1号", "domain": "housing", "category": "illegal-construction"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_reaches_the_webhook_signed_even_when_the_receiver_was_down_at_first() {
    let hook = Hook::start(2).await;
    let notify = hook.settings("hook-secret-1");
    let app = App::spawn_with(&[&plugin("housing")], |s| s.notify = notify).await;
    let (s, r) = app.anon().post("/api/v1/reports", roof_report()).await;
    assert_eq!(s, 201, "{r}");
    // Triage: no team covers it (no grid, no fallback) — a message all the same.
    let got = hook.wait_for(1, 20).await;
    assert_eq!(got[0].event, "report.triage");
    let expected = hex::encode(casegrid::notify::hmac_sha256(b"hook-secret-1", got[0].body.as_bytes()));
    assert_eq!(got[0].signature, format!("sha256={expected}"));
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["data"]["id"], r["id"]);
    assert!(
        !got[0].body.contains(r["tracking_code"].as_str().unwrap()),
        "the code is the reporter's, not the receiver's"
    );
    assert!(!got[0].body.contains("contact"), "no personal data in notifications");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_reminds_before_the_deadline_and_escalates_after_it_once() {
    let hook = Hook::start(0).await;
    let notify = hook.settings("s");
    let app = App::spawn_with(&[&plugin("housing")], |s| s.notify = notify.clone()).await;
    let admin = app.sign_in("admin", casegrid_tests::ADMIN_PASSWORD).await;
    let (s, _) = admin
        .post(
            "/api/v1/org/import",
            json!({"departments": [{"code": "D1", "name": "住建"}],
            "teams": [{"code": "T1", "name": "一中队", "department": "D1", "domains": ["housing"]}]}),
        )
        .await;
    assert_eq!(s, 200);
    let grid = json!({"type": "FeatureCollection", "fallback": {"housing": "T1"}, "features": []});
    assert_eq!(admin.post("/api/v1/grid/import", grid).await.0, 200);
    let (_, r) = app.anon().post("/api/v1/reports", roof_report()).await;
    assert_eq!(r["status"], "dispatched");
    hook.wait_for(1, 10).await;

    let db = app.db().await;
    let ms = |v: &Value| casegrid::clock::parse_rfc3339(v.as_str().unwrap()).unwrap().0;
    let (_, list) = app.get("/api/v1/reports").await;
    let (ack, due) = (ms(&list["reports"][0]["ack_due_at"]), ms(&list["reports"][0]["handle_due_at"]));
    assert!(ack < due, "acknowledge within 1 working day, handle within 2");
    let tick = |at: i64| casegrid::intake::deadlines::tick(&db, &notify, at, 4 * 3_600_000);
    assert_eq!(tick(ack - 1).await.unwrap(), Default::default(), "nothing is due yet");
    // Not acknowledged in time: escalated, once.
    let t = tick(ack + 1).await.unwrap();
    assert_eq!((t.reminded, t.escalated), (0, 1));
    assert_eq!(tick(ack + 2).await.unwrap(), Default::default());

    // The command centre moves it to the staff account's team, which accepts it: a new clock.
    let id = r["id"].as_i64().unwrap();
    let (s, b) = app
        .post(
            &format!("/api/v1/reports/{id}/actions"),
            json!({"action": "transfer", "team": "TEST-T", "reason": "就近处置"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(app.post(&format!("/api/v1/reports/{id}/actions"), json!({"action": "accept"})).await.0, 200);
    let t = tick(due - 3_600_000).await.unwrap();
    assert_eq!((t.reminded, t.escalated), (1, 0), "reminded 4 hours before the handling deadline");
    assert_eq!(tick(due - 1_800_000).await.unwrap(), Default::default(), "reminded once");
    let t = tick(due + 1).await.unwrap();
    assert_eq!((t.reminded, t.escalated), (0, 1));
    assert_eq!(tick(due + 3_600_000).await.unwrap(), Default::default(), "escalated once");
    let events: Vec<String> = hook.wait_for(6, 10).await.iter().map(|d| d.event.clone()).collect();
    assert_eq!(
        events,
        [
            "report.dispatched",
            "report.overdue",
            "report.transferred",
            "report.accepted",
            "report.due-soon",
            "report.overdue"
        ]
    );
    db.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_team_lead_is_mailed_and_the_citizen_gets_text_messages() {
    let smtp = FakeSmtp::start().await;
    let gateway = Hook::start(0).await;
    let mut notify = smtp.settings();
    notify.sms = Some(casegrid::notify::Sms {
        url: gateway.url.clone(),
        body_template: r#"{"mobile": "{phone}", "content": "{text}"}"#.into(),
        content_type: "application/json".into(),
        headers: [("x-api-key".to_string(), casegrid::auth::secrets::Secret::new("gw-key"))].into(),
        receipts_per_hour: 3,
    });
    let app = App::spawn_with(&[&plugin("housing")], |s| s.notify = notify).await;
    let admin = app.sign_in("admin", casegrid_tests::ADMIN_PASSWORD).await;
    let doc = json!({"departments": [{"code": "D1", "name": "住建"}],
        "teams": [{"code": "T1", "name": "一中队", "department": "D1", "domains": ["housing"]}],
        "members": [{"login": "lead1", "display_name": "李队", "email": "lead1@zf.example.cn", "roles": [{"role": "team-lead", "team": "T1"}]},
                    {"login": "off1", "display_name": "王", "email": "off1@zf.example.cn", "roles": [{"role": "officer", "team": "T1"}]}]});
    assert_eq!(admin.post("/api/v1/org/import", doc).await.0, 200);
    let grid = json!({"type": "FeatureCollection", "fallback": {"housing": "T1"}, "features": []});
    assert_eq!(admin.post("/api/v1/grid/import", grid).await.0, 200);
    let mut report = roof_report();
    report["contact"] = json!({"phone": "13912340000"});
    let (_, r) = app.anon().post("/api/v1/reports", report).await;
    assert_eq!(r["status"], "dispatched");

    // The lead is mailed (not the officer: new work goes to whoever assigns it).
    let mails = smtp.wait_for(1, 10).await;
    assert_eq!(mails[0].0, ["lead1@zf.example.cn"]);
    assert!(mails[0].1.contains("Subject:"), "{}", mails[0].1);
    assert!(!mails[0].1.contains(r["tracking_code"].as_str().unwrap()), "staff mail names the number: {}", mails[0].1);
    // The citizen is told the code, through the gateway's template, with its key.
    let texts = gateway.wait_for(1, 10).await;
    let sms: Value = serde_json::from_str(&texts[0].body).unwrap();
    assert_eq!(sms["mobile"], "13912340000");
    assert!(sms["content"].as_str().unwrap().contains(r["tracking_code"].as_str().unwrap()));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_left_in_triage_is_escalated_to_the_command_centre_by_mail() {
    let smtp = FakeSmtp::start().await;
    let notify = smtp.settings();
    let app = App::spawn_with(&[&plugin("housing")], |s| s.notify = notify.clone()).await;
    let admin = app.sign_in("admin", casegrid_tests::ADMIN_PASSWORD).await;
    let doc = json!({"members": [{"login": "cc1", "display_name": "指挥中心", "email": "cc1@zf.example.cn", "roles": [{"role": "dispatcher"}]}]});
    assert_eq!(admin.post("/api/v1/org/import", doc).await.0, 200);
    // Words no domain recognises: the report waits for a person.
    let (_, r) = app
        .anon()
        .post("/api/v1/reports", json!({"description": "隔壁邻居半夜唱歌太吵了", "address": "湖滨路3号"}))
        .await;
    assert_eq!(r["status"], "triage", "{r}");
    let ack = casegrid::clock::parse_rfc3339(r["expected_response_by"].as_str().unwrap()).unwrap().0;
    let db = app.db().await;
    let t = casegrid::intake::deadlines::tick(&db, &notify, ack + 1, 4 * 3_600_000).await.unwrap();
    assert_eq!((t.reminded, t.escalated), (0, 1));
    let mails = smtp.wait_for(1, 10).await;
    assert_eq!(mails[0].0, ["cc1@zf.example.cn"]);
    db.close().await;
    app.stop().await;
}

/// The gateway's form body, decoded: (name, value) pairs.
fn form_fields(body: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 2;
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    };
    body.split('&').map(|kv| kv.split_once('=').unwrap()).map(|(k, v)| (decode(k), decode(v))).collect()
}

/// L1: a gateway that takes a form gets every value URL-encoded, so that a closing result cannot
/// add or change a field; one number gets at most `receipts_per_hour` receipts an hour (the
/// reports are all taken), and the texts that are not receipts still reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn texts_to_a_form_gateway_are_url_encoded_and_receipts_are_limited_per_number() {
    let gateway = Hook::start(0).await;
    let mut notify = casegrid::notify::NotifySettings { poll_millis: 100, ..Default::default() };
    notify.sms = Some(casegrid::notify::Sms {
        url: gateway.url.clone(),
        body_template: "mobile={phone}&content={text}&sign=bureau".into(),
        content_type: "application/x-www-form-urlencoded".into(),
        headers: Default::default(),
        receipts_per_hour: 2,
    });
    let app = App::spawn_with(&[&plugin("housing")], |s| s.notify = notify).await;
    let admin = app.sign_in("admin", casegrid_tests::ADMIN_PASSWORD).await;
    let doc = json!({"departments": [{"code": "D1", "name": "住建"}],
        "teams": [{"code": "T1", "name": "一中队", "department": "D1", "domains": ["housing"]}],
        "members": [{"login": "off1", "display_name": "王", "roles": [{"role": "officer", "team": "T1"}]}]});
    let (s, out) = admin.post("/api/v1/org/import", doc).await;
    assert_eq!(s, 200, "{out}");
    let grid = json!({"type": "FeatureCollection", "fallback": {"housing": "T1"}, "features": []});
    assert_eq!(admin.post("/api/v1/grid/import", grid).await.0, 200);
    let otp = out["members_created"][0]["one_time_password"].as_str().unwrap();
    let officer = app.sign_in_changing("off1", otp, "Pass-word-9-2026").await;

    let mut receipts = Vec::new();
    for _ in 0..3 {
        let mut report = roof_report();
        report["contact"] = json!({"phone": "13912340000"});
        let (s, r) = app.anon().post("/api/v1/reports", report).await;
        assert_eq!((s, r["status"].as_str()), (201, Some("dispatched")), "{r}");
        receipts.push(r);
    }
    let db = app.db().await;
    let queued: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE channel = 'sms'").fetch_one(db.pool()).await.unwrap();
    assert_eq!(queued, 2, "the third receipt within the hour is not sent");

    let id = receipts[2]["id"].as_i64().unwrap();
    let result = "已拆除&mobile=13800000000&content=假消息 100%";
    for action in [json!({"action": "accept"}), json!({"action": "close", "result": result})] {
        let (s, b) = officer.post(&format!("/api/v1/reports/{id}/actions"), action).await;
        assert_eq!(s, 200, "{b}");
    }
    let texts = gateway.wait_for(3, 20).await;
    let closing =
        texts.iter().map(|t| form_fields(&t.body)).find(|f| f[1].1.contains("已办结")).expect("the closing text");
    assert_eq!(closing.len(), 3, "{closing:?}");
    assert_eq!((closing[0].0.as_str(), closing[0].1.as_str()), ("mobile", "13912340000"));
    assert!(closing[1].1.contains(result) && closing[1].1.contains(receipts[2]["tracking_code"].as_str().unwrap()));
    assert_eq!(closing[2], ("sign".to_string(), "bureau".to_string()));
    db.close().await;
    app.stop().await;
}

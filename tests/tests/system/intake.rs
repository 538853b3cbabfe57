//! Citizens' reports, told as they happen: a citizen who does not know who is responsible reports
//! a rooftop shed; the platform routes it to housing, the grid sends it to the team of that place,
//! the team accepts and closes it, the citizen follows it by code, rates it and may reopen it.

use casegrid_tests::{ADMIN_PASSWORD, App, As, plugin};
use serde_json::{Value, json};

/// Two grid cells in a city centre (WGS84): C01 covers housing and transport, C02 transport only;
/// housing has a fallback team, transport has none.
pub fn grid() -> Value {
    let square = |x0: f64, y0: f64| json!({"type": "Polygon", "coordinates": [[[x0, y0], [x0 + 0.05, y0], [x0 + 0.05, y0 + 0.05], [x0, y0 + 0.05], [x0, y0]]]});
    json!({"type": "FeatureCollection", "fallback": {"housing": "T-FB"}, "features": [
        {"type": "Feature", "properties": {"code": "C01", "name": "湖滨", "coverage": {"housing": "T-HZ", "transport": "T-TR"}}, "geometry": square(120.10, 30.20)},
        {"type": "Feature", "properties": {"code": "C02", "name": "武林", "coverage": {"transport": "T-TR"}}, "geometry": square(120.15, 30.20)}
    ]})
}

pub const IN_C01: (f64, f64) = (30.22, 120.12);
pub const OUTSIDE: (f64, f64) = (30.40, 120.40);

pub struct City<'a> {
    pub housing: As<'a>,
    pub housing_lead: As<'a>,
    pub transport: As<'a>,
    pub fallback: As<'a>,
    pub dispatcher: As<'a>,
}

/// The organisation and the grid, and one signed-in person per part.
pub async fn city(app: &App) -> City<'_> {
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let doc = json!({
        "departments": [{"code": "D1", "name": "住建执法支队"}, {"code": "D2", "name": "交通执法支队"}],
        "teams": [{"code": "T-HZ", "name": "湖滨住建中队", "department": "D1", "domains": ["housing"]},
                  {"code": "T-FB", "name": "住建机动中队", "department": "D1", "domains": ["housing"]},
                  {"code": "T-TR", "name": "交通一中队", "department": "D2", "domains": ["transport"]}],
        "members": [
            {"login": "hz1", "display_name": "王", "roles": [{"role": "officer", "team": "T-HZ"}]},
            {"login": "hzlead", "display_name": "李", "roles": [{"role": "team-lead", "team": "T-HZ"}]},
            {"login": "tr1", "display_name": "赵", "roles": [{"role": "officer", "team": "T-TR"}]},
            {"login": "fb1", "display_name": "钱", "roles": [{"role": "officer", "team": "T-FB"}]},
            {"login": "cc1", "display_name": "孙", "roles": [{"role": "dispatcher"}]}
        ]
    });
    let (s, out) = admin.post("/api/v1/org/import", doc).await;
    assert_eq!(s, 200, "{out}");
    let (s, g) = admin.post("/api/v1/grid/import", grid()).await;
    assert_eq!(s, 200, "{g}");
    assert_eq!(
        (g["cells_created"].as_u64(), g["coverage"].as_u64(), g["fallbacks"].as_u64()),
        (Some(2), Some(3), Some(1))
    );
    let mut who = Vec::new();
    for (i, login) in ["hz1", "hzlead", "tr1", "fb1", "cc1"].iter().enumerate() {
        let otp = out["members_created"].as_array().unwrap().iter().find(|c| c["login"] == *login).unwrap()["one_time_password"].as_str().unwrap().to_string();
        let s = app.sign_in_changing(login, &otp, &format!("Pass-word-{i}-2026")).await;
        who.push(app.with_token(&s.new_token("t").await));
    }
    let mut w = who.into_iter();
    City {
        housing: w.next().unwrap(),
        housing_lead: w.next().unwrap(),
        transport: w.next().unwrap(),
        fallback: w.next().unwrap(),
        dispatcher: w.next().unwrap(),
    }
}

pub async fn all_eight() -> App {
    let files: Vec<_> = casegrid_tests::BUNDLED_DOMAINS.iter().map(|d| plugin(d)).collect();
    let refs: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    App::spawn(&refs).await
}

fn report(text: &str, at: (f64, f64)) -> Value {
    json!({"description": text, "location": {"lat": at.0, "lon": at.1}, "contact": {"phone": "13912340000"}})
}

#[tokio::test]
async fn a_citizen_who_does_not_know_who_is_responsible_reaches_the_team_of_the_place() {
    let app = all_eight().await;
    let city = city(&app).await;
    let (s, receipt) = app.anon().post("/api/v1/reports", report("小区楼顶有人违章搭建了一层彩钢板房", IN_C01)).await;
    assert_eq!(s, 201, "{receipt}");
    assert_eq!(
        (receipt["domain"].as_str(), receipt["category"].as_str()),
        (Some("housing"), Some("illegal-construction"))
    );
    assert_eq!((receipt["status"].as_str(), receipt["team"].as_str()), (Some("dispatched"), Some("湖滨住建中队")));
    assert_eq!(receipt["routing"]["how"], "classified");
    let code = receipt["tracking_code"].as_str().unwrap();
    assert_eq!(code.len(), 14);
    assert!(receipt["expected_response_by"].as_str().unwrap().ends_with('Z'));

    // The citizen follows it by code; the answer names no person and no phone.
    let (s, t) = app.anon().get(&format!("/api/v1/track/{}", code.to_lowercase())).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["status"], "dispatched");
    let kinds: Vec<&str> = t["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["received", "dispatched"], "routing details are internal");
    assert!(!t.to_string().contains("13912340000"));

    // The team of the place sees it, with the contact; another team does not.
    let (_, list) = city.housing.get("/api/v1/reports").await;
    let mine = &list["reports"][0];
    assert_eq!((mine["id"].clone(), mine["contact"]["phone"].as_str()), (receipt["id"].clone(), Some("13912340000")));
    let id = mine["id"].as_i64().unwrap();
    assert_eq!(city.transport.get(&format!("/api/v1/reports/{id}")).await.0, 404);
    assert_eq!(city.transport.get("/api/v1/reports").await.1["reports"].as_array().unwrap().len(), 0);
    let (_, full) = city.housing.get(&format!("/api/v1/reports/{id}")).await;
    let routed = full["timeline"].as_array().unwrap().iter().find(|e| e["kind"] == "routed").unwrap();
    assert!(routed["note"].as_str().unwrap().contains("housing"), "{routed}");
    assert!(full["working_days_left"].as_i64().unwrap() >= 1);
    app.stop().await;
}

#[tokio::test]
async fn outside_the_grid_the_fallback_team_acts_and_without_one_the_command_centre_routes() {
    let app = all_eight().await;
    let city = city(&app).await;
    let (s, r) = app
        .anon()
        .post(
            "/api/v1/reports",
            json!({"description": "有人在路边违章搭建铁皮房", "domain": "housing",
        "category": "illegal-construction", "location": {"lat": OUTSIDE.0, "lon": OUTSIDE.1}}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!((r["team"].as_str(), r["routing"]["how"].as_str()), (Some("住建机动中队"), Some("given")));
    assert_eq!(city.fallback.get("/api/v1/reports").await.1["reports"].as_array().unwrap().len(), 1);

    // Transport has no fallback team: the report waits for the command centre.
    let (s, r) = app
        .anon()
        .post("/api/v1/reports", json!({"description": "火车站门口黑车拉客，一个人收五十", "address": "城站广场"}))
        .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(
        (r["domain"].as_str(), r["status"].as_str(), r["team"].as_str()),
        (Some("transport"), Some("triage"), None)
    );
    let (_, queue) = city.dispatcher.get("/api/v1/reports?status=triage").await;
    let id = queue["reports"][0]["id"].as_i64().unwrap();
    assert_eq!(city.transport.get(&format!("/api/v1/reports/{id}")).await.0, 404, "not yet the team's");
    // Without a place the grid cannot choose: the dispatcher names the team.
    let (s, e) = city
        .dispatcher
        .post(
            &format!("/api/v1/reports/{id}/actions"),
            json!({"action": "dispatch", "domain": "transport", "category": "illegal-passenger-transport"}),
        )
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("wrong-status")), "{e}");
    let (s, d) = city.dispatcher.post(&format!("/api/v1/reports/{id}/actions"), json!({"action": "dispatch", "domain": "transport", "category": "illegal-passenger-transport", "team": "T-TR"})).await;
    assert_eq!((s, d["status"].as_str()), (200, Some("dispatched")), "{d}");
    assert_eq!(city.transport.get(&format!("/api/v1/reports/{id}")).await.0, 200);
    // Only the command centre dispatches.
    let (s, _) = city.housing.post(&format!("/api/v1/reports/{id}/actions"), json!({"action": "dispatch", "domain": "transport", "category": "illegal-passenger-transport", "team": "T-TR"})).await;
    assert_eq!(s, 404, "out of the housing officer's scope");
    app.stop().await;
}

#[tokio::test]
async fn the_team_accepts_transfers_returns_merges_and_closes_and_the_timeline_shows_each() {
    let app = all_eight().await;
    let city = city(&app).await;
    let post = |text: &'static str| {
        let anon = app.anon();
        async move { anon.post("/api/v1/reports", report(text, IN_C01)).await.1 }
    };
    let first = post("楼顶违章搭建彩钢房，已经三层了").await;
    let second = post("隔壁楼顶又在违章搭建").await;
    let wrong = post("工地晚上无证施工，噪音很大还在浇筑混凝土").await;
    let id = |r: &Value| r["id"].as_i64().unwrap();

    // An officer of another team who is also a dispatcher acts as a dispatcher, not for every team.
    let (s, e) = app.post(&format!("/api/v1/reports/{}/actions", id(&first)), json!({"action": "accept"})).await;
    assert_eq!(s, 403, "{e}");
    // Accept, then close with a result; a closed report takes no more actions.
    assert_eq!(act(&city.housing, &first, json!({"action": "accept"})).await.0, 200);
    assert_eq!(act(&city.housing, &first, json!({"action": "accept"})).await.0, 409);
    let (s, e) = act(&city.housing, &first, json!({"action": "close", "result": "  "})).await;
    assert_eq!((s, e["error"]["field"].as_str()), (422, Some("result")));
    assert_eq!(
        act(&city.housing, &first, json!({"action": "close", "result": "已责令当事人自行拆除，现场复查已拆除完毕"}))
            .await
            .0,
        200
    );
    assert_eq!(act(&city.housing, &first, json!({"action": "return", "reason": "x"})).await.0, 409);

    // A duplicate is merged into an open one.
    let third = post("楼顶违章搭建，和昨天说的是同一栋").await;
    let (s, e) = act(&city.housing, &second, json!({"action": "merge", "into": first["id"]})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("wrong-status")), "not into a closed report");
    assert_eq!(
        act(&city.housing, &second, json!({"action": "merge", "into": third["id"], "reason": "同一处违建"})).await.0,
        200
    );

    // Transfer needs the lead (or the command centre) and a reason; the new team sees it.
    let (s, _) =
        act(&city.housing, &wrong, json!({"action": "transfer", "team": "T-FB", "reason": "机动中队处理夜间施工"}))
            .await;
    assert_eq!(s, 403);
    let (s, t) = act(
        &city.housing_lead,
        &wrong,
        json!({"action": "transfer", "team": "T-FB", "reason": "机动中队处理夜间施工"}),
    )
    .await;
    assert_eq!((s, t["team"]["code"].as_str()), (200, Some("T-FB")), "{t}");
    assert_eq!(city.housing.get(&format!("/api/v1/reports/{}", id(&wrong))).await.0, 404);
    // The fallback team returns it: not theirs.
    assert_eq!(
        act(&city.fallback, &wrong, json!({"action": "return", "reason": "属于生态环境噪声，请重新分派"})).await.0,
        200
    );
    let (_, q) = city.dispatcher.get("/api/v1/reports?status=triage").await;
    assert!(q["reports"].as_array().unwrap().iter().any(|r| r["id"] == wrong["id"]));

    // An officer opens a case from a report (the case procedure takes it from there); the report
    // says so and points at the case.
    let (s, c) = city
        .housing
        .post(
            "/api/v1/cases",
            json!({"source": "report", "report_id": id(&third), "title": "违法建设", "summary": "楼顶违章搭建彩钢房",
                   "party": {"kind": "person", "name": "某住户"}, "act_date": casegrid::store::today_cst()}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let (_, t3) = city.housing.get(&format!("/api/v1/reports/{}", id(&third))).await;
    assert_eq!(t3["status"], "case-opened", "{t3}");
    assert_eq!(
        act(&city.housing, &third, json!({"action": "close", "result": "x"})).await.0,
        409,
        "the case has it now"
    );

    let (_, full) = city.housing_lead.get(&format!("/api/v1/reports/{}", id(&first))).await;
    let kinds: Vec<&str> = full["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["received", "routed", "dispatched", "accepted", "closed"]);
    let closed = &full["timeline"][4];
    assert_eq!((closed["actor"].as_str(), closed["public"].as_bool()), (Some("hz1"), Some(true)));
    let (_, t) = app.anon().get(&format!("/api/v1/track/{}", first["tracking_code"].as_str().unwrap())).await;
    assert_eq!(
        (t["status"].as_str(), t["result"].as_str()),
        (Some("closed"), Some("已责令当事人自行拆除，现场复查已拆除完毕"))
    );
    let (_, t2) = app.anon().get(&format!("/api/v1/track/{}", second["tracking_code"].as_str().unwrap())).await;
    assert_eq!(t2["status"], "merged");
    app.stop().await;
}

#[tokio::test]
async fn after_closure_the_citizen_rates_once_and_may_reopen() {
    let app = all_eight().await;
    let city = city(&app).await;
    let (_, r) = app.anon().post("/api/v1/reports", report("楼顶违章搭建铁皮房", IN_C01)).await;
    let code = r["tracking_code"].as_str().unwrap().to_string();
    let (s, e) = app.anon().post(&format!("/api/v1/track/{code}/rating"), json!({"score": 5})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("wrong-status")), "not before closure");
    city.housing
        .post(&format!("/api/v1/reports/{}/actions", r["id"]), json!({"action": "close", "result": "已拆除"}))
        .await;
    let (s, e) = app.anon().post(&format!("/api/v1/track/{code}/rating"), json!({"score": 6})).await;
    assert_eq!((s, e["error"]["field"].as_str()), (422, Some("score")));
    assert_eq!(
        app.anon().post(&format!("/api/v1/track/{code}/rating"), json!({"score": 2, "comment": "只拆了一半"})).await.0,
        204
    );
    assert_eq!(app.anon().post(&format!("/api/v1/track/{code}/rating"), json!({"score": 5})).await.0, 409);
    let (s, again) =
        app.anon().post(&format!("/api/v1/track/{code}/reopen"), json!({"reason": "只拆了一半，还剩一层"})).await;
    assert_eq!((s, again["status"].as_str()), (200, Some("dispatched")), "{again}");
    let (_, list) = city.housing.get("/api/v1/reports").await;
    assert_eq!(list["reports"][0]["status"], "dispatched");
    let (_, t) = app.anon().get(&format!("/api/v1/track/{code}")).await;
    let kinds: Vec<&str> = t["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["received", "dispatched", "closed", "rated", "reopened"]);
    assert_eq!(app.anon().get("/api/v1/track/AAAA-BBBB-CCCC").await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn bad_reports_are_refused_by_field_and_nothing_is_stored() {
    let app = all_eight().await;
    let city = city(&app).await;
    let cases = [
        (json!({"description": "短", "address": "x"}), 422, "description"),
        (json!({"description": "楼顶违章搭建"}), 422, "location"),
        (json!({"description": "楼顶违章搭建", "location": {"lat": 95.0, "lon": 120.0}}), 422, "location"),
        (
            json!({"description": "楼顶违章搭建", "address": "湖滨路1号", "occurred_at": "2099-01-01T00:00:00Z"}),
            422,
            "occurred_at",
        ),
        (json!({"description": "楼顶违章搭建", "address": "湖滨路1号", "occurred_at": "昨天"}), 422, "occurred_at"),
        (json!({"description": "楼顶违章搭建", "address": "湖滨路1号", "domain": "space"}), 422, "domain"),
        (
            json!({"description": "楼顶违章搭建", "address": "湖滨路1号", "domain": "housing", "category": "ufo"}),
            422,
            "category",
        ),
        (
            json!({"description": "楼顶违章搭建", "address": "湖滨路1号", "category": "illegal-construction"}),
            422,
            "domain",
        ),
        (
            json!({"description": "楼顶违章搭建", "address": "湖滨路1号", "contact": {"email": "not-mail"}}),
            422,
            "contact.email",
        ),
        // The housing plugin's own report form checks the phone number.
        (
            json!({"description": "楼顶违章搭建", "address": "湖滨路1号", "domain": "housing", "category": "illegal-construction", "contact": {"phone": "12345"}}),
            422,
            "contact.phone",
        ),
        (json!({"description": "楼顶违章搭建", "address": "湖滨路1号", "extra": 1}), 422, ""),
    ];
    for (body, status, field) in cases {
        let (s, e) = app.anon().post("/api/v1/reports", body.clone()).await;
        assert_eq!(s, status, "{body} → {e}");
        if !field.is_empty() {
            assert_eq!(e["error"]["field"], field, "{body} → {e}");
        }
    }
    // Every problem of the envelope at once, each naming its field.
    let (s, e) = app
        .anon()
        .post(
            "/api/v1/reports",
            json!({"description": "短", "occurred_at": "昨天", "contact": {"email": "x", "name": "名".repeat(65)}}),
        )
        .await;
    assert_eq!(s, 422);
    let fields: Vec<&str> =
        e["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["description", "location", "occurred_at", "contact.email", "contact.name"], "{e}");
    let r = app
        .client
        .post(app.url("/api/v1/reports"))
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = app
        .client
        .post(app.url("/api/v1/reports"))
        .body("x")
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    // A "photo" that is not an image, and too many photos.
    let form = reqwest::multipart::Form::new().text("report", report("楼顶违章搭建彩钢房", IN_C01).to_string()).part(
        "photos",
        reqwest::multipart::Part::bytes(b"<script>".to_vec()).file_name("a.jpg").mime_str("image/jpeg").unwrap(),
    );
    let r = app.client.post(app.url("/api/v1/reports")).multipart(form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let mut form = reqwest::multipart::Form::new().text("report", report("楼顶违章搭建彩钢房", IN_C01).to_string());
    for i in 0..10 {
        form = form.part(
            "photos",
            reqwest::multipart::Part::bytes(png()).file_name(format!("{i}.png")).mime_str("image/png").unwrap(),
        );
    }
    let r = app.client.post(app.url("/api/v1/reports")).multipart(form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 422);

    let (_, all) = city.dispatcher.get("/api/v1/reports").await;
    assert_eq!(all["reports"].as_array().unwrap().len(), 0, "nothing stored: {all}");
    let files = walk(&app.settings.data.join("attachments"));
    assert!(files.is_empty(), "no file left behind: {files:?}");
    app.stop().await;
}

async fn act(who: &As<'_>, r: &Value, body: Value) -> (u16, Value) {
    who.post(&format!("/api/v1/reports/{}/actions", r["id"]), body).await
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().is_dir() { out.extend(walk(&e.path())) } else { out.push(e.path()) }
        }
    }
    out
}

/// A small PNG (the signature and an IHDR chunk are what the host checks).
fn png() -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89".to_vec();
    v.extend_from_slice(&[0u8; 64]);
    v
}

#[tokio::test]
async fn photos_are_stored_with_the_report_and_served_to_the_team() {
    let app = all_eight().await;
    let city = city(&app).await;
    let image = png();
    let form =
        reqwest::multipart::Form::new().text("report", report("楼顶违章搭建彩钢房，附照片", IN_C01).to_string()).part(
            "photos",
            reqwest::multipart::Part::bytes(image.clone()).file_name("roof.png").mime_str("image/png").unwrap(),
        );
    let r = app.client.post(app.url("/api/v1/reports")).multipart(form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let receipt: Value = r.json().await.unwrap();
    let id = receipt["id"].as_i64().unwrap();
    let (_, full) = city.housing.get(&format!("/api/v1/reports/{id}")).await;
    let a = &full["attachments"][0];
    assert_eq!(
        (a["file_name"].as_str(), a["media_type"].as_str(), a["size_bytes"].as_u64()),
        (Some("roof.png"), Some("image/png"), Some(image.len() as u64))
    );
    let got = city
        .housing
        .request(reqwest::Method::GET, &format!("/api/v1/reports/{id}/attachments/{}", a["id"]))
        .send()
        .await
        .unwrap();
    assert_eq!(got.headers()["content-type"], "image/png");
    assert_eq!(got.bytes().await.unwrap().to_vec(), image);
    assert_eq!(walk(&app.settings.data.join("attachments")).len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn photos_can_live_in_an_s3_compatible_bucket_and_a_failing_bucket_keeps_nothing() {
    let s3 = casegrid_tests::FakeS3::start().await;
    let objects = s3.settings("casegrid-files", "bureau/");
    let app = App::spawn_with(&[&plugin("housing")], |s| s.intake.objects = objects).await;
    let city = city(&app).await;
    let (a, b) = (png(), [png(), vec![7u8; 10]].concat());
    let with_photos = || {
        reqwest::multipart::Form::new()
            .text("report", report("楼顶违章搭建彩钢房，附两张照片", IN_C01).to_string())
            .part(
                "photos",
                reqwest::multipart::Part::bytes(a.clone()).file_name("a.png").mime_str("image/png").unwrap(),
            )
            .part(
                "photos",
                reqwest::multipart::Part::bytes(b.clone()).file_name("b.png").mime_str("image/png").unwrap(),
            )
    };
    let r = app.client.post(app.url("/api/v1/reports")).multipart(with_photos()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let kept: Vec<String> = s3.objects.lock().unwrap().keys().cloned().collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.iter().all(|k| k.starts_with("/casegrid-files/bureau/")), "{kept:?}");
    assert!(walk(&app.settings.data.join("attachments")).is_empty(), "nothing in the data directory");
    let (_, full) = city.housing.get(&format!("/api/v1/reports/{id}")).await;
    let download = |aid: &Value| {
        city.housing.request(reqwest::Method::GET, &format!("/api/v1/reports/{id}/attachments/{aid}")).send()
    };
    let got = download(&full["attachments"][1]["id"]).await.unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.bytes().await.unwrap().to_vec(), b, "the bytes come back from the bucket");

    // The bucket takes the first photo of the next report and refuses the second: the report is
    // refused as one, the photo already put is taken back, and the citizen is told to try again.
    let db = app.db().await;
    let count = || async {
        let row: (i64, i64) =
            sqlx::query_as("SELECT (SELECT COUNT(*) FROM reports), (SELECT COUNT(*) FROM attachments)")
                .fetch_one(db.pool())
                .await
                .unwrap();
        row
    };
    let before = count().await;
    s3.fail_puts_after(1);
    let r = app.client.post(app.url("/api/v1/reports")).multipart(with_photos()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "attachment-store");
    assert!(
        !body["error"]["message"].as_str().unwrap().contains("SlowDown"),
        "what the store said is logged, not sent"
    );
    assert_eq!(s3.objects.lock().unwrap().len(), 2, "no orphan in the bucket");
    assert_eq!(count().await, before, "no report without its photos");

    // A file the database names but the bucket lost is a server fault, not a missing report.
    let first = kept[0].clone();
    s3.objects.lock().unwrap().remove(&first);
    let statuses = [
        download(&full["attachments"][0]["id"]).await.unwrap().status().as_u16(),
        download(&full["attachments"][1]["id"]).await.unwrap().status().as_u16(),
    ];
    assert!(statuses.contains(&500) && statuses.contains(&200), "{statuses:?}");
    app.stop().await;
}

#[tokio::test]
async fn reports_of_the_same_kind_nearby_are_suggested_as_duplicates() {
    let app = all_eight().await;
    let city = city(&app).await;
    let (_, a) = app.anon().post("/api/v1/reports", report("楼顶违章搭建彩钢房", IN_C01)).await;
    let (_, b) =
        app.anon().post("/api/v1/reports", report("这栋楼顶上在违章搭建", (IN_C01.0 + 0.0005, IN_C01.1))).await;
    let (_, far) = app.anon().post("/api/v1/reports", report("楼顶违章搭建", (IN_C01.0 + 0.02, IN_C01.1))).await;
    let (_, other) = app.anon().post("/api/v1/reports", report("工地无证施工，还在浇筑", IN_C01)).await;
    assert_eq!(other["category"], "construction-site");
    let (_, full) = city.housing.get(&format!("/api/v1/reports/{}", b["id"])).await;
    let dups = full["possible_duplicates"].as_array().unwrap();
    assert_eq!(dups.len(), 1, "{dups:?}");
    assert_eq!(dups[0]["id"], a["id"]);
    assert!(dups[0].get("tracking_code").is_none(), "a code is the reporter's key, not the team's");
    assert!((50.0..60.0).contains(&dups[0]["distance_m"].as_f64().unwrap()));
    let (_, far_full) = city.housing.get(&format!("/api/v1/reports/{}", far["id"])).await;
    assert_eq!(far_full["possible_duplicates"].as_array().unwrap().len(), 0);
    app.stop().await;
}

#[tokio::test]
async fn public_intake_is_rate_limited_per_address() {
    let app = App::spawn_with(&[&plugin("housing")], |s| s.auth.intake_per_minute = 2).await;
    let body = json!({"description": "楼顶违章搭建彩钢房", "address": "湖滨路1号", "domain": "housing", "category": "illegal-construction"});
    assert_eq!(app.anon().post("/api/v1/reports", body.clone()).await.0, 201);
    assert_eq!(app.anon().post("/api/v1/reports", body.clone()).await.0, 201);
    let r = app.client.post(app.url("/api/v1/reports")).json(&body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    app.stop().await;
}

#[tokio::test]
async fn oversized_reports_and_photos_are_413_and_leave_nothing() {
    let app = App::spawn_with(&[&plugin("housing")], |s| s.intake.max_attachment_bytes = 1000).await;
    let mut big = json!({"description": "楼顶违章搭建彩钢房", "address": "湖滨路1号"});
    big["address"] = json!("x".repeat(2 << 20));
    let (s, e) = app.anon().post("/api/v1/reports", big).await;
    assert_eq!((s, e["error"]["code"].as_str()), (413, Some("input-too-large")));
    let mut photo = png();
    photo.resize(5000, 0);
    let form = reqwest::multipart::Form::new()
        .text("report", report("楼顶违章搭建彩钢房", IN_C01).to_string())
        .part("photos", reqwest::multipart::Part::bytes(photo).file_name("big.png").mime_str("image/png").unwrap());
    let r = app.client.post(app.url("/api/v1/reports")).multipart(form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let e: Value = r.json().await.unwrap();
    assert_eq!(
        (e["error"]["code"].as_str(), e["error"]["field"].as_str()),
        (Some("attachment-too-large"), Some("photos[0]"))
    );
    assert_eq!(app.get("/api/v1/reports").await.1["reports"].as_array().unwrap().len(), 0);
    assert!(walk(&app.settings.data.join("attachments")).is_empty());
    app.stop().await;
}

#[tokio::test]
async fn of_two_changes_made_at_once_the_later_is_refused_and_nothing_is_lost() {
    let app = App::spawn(&[&plugin("housing")]).await;
    let (_, r) = app.anon().post("/api/v1/reports", report("楼顶违章搭建彩钢房", IN_C01)).await;
    let db = app.db().await;
    let mut c = db.pool().acquire().await.unwrap();
    let read = casegrid::intake::store::by_id(&mut c, r["id"].as_i64().unwrap()).await.unwrap().unwrap();
    let mut first = read.clone();
    first.status = "merged".into();
    let mut second = read;
    second.rating = Some(5);
    assert!(casegrid::intake::store::update(&mut c, &first, false).await.unwrap());
    assert!(!casegrid::intake::store::update(&mut c, &second, false).await.unwrap(), "written over a newer row");
    let now = casegrid::intake::store::by_id(&mut c, first.id).await.unwrap().unwrap();
    assert_eq!((now.status.as_str(), now.rating), ("merged", None));
    drop(c);
    db.close().await;
    app.stop().await;
}

/// One multipart body of `parts` (name, file name and media type for a file, bytes), and its
/// content type.
fn multipart_body(parts: &[(&str, Option<(&str, &str)>, &[u8])]) -> (String, Vec<u8>) {
    const B: &str = "casegrid-hostile-boundary";
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend_from_slice(format!("--{B}\r\n").as_bytes());
        match file {
            Some((file_name, media_type)) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: {media_type}\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{B}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={B}"), body)
}

/// The three hostile bodies of about 90 MiB each, within the route's 91 MiB: a `report` part of
/// 89 MiB (one attribute, a long array); eight photos of 10 MiB and a `report` part of just under
/// 1 MiB whose attributes are a hundred thousand keys; nine photos of 10 MiB with the report
/// last, so that every photo must be read before it.
fn hostile_bodies() -> Vec<(String, Vec<u8>)> {
    const MIB: usize = 1 << 20;
    let head = r#"{"description":"楼顶违章搭建彩钢房","address":"湖滨路1号","attributes":"#;
    let mut array = format!("{head}{{\"a\":[");
    while array.len() < 89 * MIB {
        array.push_str("0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,");
    }
    array.push_str("0]}}");
    let mut keys = format!("{head}{{");
    let mut n = 0u64;
    while keys.len() < MIB - 64 {
        keys.push_str(&format!("\"k{n}\":{{}},"));
        n += 1;
    }
    keys.push_str("\"end\":0}}");
    let report = json!({"description": "楼顶违章搭建彩钢房，附照片", "address": "湖滨路1号"}).to_string();
    let mut photo = vec![0xFF, 0xD8, 0xFF, 0xE0];
    photo.resize(10 * MIB - 1024, 0x55);
    let photos = |n: usize, report: &[u8]| {
        let mut parts: Vec<(&str, Option<(&str, &str)>, &[u8])> =
            (0..n).map(|_| ("photos", Some(("roof.jpg", "image/jpeg")), photo.as_slice())).collect();
        parts.push(("report", None, report));
        multipart_body(&parts)
    };
    [multipart_body(&[("report", None, array.as_bytes())]), photos(8, keys.as_bytes()), photos(9, report.as_bytes())]
        .into()
}

/// `VmRSS` or `VmHWM` of process `pid`, in bytes.
fn vm(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':')?.trim().strip_suffix(" kB")?.trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// H1: ten hostile multipart bodies of about 90 MiB at once (a huge `report` part, huge
/// attributes, many photos) cannot make an anonymous caller's server grow past 1 GiB: the real
/// binary is started with `serve`, so the resident set measured is the server's alone. Every
/// report answered 201 is stored, and a normal report is taken afterwards.
#[tokio::test]
async fn ten_hostile_ninety_mib_uploads_at_once_keep_the_server_under_one_gib_and_answering() {
    use casegrid_tests::{TempDir, casegrid_bin};
    const GIB: u64 = 1 << 30;
    let (data, plugins) = (TempDir::new("hostile-upload"), TempDir::new("hostile-upload-plugins"));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new(casegrid_bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--plugins"])
        .arg(&plugins.0)
        .arg("--data")
        .arg(&data.0)
        .env_remove("CASEGRID_DATABASE_URL")
        .env("CASEGRID_AUTH__BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let child = std::sync::Arc::new(std::sync::Mutex::new(child));
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let normal = json!({"description": "楼顶违章搭建彩钢房", "address": "湖滨路1号"});
    let mut up = false;
    for _ in 0..600 {
        if let Ok(r) = client.post(format!("{base}/api/v1/reports")).json(&normal).send().await {
            assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "the server did not come up");
    let before = vm(pid, "VmRSS");

    // A watchdog keeps a runaway server from taking the machine with it: over 3 GiB it is killed.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let (child, done) = (child.clone(), done.clone());
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let rss = vm(pid, "VmRSS");
                peak = peak.max(rss);
                if rss > 3 * GIB {
                    let _ = child.lock().unwrap().kill();
                    return (peak, true);
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            (peak, false)
        })
    };
    let bodies = hostile_bodies();
    let started = std::time::Instant::now();
    let sent: Vec<_> = (0..10)
        .map(|i| {
            let (ct, body) = bodies[i % bodies.len()].clone();
            let (client, url) = (client.clone(), format!("{base}/api/v1/reports"));
            tokio::spawn(async move {
                let r = client.post(url).header("content-type", ct).body(body).send().await;
                match r {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let retry = r.headers().get("retry-after").is_some();
                        (i, Some(status), retry, r.text().await.unwrap_or_default())
                    }
                    // The server may answer before the body is all sent and close: that refusal
                    // reaches the client as a reset.
                    Err(e) => (i, None, false, e.to_string()),
                }
            })
        })
        .collect();
    let mut answers = Vec::new();
    for s in sent {
        answers.push(s.await.unwrap());
    }
    let flood = started.elapsed();
    let hwm = vm(pid, "VmHWM");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (peak, killed) = watchdog.join().unwrap();
    eprintln!(
        "hostile uploads: RSS before {} MiB, peak {} MiB (VmHWM {} MiB), {:.1} s, killed: {killed}",
        before >> 20,
        peak >> 20,
        hwm >> 20,
        flood.as_secs_f64()
    );
    for (i, status, retry, body) in &answers {
        eprintln!("  request {i}: {status:?} {}", body.chars().take(160).collect::<String>());
        assert!(!killed, "the server grew past 3 GiB and was killed");
        if let Some(s) = status {
            assert!(matches!(s, 201 | 400 | 413 | 422 | 503), "request {i}: {s} {body}");
            assert!(*s != 503 || *retry, "a 503 says when to retry: {body}");
        }
    }
    assert!(hwm.max(peak) < GIB, "peak resident set {} MiB", hwm.max(peak) >> 20);
    let r = client.post(format!("{base}/api/v1/reports")).json(&normal).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 201, "a normal report after the flood");
    let _ = child.lock().unwrap().kill();
    let _ = child.lock().unwrap().wait();

    // Every report answered 201 is stored, with its photos; nothing else is.
    let accepted = answers.iter().filter(|a| a.1 == Some(201)).count() as i64;
    let db = casegrid::store::Db::open(None, &data.0).await.unwrap();
    let count = |sql: &'static str| {
        let db = db.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(db.pool()).await.unwrap() }
    };
    assert_eq!(count("SELECT COUNT(*) FROM reports").await, accepted + 2);
    assert_eq!(count("SELECT COUNT(*) FROM attachments").await, accepted * 9);
    assert_eq!(walk(&data.0.join("attachments")).len() as i64, accepted * 9);
}

/// L1: a contact phone is a mainland mobile number on every report, one left to the command
/// centre included; written with spaces, dashes or +86 it is kept as its 11 digits.
#[tokio::test]
async fn a_contact_phone_must_be_a_mobile_number_on_every_report() {
    let app = App::spawn(&[&plugin("housing")]).await;
    let triage = json!({"description": "隔壁邻居半夜唱歌太吵了", "address": "湖滨路3号"});
    let routed = json!({"description": "楼顶违章搭建彩钢房", "address": "湖滨路1号", "domain": "housing", "category": "illegal-construction"});
    for body in [&triage, &routed] {
        for bad in ["12345", "1391234000a", "23912340000", "139123400001", "tel:13912340000"] {
            let mut r = body.clone();
            r["contact"] = json!({"phone": bad});
            let (s, e) = app.anon().post("/api/v1/reports", r).await;
            assert_eq!(
                (s, e["error"]["code"].as_str(), e["error"]["field"].as_str()),
                (422, Some("invalid-phone"), Some("contact.phone")),
                "{bad}: {e}"
            );
        }
    }
    assert!(app.get("/api/v1/reports").await.1["reports"].as_array().unwrap().is_empty(), "nothing stored");
    let mut r = triage.clone();
    r["contact"] = json!({"phone": "+86 139-1234-0000"});
    let (s, receipt) = app.anon().post("/api/v1/reports", r).await;
    assert_eq!((s, receipt["status"].as_str()), (201, Some("triage")), "{receipt}");
    let (_, full) = app.get(&format!("/api/v1/reports/{}", receipt["id"])).await;
    assert_eq!(full["contact"]["phone"], "13912340000");
    app.stop().await;
}

/// L3: the tracking code is the reporter's key (to follow, rate and reopen); staff name a report
/// by its number. Neither the staff's list nor a report's page, a webhook, nor the case file
/// opened from it shows the code; the reporter's own answers do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tracking_code_stays_with_the_reporter() {
    let hook = casegrid_tests::Hook::start(0).await;
    let notify = hook.settings("hook-secret");
    let app = App::spawn_with(&[&plugin("housing")], |s| s.notify = notify).await;
    let city = city(&app).await;
    let (s, receipt) = app.anon().post("/api/v1/reports", report("楼顶违章搭建彩钢房，请尽快处理", IN_C01)).await;
    assert_eq!(s, 201, "{receipt}");
    let (id, code) = (receipt["id"].as_i64().unwrap(), receipt["tracking_code"].as_str().unwrap().to_string());
    let (_, tracked) = app.anon().get(&format!("/api/v1/track/{code}")).await;
    assert_eq!(tracked["tracking_code"], code.as_str(), "the reporter's own answer");

    let (_, list) = city.housing.get("/api/v1/reports").await;
    assert_eq!(list["reports"][0]["id"], id);
    let (_, one) = city.housing.get(&format!("/api/v1/reports/{id}")).await;
    let (_, all) = city.dispatcher.get("/api/v1/reports").await;
    for (what, v) in [("the team's list", &list), ("the report", &one), ("the command centre's list", &all)] {
        assert!(!v.to_string().contains(&code), "{what} shows the tracking code: {v}");
    }
    let hooks = hook.wait_for(1, 20).await;
    let body: Value = serde_json::from_str(&hooks[0].body).unwrap();
    assert_eq!((hooks[0].event.as_str(), body["data"]["id"].as_i64()), ("report.dispatched", Some(id)));
    assert!(hooks.iter().all(|h| !h.body.contains(&code)), "a webhook shows the tracking code: {}", hooks[0].body);

    let (s, c) = city
        .housing
        .post(
            "/api/v1/cases",
            json!({"source": "report", "report_id": id, "title": "违法建设", "summary": "楼顶违章搭建彩钢房",
                   "party": {"kind": "person", "name": "某住户"}, "act_date": casegrid::store::today_cst()}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let case = c["case"]["id"].as_i64().unwrap();
    let (s, dossier) = city.housing_lead.get(&format!("/api/v1/cases/{case}/dossier")).await;
    assert_eq!((s, dossier["report"]["number"].as_i64()), (200, Some(id)), "{dossier}");
    assert!(!dossier.to_string().contains(&code), "the dossier shows the tracking code");
    let zip = city
        .housing_lead
        .request(reqwest::Method::GET, &format!("/api/v1/cases/{case}/dossier.zip"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(!zip.is_empty() && !zip.windows(code.len()).any(|w| w == code.as_bytes()), "the archive shows it");
    let hooks_now = hook.wait_for(1, 20).await;
    assert!(hooks_now.iter().all(|h| !h.body.contains(&code)), "no webhook shows the tracking code");
    app.stop().await;
}

/// H1: the JSON route's attributes have the multipart route's bounds, refused by field; and a
/// part whose headers never end cannot make the parser hold the body.
#[tokio::test]
async fn attributes_and_part_headers_are_bounded_on_every_route() {
    let app = App::spawn(&[&plugin("housing")]).await;
    let with = |attributes: Value| {
        json!({"description": "楼顶违章搭建彩钢房", "address": "湖滨路1号", "domain": "housing",
               "category": "illegal-construction", "attributes": attributes})
    };
    let many: serde_json::Map<String, Value> = (0..100).map(|i| (format!("k{i}"), json!(1))).collect();
    for (attributes, expected) in [
        (Value::Object(many), (413, "too-many-attributes", "attributes")),
        (json!({"note": [[[["x"]]]]}), (400, "attribute-too-deep", "attributes.note")),
        (json!({"note": "x".repeat(20_000)}), (413, "attribute-too-large", "attributes.note")),
    ] {
        let (s, e) = app.anon().post("/api/v1/reports", with(attributes)).await;
        assert_eq!((s, e["error"]["code"].as_str().unwrap(), e["error"]["field"].as_str().unwrap()), expected, "{e}");
    }
    let mut body = b"--b\r\nContent-Disposition: form-data; name=\"report\"\r\nX-Pad: ".to_vec();
    body.resize(4 << 20, b'a');
    let r = app
        .client
        .post(app.url("/api/v1/reports"))
        .header("content-type", "multipart/form-data; boundary=b")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "invalid-multipart", "{e}");
    assert!(app.get("/api/v1/reports").await.1["reports"].as_array().unwrap().is_empty());
    app.stop().await;
}

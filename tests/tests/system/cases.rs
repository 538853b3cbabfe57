//! The case procedure, told path by path as the bureau's officers, leads, legal reviewers and heads
//! work it: a citizen's report becomes a case that is investigated by two certified officers,
//! assessed from the checklist, noticed, decided, served, paid and archived; the summary procedure;
//! a hearing; a seizure; closing without penalty; a referral out; the lighter of two versions of the
//! rules; one act, one fine; and the record that shows any edit or deletion.

use casegrid_tests::{App, cli_on, fixture, plugin};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A valid unified social credit code (GB 32100) and citizen identity numbers (GB 11643).
const COMPANY_ID: &str = "914403001922038216";
const PERSON_ID: &str = "450502198001011239";
const OTHER_PERSON_ID: &str = "450502199003154561";

pub(crate) struct Bureau<'a> {
    pub(crate) app: &'a App,
    pub(crate) t: BTreeMap<String, String>,
}

impl Bureau<'_> {
    pub(crate) fn who(&self, login: &str) -> casegrid_tests::As<'_> {
        self.app.with_token(&self.t[login])
    }

    pub(crate) async fn act(&self, login: &str, id: i64, body: Value) -> (u16, Value) {
        self.who(login).post(&format!("/api/v1/cases/{id}/actions"), body).await
    }

    /// Acts and expects success.
    pub(crate) async fn ok(&self, login: &str, id: i64, body: Value) -> Value {
        let (s, v) = self.act(login, id, body.clone()).await;
        assert_eq!(s, 200, "{body} → {v}");
        v
    }

    /// Acts and expects a refusal with this code.
    async fn refused(&self, login: &str, id: i64, body: Value, status: u16, code: &str) -> Value {
        let (s, v) = self.act(login, id, body.clone()).await;
        assert_eq!((s, v["error"]["code"].as_str()), (status, Some(code)), "{body} → {v}");
        v
    }
}

pub(crate) async fn bureau(app: &App) -> Bureau<'_> {
    let cert = |d: &str, n: &str, until: &str| json!({"domain": d, "number": n, "valid_until": until});
    let doc = json!({
        "departments": [{"code": "D1", "name": "住建执法支队"}, {"code": "D2", "name": "交通执法支队"}, {"code": "D3", "name": "生态执法支队"}],
        "teams": [{"code": "T-HZ", "name": "海城住建中队", "department": "D1", "domains": ["housing"]},
                  {"code": "T-TR", "name": "交通一中队", "department": "D2", "domains": ["transport"]},
                  {"code": "T-EC", "name": "生态一中队", "department": "D3", "domains": ["ecology"]}],
        "members": [
            {"login": "hz1", "display_name": "王平", "email": "hz1@zf.example.cn", "roles": [{"role": "officer", "team": "T-HZ"}], "certifications": [cert("housing", "GX0501001", "2099-12-31")]},
            {"login": "hz2", "display_name": "李安", "roles": [{"role": "officer", "team": "T-HZ"}], "certifications": [cert("housing", "GX0501002", "2099-12-31")]},
            {"login": "hz3", "display_name": "周过期", "roles": [{"role": "officer", "team": "T-HZ"}], "certifications": [cert("housing", "GX0501003", "2020-01-01")]},
            {"login": "hzlead", "display_name": "陈队", "email": "hzlead@zf.example.cn", "roles": [{"role": "team-lead", "team": "T-HZ"}]},
            {"login": "legal", "display_name": "法制科", "roles": [{"role": "legal-reviewer"}]},
            {"login": "head", "display_name": "支队长", "roles": [{"role": "leader", "department": "D1"}]},
            {"login": "tr1", "display_name": "赵运", "roles": [{"role": "officer", "team": "T-TR"}], "certifications": [cert("transport", "GX0502001", "2099-12-31")]},
            {"login": "tr2", "display_name": "钱运", "roles": [{"role": "officer", "team": "T-TR"}], "certifications": [cert("transport", "GX0502002", "2099-12-31")]},
            {"login": "trlead", "display_name": "孙队", "roles": [{"role": "team-lead", "team": "T-TR"}]},
            {"login": "ec1", "display_name": "吴生", "roles": [{"role": "officer", "team": "T-EC"}], "certifications": [cert("ecology", "GX0503001", "2099-12-31")]},
            {"login": "ec2", "display_name": "郑态", "roles": [{"role": "officer", "team": "T-EC"}], "certifications": [cert("ecology", "GX0503002", "2099-12-31")]},
            {"login": "eclead", "display_name": "王队", "roles": [{"role": "team-lead", "team": "T-EC"}]}
        ]
    });
    let t = app.people(doc).await;
    let admin = app.sign_in("admin", casegrid_tests::ADMIN_PASSWORD).await;
    let grid = json!({"type": "FeatureCollection", "fallback": {"housing": "T-HZ", "transport": "T-TR", "ecology": "T-EC"}, "features": []});
    assert_eq!(admin.post("/api/v1/grid/import", grid).await.0, 200);
    Bureau { app, t }
}

pub(crate) async fn spawn() -> App {
    App::spawn(&[&plugin("housing"), &plugin("transport"), &fixture("transport-0.9.0"), &plugin("ecology")]).await
}

pub(crate) fn company() -> Value {
    json!({"kind": "organisation", "name": "北海某建设有限公司", "id_number": COMPANY_ID, "address": "海城区北部湾中路88号", "representative": "林某"})
}

/// A citizen's report of the building site at 北部湾中路88号, for the housing team.
fn site_report() -> Value {
    json!({"description": "北部湾中路88号工地没有规划许可证，正在盖三层厂房", "address": "海城区北部湾中路88号",
           "domain": "housing", "category": "illegal-construction"})
}

/// A case opened from report `id` on the company, for the act of 2026-10-12.
fn case_from(id: i64) -> Value {
    json!({"source": "report", "report_id": id, "title": "未取得建设工程规划许可证进行建设",
           "summary": "当事人未取得建设工程规划许可证，在海城区北部湾中路88号建设三层厂房", "party": company(), "act_date": "2026-10-12"})
}

fn v(field: &str, value: Value) -> Value {
    json!({"field": field, "value": value})
}

fn date(d: &str) -> Value {
    let p: Vec<i64> = d.split('-').map(|x| x.parse().unwrap()).collect();
    json!({"Date": {"year": p[0], "month": p[1], "day": p[2]}})
}

/// 城乡规划法第六十四条 facts: an organisation built without a planning permit, still correctable,
/// project cost 1,000,000 yuan: tier ordinary, 6.5%–8.5% of the cost.
pub(crate) fn planning_facts(act: &str) -> Value {
    json!([
        v("party_kind", json!({"Choice": "organisation"})),
        v("act_date", date(act)),
        v("first_offence", json!({"Boolean": false})),
        v("corrected_promptly", json!({"Boolean": false})),
        v("refused_to_correct", json!({"Boolean": false})),
        v("harm", json!({"Choice": "ordinary"})),
        v("correctable", json!({"Boolean": true})),
        v("project_cost", json!({"Money": 100_000_000}))
    ])
}

fn inspection() -> Value {
    let now = casegrid_tests::now() - 3600;
    json!([
        v("inspected_at", json!({"Datetime": {"seconds": now, "offset_minutes": 480}})),
        v("address", json!({"Text": "海城区北部湾中路88号"})),
        v("officer_1", json!({"Text": "GX0501001"})),
        v("officer_2", json!({"Text": "GX0501002"})),
        v("ids_shown", json!({"Boolean": true})),
        v("party_kind", json!({"Choice": "organisation"})),
        v("party_name", json!({"Text": "北海某建设有限公司"})),
        v("party_id", json!({"Text": COMPANY_ID})),
        v("findings", json!({"Text": "现场正在施工，当事人未能出示建设工程规划许可证"})),
        v("evidence", json!({"Attachments": [{"id": "photo-1", "media_type": "image/jpeg", "size_bytes": 1024}]})),
        v("party_signed", json!({"Boolean": true}))
    ])
}

fn stage(v: &Value) -> &str {
    v["case"]["stage"].as_str().unwrap_or("")
}

/// Opens a patrol case for housing as `hz1` with two certified officers on it.
pub(crate) async fn housing_case(b: &Bureau<'_>, act: &str, party: Value) -> i64 {
    let (s, c) = b
        .who("hz1")
        .post(
            "/api/v1/cases",
            json!({"source": "patrol", "domain": "housing", "title": "未取得建设工程规划许可证进行建设", "place": "海城区北部湾中路88号",
                   "summary": "在海城区北部湾中路88号未取得建设工程规划许可证建设三层厂房", "party": party, "act_date": act}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let id = c["case"]["id"].as_i64().unwrap();
    b.ok("hzlead", id, json!({"action": "assign-officers", "officers": ["hz2"]})).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizens_report_becomes_a_case_that_runs_the_general_procedure_to_the_archive() {
    let app = spawn().await;
    let b = bureau(&app).await;
    // A citizen reports; the report reaches the housing team.
    let (s, r) = app.anon().post("/api/v1/reports", site_report()).await;
    assert_eq!(s, 201, "{r}");
    let (report_id, code) = (r["id"].as_i64().unwrap(), r["tracking_code"].as_str().unwrap().to_string());

    // Another team cannot open a case from it; the housing officer does (立案).
    let open = case_from(report_id);
    assert_eq!(b.who("tr1").post("/api/v1/cases", open.clone()).await.0, 403);
    let (s, c) = b.who("hz1").post("/api/v1/cases", open).await;
    assert_eq!(s, 201, "{c}");
    let id = c["case"]["id"].as_i64().unwrap();
    assert_eq!(stage(&c), "opened");
    assert!(c["case"]["number"].as_str().unwrap().starts_with("综执立〔"), "{}", c["case"]["number"]);
    assert_eq!(c["case"]["plugin_version"], "1.0.0");
    assert!(c["case"]["pinned_reason"].as_str().unwrap().contains("in force on 2026-10-12"));
    assert_eq!(c["clock"]["for"], "decision");
    assert!((85..=90).contains(&c["clock"]["days_left"].as_i64().unwrap()), "APL art. 60: 90 days: {}", c["clock"]);
    assert_eq!(c["officers"].as_array().unwrap().len(), 1);
    // The case offers each caller what the procedure allows them now: one certified officer cannot
    // start the investigation (APL art. 42), and only the lead assigns officers.
    let offered = |v: &Value| {
        v["actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let officer = offered(&c);
    assert!(
        officer.contains(&"record-facts".to_string()) && !officer.contains(&"start-investigation".to_string()),
        "{officer:?}"
    );
    assert!(!officer.contains(&"assign-officers".to_string()), "{officer:?}");
    let lead = offered(&b.who("hzlead").get(&format!("/api/v1/cases/{id}")).await.1);
    assert!(lead.contains(&"assign-officers".to_string()) && lead.contains(&"refer-out".to_string()), "{lead:?}");
    // The citizen sees that a case was opened, and nothing of the party.
    let (_, tr) = app.anon().get(&format!("/api/v1/track/{code}")).await;
    assert_eq!(tr["status"], "case-opened", "{tr}");
    assert!(!tr.to_string().contains(COMPANY_ID));
    // Out of scope, a case is not there.
    assert_eq!(b.who("tr1").get(&format!("/api/v1/cases/{id}")).await.0, 404);
    assert_eq!(b.who("tr1").get("/api/v1/cases").await.1["cases"].as_array().unwrap().len(), 0);

    // APL art. 42: two officers with valid certificates, or no investigation.
    b.refused("hz1", id, json!({"action": "start-investigation"}), 409, "two-certified-officers").await;
    b.ok("hzlead", id, json!({"action": "assign-officers", "officers": ["hz3"]})).await;
    let e = b.refused("hz1", id, json!({"action": "start-investigation"}), 409, "two-certified-officers").await;
    assert!(e["error"]["message"].as_str().unwrap().contains("has 1"), "an expired certificate does not count: {e}");
    assert_eq!(
        b.act("hz1", id, json!({"action": "assign-officers", "officers": ["hz2"]})).await.0,
        403,
        "the lead assigns"
    );
    b.ok("hzlead", id, json!({"action": "assign-officers", "officers": ["hz2"]})).await;
    // Out of order moves are refused, each naming the gate.
    b.refused("hz1", id, json!({"action": "issue-notice"}), 409, "wrong-stage").await;
    b.refused("hz1", id, json!({"action": "serve-decision", "how": "直接送达"}), 409, "wrong-stage").await;
    let c = b.ok("hz1", id, json!({"action": "start-investigation"})).await;
    assert_eq!(stage(&c), "investigating");

    // The inspection record and the facts go through the domain's forms.
    let (s, e) = b.act("hz1", id, json!({"action": "record-inspection", "values": []})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("invalid-form")), "{e}");
    b.ok("hz1", id, json!({"action": "record-inspection", "values": inspection()})).await;
    let (s, e) = b
        .act("hz1", id, json!({"action": "record-facts", "item": "HC-P-999", "facts": planning_facts("2026-10-12")}))
        .await;
    assert_eq!((s, e["error"]["field"].as_str()), (422, Some("item")), "{e}");
    b.ok("hz1", id, json!({"action": "record-facts", "item": "HC-P-001", "facts": planning_facts("2026-10-12")})).await;
    let c = b.ok("hz1", id, json!({"action": "assess"})).await;
    let a = &c["assessments"][0]["assessed"];
    assert_eq!(
        (a["version"].as_str(), a["outcome"]["assessed"]["tier"].as_str()),
        (Some("1.0.0"), Some("ordinary")),
        "{c}"
    );
    assert_eq!(a["outcome"]["assessed"]["fine_range"], json!({"min": 6_500_000, "max": 8_500_000}));

    // From essay to multiple choice: outside the band is refused; away from the recommendation
    // needs a written reason.
    let e = b.refused("hz1", id, json!({"action": "propose", "fine_fen": 9_000_000}), 422, "outside-band").await;
    assert_eq!(e["error"]["field"], "fine_fen");
    b.refused("hz1", id, json!({"action": "propose", "fine_fen": 6_500_000}), 422, "reason-required").await;
    let c = b.ok("hz1", id, json!({"action": "propose", "fine_fen": 7_500_000})).await;
    let p = &c["case"]["proposal"];
    assert_eq!(
        (p["tier"].as_str(), p["recommended_fine_fen"].as_i64(), p["applies"].as_str()),
        (Some("ordinary"), Some(7_500_000), Some("pinned"))
    );
    assert_eq!(p["chain"], json!(["team-lead", "legal-reviewer"]), "75,000 yuan: the lead and legal review");

    // The notice of intended penalty, served; no decision inside the party's window.
    b.refused("hz1", id, json!({"action": "submit"}), 409, "wrong-stage").await;
    let c = b.ok("hz1", id, json!({"action": "issue-notice"})).await;
    assert_eq!(stage(&c), "notice");
    b.refused("hz1", id, json!({"action": "submit"}), 409, "notice-not-served").await;
    let c = b.ok("hz1", id, json!({"action": "serve-notice", "how": "直接送达，当事人签收"})).await;
    assert!(c["case"]["progress"]["notice"]["window_ends"].is_number());
    let e = b.refused("hz1", id, json!({"action": "submit"}), 409, "hearing-window-open").await;
    assert!(e["error"]["message"].as_str().unwrap().contains("APL art. 45, 64"));
    b.ok("hz1", id, json!({"action": "record-statement", "text": "当事人称已在补办规划许可手续"})).await;
    b.ok("hz1", id, json!({"action": "waive-hearing"})).await;
    let c = b.ok("hz1", id, json!({"action": "submit"})).await;
    assert_eq!(stage(&c), "approval");

    // The approval chain: an officer of the case does not approve; the lead, then legal review.
    assert_eq!(b.act("hz2", id, json!({"action": "approve"})).await.0, 403);
    assert_eq!(b.act("legal", id, json!({"action": "approve"})).await.0, 403, "the lead's step first");
    b.ok("hzlead", id, json!({"action": "approve", "comment": "同意"})).await;
    assert_eq!(b.act("head", id, json!({"action": "approve"})).await.0, 403, "the head's step is not in this chain");
    let c = b.ok("legal", id, json!({"action": "approve", "comment": "事实清楚，证据确凿，适用依据正确"})).await;
    assert_eq!(stage(&c), "decided");
    let steps = c["approvals"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .all(|s| s["outcome"] == "approved" && s["requested_at"].is_number() && s["decided_at"].is_number()),
        "{steps:?}"
    );
    assert_eq!(c["case"]["legal_review"], "passed");
    let d = &c["case"]["progress"]["decision"];
    assert!(d["number"].as_str().unwrap().starts_with("综执罚决〔"));
    assert_eq!(c["clock"]["for"], "service", "APL art. 61: 7 days to serve");

    // The decision: generated at once, in zh-CN, with the exact legal bases.
    let doc = c["documents"].as_array().unwrap().iter().find(|d| d["kind"] == "decision").unwrap().clone();
    let r = b
        .who("hz1")
        .request(reqwest::Method::GET, &format!("/api/v1/cases/{id}/documents/{}", doc["id"]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    let html = r.text().await.unwrap();
    for must in [
        "行政处罚决定书",
        "北海某建设有限公司",
        COMPANY_ID,
        "《中华人民共和国城乡规划法》第六十四条",
        "罚款75000.00元",
        "十五日内",
        "六个月内",
        "第七十二条",
    ] {
        assert!(html.contains(must), "the decision lacks {must}");
    }

    // Served, paid (the exact amount), closed, archived.
    let c = b.ok("hz1", id, json!({"action": "serve-decision", "how": "直接送达"})).await;
    assert_eq!((stage(&c), c["clock"]["for"].as_str()), ("executing", Some("payment")));
    assert_eq!(c["payment"]["total_fen"], 7_500_000);
    b.refused("hz1", id, json!({"action": "close", "note": "结案"}), 409, "not-executed").await;
    b.refused(
        "hz1",
        id,
        json!({"action": "record-payment", "paid_fen": 7_000_000, "receipt": "PJ-0001"}),
        422,
        "wrong-amount",
    )
    .await;
    b.ok("hz1", id, json!({"action": "record-payment", "paid_fen": 7_500_000, "receipt": "PJ-0001"})).await;
    let c = b.ok("hz1", id, json!({"action": "close", "note": "罚款已缴纳，违法建设已补办手续"})).await;
    assert_eq!(stage(&c), "closed");
    assert_eq!(b.act("hz1", id, json!({"action": "archive"})).await.0, 403, "the lead archives");
    let c = b.ok("hzlead", id, json!({"action": "archive"})).await;
    assert_eq!(stage(&c), "archived");
    b.refused("hz1", id, json!({"action": "record-statement", "text": "补充"}), 409, "archived").await;
    let kinds: Vec<&str> = c["documents"].as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["notice", "notice-receipt", "decision", "decision-receipt", "closing-report"]);

    // Every action is on the record, chained.
    let record: Vec<&str> = c["record"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(record.first(), Some(&"opened"));
    assert_eq!(record.last(), Some(&"archive"));
    assert!(record.len() >= 18, "{record:?}");

    // The electronic case file: an index with every file's hash, and one archive.
    let (s, idx) = b.who("hzlead").get(&format!("/api/v1/cases/{id}/dossier")).await;
    assert_eq!(s, 200);
    assert_eq!(idx["documents"].as_array().unwrap().len(), 5);
    assert_eq!(idx["report"]["number"], report_id);
    assert!(!idx.to_string().contains(code.as_str()), "staff name the report by its number");
    let r =
        b.who("hzlead").request(reqwest::Method::GET, &format!("/api/v1/cases/{id}/dossier.zip")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/zip");
    let zip = r.bytes().await.unwrap();
    assert_eq!(&zip[..4], b"PK\x03\x04");
    for name in ["index.html", "index.json", "assessments.json", "record.json", "documents/03-decision.html"] {
        assert!(zip.windows(name.len()).any(|w| w == name.as_bytes()), "the archive lacks {name}");
    }

    // The record is intact; every assessment replays to its stored answer.
    let (code_, out, err) = cli_on(&app, &["audit", "verify"]);
    assert_eq!(code_, 0, "{out}{err}");
    assert!(out.starts_with("intact:"), "{out}");
    let number = c["case"]["number"].as_str().unwrap();
    let (code_, out, err) = cli_on(&app, &["case", "replay", number]);
    assert_eq!(code_, 0, "{out}{err}");
    assert!(out.contains("every assessment replays to the answer stored"), "{out}");
    app.stop().await;
}

#[tokio::test]
async fn the_summary_procedure_decides_a_warning_on_the_spot_and_refuses_what_it_cannot_give() {
    let app = spawn().await;
    let b = bureau(&app).await;
    let person = json!({"kind": "person", "name": "黄某", "id_number": PERSON_ID});
    let (s, c) = b
        .who("hz1")
        .post("/api/v1/cases", json!({"source": "patrol", "domain": "housing", "procedure": "summary", "title": "雨污混排",
                                       "place": "海城区四川路12号", "summary": "将洗车污水排入雨水管网", "party": person, "act_date": "2026-11-30"}))
        .await;
    assert_eq!(s, 201, "{c}");
    let id = c["case"]["id"].as_i64().unwrap();
    b.refused("hz1", id, json!({"action": "start-investigation"}), 409, "wrong-procedure").await;
    let facts = json!([
        v("party_kind", json!({"Choice": "person"})),
        v("act_date", date("2026-11-30")),
        v("first_offence", json!({"Boolean": false})),
        v("corrected_promptly", json!({"Boolean": false})),
        v("refused_to_correct", json!({"Boolean": false})),
        v("harm", json!({"Choice": "minor"}))
    ]);
    // A fine of 20,000 yuan is beyond what can be decided on the spot.
    let mut refused = facts.clone();
    refused[4] = v("refused_to_correct", json!({"Boolean": true}));
    b.refused(
        "hz1",
        id,
        json!({"action": "decide-summary", "item": "HC-P-010", "facts": refused, "fine_fen": 2_000_000}),
        409,
        "over-summary-limit",
    )
    .await;
    // A warning is decided and handed over on the spot.
    let c = b.ok("hz1", id, json!({"action": "decide-summary", "item": "HC-P-010", "facts": facts})).await;
    assert_eq!(stage(&c), "executing");
    let d = &c["case"]["progress"]["decision"];
    assert_eq!((d["summary"].as_bool(), d["tier"].as_str()), (Some(true), Some("warning")));
    assert_eq!(c["case"]["progress"]["service"]["how"], "当场交付");
    let kinds: Vec<&str> = c["documents"].as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["decision", "decision-receipt"]);
    let c = b.ok("hz1", id, json!({"action": "close", "note": "当场警告，已责令改正"})).await;
    assert_eq!(stage(&c), "closed");
    app.stop().await;
}

#[tokio::test]
async fn a_party_asks_for_a_hearing_which_stops_the_clock_and_brings_legal_review() {
    let app = spawn().await;
    let b = bureau(&app).await;
    let id = housing_case(&b, "2026-10-12", company()).await;
    b.ok("hz1", id, json!({"action": "start-investigation"})).await;
    b.ok("hz1", id, json!({"action": "record-facts", "item": "HC-P-001", "facts": planning_facts("2026-10-12")})).await;
    b.ok("hz1", id, json!({"action": "propose", "fine_fen": 7_500_000})).await;
    b.ok("hz1", id, json!({"action": "issue-notice"})).await;
    b.refused("hz1", id, json!({"action": "request-hearing"}), 409, "not-served").await;
    let before = b.ok("hz1", id, json!({"action": "serve-notice", "how": "直接送达"})).await;
    let c = b.ok("hz1", id, json!({"action": "request-hearing"})).await;
    assert_eq!(stage(&c), "hearing");
    assert_eq!(c["clock"]["paused"], true, "the decision clock stops for the hearing");
    assert!(c["clock"]["due_at"].as_str() >= before["clock"]["due_at"].as_str());
    // APL art. 64: notified seven working days ahead at least.
    let tomorrow = casegrid::store::rfc3339(casegrid::store::now_ms() + 86_400_000);
    let e = b
        .refused(
            "hz1",
            id,
            json!({"action": "schedule-hearing", "hearing_at": tomorrow, "place": "第一听证室"}),
            422,
            "hearing-notice-period",
        )
        .await;
    assert!(e["error"]["message"].as_str().unwrap().contains("7 working days"));
    let later = casegrid::store::rfc3339(casegrid::store::now_ms() + 20 * 86_400_000);
    let c = b.ok("hz1", id, json!({"action": "schedule-hearing", "hearing_at": later, "place": "第一听证室"})).await;
    assert!(c["documents"].as_array().unwrap().iter().any(|d| d["kind"] == "hearing-notice"));
    b.refused(
        "hz1",
        id,
        json!({"action": "hold-hearing", "record": "听证笔录：当事人陈述了补办手续情况"}),
        409,
        "too-early",
    )
    .await;
    // The hearing day comes.
    shift(&app, id, |k| k.progress.hearing.as_mut().unwrap().hearing_at = Some(casegrid::store::now_ms() - 3_600_000))
        .await;
    let c = b
        .ok(
            "hz1",
            id,
            json!({"action": "hold-hearing", "record": "听证笔录：当事人陈述了补办手续情况，调查人员出示了证据"}),
        )
        .await;
    assert_eq!((stage(&c), c["case"]["legal_review"].as_str()), ("notice", Some("required")));
    assert_eq!(c["clock"]["paused"], false);
    let c = b.ok("hz1", id, json!({"action": "submit"})).await;
    let chain: Vec<&str> = c["approvals"].as_array().unwrap().iter().map(|s| s["role"].as_str().unwrap()).collect();
    assert_eq!(chain, ["team-lead", "legal-reviewer"]);
    b.ok("hzlead", id, json!({"action": "approve"})).await;
    // A rejection sends it back to the investigation, legal review still required.
    let c = b.ok("legal", id, json!({"action": "reject", "comment": "听证中当事人提出的补办材料需核实"})).await;
    assert_eq!((stage(&c), c["case"]["legal_review"].as_str()), ("investigating", Some("required")));
    assert!(c["case"]["proposal"].is_null());
    // What the party was told and said stays on file; a heard case stays heard; a new proposal is
    // never heavier than the notice (APL art. 45).
    assert_eq!(c["case"]["progress"]["heard"], true);
    assert_eq!(c["case"]["progress"]["history"][0]["notice"]["hearing_available"], true);
    b.refused(
        "hz1",
        id,
        json!({"action": "propose", "fine_fen": 8_000_000, "reason": "复核后认为情节较重，应当从重"}),
        422,
        "heavier-than-noticed",
    )
    .await;
    let c = b
        .ok("hz1", id, json!({"action": "propose", "fine_fen": 7_000_000, "reason": "当事人已补办部分手续，酌情从轻"}))
        .await;
    assert!(
        c["case"]["proposal"]["legal_review"].to_string().contains("hearing was held"),
        "{}",
        c["case"]["proposal"]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_seizure_lasts_thirty_days_extends_once_stops_for_testing_and_is_released() {
    let app = spawn().await;
    let b = bureau(&app).await;
    let id = housing_case(&b, "2026-10-12", company()).await;
    b.ok("hz1", id, json!({"action": "start-investigation"})).await;
    let seal = json!({"kind": "seal", "item": "HC-C-001", "place": "海城区北部湾中路88号施工现场", "reason": "责令停止建设后当事人仍继续施工",
                      "inventory": [{"name": "塔吊", "quantity": 1.0, "unit": "台"}, {"name": "钢筋", "quantity": 12.5, "unit": "吨", "note": "堆放于东侧"}]});
    let mut penalty_item = seal.clone();
    penalty_item["item"] = json!("HC-P-001");
    let (s, e) = b.who("hz1").post(&format!("/api/v1/cases/{id}/measures"), penalty_item).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("not-a-measure")), "{e}");
    let mut empty = seal.clone();
    empty["inventory"] = json!([]);
    assert_eq!(
        b.who("hz1").post(&format!("/api/v1/cases/{id}/measures"), empty).await.1["error"]["field"],
        "inventory"
    );
    // ACL art. 18: the head's approval before it is taken; an officer alone takes it only in an
    // emergency (art. 19), and the head approves within 24 hours.
    assert_eq!(b.who("hz1").post(&format!("/api/v1/cases/{id}/measures"), seal.clone()).await.0, 403);
    let mut urgent = seal.clone();
    urgent["kind"] = json!("seize");
    urgent["emergency"] = json!(true);
    urgent["inventory"] = json!([{"name": "切割机", "quantity": 2.0, "unit": "台"}]);
    let (s, c) = b.who("hz1").post(&format!("/api/v1/cases/{id}/measures"), urgent).await;
    assert_eq!(s, 201, "{c}");
    let seized = c["measures"][0].clone();
    assert!(seized["approved_at"].is_null() && seized["days_left"] == 1, "approval due within a day: {seized}");
    let sid = seized["id"].as_i64().unwrap();
    let (s, e) = b
        .who("hzlead")
        .post(
            &format!("/api/v1/cases/{id}/measures/{sid}/actions"),
            json!({"action": "extend", "reason": "案情复杂需进一步调查"}),
        )
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("not-approved")), "{e}");
    assert_eq!(
        b.who("hz2").post(&format!("/api/v1/cases/{id}/measures/{sid}/actions"), json!({"action": "approve"})).await.0,
        403
    );
    let (s, c) =
        b.who("hzlead").post(&format!("/api/v1/cases/{id}/measures/{sid}/actions"), json!({"action": "approve"})).await;
    assert_eq!(s, 200, "{c}");
    assert!(c["measures"][0]["approved_at"].is_number() && c["measures"][0]["days_left"] == 30, "{}", c["measures"][0]);
    b.who("hzlead")
        .post(
            &format!("/api/v1/cases/{id}/measures/{sid}/actions"),
            json!({"action": "release", "reason": "已查明切割机与违法行为无关"}),
        )
        .await;
    let (s, c) = b.who("hzlead").post(&format!("/api/v1/cases/{id}/measures"), seal).await;
    assert_eq!(s, 201, "{c}");
    let m = c["measures"].as_array().unwrap().iter().find(|m| m["kind"] == "seal").unwrap().clone();
    let mid = m["id"].as_i64().unwrap();
    assert_eq!(m["limit_days"], 30);
    assert!((29..=30).contains(&m["days_left"].as_i64().unwrap()), "{m}");
    let doc = c["documents"].as_array().unwrap().iter().find(|d| d["kind"] == "seal-decision").unwrap().clone();
    assert!(m["approved_at"].is_number(), "taken by the head: approved");
    let html = b
        .who("hz1")
        .request(reqwest::Method::GET, &format!("/api/v1/cases/{id}/documents/{}", doc["id"]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("查封决定书") && html.contains("塔吊") && html.contains("第二十五条"), "{html}");
    let act = |who: &'static str, body: Value| {
        let b = &b;
        async move { b.who(who).post(&format!("/api/v1/cases/{id}/measures/{mid}/actions"), body).await }
    };
    // ACL art. 25: the head extends, once, by thirty days.
    assert_eq!(act("hz1", json!({"action": "extend", "reason": "案情复杂需进一步调查"})).await.0, 403);
    let (s, c) = act("hzlead", json!({"action": "extend", "reason": "案情复杂需进一步调查"})).await;
    assert_eq!(s, 200, "{c}");
    let sealed = |c: &Value| c["measures"].as_array().unwrap().iter().find(|m| m["kind"] == "seal").unwrap().clone();
    assert_eq!(sealed(&c)["limit_days"], 60);
    assert!(c["documents"].as_array().unwrap().iter().any(|d| d["kind"] == "extension"));
    assert_eq!(
        act("hzlead", json!({"action": "extend", "reason": "再次延长"})).await.1["error"]["code"],
        "extended-once"
    );
    // Testing time is not counted.
    assert_eq!(act("hz1", json!({"action": "start-testing"})).await.0, 200);
    assert_eq!(act("hz1", json!({"action": "start-testing"})).await.1["error"]["code"], "testing");
    assert_eq!(act("hz1", json!({"action": "end-testing"})).await.0, 200);
    // A case is not archived while something stays sealed; released, it is.
    b.ok(
        "hzlead",
        id,
        json!({"action": "close-without-penalty", "reason": "not-established", "note": "经查该建筑已取得规划许可"}),
    )
    .await;
    b.refused("hzlead", id, json!({"action": "archive"}), 409, "measure-in-force").await;
    let (s, c) = act("hz1", json!({"action": "release", "reason": "当事人没有违法行为"})).await;
    assert_eq!(s, 200, "{c}");
    assert!(sealed(&c)["released_at"].is_number());
    assert!(c["documents"].as_array().unwrap().iter().any(|d| d["kind"] == "release"));
    assert_eq!(act("hz1", json!({"action": "release", "reason": "again"})).await.1["error"]["code"], "released");
    b.ok("hzlead", id, json!({"action": "archive"})).await;
    app.stop().await;
}

#[tokio::test]
async fn a_case_closes_without_penalty_or_is_referred_out_and_tracked_until_accepted() {
    let app = spawn().await;
    let b = bureau(&app).await;
    let id = housing_case(&b, "2026-10-12", company()).await;
    let minor = json!({"action": "close-without-penalty", "reason": "minor-first-offence", "note": "首次违法，危害后果轻微并及时改正"});
    // Not to penalise is the head's decision (APL art. 57).
    assert_eq!(b.act("hz1", id, minor.clone()).await.0, 403);
    let bad = json!({"action": "close-without-penalty", "reason": "feeling-kind", "note": "首次违法"});
    b.refused("hzlead", id, bad, 422, "invalid-choice").await;
    let early = json!({"action": "close-without-penalty", "reason": "limitation", "note": "超过追责期限"});
    b.refused("hzlead", id, early, 422, "not-expired").await;
    let c = b.ok("hzlead", id, minor).await;
    assert_eq!(
        (stage(&c), c["case"]["progress"]["closing"]["reason"].as_str()),
        ("closed", Some("minor-first-offence"))
    );
    let report = c["documents"].as_array().unwrap().iter().find(|d| d["kind"] == "closing-report").unwrap().clone();
    let html = b
        .who("hz1")
        .request(reqwest::Method::GET, &format!("/api/v1/cases/{id}/documents/{}", report["id"]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("第三十三条第一款"), "{html}");

    // A referral from the police opens a case; another goes out to them.
    let (s, c) = b
        .who("hz1")
        .post(
            "/api/v1/cases",
            json!({"source": "referral", "domain": "housing", "title": "违法建设线索", "summary": "公安机关移送的违法建设线索",
                   "place": "海城区长青路5号", "party": company(), "act_date": "2026-10-01",
                   "referral": {"agency": "海城区公安分局", "reference": "海公移〔2026〕3号", "received_on": "2026-11-02"}}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(
        (c["case"]["source"].as_str(), c["limitation"]["discovered"].as_str()),
        (Some("referral"), Some("2026-11-02"))
    );
    let id = housing_case(&b, "2026-10-12", company()).await;
    let out = json!({"action": "refer-out", "agency": "海城区公安分局", "reason": "涉嫌伪造规划许可证件，涉嫌犯罪"});
    assert_eq!(b.act("hz1", id, out.clone()).await.0, 403);
    // The department's leader is a head too, though not of the team.
    let c = b.ok("head", id, out).await;
    assert_eq!((stage(&c), c["clock"]["for"].as_str()), ("referred", Some("referral-follow-up")));
    assert!(c["documents"].as_array().unwrap().iter().any(|d| d["kind"] == "referral"));
    b.refused("hz1", id, json!({"action": "close", "note": "x"}), 409, "wrong-stage").await;
    let c = b.ok("hz1", id, json!({"action": "referral-accepted", "receipt": "海公受〔2026〕88号"})).await;
    assert_eq!((stage(&c), c["case"]["progress"]["closing"]["reason"].as_str()), ("closed", Some("referred")));
    assert!(c["clock"].is_null(), "nothing is due any more");
    app.stop().await;
}

/// 道路运输条例 art. 63: a black car with no gains that harmed its passengers, in May 2023.
fn black_car_facts() -> Value {
    json!([
        v("party_kind", json!({"Choice": "person"})),
        v("act_date", date("2023-05-10")),
        v("gains_band", json!({"Choice": "none"})),
        v("first_offence", json!({"Boolean": false})),
        v("corrected_promptly", json!({"Boolean": false})),
        v("refused_to_correct", json!({"Boolean": false})),
        v("harm", json!({"Choice": "serious"}))
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_act_under_the_2022_rules_is_decided_under_the_lighter_2023_rules() {
    let app = spawn().await;
    let b = bureau(&app).await;
    let open = |safety: bool| {
        json!({"source": "patrol", "domain": "transport", "title": "未取得道路运输经营许可擅自从事道路客运经营",
               "place": "北海火车站", "summary": "驾驶无营运证车辆载客，发生事故致乘客受伤",
               "party": {"kind": "person", "name": "蒙某", "id_number": OTHER_PERSON_ID}, "act_date": "2023-05-10", "safety_harmed": safety})
    };
    // Rules that never served are no case's rules: installed but never active, 0.9.0 is not
    // pinned.
    let (s, c) = b.who("tr1").post("/api/v1/cases", open(true)).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["case"]["plugin_version"], "1.1.0");
    assert!(
        c["case"]["pinned_reason"].as_str().unwrap().contains("no version that served"),
        "{}",
        c["case"]["pinned_reason"]
    );
    // The 2022 rules served the domain until the 2023 ones took over.
    let admin = app.sign_in("admin", casegrid_tests::ADMIN_PASSWORD).await;
    for v in ["0.9.0", "1.1.0"] {
        let (s, r) = admin.post("/api/v1/plugins/transport/activate", json!({"version": v})).await;
        assert_eq!(s, 200, "{r}");
    }
    let (s, c) = b.who("tr1").post("/api/v1/cases", open(true)).await;
    assert_eq!(s, 201, "{c}");
    let id = c["case"]["id"].as_i64().unwrap();
    // Pinned to the rules in force on the day of the act.
    assert_eq!(c["case"]["plugin_version"], "0.9.0");
    assert!(c["case"]["pinned_reason"].as_str().unwrap().contains("until 2023-07-20"));
    assert_eq!(c["limitation"]["years"], 5, "APL art. 36: five years where safety was harmed");
    b.ok("trlead", id, json!({"action": "assign-officers", "officers": ["tr2"]})).await;
    b.ok("tr1", id, json!({"action": "start-investigation"})).await;
    b.ok("tr1", id, json!({"action": "record-facts", "item": "TR-P-001", "facts": black_car_facts()})).await;
    // Both assessments, with their versions and hashes: 2022 (3万–10万 band) against 2023 (1万–10万).
    let c = b.ok("tr1", id, json!({"action": "propose", "fine_fen": 8_650_000})).await;
    let p = &c["case"]["proposal"];
    assert_eq!((p["pinned"]["version"].as_str(), p["current"]["version"].as_str()), (Some("0.9.0"), Some("1.1.0")));
    assert_eq!(p["pinned"]["outcome"]["assessed"]["fine_range"], json!({"min": 7_900_000, "max": 10_000_000}));
    assert_eq!(p["current"]["outcome"]["assessed"]["fine_range"], json!({"min": 7_300_000, "max": 10_000_000}));
    assert_eq!(p["applies"], "current", "{p}");
    assert!(p["applies_because"].as_str().unwrap().contains("APL art. 37"));
    assert_eq!(p["fine_band"], json!([7_300_000, 10_000_000]));
    assert!(p["pinned"]["sha256"].as_str().unwrap().len() == 64 && p["pinned"]["sha256"] != p["current"]["sha256"]);
    // A fine allowed only by the 2022 band's floor is not allowed: the lighter band applies.
    b.refused("tr1", id, json!({"action": "propose", "fine_fen": 7_200_000}), 422, "outside-band").await;
    let stored: Vec<(&str, &str)> = c["assessments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["purpose"].as_str().unwrap(), a["assessed"]["version"].as_str().unwrap()))
        .collect();
    assert_eq!(stored, [("pinned", "0.9.0"), ("current", "1.1.0")]);
    assert_eq!(c["case"]["id"].as_i64(), Some(id));
    let (code, out, err) = cli_on(&app, &["case", "replay", &id.to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0.9.0 TR-P-001") && out.contains("1.1.0 TR-P-001"), "{out}");

    // The same act without harm to safety: two years have passed, no penalty may be given.
    let (_, c) = b.who("tr1").post("/api/v1/cases", open(false)).await;
    let late = c["case"]["id"].as_i64().unwrap();
    assert_eq!(c["limitation"]["expired"], true);
    b.ok("trlead", late, json!({"action": "assign-officers", "officers": ["tr2"]})).await;
    b.ok("tr1", late, json!({"action": "start-investigation"})).await;
    b.ok("tr1", late, json!({"action": "record-facts", "item": "TR-P-001", "facts": black_car_facts()})).await;
    let e =
        b.refused("tr1", late, json!({"action": "propose", "fine_fen": 8_650_000}), 409, "limitation-expired").await;
    assert!(e["error"]["message"].as_str().unwrap().contains("APL art. 36"));
    app.stop().await;
}

/// A housing case on the company for an act of 2026-10-12, decided with a fine (summary steps
/// skipped: straight to a fine): its id and its view.
async fn fined_housing_case(b: &Bureau<'_>) -> (i64, Value) {
    let first = housing_case(&b, "2026-10-12", company()).await;
    b.ok("hz1", first, json!({"action": "start-investigation"})).await;
    b.ok("hz1", first, json!({"action": "record-facts", "item": "HC-P-001", "facts": planning_facts("2026-10-12")}))
        .await;
    b.ok("hz1", first, json!({"action": "propose", "fine_fen": 7_500_000})).await;
    b.ok("hz1", first, json!({"action": "issue-notice"})).await;
    b.ok("hz1", first, json!({"action": "serve-notice", "how": "直接送达"})).await;
    b.ok("hz1", first, json!({"action": "waive-hearing"})).await;
    b.ok("hz1", first, json!({"action": "submit"})).await;
    b.ok("hzlead", first, json!({"action": "approve"})).await;
    let c = b.ok("legal", first, json!({"action": "approve"})).await;
    assert_eq!(stage(&c), "decided");
    (first, c)
}

#[tokio::test]
async fn the_same_act_of_one_party_is_fined_once_across_domains() {
    let app = spawn().await;
    let b = bureau(&app).await;
    // Housing fines the company for its building site.
    fined_housing_case(&b).await;
    // A second housing case on the same party and the same day: the fine is refused.
    let second = housing_case(&b, "2026-10-12", company()).await;
    let c = b.ok("hz1", second, json!({"action": "start-investigation"})).await;
    assert_eq!(c["same_party_overlapping"][0]["fined"], true, "{c}");
    b.ok("hz1", second, json!({"action": "record-facts", "item": "HC-P-001", "facts": planning_facts("2026-10-12")}))
        .await;
    let e = b.refused("hz1", second, json!({"action": "propose", "fine_fen": 7_500_000}), 409, "same-act-fined").await;
    assert!(e["error"]["message"].as_str().unwrap().contains("APL art. 29"));
    // Declared another act, with its reason, it goes ahead under legal review.
    b.ok("hz1", second, json!({"action": "declare-distinct-act", "reason": "系同一当事人在另一地块的另一栋违法建筑"}))
        .await;
    let c = b.ok("hz1", second, json!({"action": "propose", "fine_fen": 7_500_000})).await;
    assert!(c["case"]["proposal"]["legal_review"].to_string().contains("APL art. 29"), "{}", c["case"]["proposal"]);
    app.stop().await;
}

#[tokio::test]
async fn a_fine_away_from_the_recommendation_needs_its_reason_and_one_approval_level_more() {
    let app = spawn().await;
    let b = bureau(&app).await;
    let id = housing_case(&b, "2026-10-12", company()).await;
    b.ok("hz1", id, json!({"action": "start-investigation"})).await;
    b.ok("hz1", id, json!({"action": "record-facts", "item": "HC-P-001", "facts": planning_facts("2026-10-12")})).await;
    let c = b
        .ok("hz1", id, json!({"action": "propose", "fine_fen": 6_500_000, "reason": "当事人积极配合调查，已主动停工"}))
        .await;
    let p = &c["case"]["proposal"];
    assert_eq!(p["chain"], json!(["team-lead", "legal-reviewer", "leader"]), "{p}");
    assert_eq!(p["deviation_reason"], "当事人积极配合调查，已主动停工");
    app.stop().await;
}

#[tokio::test]
async fn a_joint_operation_opens_many_cases_at_once_and_shows_its_progress() {
    let app = spawn().await;
    let b = bureau(&app).await;
    let op = json!({"code": "SWEEP-2026-11", "title": "黑车专项整治", "domain": "transport", "team": "T-TR",
                    "description": "火车站、汽车站周边非法营运集中整治", "starts_on": "2026-11-01"});
    assert_eq!(b.who("tr1").post("/api/v1/operations", op.clone()).await.0, 403, "the lead runs it");
    let (s, o) = b.who("trlead").post("/api/v1/operations", op).await;
    assert_eq!(s, 201, "{o}");
    let oid = o["id"].as_i64().unwrap();
    let (s, o) =
        b.who("trlead").post(&format!("/api/v1/operations/{oid}/officers"), json!({"officers": ["tr1", "tr2"]})).await;
    assert_eq!((s, o["officers"].as_array().map(Vec::len)), (200, Some(2)), "{o}");
    let party = |n: &str, id: &str| json!({"kind": "person", "name": n, "id_number": id});
    let cases = json!({"cases": [
        {"title": "黑车载客", "party": party("甲某", PERSON_ID), "act_date": "2026-11-20", "place": "北海火车站", "summary": "无证载客，每人收费50元"},
        {"title": "黑车载客", "party": party("乙某", OTHER_PERSON_ID), "act_date": "2026-11-21", "place": "北海汽车总站", "summary": "无证载客，每人收费40元"},
        {"title": "黑车载客", "party": {"kind": "person", "name": "丙某"}, "act_date": "2026-11-22", "place": "北海火车站", "summary": "无证载客，每人收费30元"}
    ]});
    // All or none: one bad entry names itself and opens nothing.
    let mut bad = cases.clone();
    bad["cases"][1]["party"]["id_number"] = json!("450502199003154562");
    let (s, e) = b.who("tr1").post(&format!("/api/v1/operations/{oid}/cases"), bad).await;
    assert_eq!((s, e["error"]["field"].as_str()), (422, Some("cases[1].party.id_number")), "{e}");
    assert_eq!(b.who("trlead").get(&format!("/api/v1/operations/{oid}")).await.1["progress"]["cases"], 0);
    let (s, opened) = b.who("tr1").post(&format!("/api/v1/operations/{oid}/cases"), cases).await;
    assert_eq!(s, 201, "{opened}");
    let ids: Vec<i64> = opened["opened"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    // Each case has the operation's officers: investigation starts at once.
    b.ok("tr2", ids[0], json!({"action": "start-investigation"})).await;
    b.ok("trlead", ids[2], json!({"action": "close-without-penalty", "reason": "not-established", "note": "经查系亲友顺路搭载，未收取费用"})).await;
    let (_, o) = b.who("trlead").get(&format!("/api/v1/operations/{oid}")).await;
    let pr = &o["progress"];
    assert_eq!(
        (
            pr["cases"].as_i64(),
            pr["by_stage"]["opened"].as_i64(),
            pr["by_stage"]["investigating"].as_i64(),
            pr["closed"].as_i64()
        ),
        (Some(3), Some(1), Some(1), Some(1)),
        "{o}"
    );
    assert_eq!(pr["percent_closed"], 33.3);
    let (_, listed) = b.who("tr1").get(&format!("/api/v1/cases?operation={oid}")).await;
    assert_eq!(listed["cases"].as_array().unwrap().len(), 3);
    assert_eq!(
        b.who("hz1").get(&format!("/api/v1/operations/{oid}")).await.0,
        404,
        "another team's operation is not there"
    );
    app.stop().await;
}

/// Moves a case's clock by editing it underneath, as the passing of days would, and records that
/// under the record's key (else the case's rows would no longer be what its record holds).
async fn shift(app: &App, id: i64, f: impl FnOnce(&mut casegrid::cases::CaseRow)) {
    let db = app.db().await;
    let record = casegrid::cases::audit::Record::open(&db, &app.settings.record, &app.settings.data).await.unwrap();
    let mut tx = db.write().await.unwrap();
    let mut k = casegrid::cases::store::load(&mut tx, id).await.unwrap().unwrap();
    f(&mut k);
    assert!(casegrid::cases::store::save(&mut tx, &k).await.unwrap());
    let actor = casegrid::auth::store::Actor::system();
    casegrid::cases::audit::append(&record, &mut tx, id, &actor, "test-clock-shifted", &json!({})).await.unwrap();
    tx.commit().await.unwrap();
    db.close().await;
}

/// A housing case decided with a fine of 75,000 yuan and served.
pub(crate) async fn decided_and_served(b: &Bureau<'_>, party: Value) -> i64 {
    let id = housing_case(b, "2026-10-12", party).await;
    b.ok("hz1", id, json!({"action": "start-investigation"})).await;
    b.ok("hz1", id, json!({"action": "record-facts", "item": "HC-P-001", "facts": planning_facts("2026-10-12")})).await;
    b.ok("hz1", id, json!({"action": "propose", "fine_fen": 7_500_000})).await;
    b.ok("hz1", id, json!({"action": "issue-notice"})).await;
    b.ok("hz1", id, json!({"action": "serve-notice", "how": "直接送达"})).await;
    b.ok("hz1", id, json!({"action": "waive-hearing"})).await;
    b.ok("hz1", id, json!({"action": "submit"})).await;
    b.ok("hzlead", id, json!({"action": "approve"})).await;
    b.ok("legal", id, json!({"action": "approve"})).await;
    b.ok("hz1", id, json!({"action": "serve-decision", "how": "直接送达"})).await["case"]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_late_payment_carries_the_surcharge_and_an_unpaid_fine_goes_to_enforcement_only_after_the_demand() {
    let app = spawn().await;
    let b = bureau(&app).await;
    let day = 86_400_000i64;
    // Served twenty days ago: the fifteen days to pay have run out.
    let paid = decided_and_served(&b, company()).await;
    shift(&app, paid, |k| {
        k.progress.decision.as_mut().unwrap().decided_at -= 20 * day;
        k.progress.service.as_mut().unwrap().served_at -= 20 * day;
    })
    .await;
    let (_, c) = b.who("hz1").get(&format!("/api/v1/cases/{paid}")).await;
    let due = c["payment"]["total_fen"].as_i64().unwrap();
    let surcharge = c["payment"]["surcharge_fen"].as_i64().unwrap();
    // APL art. 72: 3% of the fine a day late (here five or six days, by the hour of service).
    assert!((5 * 225_000..=6 * 225_000).contains(&surcharge), "{}", c["payment"]);
    b.refused(
        "hz1",
        paid,
        json!({"action": "record-payment", "paid_fen": 7_500_000, "receipt": "PJ-1"}),
        422,
        "wrong-amount",
    )
    .await;
    // Paid on the last day: no surcharge; a payment day before service is refused.
    let last_day = casegrid::clock::Day::of(casegrid::store::now_ms() - 20 * day + 14 * day).to_string();
    let before_service = casegrid::clock::Day::of(casegrid::store::now_ms() - 30 * day).to_string();
    b.refused(
        "hz1",
        paid,
        json!({"action": "record-payment", "paid_fen": 7_500_000, "receipt": "PJ-1", "paid_on": before_service}),
        422,
        "out-of-range",
    )
    .await;
    let c = b
        .ok(
            "hz1",
            paid,
            json!({"action": "record-payment", "paid_fen": 7_500_000, "receipt": "PJ-1", "paid_on": last_day}),
        )
        .await;
    assert_eq!(c["case"]["progress"]["payment"]["surcharge_fen"], 0);
    assert!(due > 7_500_000);

    // Unpaid: no enforcement before the time to pay and the written demand have run out.
    let other = json!({"kind": "organisation", "name": "北海另一建筑公司", "id_number": "914505021980123454"});
    let unpaid = decided_and_served(&b, other).await;
    b.refused("hz1", unpaid, json!({"action": "issue-demand"}), 409, "not-yet-due").await;
    b.refused("hzlead", unpaid, json!({"action": "close", "note": "已申请人民法院强制执行"}), 409, "not-executed")
        .await;
    shift(&app, unpaid, |k| {
        k.progress.decision.as_mut().unwrap().decided_at -= 20 * day;
        k.progress.service.as_mut().unwrap().served_at -= 20 * day;
    })
    .await;
    let c = b.ok("hz1", unpaid, json!({"action": "issue-demand"})).await;
    let demand = c["documents"].as_array().unwrap().iter().find(|d| d["kind"] == "demand").unwrap().clone();
    assert!(demand["number"].as_str().unwrap().starts_with("综执催〔"));
    let html = b
        .who("hz1")
        .request(reqwest::Method::GET, &format!("/api/v1/cases/{unpaid}/documents/{}", demand["id"]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("催告书") && html.contains("第三十五条") && html.contains("第三十六条"), "{html}");
    b.refused("hzlead", unpaid, json!({"action": "close", "note": "已申请人民法院强制执行"}), 409, "demand-running")
        .await;
    shift(&app, unpaid, |k| k.progress.demand.as_mut().unwrap().due_at -= 15 * day).await;
    assert_eq!(
        b.act("hz1", unpaid, json!({"action": "close", "note": "已申请人民法院强制执行"})).await.0,
        403,
        "the head applies"
    );
    let c =
        b.ok("hzlead", unpaid, json!({"action": "close", "note": "经催告逾期仍不履行，已申请人民法院强制执行"})).await;
    assert_eq!((stage(&c), c["case"]["progress"]["closing"]["reason"].as_str()), ("closed", Some("enforcement")));
    app.stop().await;
}

#[tokio::test]
async fn the_clock_reminds_the_officers_before_a_deadline_and_escalates_after_it_once() {
    let hook = casegrid_tests::Hook::start(0).await;
    let notify = hook.settings("case-clock");
    let app = App::spawn_with(
        &[&plugin("housing"), &plugin("transport"), &fixture("transport-0.9.0"), &plugin("ecology")],
        |s| s.notify = notify.clone(),
    )
    .await;
    let b = bureau(&app).await;
    let id = decided_and_served(&b, company()).await;
    let (_, c) = b.who("hz1").get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(c["clock"]["for"], "payment");
    let due = casegrid::clock::parse_rfc3339(c["clock"]["due_at"].as_str().unwrap()).unwrap().0;
    let db = app.db().await;
    let record = casegrid::cases::audit::Record::open(&db, &app.settings.record, &app.settings.data).await.unwrap();
    let tick = |at: i64| casegrid::cases::deadlines::tick(&record, &notify, at, 24 * 3_600_000);
    assert_eq!(tick(due - 2 * 86_400_000).await.unwrap(), Default::default(), "nothing due yet");
    let t = tick(due - 3_600_000).await.unwrap();
    assert_eq!((t.reminded, t.escalated), (1, 0));
    assert_eq!(tick(due - 1_800_000).await.unwrap(), Default::default(), "reminded once");
    let t = tick(due + 1).await.unwrap();
    assert_eq!((t.reminded, t.escalated), (0, 1));
    assert_eq!(tick(due + 86_400_000).await.unwrap(), Default::default(), "escalated once");
    let events: Vec<String> =
        hook.wait_for(3, 10).await.iter().map(|d| d.event.clone()).filter(|e| e.starts_with("case.")).collect();
    assert_eq!(events, ["case.decided", "case.due-soon", "case.overdue"]);
    let (_, c) = b.who("hz1").get(&format!("/api/v1/cases/{id}")).await;
    let actions: Vec<&str> = c["record"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.ends_with(&["reminded", "escalated"]), "{actions:?}");
    db.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_case_of_the_same_party_in_another_team_is_only_said_to_exist() {
    let app = spawn().await;
    let b = bureau(&app).await;
    let cert = |n: &str| json!([{"domain": "housing", "number": n, "valid_until": "2099-12-31"}]);
    let more = app
        .people(json!({
            "teams": [{"code": "T-HZ2", "name": "海城住建二中队", "department": "D1", "domains": ["housing"]}],
            "members": [
                {"login": "hzb1", "display_name": "甲", "roles": [{"role": "officer", "team": "T-HZ2"}], "certifications": cert("GX0501101")},
                {"login": "hzb2", "display_name": "乙", "roles": [{"role": "officer", "team": "T-HZ2"}], "certifications": cert("GX0501102")},
                {"login": "hzblead", "display_name": "丙", "roles": [{"role": "team-lead", "team": "T-HZ2"}]}
            ]
        }))
        .await;
    let b = Bureau { app: &app, t: b.t.into_iter().chain(more).collect() };
    // The first team fines the company.
    let (_, c) = fined_housing_case(&b).await;
    let number = c["case"]["number"].as_str().unwrap().to_string();
    // The second team opens a case on the same party and the same day.
    let (s, c) = b
        .who("hzb1")
        .post(
            "/api/v1/cases",
            json!({"source": "patrol", "domain": "housing", "title": "未取得建设工程规划许可证进行建设", "place": "海城区北部湾中路90号",
                   "summary": "在海城区北部湾中路90号未取得建设工程规划许可证建设厂房", "party": company(), "act_date": "2026-10-12"}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let second = c["case"]["id"].as_i64().unwrap();
    b.ok("hzblead", second, json!({"action": "assign-officers", "officers": ["hzb2"]})).await;
    let c = b.ok("hzb1", second, json!({"action": "start-investigation"})).await;
    // It is told a case exists elsewhere, and nothing more: no number, domain or stage.
    let other = &c["same_party_overlapping"][0];
    assert_eq!(
        (other["visible"].as_bool(), other["note"].as_str()),
        (Some(false), Some("a case exists in another team")),
        "{c}"
    );
    assert!(other.get("number").is_none() && other.get("stage").is_none() && other.get("id").is_none(), "{other}");
    assert!(!c.to_string().contains(&number), "the other case's number is not shown: {c}");
    // Its fine is still refused (APL art. 29), the other case not named.
    b.ok("hzb1", second, json!({"action": "record-facts", "item": "HC-P-001", "facts": planning_facts("2026-10-12")}))
        .await;
    let e = b.refused("hzb1", second, json!({"action": "propose", "fine_fen": 7_500_000}), 409, "same-act-fined").await;
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("a case of another team") && !message.contains(&number), "{message}");
    // Whoever sees both (legal review, bureau-wide) is shown the number and the stage.
    let (_, c) = b.who("legal").get(&format!("/api/v1/cases/{second}")).await;
    let other = &c["same_party_overlapping"][0];
    assert_eq!((other["number"].as_str(), other["stage"].as_str()), (Some(number.as_str()), Some("decided")), "{c}");
    app.stop().await;
}

#[tokio::test]
async fn a_signed_in_citizen_is_citizen_id_on_the_staff_side_never_their_mobile_number() {
    let app = spawn().await;
    let b = bureau(&app).await;
    let phone = "13912345678";
    let (s, reg) =
        app.anon().post("/api/v1/auth/register", json!({"login": phone, "password": "Citizen-pw-2026"})).await;
    assert_eq!(s, 201, "{reg}");
    let id = reg["id"].as_i64().unwrap();
    let citizen = app.sign_in(phone, "Citizen-pw-2026").await;
    let (s, r) = citizen.post("/api/v1/reports", site_report()).await;
    assert_eq!(s, 201, "{r}");
    let report = r["id"].as_i64().unwrap();
    // The team's view of the report: its timeline names the citizen by number.
    let (s, seen) = b.who("hz1").get(&format!("/api/v1/reports/{report}")).await;
    assert_eq!(s, 200, "{seen}");
    let actors: Vec<&str> = seen["timeline"].as_array().unwrap().iter().filter_map(|e| e["actor"].as_str()).collect();
    assert!(actors.contains(&format!("citizen-{id}").as_str()), "{actors:?}");
    // A case opened from it; its record and its dossier carry no mobile number either.
    let open = case_from(report);
    let (s, c) = b.who("hz1").post("/api/v1/cases", open).await;
    assert_eq!(s, 201, "{c}");
    let (_, seen) = b.who("hz1").get(&format!("/api/v1/reports/{report}")).await;
    assert!(!seen["timeline"].to_string().contains(phone), "{}", seen["timeline"]);
    assert!(!c["record"].to_string().contains(phone), "{}", c["record"]);
    let case = c["case"]["id"].as_i64().unwrap();
    let (s, dossier) = b.who("hz1").get(&format!("/api/v1/cases/{case}/dossier")).await;
    assert_eq!(s, 200, "{dossier}");
    assert!(!dossier.to_string().contains(phone), "{dossier}");
    app.stop().await;
}

#[tokio::test]
async fn a_report_that_became_a_case_is_open_in_open311_until_the_case_is_closed() {
    let app = spawn().await;
    let b = bureau(&app).await;
    let (s, r) = app.anon().post("/api/v1/reports", site_report()).await;
    assert_eq!(s, 201, "{r}");
    let report = r["id"].as_i64().unwrap();
    let open311 = |app: &App| {
        let url = app.url(&format!("/open311/v2/requests/{report}.json"));
        let client = app.client.clone();
        async move {
            let v: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            (v[0]["status"].as_str().unwrap().to_string(), v[0]["status_notes"].as_str().unwrap().to_string())
        }
    };
    let open = case_from(report);
    let (s, c) = b.who("hz1").post("/api/v1/cases", open).await;
    assert_eq!(s, 201, "{c}");
    let id = c["case"]["id"].as_i64().unwrap();
    // Enforcement has just begun: the citizen's app shows the matter open.
    assert_eq!(open311(&app).await, ("open".into(), "case-opened".into()));
    let minor = json!({"action": "close-without-penalty", "reason": "minor-first-offence", "note": "首次违法，危害后果轻微并及时改正"});
    b.ok("hzlead", id, minor).await;
    assert_eq!(open311(&app).await, ("closed".into(), "case-closed".into()));
    let list: Value =
        app.client.get(app.url("/open311/v2/requests.json?status=closed")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list[0]["service_request_id"], report.to_string(), "{list}");
    app.stop().await;
}

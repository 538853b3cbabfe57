//! How soon a penalty decision is ready: a housing case (城乡规划法 art. 64, an organisation, a fine
//! of 75,000 yuan) taken through the general procedure on loopback, each step timed as an officer,
//! a lead and a legal reviewer would wait for it. The last approval assesses twice (the rules of the
//! time of the act and today's, APL art. 37), checks one act, one fine inside its transaction, numbers
//! and renders the decision, and commits it with its record entry and outbox message.
//!
//! `scripts/build-plugins && cargo bench -p casegrid-tests --bench decision` (SQLite;
//! `CG_TEST_BACKEND=postgres` for PostgreSQL). `CASES=N` (default 40).

use casegrid_tests::{App, plugin};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let cases: usize =
        if benching { std::env::var("CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(40) } else { 1 };
    let app = App::spawn(&[&plugin("housing")]).await;
    let cert = |n: &str| json!([{"domain": "housing", "number": n, "valid_until": "2099-12-31"}]);
    let people = app
        .people(json!({
            "departments": [{"code": "D1", "name": "住建执法支队"}],
            "teams": [{"code": "T-HZ", "name": "海城住建中队", "department": "D1", "domains": ["housing"]}],
            "members": [
                {"login": "hz1", "display_name": "王平", "roles": [{"role": "officer", "team": "T-HZ"}], "certifications": cert("GX0501001")},
                {"login": "hz2", "display_name": "李安", "roles": [{"role": "officer", "team": "T-HZ"}], "certifications": cert("GX0501002")},
                {"login": "hzlead", "display_name": "陈队", "roles": [{"role": "team-lead", "team": "T-HZ"}]},
                {"login": "legal", "display_name": "法制科", "roles": [{"role": "legal-reviewer"}]}
            ]
        }))
        .await;
    // In the order of the procedure.
    let mut timings: Vec<(&str, Vec<Duration>)> = Vec::new();
    let mut note = |what: &'static str, d: Duration| match timings.iter_mut().find(|(w, _)| *w == what) {
        Some((_, v)) => v.push(d),
        None => timings.push((what, vec![d])),
    };
    for i in 0..cases {
        let party = json!({"kind": "organisation", "name": format!("北海第{i}建设有限公司"), "address": "海城区北部湾中路88号"});
        let opened = json!({"source": "patrol", "domain": "housing", "title": "未取得建设工程规划许可证进行建设",
            "place": "海城区北部湾中路88号", "summary": "未取得建设工程规划许可证建设三层厂房", "party": party, "act_date": "2026-10-12"});
        let t0 = Instant::now();
        let (s, c) = app.with_token(&people["hz1"]).post("/api/v1/cases", opened).await;
        assert_eq!(s, 201, "{c}");
        note("open (立案)", t0.elapsed());
        let id = c["case"]["id"].as_i64().unwrap();
        let facts = json!([
            {"field": "party_kind", "value": {"Choice": "organisation"}},
            {"field": "act_date", "value": {"Date": {"year": 2026, "month": 10, "day": 12}}},
            {"field": "first_offence", "value": {"Boolean": false}},
            {"field": "corrected_promptly", "value": {"Boolean": false}},
            {"field": "refused_to_correct", "value": {"Boolean": false}},
            {"field": "harm", "value": {"Choice": "ordinary"}},
            {"field": "correctable", "value": {"Boolean": true}},
            {"field": "project_cost", "value": {"Money": 100_000_000}}
        ]);
        let steps: [(&str, &str, Value); 10] = [
            ("assign officers", "hzlead", json!({"action": "assign-officers", "officers": ["hz2"]})),
            ("start investigation", "hz1", json!({"action": "start-investigation"})),
            (
                "record facts (the plugin's form)",
                "hz1",
                json!({"action": "record-facts", "item": "HC-P-001", "facts": facts}),
            ),
            ("propose (two assessments)", "hz1", json!({"action": "propose", "fine_fen": 7_500_000})),
            ("issue notice (告知书 rendered)", "hz1", json!({"action": "issue-notice"})),
            ("serve notice (送达回证)", "hz1", json!({"action": "serve-notice", "how": "直接送达"})),
            ("waive hearing", "hz1", json!({"action": "waive-hearing"})),
            ("submit", "hz1", json!({"action": "submit"})),
            ("approve: team lead", "hzlead", json!({"action": "approve"})),
            ("approve: last step, the decision (决定书 rendered)", "legal", json!({"action": "approve"})),
        ];
        for (what, who, body) in steps {
            let t = Instant::now();
            let (s, v) = app.with_token(&people[who]).post(&format!("/api/v1/cases/{id}/actions"), body).await;
            assert_eq!(s, 200, "{what}: {v}");
            note(what, t.elapsed());
        }
        let t = Instant::now();
        let r = app
            .with_token(&people["hzlead"])
            .request(reqwest::Method::GET, &format!("/api/v1/cases/{id}/dossier.zip"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.bytes().await.unwrap();
        note("electronic case file (dossier.zip)", t.elapsed());
        note("the whole procedure, open to the case file", t0.elapsed());
    }
    for (what, samples) in &mut timings {
        casegrid_tests::print_timings(what, samples);
    }
    app.stop().await;
}

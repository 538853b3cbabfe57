//! Stories of the housing & construction domain served by the real server.

use casegrid_tests::{App, plugin};
use serde_json::{Value, json};

fn b(v: bool) -> Value {
    json!({ "Boolean": v })
}
fn choice(v: &str) -> Value {
    json!({ "Choice": v })
}
fn yuan(v: i64) -> Value {
    json!({ "Money": v * 100 })
}
fn fact(field: &str, value: Value) -> Value {
    json!({ "field": field, "value": value })
}
fn act_date() -> Value {
    fact("act_date", json!({ "Date": { "year": 2026, "month": 3, "day": 2 } }))
}

#[tokio::test]
async fn the_server_lists_the_housing_domain_and_its_checklist() {
    let app = App::spawn(&[&plugin("housing")]).await;

    let (status, health) = app.get("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["domains"], 1);
    assert_eq!(health["refused"], json!([]));

    let (status, domains) = app.get("/api/v1/domains").await;
    assert_eq!(status, 200);
    let d = &domains.as_array().expect("a list")[0];
    assert_eq!(d["domain"], "housing");
    assert_eq!(d["name"]["zh"], "住房建设");
    assert_eq!(d["contract"], "1.0.0");
    assert_eq!(d["version"], "1.0.0");
    assert_eq!(d["sha256"].as_str().expect("a hash").len(), 64);

    let (status, items) = app.get("/api/v1/domains/housing/checklist").await;
    assert_eq!(status, 200);
    let items = items.as_array().expect("a list");
    let penalties = items.iter().filter(|i| i["kind"] == "Penalty").count();
    assert!(penalties >= 10, "{penalties} penalty items");
    for it in items {
        assert!(!it["violation_basis"].as_array().unwrap().is_empty(), "{} has a violation basis", it["code"]);
        for t in it["tiers"].as_array().unwrap() {
            assert!(!t["basis"].as_array().unwrap().is_empty(), "{} tier {} has a basis", it["code"], t["code"]);
        }
    }

    // Building without a planning permit: 城乡规划法 art. 40 defines it, art. 64 sets the penalty.
    let (status, item) = app.get("/api/v1/domains/housing/checklist/HC-P-001").await;
    assert_eq!(status, 200);
    assert_eq!(item["violation_basis"][0]["statute"]["zh"], "中华人民共和国城乡规划法");
    assert_eq!(item["violation_basis"][0]["article"], 40);
    assert_eq!(item["penalty_basis"][0]["article"], 64);
    assert!(
        item["penalty_basis"][0]["excerpt"].as_str().unwrap().contains("处建设工程造价百分之五以上百分之十以下的罚款")
    );
    assert_eq!(item["penalty_basis"][0]["statute_version"], "2019-04-23");

    let (status, found) = app.get("/api/v1/domains/housing/checklist?q=%E6%8E%92%E6%B0%B4").await; // 排水
    assert_eq!(status, 200);
    let found = found.as_array().unwrap();
    assert!(!found.is_empty() && found.len() < items.len());
    assert!(found.iter().all(|i| i.to_string().contains("排水")));

    let (status, err) = app.get("/api/v1/domains/housing/checklist/HC-P-999").await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("not-found")));
    let (status, err) = app.get("/api/v1/domains/tourism/checklist").await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("not-found")));
    app.stop().await;
}

#[tokio::test]
async fn an_officer_picks_an_item_and_circumstances_and_gets_the_statutes_band() {
    let app = App::spawn(&[&plugin("housing")]).await;
    // A company built without a planning permit; the effect can still be corrected; ordinary
    // circumstances; the project cost ¥1,000,000. Art. 64 allows 5%–10%: ¥50,000–¥100,000.
    let facts = json!([
        fact("party_kind", choice("organisation")),
        act_date(),
        fact("correctable", b(true)),
        fact("first_offence", b(false)),
        fact("corrected_promptly", b(false)),
        fact("harm", choice("ordinary")),
        fact("refused_to_correct", b(false)),
        fact("project_cost", yuan(1_000_000)),
    ]);
    // The reference time is fixed, as a replay years later would fix it.
    let at = 1_775_000_000; // 2026-03-31
    let (status, a) =
        app.post("/api/v1/domains/housing/assess", json!({ "item": "HC-P-001", "facts": facts, "at": at })).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["tier"], "ordinary");
    // The ordinary sub-band of the discretion benchmark, inside the statute's 5%–10%: 6.5%–8.5%,
    // and its middle as the recommendation.
    assert_eq!(a["fine_range"], json!({ "min": 65_000 * 100, "max": 85_000 * 100 }));
    assert_eq!(a["recommended_fine"], 75_000 * 100);
    let articles: Vec<_> = a["basis"].as_array().unwrap().iter().map(|c| c["article"].as_u64().unwrap()).collect();
    assert!(articles.contains(&40) && articles.contains(&64), "{articles:?}");
    assert!(a["reasons"].as_array().unwrap().len() >= 2, "the tier says why");

    // The same question at the same reference time gives the same answer: decisions replay.
    let (_, again) =
        app.post("/api/v1/domains/housing/assess", json!({ "item": "HC-P-001", "facts": facts, "at": at })).await;
    assert_eq!(a, again);
    // The reasons say why the lenient tiers did not apply.
    let reasons = a["reasons"].to_string();
    assert!(reasons.contains("Not “"), "{reasons}");

    // Answers that contradict each other are refused, not resolved in the party's favour.
    let mut contradictory = facts.as_array().unwrap().clone();
    contradictory[4] = fact("corrected_promptly", b(true));
    contradictory[6] = fact("refused_to_correct", b(true));
    let (status, e) = app
        .post("/api/v1/domains/housing/assess", json!({ "item": "HC-P-001", "facts": contradictory, "at": at }))
        .await;
    assert_eq!(status, 422);
    assert_eq!(e["error"]["details"][0]["field"], "refused_to_correct");
    assert_eq!(e["error"]["details"][0]["code"], "contradiction");

    // Not correctable: demolish; the fine is up to 10% with no floor.
    let mut facts2 = facts.as_array().unwrap().clone();
    facts2[2] = fact("correctable", b(false));
    let (_, a2) =
        app.post("/api/v1/domains/housing/assess", json!({ "item": "HC-P-001", "facts": facts2, "at": at })).await;
    assert_eq!(a2["tier"], "uncorrectable");
    assert_eq!(a2["fine_range"], json!({ "min": 0, "max": 100_000 * 100 }));
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_naming_the_field() {
    let app = App::spawn(&[&plugin("housing")]).await;
    // Unanswered circumstances must not silently pick a tier.
    let (status, e) = app
        .post(
            "/api/v1/domains/housing/assess",
            json!({ "item": "HC-P-001", "facts": [fact("party_kind", choice("person")), act_date()] }),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(e["error"]["code"], "invalid-facts");
    let fields: Vec<_> =
        e["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap().to_string()).collect();
    assert!(fields.contains(&"correctable".to_string()), "{fields:?}");

    let (status, e) = app.post("/api/v1/domains/housing/assess", json!({ "item": "HC-X", "facts": [] })).await;
    assert_eq!((status, e["error"]["code"].as_str()), (404, Some("not-found")));

    // A body of the wrong shape names the field at fault.
    let (status, e) = app.post("/api/v1/domains/housing/assess", json!({ "item": 7, "facts": [] })).await;
    assert_eq!((status, e["error"]["code"].as_str()), (422, Some("invalid-body")));
    assert!(e["error"]["message"].as_str().unwrap().contains("item"), "{e}");

    let r = app
        .client
        .post(app.url("/api/v1/domains/housing/assess"))
        .bearer_auth(&app.token)
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "invalid-json");

    // A citizen's report without a place, with a malformed phone number.
    let (status, v) = app
        .post(
            "/api/v1/domains/housing/forms/report/validate",
            json!({ "values": [
                { "field": "description", "value": { "Text": "小区楼顶有人在搭铁皮房" } },
                { "field": "contact_phone", "value": { "Text": "12345" } },
            ] }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["valid"], false);
    let codes: Vec<_> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}:{}", e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(codes, vec!["contact_phone:pattern", "location:location-required"]);
    assert!(!v["errors"][0]["message"]["zh"].as_str().unwrap().is_empty());

    let (status, e) = app.post("/api/v1/domains/housing/forms/nope/validate", json!({ "values": [] })).await;
    assert_eq!((status, e["error"]["code"].as_str()), (404, Some("not-found")));
    app.stop().await;
}

#[tokio::test]
async fn a_reference_time_in_the_future_and_an_oversized_body_are_refused() {
    let app = App::spawn(&[&plugin("housing")]).await;
    let tomorrow_and_more = casegrid_tests::now() + 2 * 86_400;
    for at in [tomorrow_and_more, -1] {
        let (status, e) =
            app.post("/api/v1/domains/housing/forms/report/validate", json!({ "values": [], "at": at })).await;
        assert_eq!(
            (status, e["error"]["code"].as_str(), e["error"]["field"].as_str()),
            (400, Some("invalid-reference-time"), Some("at"))
        );
    }
    let huge = "字".repeat(2 << 20);
    let (status, e) = app.post("/api/v1/domains/housing/classify", json!({ "text": huge })).await;
    assert_eq!((status, e["error"]["code"].as_str()), (413, Some("input-too-large")), "{e}");
    app.stop().await;
}

#[tokio::test]
async fn a_citizens_words_are_classified_into_a_category() {
    let app = App::spawn(&[&plugin("housing")]).await;
    let (status, scores) =
        app.post("/api/v1/domains/housing/classify", json!({ "text": "晚上有渣土车在河边偷倒建筑垃圾" })).await;
    assert_eq!(status, 200);
    assert_eq!(scores[0]["category"], "construction-waste");
    assert!(scores[0]["score"].as_f64().unwrap() > 0.5);
    let (_, none) = app.post("/api/v1/domains/housing/classify", json!({ "text": "公交车晚点了" })).await;
    assert_eq!(none, json!([]));
    app.stop().await;
}

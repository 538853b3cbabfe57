//! Open311 GeoReport v2, as an existing client uses it: discover, list services, read a service's
//! definition, post a request with an API key (form-encoded, as the spec has it), follow it by id,
//! list requests; in JSON and in XML; errors in the spec's shape.

use casegrid_tests::{ADMIN_PASSWORD, App, plugin};
use serde_json::Value;

async fn raw(app: &App, path: &str) -> (u16, String, String) {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (r.status().as_u16(), ct, r.text().await.unwrap())
}

async fn post_form(app: &App, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r = app.client.post(app.url(path)).form(form).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn an_open311_client_discovers_posts_and_follows_a_request() {
    let app = App::spawn(&[&plugin("housing"), &plugin("transport")]).await;
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let (_, k) = admin.post("/api/v1/open311-keys", serde_json::json!({"client": "市民服务App"})).await;
    let key = k["api_key"].as_str().unwrap().to_string();

    let (s, _, d) = raw(&app, "/open311/v2/discovery.json").await;
    let d: Value = serde_json::from_str(&d).unwrap();
    assert_eq!(s, 200);
    assert_eq!(d["endpoints"][0]["specification"], "http://wiki.open311.org/GeoReport_v2");
    let (_, ct, dx) = raw(&app, "/open311/v2/discovery.xml").await;
    assert!(
        ct.starts_with("text/xml") && dx.contains("<endpoints><endpoint>") && dx.contains("<format>text/xml</format>"),
        "{dx}"
    );

    let (_, _, services) = raw(&app, "/open311/v2/services.json").await;
    let services: Value = serde_json::from_str(&services).unwrap();
    let codes: Vec<&str> = services.as_array().unwrap().iter().map(|s| s["service_code"].as_str().unwrap()).collect();
    assert!(
        codes.contains(&"housing.illegal-construction") && codes.contains(&"transport.illegal-passenger-transport"),
        "{codes:?}"
    );
    assert_eq!(codes.len(), 10, "4 housing and 6 transport categories");
    let (_, _, sx) = raw(&app, "/open311/v2/services.xml").await;
    assert!(sx.starts_with("<?xml") && sx.contains("<services><service><service_code>"), "{sx}");

    let (s, _, def) = raw(&app, "/open311/v2/services/housing.illegal-construction.json").await;
    assert_eq!(s, 200);
    let def: Value = serde_json::from_str(&def).unwrap();
    let attr = &def["attributes"][0];
    assert_eq!((attr["code"].as_str(), attr["datatype"].as_str()), (Some("occurred_at"), Some("datetime")));
    let (s, _, nf) = raw(&app, "/open311/v2/services/housing.ufo.json").await;
    assert_eq!(s, 404);
    assert_eq!(serde_json::from_str::<Value>(&nf).unwrap()[0]["code"], 404);

    // Posting needs a valid key.
    let form = [
        ("service_code", "housing.illegal-construction"),
        ("lat", "30.22"),
        ("long", "120.12"),
        ("description", "楼顶违章搭建彩钢房"),
        ("attribute[occurred_at]", "2026-11-20T09:00:00+08:00"),
        ("phone", "13912340000"),
    ];
    let (s, e) = post_form(&app, "/open311/v2/requests.json", &form).await;
    assert_eq!(s, 403);
    assert_eq!(serde_json::from_str::<Value>(&e).unwrap()[0]["code"], 403);
    let mut with_key = form.to_vec();
    with_key.push(("api_key", "cgk_wrong"));
    assert_eq!(post_form(&app, "/open311/v2/requests.json", &with_key).await.0, 403);
    with_key.pop();
    with_key.push(("api_key", &key));
    let (s, created) = post_form(&app, "/open311/v2/requests.json", &with_key).await;
    assert!(s == 200 || s == 201, "{s} {created}");
    let created: Value = serde_json::from_str(&created).unwrap();
    let id = created[0]["service_request_id"].as_str().unwrap().to_string();
    let notice = created[0]["service_notice"].as_str().unwrap();
    // The reporter gets the tracking code (to rate and reopen); the public number is another.
    let code = notice.split("tracking code ").nth(1).unwrap()[..14].to_string();
    assert_eq!(app.anon().get(&format!("/api/v1/track/{code}")).await.0, 200, "{notice}");
    assert_ne!(id, code);

    // Bad input: the spec's errors, naming the parameter.
    let bad = [
        ("api_key", key.as_str()),
        ("service_code", "housing.illegal-construction"),
        ("lat", "north"),
        ("long", "120.1"),
        ("description", "楼顶违章搭建"),
    ];
    let (s, e) = post_form(&app, "/open311/v2/requests.json", &bad).await;
    assert_eq!(s, 400);
    assert!(serde_json::from_str::<Value>(&e).unwrap()[0]["description"].as_str().unwrap().contains("lat"), "{e}");
    let bad = [
        ("api_key", key.as_str()),
        ("service_code", "housing.illegal-construction"),
        ("lat", "30.2"),
        ("long", "120.1"),
        ("description", "楼顶违章搭建"),
        ("phone", "123"),
    ];
    let (s, e) = post_form(&app, "/open311/v2/requests.xml", &bad).await;
    assert_eq!(s, 400);
    assert!(e.contains("<errors><error><code>400</code><description>phone"), "{e}");

    // Following it.
    let (s, _, one) = raw(&app, &format!("/open311/v2/requests/{id}.json")).await;
    assert_eq!(s, 200);
    let one: Value = serde_json::from_str(&one).unwrap();
    let r = &one[0];
    assert_eq!((r["service_request_id"].as_str(), r["status"].as_str()), (Some(id.as_str()), Some("open")));
    assert_eq!(r["service_code"], "housing.illegal-construction");
    assert!(r["requested_datetime"].as_str().unwrap().ends_with("+08:00"));
    // Anyone reads the point on the public grid.
    assert_eq!(
        (r["lat"].as_f64().unwrap(), r["long"].as_f64().unwrap()),
        casegrid::open311::coarsen(30.22, 120.12, 100)
    );
    assert!(!one.to_string().contains("13912340000"), "no contact data");
    let (_, _, tok) = raw(&app, &format!("/open311/v2/tokens/{id}.json")).await;
    assert_eq!(serde_json::from_str::<Value>(&tok).unwrap()[0]["service_request_id"], id.as_str());
    let (_, _, rx) = raw(&app, &format!("/open311/v2/requests/{id}.xml")).await;
    assert!(rx.contains("<service_requests><request><service_request_id>"), "{rx}");
    assert_eq!(raw(&app, "/open311/v2/requests/AAAA-BBBB-CCCC.json").await.0, 404);

    // Listing, with filters; it came in through Open311 and the teams see it as such.
    let (_, _, all) =
        raw(&app, "/open311/v2/requests.json?status=open&service_code=housing.illegal-construction").await;
    assert!(!all.contains(&code), "public listings never show the tracking code");
    assert_eq!(serde_json::from_str::<Value>(&all).unwrap().as_array().unwrap().len(), 1);
    let (_, _, none) = raw(&app, "/open311/v2/requests.json?status=closed").await;
    assert_eq!(serde_json::from_str::<Value>(&none).unwrap().as_array().unwrap().len(), 0);
    assert_eq!(raw(&app, "/open311/v2/requests.json?start_date=yesterday").await.0, 400);
    let (_, list) = app.get("/api/v1/reports").await;
    assert_eq!(list["reports"][0]["source"], "open311");
    app.stop().await;
}

#[tokio::test]
async fn a_services_own_attributes_are_posted_typed_by_its_form_and_kept_with_the_report() {
    let app = App::spawn(&[&casegrid_tests::fixture("hostile")]).await;
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let (_, k) = admin.post("/api/v1/open311-keys", serde_json::json!({"client": "市民服务App"})).await;
    let key = k["api_key"].as_str().unwrap().to_string();
    // The service definition lists the report form's own fields.
    let (_, _, def) = raw(&app, "/open311/v2/services/hostile.anything.json").await;
    let def: Value = serde_json::from_str(&def).unwrap();
    let attrs: Vec<(&str, &str)> = def["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["code"].as_str().unwrap(), a["datatype"].as_str().unwrap()))
        .collect();
    assert_eq!(
        attrs,
        [("occurred_at", "datetime"), ("frequency", "singlevaluelist"), ("people_affected", "number")],
        "{def}"
    );
    let base = [
        ("api_key", key.as_str()),
        ("service_code", "hostile.anything"),
        ("description", "楼下工厂每天夜里排放刺鼻气味"),
        ("address_string", "湖滨路9号"),
    ];
    let post = |extra: &'static [(&'static str, &'static str)]| {
        let mut form: Vec<(&str, &str)> = base.to_vec();
        form.extend_from_slice(extra);
        let app = &app;
        async move { post_form(app, "/open311/v2/requests.json", &form).await }
    };
    let (s, body) = post(&[("attribute[frequency]", "hourly")]).await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("attribute[frequency]"), "the option is checked by the plugin's form: {body}");
    let (s, body) = post(&[("attribute[people_affected]", "many")]).await;
    assert_eq!(s, 400);
    assert!(body.contains("attribute[people_affected]") && body.contains("whole number"), "{body}");
    let (s, body) = post(&[("attribute[colour]", "red")]).await;
    assert_eq!(s, 400);
    assert!(body.contains("attribute[colour]"), "{body}");
    let (s, body) = post(&[("attribute[frequency]", "daily"), ("attribute[people_affected]", "12")]).await;
    assert_eq!(s, 201, "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    let id = created[0]["service_request_id"].as_str().unwrap();
    // The team reads them with the report.
    let (_, r) = app.get(&format!("/api/v1/reports/{id}")).await;
    assert_eq!(r["attributes"], serde_json::json!({"frequency": "daily", "people_affected": "12"}), "{r}");
    // The JSON intake takes them too, checked by the form of the domain named or found.
    let (s, e) = app
        .anon()
        .post("/api/v1/reports", serde_json::json!({"description": "楼下工厂排放气味", "address": "湖滨路9号", "attributes": {"frequency": "yearly"}}))
        .await;
    assert_eq!((s, e["error"]["field"].as_str()), (422, Some("attributes.frequency")), "{e}");
    let (s, r) = app
        .anon()
        .post(
            "/api/v1/reports",
            serde_json::json!({"description": "楼下工厂排放气味", "address": "湖滨路9号", "domain": "hostile", "category": "anything",
                               "attributes": {"frequency": "once", "people_affected": 3}}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    app.stop().await;
}

/// Files a report through the JSON intake: its public number.
async fn report(app: &App, domain: &str, category: &str, at: (f64, f64), description: &str) -> i64 {
    let (s, r) = app
        .anon()
        .post(
            "/api/v1/reports",
            serde_json::json!({"description": description, "domain": domain, "category": category,
                               "location": {"lat": at.0, "lon": at.1}, "address": "湖滨路9号"}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    r["id"].as_i64().unwrap()
}

fn ids_of(body: &str) -> Vec<i64> {
    serde_json::from_str::<Value>(body)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// A listing's page: (status, ids, the `Link` to the next page as a path).
async fn page(app: &App, path: &str) -> (u16, Vec<i64>, Option<String>, String) {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    let link = r.headers().get("link").map(|v| v.to_str().unwrap().to_string());
    let s = r.status().as_u16();
    let body = r.text().await.unwrap();
    let next = link.map(|l| {
        assert!(l.ends_with(">; rel=\"next\""), "{l}");
        l.trim_start_matches('<').split('>').next().unwrap().to_string()
    });
    let json = s == 200 && path.contains(".json");
    (s, if json { ids_of(&body) } else { vec![] }, next, body)
}

fn no_intake_limit(s: &mut casegrid::Settings) {
    s.auth.intake_per_minute = 0;
}

#[tokio::test]
async fn listings_are_capped_and_page_through_without_repeat_or_gap() {
    let app = App::spawn_with(&[&plugin("housing")], no_intake_limit).await;
    let mut filed = Vec::new();
    for i in 0..55 {
        filed.push(
            report(&app, "housing", "illegal-construction", (30.22, 120.12), &format!("楼顶违章搭建彩钢房 {i}")).await,
        );
    }
    filed.reverse();
    // A page holds 50 unless asked; the Link header names the next one.
    let (s, first, next, _) = page(&app, "/open311/v2/requests.json").await;
    assert_eq!((s, first.len()), (200, 50));
    let next = next.expect("a next page");
    assert!(next.starts_with("/open311/v2/requests.json?"), "{next}");
    // A report filed meanwhile is in no later page: the pages are keyed, not counted.
    let late = report(&app, "housing", "illegal-construction", (30.22, 120.12), "楼顶违章搭建彩钢房 迟到").await;
    let (_, rest, after, _) = page(&app, &next).await;
    assert_eq!(rest.len(), 5);
    assert!(after.is_none());
    assert_eq!([first, rest].concat(), filed, "every report once, newest first");
    // Smaller pages walk the same list.
    let (mut walked, mut at) = (Vec::new(), Some("/open311/v2/requests.json?page_size=7&status=open".to_string()));
    while let Some(path) = at {
        let (s, ids, next, body) = page(&app, &path).await;
        assert_eq!(s, 200, "{body}");
        assert!(ids.len() <= 7);
        walked.extend(ids);
        at = next;
    }
    assert_eq!(walked[0], late);
    assert_eq!(walked[1..], filed[..]);
    // XML pages too.
    let (_, _, next, x) = page(&app, "/open311/v2/requests.xml?page_size=3").await;
    assert!(next.unwrap().starts_with("/open311/v2/requests.xml?page_size=3&"), "{x}");
    assert_eq!(x.matches("<request>").count(), 3);
    // Too large a page, or too many ids, is the spec's 400 naming the parameter.
    let (s, _, _, e) = page(&app, "/open311/v2/requests.json?page_size=101").await;
    assert_eq!(s, 400);
    let e: Value = serde_json::from_str(&e).unwrap();
    assert_eq!(e[0]["code"], 400);
    assert!(e[0]["description"].as_str().unwrap().starts_with("page_size"), "{e}");
    let many: Vec<String> = (1..=51).map(|i| i.to_string()).collect();
    let (s, _, _, e) = page(&app, &format!("/open311/v2/requests.json?service_request_id={}", many.join(","))).await;
    assert_eq!(s, 400, "{e}");
    let e: Value = serde_json::from_str(&e).unwrap();
    assert_eq!(e[0]["code"], 400);
    assert!(e[0]["description"].as_str().unwrap().contains("at most 50"), "{e}");
    let (s, ids, _, e) =
        page(&app, &format!("/open311/v2/requests.json?service_request_id={}", many[..50].join(","))).await;
    assert_eq!(s, 200, "{e}");
    assert_eq!(ids, (1..=50).collect::<Vec<i64>>(), "in the order asked");
    assert_eq!(page(&app, "/open311/v2/requests.json?service_request_id=1,x").await.0, 400);
    assert_eq!(page(&app, "/open311/v2/requests.json?before=-3").await.0, 400);
    app.stop().await;
}

#[tokio::test]
async fn labour_reports_are_not_public_and_public_points_are_coarse() {
    let app = App::spawn_with(&[&plugin("housing"), &plugin("labour")], no_intake_limit).await;
    let admin = app.sign_in("admin", ADMIN_PASSWORD).await;
    let (s, e) = admin.post("/api/v1/open311-keys", serde_json::json!({"client": "x", "reads": "everything"})).await;
    assert_eq!((s, e["error"]["field"].as_str()), (422, Some("reads")), "{e}");
    let (_, k) = admin.post("/api/v1/open311-keys", serde_json::json!({"client": "市民服务App"})).await;
    let public_key = k["api_key"].as_str().unwrap().to_string();
    assert_eq!(k["info"]["reads"], "public");
    let (_, k) =
        admin.post("/api/v1/open311-keys", serde_json::json!({"client": "市劳动监察平台", "reads": "all"})).await;
    let all_key = k["api_key"].as_str().unwrap().to_string();

    let exact = (30.220_13, 120.120_47);
    let housing = report(&app, "housing", "illegal-construction", exact, "楼顶违章搭建彩钢房").await;
    let wages = report(&app, "labour", "wage-arrears", exact, "某服装厂拖欠我们三个月工资").await;
    let child = report(&app, "labour", "child-labour", exact, "某餐馆使用童工").await;

    // Anonymous, and a key that reads what the public reads: no labour report, by any route.
    for q in ["", &format!("?api_key={public_key}")] {
        let (_, ids, _, body) = page(&app, &format!("/open311/v2/requests.json{q}")).await;
        assert_eq!(ids, [housing], "{body}");
        let sep = if q.is_empty() { "?" } else { "&" };
        let (_, ids, _, _) =
            page(&app, &format!("/open311/v2/requests.json{q}{sep}service_request_id={housing},{wages},{child}")).await;
        assert_eq!(ids, [housing]);
        assert_eq!(raw(&app, &format!("/open311/v2/requests/{wages}.json{q}")).await.0, 404);
        assert_eq!(raw(&app, &format!("/open311/v2/tokens/{child}.json{q}")).await.0, 404);
        let (_, _, body) = raw(&app, &format!("/open311/v2/requests.xml{q}")).await;
        assert!(!body.contains("工资") && !body.contains("童工"), "{body}");
        // The point is the centre of its 100 m cell, without the address.
        let (_, _, one) = raw(&app, &format!("/open311/v2/requests/{housing}.json{q}")).await;
        let one: Value = serde_json::from_str(&one).unwrap();
        let (lat, lon) = (one[0]["lat"].as_f64().unwrap(), one[0]["long"].as_f64().unwrap());
        assert_eq!((lat, lon), casegrid::open311::coarsen(exact.0, exact.1, 100));
        assert_ne!((lat, lon), exact);
        let off = ((lat - exact.0) * 111_320.0).hypot((lon - exact.1) * 111_320.0 * exact.0.to_radians().cos());
        assert!(off < 71.0, "{off} m");
        assert!(one[0]["address"].is_null(), "{one}");
    }
    // A key that reads all sees every category, the exact point and the address; never contacts.
    let (_, mut ids, _, body) = page(&app, &format!("/open311/v2/requests.json?api_key={all_key}")).await;
    ids.sort();
    assert_eq!(ids, [housing, wages, child], "{body}");
    let (s, _, one) = raw(&app, &format!("/open311/v2/requests/{wages}.json?api_key={all_key}")).await;
    assert_eq!(s, 200);
    let one: Value = serde_json::from_str(&one).unwrap();
    assert_eq!((one[0]["lat"].as_f64(), one[0]["long"].as_f64()), (Some(exact.0), Some(exact.1)));
    assert_eq!(one[0]["address"], "湖滨路9号");
    // A wrong key is refused, not served as anonymous.
    assert_eq!(raw(&app, "/open311/v2/requests.json?api_key=cgk_wrong").await.0, 403);
    app.stop().await;

    // Exact points for everyone, and housing private, when the bureau says so.
    let app = App::spawn_with(&[&plugin("housing"), &plugin("labour")], |s| {
        no_intake_limit(s);
        s.open311.public_grid_m = 0;
        s.open311.private = vec!["housing.illegal-construction".into()];
    })
    .await;
    let housing = report(&app, "housing", "illegal-construction", exact, "楼顶违章搭建彩钢房").await;
    let shed = report(&app, "housing", "construction-waste", exact, "工地建筑垃圾乱倒").await;
    let wages = report(&app, "labour", "wage-arrears", exact, "某服装厂拖欠我们三个月工资").await;
    let (_, ids, _, body) = page(&app, "/open311/v2/requests.json").await;
    assert_eq!(ids, [wages, shed], "{body}");
    assert!(!ids.contains(&housing));
    let one: Value = serde_json::from_str(&raw(&app, &format!("/open311/v2/requests/{shed}.json")).await.2).unwrap();
    assert_eq!((one[0]["lat"].as_f64(), one[0]["long"].as_f64()), (Some(exact.0), Some(exact.1)));
    app.stop().await;
}

#[tokio::test]
async fn discovery_names_the_configured_address_never_the_host_header() {
    let app =
        App::spawn_with(&[&plugin("housing")], |s| s.public_url = Some("https://cases.example.gov.cn/".into())).await;
    let r = app.client.get(app.url("/open311/v2/discovery.json")).header("host", "evil.example").send().await.unwrap();
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["endpoints"][0]["url"], "https://cases.example.gov.cn/open311/v2");
    let r = app.client.get(app.url("/open311/v2/discovery.xml")).header("host", "evil.example").send().await.unwrap();
    let x = r.text().await.unwrap();
    assert!(x.contains("<url>https://cases.example.gov.cn/open311/v2</url>") && !x.contains("evil"), "{x}");
    app.stop().await;
    // Without one: the path alone, relative to where the client found the document.
    let app = App::spawn(&[&plugin("housing")]).await;
    let r = app.client.get(app.url("/open311/v2/discovery.json")).header("host", "evil.example").send().await.unwrap();
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["endpoints"][0]["url"], "/open311/v2");
    app.stop().await;
    // A public_url that is no absolute http(s) URL stops the start.
    let data = casegrid_tests::TempDir::new("bad-url");
    let mut s = casegrid_tests::test_settings(&data.0, &data.0);
    s.public_url = Some("cases.example.gov.cn".into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let e = casegrid::server::run(s, listener, async {}).await.unwrap_err();
    assert!(e.to_string().contains("public_url"), "{e}");
}

#[tokio::test]
async fn xml_answers_carry_no_code_point_xml_forbids() {
    let app = App::spawn_with(&[&plugin("housing")], no_intake_limit).await;
    let id = report(
        &app,
        "housing",
        "illegal-construction",
        (30.22, 120.12),
        "楼顶\u{1}违章\u{ffff}搭建\u{fffe}彩钢房\u{b}",
    )
    .await;
    let (s, _, x) = raw(&app, &format!("/open311/v2/requests/{id}.xml")).await;
    assert_eq!(s, 200);
    assert!(x.contains("<description>楼顶违章搭建彩钢房</description>"), "{x:?}");
    assert!(
        !x.chars()
            .any(|c| matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}'))
    );
    app.stop().await;
}

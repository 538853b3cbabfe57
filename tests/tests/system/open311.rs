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
    assert_eq!((r["lat"].as_f64(), r["long"].as_f64()), (Some(30.22), Some(120.12)));
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

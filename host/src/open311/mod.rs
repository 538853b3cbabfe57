//! Open311 GeoReport v2 at `/open311/v2/`, for existing clients unchanged: `discovery`, `services`
//! (the enabled plugins' report categories), `services/{code}` (the report form's fields beyond
//! the standard parameters, as attributes), `POST requests` (with an `api_key`), `tokens/{token}`,
//! `requests` and `requests/{id}`; each as `.json` or `.xml`. Errors are the spec's
//! `[{code, description}]` with 400, 403 or 404. A `service_request_id` is the report's public
//! number, not its tracking code: the code lets its holder rate and reopen the report, so only the
//! reporter gets it (in the `service_notice` of their POST), and public listings never show it.
//! `status` is `open` or `closed`, with our stage in `status_notes`; a report that became a case
//! is open until the case is closed. What a reader sees is in [`read`].

mod read;
mod xml;

pub use read::{MAX_IDS, MAX_PAGE, Reads, coarsen};

use crate::api_error::ApiError;
use crate::auth::extract::ClientIp;
use crate::auth::store::Actor;
use crate::intake::{Contact, LatLon, NewReport, Origin};
use crate::plugins::bindings::{FieldKind, Form};
use crate::server::AppState;
use crate::store::StoreError;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

/// `[open311]`: who reads what.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Open311Settings {
    /// Domains (`labour`) and service codes (`housing.illegal-construction`) whose requests are
    /// not listed to anonymous readers nor to keys that read `public`: reports that would expose
    /// their reporter (wage arrears, child labour: the employer knows who works there).
    pub private: Vec<String>,
    /// Public points are snapped to the centre of a grid cell of this many metres (and shown
    /// without their address); 0 shows them exact.
    pub public_grid_m: u32,
}

impl Default for Open311Settings {
    fn default() -> Self {
        Open311Settings { private: vec!["labour".into()], public_grid_m: 100 }
    }
}

/// What the Open311 routes know of the configuration.
#[derive(Clone, Debug)]
pub struct Open311 {
    pub settings: Open311Settings,
    /// `public_url` without its trailing `/`, if set.
    public_url: Option<String>,
}

impl Open311 {
    /// Checks the settings: `public_url` an absolute `http(s)` URL without query or fragment,
    /// each `private` entry a domain or a `domain.category`.
    pub fn new(settings: Open311Settings, public_url: Option<&str>) -> anyhow::Result<Open311> {
        let public_url = match public_url.map(str::trim).filter(|u| !u.is_empty()) {
            None => None,
            Some(u) => {
                let rest = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://"));
                let host_ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'));
                if !host_ok || u.contains(['?', '#', ' ', '<', '>', '"']) {
                    anyhow::bail!(
                        "public_url must be an absolute http:// or https:// URL without query or fragment (got `{u}`)"
                    );
                }
                Some(u.trim_end_matches('/').to_string())
            }
        };
        for p in &settings.private {
            let ok = !p.is_empty() && p.split('.').count() <= 2 && p.split('.').all(|x| !x.is_empty());
            if !ok {
                anyhow::bail!("open311.private: `{p}` is neither a domain nor a domain.category service code");
            }
        }
        Ok(Open311 { settings, public_url })
    }

    /// The GeoReport endpoint's address: under `public_url`, or (without one) the path alone, a
    /// reference relative to wherever the client found the discovery document. Never the
    /// request's `Host`, which the client chooses.
    fn base(&self) -> String {
        format!("{}/open311/v2", self.public_url.as_deref().unwrap_or(""))
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(top, post_request))
        .routes(routes!(service_definition))
        .routes(routes!(one_request))
        .routes(routes!(token))
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Json,
    Xml,
}

/// `name.json` / `name.xml` → (name, format).
fn split(file: &str) -> Option<(&str, Format)> {
    if let Some(n) = file.strip_suffix(".json") {
        Some((n, Format::Json))
    } else {
        file.strip_suffix(".xml").map(|n| (n, Format::Xml))
    }
}

/// The spec's error answer.
fn error(status: StatusCode, f: Format, description: &str) -> Response {
    let body = json!([{"code": status.as_u16(), "description": description}]);
    answer(status, f, "errors", "error", &body)
}

fn answer(status: StatusCode, f: Format, root: &str, item: &str, body: &Value) -> Response {
    match f {
        Format::Json => {
            (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response()
        }
        Format::Xml => (status, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml::document(root, item, body))
            .into_response(),
    }
}

fn unknown(file: &str) -> Response {
    let f = split(file).map_or(Format::Json, |x| x.1);
    error(StatusCode::NOT_FOUND, f, "no such resource: use .json or .xml")
}

#[utoipa::path(get, path = "/open311/v2/{file}", tag = "open311",
    params(("file" = String, Path, description = "`discovery`, `services` or `requests`, each `.json` or `.xml`")),
    responses((status = 200, description = "the GeoReport v2 answer", content((serde_json::Value = "application/json"), (String = "text/xml"))),
              (status = 400, description = "the spec's `[{code, description}]`, naming the parameter", content((serde_json::Value = "application/json"), (String = "text/xml"))),
              (status = 404, description = "no such resource", content((serde_json::Value = "application/json"), (String = "text/xml")))))]
async fn top(State(state): State<AppState>, Path(file): Path<String>, RawQuery(q): RawQuery) -> Response {
    match split(&file) {
        Some(("discovery", f)) => discovery(&state.open311, f),
        Some(("services", f)) => services(&state, f),
        Some(("requests", f)) => read::list(&state, f, q.as_deref().unwrap_or("")).await,
        _ => unknown(&file),
    }
}

fn discovery(o: &Open311, f: Format) -> Response {
    let body = json!({
        "changeset": "2026-11-26T00:00:00+08:00",
        "contact": "城市综合行政执法局 / the city's comprehensive administrative law-enforcement bureau",
        "key_service": "API keys are issued by the bureau's administrators",
        "endpoints": [{
            "specification": "http://wiki.open311.org/GeoReport_v2",
            "url": o.base(),
            "changeset": "2026-11-26T00:00:00+08:00",
            "type": "production",
            "formats": ["application/json", "text/xml"],
        }]
    });
    match f {
        Format::Json => ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response(),
        Format::Xml => {
            ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml::element("discovery", &body)).into_response()
        }
    }
}

fn services(state: &AppState, f: Format) -> Response {
    let plugins = state.registry.snapshot();
    let list: Vec<Value> = plugins
        .all()
        .map(|s| &s.plugin)
        .flat_map(|p| {
            let group = p.manifest().name.zh.clone();
            let domain = p.domain().to_string();
            p.data().categories.iter().map(move |c| {
                json!({"service_code": format!("{domain}.{}", c.code), "service_name": c.name.zh, "description": c.description.zh,
                       "metadata": true, "type": "realtime", "keywords": c.keywords_zh.join(","), "group": group})
            })
        })
        .collect();
    answer(StatusCode::OK, f, "services", "service", &Value::Array(list))
}

/// Report form fields the standard Open311 parameters already carry.
/// Report-form fields the GeoReport request's standard parameters carry (`occurred_at` is an
/// attribute of ours all the same).
const STANDARD: &[&str] = &["description", "category", "location", "address", "photos", "contact_phone"];

fn attributes(form: &Form) -> Vec<Value> {
    form.fields
        .iter()
        .filter(|x| !STANDARD.contains(&x.id.as_str()))
        .enumerate()
        .map(|(i, x)| {
            let (datatype, values) = match &x.kind {
                FieldKind::Text => ("string", vec![]),
                FieldKind::LongText => ("text", vec![]),
                FieldKind::Integer | FieldKind::Decimal | FieldKind::Money => ("number", vec![]),
                FieldKind::Date | FieldKind::Datetime => ("datetime", vec![]),
                FieldKind::Boolean => ("singlevaluelist", vec![json!({"key": "true", "name": "是"}), json!({"key": "false", "name": "否"})]),
                FieldKind::Choice | FieldKind::MultiChoice => {
                    let opts = x.constraints.iter().find_map(|c| match c {
                        crate::plugins::bindings::Constraint::Options(o) => Some(o.iter().map(|o| json!({"key": o.value, "name": o.label.zh})).collect()),
                        _ => None,
                    });
                    (if x.kind == FieldKind::Choice { "singlevaluelist" } else { "multivaluelist" }, opts.unwrap_or_default())
                }
                FieldKind::GeoPoint | FieldKind::Attachment => ("string", vec![]),
            };
            json!({"variable": true, "code": x.id, "datatype": datatype, "required": x.required, "datatype_description": x.help.zh,
                   "order": i + 1, "description": x.label.zh, "values": values})
        })
        .collect()
}

#[utoipa::path(get, path = "/open311/v2/services/{file}", tag = "open311",
    params(("file" = String, Path, description = "`{service_code}.json` or `.xml`")),
    responses((status = 200, description = "the service's attributes", content((serde_json::Value = "application/json"), (String = "text/xml"))),
              (status = 404, description = "no such service", content((serde_json::Value = "application/json"), (String = "text/xml")))))]
async fn service_definition(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let Some((code, f)) = split(&file) else { return unknown(&file) };
    let Some((domain, category)) = code.split_once('.') else {
        return error(StatusCode::NOT_FOUND, f, "no such service_code");
    };
    let plugins = state.registry.snapshot();
    let Some(p) = plugins.published(domain).filter(|p| p.data().categories.iter().any(|c| c.code == category)) else {
        return error(StatusCode::NOT_FOUND, f, "no such service_code");
    };
    let attrs = p.data().forms.iter().find(|x| x.id == "report").map(attributes).unwrap_or_default();
    let body = json!({"service_code": code, "attributes": attrs});
    match f {
        Format::Json => ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response(),
        Format::Xml => ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml::element("service_definition", &body))
            .into_response(),
    }
}

/// `application/x-www-form-urlencoded` pairs.
fn pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded(body)
}

fn form_urlencoded(b: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                        Ok(v) => {
                            out.push(v);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(b)
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(kv), String::new()),
        })
        .collect()
}

#[utoipa::path(post, path = "/open311/v2/{file}", tag = "open311",
    params(("file" = String, Path, description = "`requests.json` or `requests.xml`")),
    request_body(content = Object, content_type = "application/x-www-form-urlencoded",
                 description = "`api_key`, `service_code`, `lat`/`long` or `address_string`, `description`, `attribute[code]`…"),
    responses((status = 201, description = "`[{service_request_id, service_notice}]`", headers(("Location" = String, description = "where the request is read")), content((serde_json::Value = "application/json"), (String = "text/xml"))),
              (status = 400, description = "the spec's `[{code, description}]`, naming the parameter", content((serde_json::Value = "application/json"), (String = "text/xml"))),
              (status = 403, description = "a missing or wrong `api_key`", content((serde_json::Value = "application/json"), (String = "text/xml"))),
              (status = 404, description = "no such resource or service", content((serde_json::Value = "application/json"), (String = "text/xml"))),
              (status = 429, description = "`rate-limited`", body = ApiError)))]
async fn post_request(
    State(state): State<AppState>,
    Path(file): Path<String>,
    ip: ClientIp,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let Some(("requests", f)) = split(&file) else { return unknown(&file) };
    // Parameters may come in the body (the spec) or, from some clients, the query string.
    let mut params = pairs(&body);
    params.extend(pairs(q.unwrap_or_default().as_bytes()));
    let get =
        |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty());
    let Some(key) = get("api_key") else { return error(StatusCode::FORBIDDEN, f, "api_key is required") };
    let client = {
        let mut c = match state.db.pool().acquire().await {
            Ok(c) => c,
            Err(e) => return crate::api_error::ApiError::from(StoreError::from(e)).into_response(),
        };
        match crate::auth::store::open311_client(&mut c, &key).await {
            Ok(Some(k)) => k,
            Ok(None) => return error(StatusCode::FORBIDDEN, f, "invalid api_key"),
            Err(e) => return crate::api_error::ApiError::from(e).into_response(),
        }
    };
    let Some(service) = get("service_code") else {
        return error(StatusCode::BAD_REQUEST, f, "service_code is required");
    };
    let Some((domain, category)) = service.split_once('.') else {
        return error(StatusCode::BAD_REQUEST, f, "service_code: no such service");
    };
    let location = match (get("lat"), get("long")) {
        (Some(a), Some(b)) => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(lat), Ok(lon)) => Some(LatLon { lat, lon }),
            _ => return error(StatusCode::BAD_REQUEST, f, "lat and long must be numbers (WGS84)"),
        },
        (None, None) => None,
        _ => return error(StatusCode::BAD_REQUEST, f, "give both lat and long"),
    };
    // attribute[code] (and attribute[code][] for a multi-valued list): the report form's own
    // fields, typed by the form when the report is checked.
    let mut occurred_at = None;
    let mut attributes = std::collections::BTreeMap::<String, Value>::new();
    for (k, v) in &params {
        let (k, many) = match k.strip_suffix("[]") {
            Some(k) => (k, true),
            None => (k.as_str(), false),
        };
        if let Some(code) = k.strip_prefix("attribute[").and_then(|r| r.strip_suffix(']')) {
            match (code, many) {
                ("occurred_at", _) => occurred_at = Some(v.clone()),
                (code, true) => match attributes.entry(code.to_string()).or_insert_with(|| json!([])) {
                    Value::Array(a) => a.push(json!(v)),
                    other => *other = json!([other.clone(), v]),
                },
                (code, false) => {
                    attributes.insert(code.to_string(), json!(v));
                }
            }
        }
    }
    let name = [get("last_name"), get("first_name")].into_iter().flatten().collect::<Vec<_>>().join("");
    let report = NewReport {
        description: get("description").unwrap_or_default(),
        domain: Some(domain.to_string()),
        category: Some(category.to_string()),
        location,
        address: get("address_string"),
        occurred_at,
        contact: Some(Contact { name: Some(name).filter(|n| !n.is_empty()), phone: get("phone"), email: get("email") }),
        attributes: attributes.into(),
    };
    let origin = Origin {
        source: "open311",
        citizen: None,
        open311_key: Some(client.id),
        actor: Actor { id: None, label: format!("open311:{}", client.client), source: ip.0.to_string() },
    };
    match crate::intake::submit(&state, origin, report, Vec::new()).await {
        Ok(r) => {
            let code = &r.tracking_code;
            let notice = match &r.expected_response_by {
                Some(t) => format!(
                    "已受理，查询码 {code}，预计 {t} 前答复 / received: tracking code {code}, a response is due by {t}"
                ),
                None => format!("已受理，查询码 {code} / received: tracking code {code}"),
            };
            let body = json!([{"service_request_id": r.id.to_string(), "service_notice": notice, "account_id": null}]);
            let ext = if f == Format::Json { "json" } else { "xml" };
            let mut created = answer(StatusCode::CREATED, f, "service_requests", "request", &body);
            if let Ok(at) = format!("{}/requests/{}.{ext}", state.open311.base(), r.id).parse() {
                created.headers_mut().insert(header::LOCATION, at);
            }
            created
        }
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => {
            // The spec's shape, with the field named in the description.
            let status =
                if e.status == StatusCode::NOT_FOUND { StatusCode::NOT_FOUND } else { StatusCode::BAD_REQUEST };
            let field: String = match e.field.as_deref() {
                Some("location") => "lat/long".into(),
                Some("domain" | "category") => "service_code".into(),
                Some("occurred_at") => "attribute[occurred_at]".into(),
                Some("address") => "address_string".into(),
                Some("contact.phone") => "phone".into(),
                Some("contact.email") => "email".into(),
                Some(other) => match other.strip_prefix("attributes.") {
                    Some(code) => format!("attribute[{code}]"),
                    None => other.into(),
                },
                None => String::new(),
            };
            let desc = if field.is_empty() { e.message.clone() } else { format!("{field}: {}", e.message) };
            error(status, f, &desc)
        }
    }
}

#[utoipa::path(get, path = "/open311/v2/requests/{file}", tag = "open311",
    params(("file" = String, Path, description = "`{service_request_id}.json` or `.xml`")),
    responses((status = 200, description = "one request", content((serde_json::Value = "application/json"), (String = "text/xml"))),
              (status = 404, description = "no such request", content((serde_json::Value = "application/json"), (String = "text/xml")))))]
async fn one_request(State(state): State<AppState>, Path(file): Path<String>, RawQuery(q): RawQuery) -> Response {
    let Some((id, f)) = split(&file) else { return unknown(&file) };
    read::one(&state, f, id, q.as_deref().unwrap_or(""), false).await
}

#[utoipa::path(get, path = "/open311/v2/tokens/{file}", tag = "open311",
    params(("file" = String, Path, description = "`{token}.json` or `.xml`")),
    responses((status = 200, description = "the request behind a token", content((serde_json::Value = "application/json"), (String = "text/xml"))),
              (status = 404, description = "no such token", content((serde_json::Value = "application/json"), (String = "text/xml")))))]
async fn token(State(state): State<AppState>, Path(file): Path<String>, RawQuery(q): RawQuery) -> Response {
    let Some((token, f)) = split(&file) else { return unknown(&file) };
    read::one(&state, f, token, q.as_deref().unwrap_or(""), true).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_bodies_decode_plus_and_percent() {
        let p = super::form_urlencoded(
            b"description=%E6%A5%BC%E9%A1%B6+shed&lat=30.2&attribute%5Boccurred_at%5D=x&bad=%zz",
        );
        assert_eq!(p[0], ("description".into(), "楼顶 shed".into()));
        assert_eq!(p[2], ("attribute[occurred_at]".into(), "x".into()));
        assert_eq!(p[3], ("bad".into(), "%zz".into()));
    }
}

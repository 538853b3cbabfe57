//! Reading requests: `requests` (a list, paged), `requests/{id}` and `tokens/{token}`. Who reads
//! decides what is shown: anyone, and a key that reads `public`, get the public categories only,
//! points snapped to the grid of `open311.public_grid_m` and no address; a key that reads `all`
//! gets every category and the exact point. Nobody gets contact data or the tracking code.

use super::{Format, Open311, answer, error, pairs};
use crate::api_error::ApiError;
use crate::clock::iso_cst;
use crate::intake::store::{Open311Pick, Open311Reader, Open311Row, open311_reports};
use crate::server::AppState;
use crate::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// At most this many `service_request_id`s in one call.
pub const MAX_IDS: usize = 50;
/// A page holds `page_size` requests: 50 unless asked, at most this many.
pub const MAX_PAGE: i64 = 100;
const DEFAULT_PAGE: i64 = 50;
/// At most this many `service_code`s in one listing.
const MAX_SERVICES: usize = 50;

/// What an Open311 key reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    /// What anyone reads: the public categories, points on the public grid, no address.
    Public,
    /// Every category and the exact point (a partner the bureau trusts, e.g. the city's own app).
    All,
}

impl Reads {
    pub fn parse(s: &str) -> Option<Reads> {
        match s {
            "public" => Some(Reads::Public),
            "all" => Some(Reads::All),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reads::Public => "public",
            Reads::All => "all",
        }
    }
}

/// The caller's `api_key`, if any: anonymous reads are public; a wrong key is 403.
async fn reads_of(state: &AppState, f: Format, key: Option<&str>) -> Result<Reads, Response> {
    let Some(key) = key else { return Ok(Reads::Public) };
    let mut c = state.db.pool().acquire().await.map_err(|e| ApiError::from(StoreError::from(e)).into_response())?;
    match crate::auth::store::open311_client(&mut c, key).await {
        Ok(Some(k)) => Ok(Reads::parse(&k.reads).unwrap_or(Reads::Public)),
        Ok(None) => Err(error(StatusCode::FORBIDDEN, f, "invalid api_key")),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

/// The centre of the cell of a grid of `m` metres that holds the point, to 6 decimals (0: the point).
pub fn coarsen(lat: f64, lon: f64, m: u32) -> (f64, f64) {
    if m == 0 {
        return (lat, lon);
    }
    const METRES_PER_DEGREE: f64 = 111_320.0;
    let snap = |x: f64, step: f64| (x / step).floor() * step + step / 2.0;
    let round = |x: f64| (x * 1e6).round() / 1e6;
    let step_lat = f64::from(m) / METRES_PER_DEGREE;
    let cell_lat = snap(lat, step_lat);
    let step_lon = f64::from(m) / (METRES_PER_DEGREE * cell_lat.to_radians().cos().max(0.01));
    (round(cell_lat), round(snap(lon, step_lon)))
}

/// One request in the spec's fields.
fn request_json(x: &Open311Row, team: Option<&str>, state: &AppState, reads: Reads) -> Value {
    let r = &x.report;
    let plugins = state.registry.snapshot();
    let service_name = r.domain.as_deref().and_then(|d| plugins.published(d)).and_then(|p| {
        p.data().categories.iter().find(|c| Some(&c.code) == r.category.as_ref()).map(|c| c.name.zh.clone())
    });
    // A report that became a case is open until the case is closed: enforcement has just begun.
    let case_open = r.status == "case-opened" && x.case_closed_at.is_none();
    let open = case_open || matches!(r.status.as_str(), "triage" | "dispatched" | "accepted");
    let stage = if r.status == "case-opened" && !case_open { "case-closed" } else { r.status.as_str() };
    let notes = match &r.result {
        Some(res) => format!("{stage}: {res}"),
        None => stage.to_string(),
    };
    let exact = reads == Reads::All || state.open311.settings.public_grid_m == 0;
    let point = r
        .lat
        .zip(r.lon)
        .map(|(lat, lon)| if exact { (lat, lon) } else { coarsen(lat, lon, state.open311.settings.public_grid_m) });
    json!({
        "service_request_id": r.id.to_string(),
        "status": if open { "open" } else { "closed" },
        "status_notes": notes,
        "service_name": service_name,
        "service_code": r.domain.as_ref().zip(r.category.as_ref()).map(|(d, c)| format!("{d}.{c}")),
        "description": r.description,
        "agency_responsible": team,
        "service_notice": null,
        "requested_datetime": iso_cst(r.created_at),
        "updated_datetime": iso_cst(r.updated_at),
        "expected_datetime": r.handle_due_at.map(iso_cst),
        // An address is as exact as the point.
        "address": if exact { r.address.clone() } else { None },
        "address_id": null,
        "zipcode": null,
        "lat": point.map(|p| p.0),
        "long": point.map(|p| p.1),
        "media_url": null,
    })
}

/// The reports `pick` names that `reads` may see, each with its team's name, in one query.
async fn load(
    state: &AppState,
    pick: &Open311Pick<'_>,
    reads: Reads,
) -> Result<Vec<(Open311Row, Option<String>)>, Response> {
    let fail = |e: StoreError| ApiError::from(e).into_response();
    let mut c = state.db.pool().acquire().await.map_err(|e| fail(e.into()))?;
    let org = crate::auth::store::org_index(&mut c).await.map_err(fail)?;
    let reader =
        Open311Reader { hidden: (reads == Reads::Public).then_some(state.open311.settings.private.as_slice()) };
    let rows = open311_reports(&mut c, pick, &reader).await.map_err(fail)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let team = r.report.team_id.and_then(|t| org.team(t)).map(|t| t.name.clone());
            (r, team)
        })
        .collect())
}

fn listing(state: &AppState, f: Format, found: &[(Open311Row, Option<String>)], reads: Reads) -> Response {
    let list: Vec<Value> = found.iter().map(|(r, t)| request_json(r, t.as_deref(), state, reads)).collect();
    answer(StatusCode::OK, f, "service_requests", "request", &Value::Array(list))
}

/// `requests/{id}`; `tokens/{token}` (requests are filed at once, so a token is the request's id).
pub async fn one(state: &AppState, f: Format, id: &str, query: &str, token: bool) -> Response {
    let params = pairs(query.as_bytes());
    let key = params.iter().find(|(k, v)| k == "api_key" && !v.is_empty()).map(|(_, v)| v.as_str());
    let reads = match reads_of(state, f, key).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    let what = if token { "no such token" } else { "no such service_request_id" };
    let Ok(n) = id.trim().parse::<i64>() else { return error(StatusCode::NOT_FOUND, f, what) };
    match load(state, &Open311Pick::Ids(&[n]), reads).await {
        Ok(found) if found.is_empty() => error(StatusCode::NOT_FOUND, f, what),
        Ok(found) if token => {
            let body = json!([{"service_request_id": found[0].0.report.id.to_string(), "token": id}]);
            answer(StatusCode::OK, f, "service_requests", "request", &body)
        }
        Ok(found) => listing(state, f, &found, reads),
        Err(e) => e,
    }
}

/// A query's parameters: the first non-empty value of one, and every comma-separated value of one
/// given any number of times.
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, k: &str) -> Option<String> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == k)
            .flat_map(|(_, v)| v.split(','))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// A positive whole number, or the message naming the parameter.
    fn positive(&self, k: &str, max: Option<i64>) -> Result<Option<i64>, String> {
        let Some(v) = self.get(k) else { return Ok(None) };
        match (v.parse::<i64>(), max) {
            (Ok(n), Some(m)) if (1..=m).contains(&n) => Ok(Some(n)),
            (Ok(n), None) if n > 0 => Ok(Some(n)),
            _ => Err(match max {
                Some(m) => format!("{k}: a whole number from 1 to {m}"),
                None => format!("{k}: a positive whole number"),
            }),
        }
    }
}

/// `service_request_id=1,2,3`: at most [`MAX_IDS`], each a number; one query for them all.
async fn by_ids(state: &AppState, f: Format, ids: &[String], reads: Reads) -> Response {
    if ids.len() > MAX_IDS {
        return error(StatusCode::BAD_REQUEST, f, &format!("service_request_id: at most {MAX_IDS} ids in one call"));
    }
    let mut numbers = Vec::with_capacity(ids.len());
    for id in ids {
        match id.parse::<i64>() {
            Ok(n) if !numbers.contains(&n) => numbers.push(n),
            Ok(_) => {}
            Err(_) => return error(StatusCode::BAD_REQUEST, f, "service_request_id: comma-separated numbers"),
        }
    }
    match load(state, &Open311Pick::Ids(&numbers), reads).await {
        Ok(mut found) => {
            // In the order asked.
            found.sort_by_key(|(r, _)| numbers.iter().position(|n| *n == r.report.id));
            listing(state, f, &found, reads)
        }
        Err(e) => e,
    }
}

/// What a listing asks for, checked: the dates, the statuses, the services and the page.
struct Listing {
    start: i64,
    end: i64,
    open: Option<bool>,
    services: Vec<String>,
    before: Option<i64>,
    page_size: i64,
}

fn listing_of(p: &Params) -> Result<Listing, String> {
    let date = |k: &str| -> Result<Option<i64>, String> {
        match p.get(k) {
            None => Ok(None),
            Some(v) => crate::clock::parse_rfc3339(&v)
                .map(|x| Some(x.0))
                .ok_or_else(|| format!("{k}: an ISO 8601 date and time with its zone")),
        }
    };
    let end = date("end_date")?.unwrap_or_else(crate::store::now_ms);
    // The spec: the range defaults to the last 90 days and may not span more.
    const SPAN: i64 = 90 * 86_400_000;
    let start = date("start_date")?.unwrap_or(end - SPAN);
    if end - start > SPAN || end < start {
        return Err("start_date to end_date: at most 90 days, in order".into());
    }
    let statuses = p.all("status");
    if statuses.iter().any(|s| s != "open" && s != "closed") {
        return Err("status: open and/or closed".into());
    }
    let open = match (statuses.iter().any(|s| s == "open"), statuses.iter().any(|s| s == "closed")) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    };
    let services = p.all("service_code");
    if services.len() > MAX_SERVICES {
        return Err(format!("service_code: at most {MAX_SERVICES} codes"));
    }
    let before = p.positive("before", None)?;
    let page_size = p.positive("page_size", Some(MAX_PAGE))?.unwrap_or(DEFAULT_PAGE);
    Ok(Listing { start, end, open, services, before, page_size })
}

/// A query value, percent-encoded.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The next page's address: the same query with its dates fixed (so that no page shifts) and
/// `before` the last id shown. The `api_key` is left out: a secret is not echoed into headers.
fn next_link(o: &Open311, f: Format, p: &Params, l: &Listing, last: i64) -> String {
    let mut q: Vec<String> =
        p.0.iter()
            .filter(|(k, _)| !matches!(k.as_str(), "before" | "start_date" | "end_date" | "api_key"))
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
    q.push(format!("start_date={}", encode(&crate::clock::rfc3339(l.start))));
    q.push(format!("end_date={}", encode(&crate::clock::rfc3339(l.end))));
    q.push(format!("before={last}"));
    let ext = if f == Format::Xml { "xml" } else { "json" };
    format!("<{}/requests.{ext}?{}>; rel=\"next\"", o.base(), q.join("&"))
}

/// `requests`: by ids, or a page of the listing, newest first; a `Link` header (`rel="next"`)
/// names the next page while there is one.
pub async fn list(state: &AppState, f: Format, query: &str) -> Response {
    let p = Params(pairs(query.as_bytes()));
    let reads = match reads_of(state, f, p.get("api_key").as_deref()).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    let ids = p.all("service_request_id");
    if !ids.is_empty() {
        return by_ids(state, f, &ids, reads).await;
    }
    let l = match listing_of(&p) {
        Ok(l) => l,
        Err(m) => return error(StatusCode::BAD_REQUEST, f, &m),
    };
    let pick = Open311Pick::Page {
        start: l.start,
        end: l.end,
        before: l.before,
        open: l.open,
        services: &l.services,
        limit: l.page_size + 1,
    };
    let mut found = match load(state, &pick, reads).await {
        Ok(found) => found,
        Err(e) => return e,
    };
    let more = found.len() as i64 > l.page_size;
    found.truncate(l.page_size as usize);
    let mut resp = listing(state, f, &found, reads);
    if let (true, Some((last, _))) = (more, found.last()) {
        if let Ok(v) = HeaderValue::from_str(&next_link(&state.open311, f, &p, &l, last.report.id)) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::coarsen;

    fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
        let dy = (a.0 - b.0) * 111_320.0;
        let dx = (a.1 - b.1) * 111_320.0 * a.0.to_radians().cos();
        (dx * dx + dy * dy).sqrt()
    }

    #[test]
    fn points_snap_to_the_centre_of_their_grid_cell() {
        let p = (30.220_13, 120.120_47);
        let c = coarsen(p.0, p.1, 100);
        assert_ne!(c, p);
        assert!(metres(p, c) <= 100.0 * std::f64::consts::FRAC_1_SQRT_2 + 0.5, "{c:?} is {} m away", metres(p, c));
        // Every point of the cell gives the same answer: the cell's centre.
        assert_eq!(coarsen(c.0, c.1, 100), c);
        assert_eq!(coarsen(p.0 + 0.000_01, p.1 - 0.000_01, 100), c);
        // A point a cell away does not.
        assert_ne!(coarsen(p.0 + 0.001, p.1, 100), c);
        assert_eq!(coarsen(p.0, p.1, 0), p);
    }
}

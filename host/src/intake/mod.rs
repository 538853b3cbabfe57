//! Citizens' reports ("People's e-Eye"): intake at any hour, validated by the domain plugin's report
//! form; routing by classification when the citizen does not know the domain; dispatch to the team
//! covering the place; the team's actions; the clock; the citizen's tracking, rating and reopening.
//! A report is stored whole, with its attachments, its first timeline entries and its outbox
//! messages, in one transaction, or not at all.

pub mod attributes;
pub mod deadlines;
pub mod objects;
pub mod routes;
pub mod service;
pub mod store;
pub mod upload;

use crate::api_error::ApiError;
use crate::auth::store::{Actor, Conn};
use crate::clock::{Calendar, parse_rfc3339};
use crate::dispatch::geo::GeoPoint;
use crate::notify::NotifySettings;
use crate::plugins::bindings::{Attachment, Datetime, FieldError, FieldValue, TimeLimit, TimeUnit, Value as PValue};
use crate::plugins::{Plugin, Served, Snapshot};
use crate::server::AppState;
use crate::store::{StoreError, now_ms, rfc3339};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use store::{AttachmentRow, ReportRow};

/// `[intake]` in the settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntakeSettings {
    /// A dispatched report is acknowledged within this many working days (categories whose limit
    /// is in hours are acknowledged within that limit).
    pub acknowledge_working_days: u32,
    /// Open reports of the same category this close…
    pub duplicate_radius_m: f64,
    /// …and this recent are suggested as duplicates.
    pub duplicate_window_days: u32,
    pub max_attachments: usize,
    pub max_attachment_bytes: usize,
    /// Photos being received are held in memory, across all requests, up to this many bytes
    /// (at least one report's worth: `max_attachments × max_attachment_bytes`); beyond it a new
    /// upload is refused with 503 and `Retry-After`.
    pub upload_memory_bytes: usize,
    /// A citizen may reopen a closed report within this many days.
    pub reopen_days: u32,
    /// The team is reminded this long before a deadline.
    pub remind_before_minutes: u32,
    /// Extra working-day calendar files (TOML), added to the bundled official calendar.
    pub calendar_files: Vec<std::path::PathBuf>,
    /// Where attachments and evidence files are kept: `kind = "local"` (the data directory) or
    /// `kind = "s3"` with an endpoint, region, bucket and keys.
    pub objects: objects::ObjectSettings,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        Self {
            acknowledge_working_days: 1,
            duplicate_radius_m: 200.0,
            duplicate_window_days: 7,
            max_attachments: 9,
            max_attachment_bytes: 10 << 20,
            upload_memory_bytes: 256 << 20,
            reopen_days: 7,
            remind_before_minutes: 240,
            calendar_files: Vec::new(),
            objects: objects::ObjectSettings::Local,
        }
    }
}

/// Intake's share of the server state.
#[derive(Debug)]
pub struct IntakeState {
    pub settings: IntakeSettings,
    pub calendar: Calendar,
    pub objects: Arc<dyn objects::ObjectStore>,
    pub notify: NotifySettings,
    /// What photos being received may hold in memory, all requests together.
    pub uploads: upload::UploadBudget,
}

impl IntakeSettings {
    /// The upload budget these settings give: never less than one report's photos.
    pub fn upload_budget(&self) -> upload::UploadBudget {
        upload::UploadBudget::new(self.upload_memory_bytes.max(self.max_attachments * self.max_attachment_bytes))
    }
}

fn invalid(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).field(field)
}

/// What serves an enabled `domain` in `plugins` (422 `unknown-domain` naming the field `domain`);
/// a domain in manual mode is enabled, but nothing is called.
pub(crate) fn enabled<'a>(plugins: &'a Snapshot, domain: &str) -> Result<&'a Served, ApiError> {
    plugins
        .served(domain)
        .ok_or_else(|| invalid("domain", "unknown-domain", format!("no domain `{domain}` is enabled")))
}

/// Checks that `category` is one of the enabled `domain`'s report categories.
pub(crate) fn check_category(plugins: &Snapshot, domain: &str, category: &str) -> Result<(), ApiError> {
    if enabled(plugins, domain)?.plugin.data().categories.iter().any(|x| x.code == category) {
        Ok(())
    } else {
        Err(invalid("category", "unknown-category", format!("`{category}` is not a report category of {domain}")))
    }
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// A report as a citizen (or an Open311 client) sends it.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    pub description: String,
    /// The domain, if the citizen knows it; else the platform classifies the text.
    pub domain: Option<String>,
    /// A report category of the domain.
    pub category: Option<String>,
    pub location: Option<LatLon>,
    pub address: Option<String>,
    /// When it happened, RFC 3339 (`2026-11-26T09:30:00+08:00`).
    pub occurred_at: Option<String>,
    pub contact: Option<Contact>,
    /// The domain's own report-form fields beyond these (Open311's `attribute[…]`), by field id,
    /// bounded as they are read ([`attributes`]).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: attributes::Attributes,
}

/// The report-form fields the envelope itself carries: never given as attributes.
pub const ENVELOPE_FIELDS: [&str; 7] =
    ["description", "category", "location", "address", "occurred_at", "photos", "contact_phone"];

/// One attribute as the domain's report form types it. Form-encoded clients send every value as
/// text, so text is read for each kind.
fn attribute_value(kind: &crate::plugins::bindings::FieldKind, v: &serde_json::Value) -> Result<PValue, String> {
    use crate::plugins::bindings::FieldKind as K;
    let text = || {
        v.as_str()
            .map(str::trim)
            .map(str::to_string)
            .or_else(|| (v.is_number() || v.is_boolean()).then(|| v.to_string()))
    };
    let number = || v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
    Ok(match kind {
        K::Text | K::LongText => PValue::Text(text().ok_or("text")?),
        K::Integer => PValue::Integer(
            v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())).ok_or("a whole number")?,
        ),
        K::Decimal => PValue::Decimal(number().filter(|x| x.is_finite()).ok_or("a number")?),
        // Money is given in yuan, kept in fen.
        K::Money => PValue::Money(
            number()
                .filter(|x| x.is_finite() && x.abs() < 1e15)
                .map(|y| (y * 100.0).round() as i64)
                .ok_or("an amount in yuan")?,
        ),
        K::Date => {
            let d = crate::clock::Day::parse(&text().unwrap_or_default()).ok_or("a date, YYYY-MM-DD")?.to_string();
            let p: Vec<i64> = d.split('-').filter_map(|x| x.parse().ok()).collect();
            PValue::Date(crate::plugins::bindings::Date { year: p[0] as i32, month: p[1] as u8, day: p[2] as u8 })
        }
        K::Datetime => {
            PValue::Datetime(datetime(parse_rfc3339(&text().unwrap_or_default()).ok_or("an RFC 3339 date and time")?))
        }
        K::Choice => PValue::Choice(text().ok_or("one of the listed values")?),
        K::MultiChoice => PValue::MultiChoice(match v {
            serde_json::Value::Array(a) => {
                a.iter().map(|x| x.as_str().map(str::to_string).ok_or("values as text")).collect::<Result<_, _>>()?
            }
            _ => text().ok_or("values")?.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
        }),
        K::Boolean => PValue::Boolean(match v {
            serde_json::Value::Bool(b) => *b,
            _ => match text().as_deref() {
                Some("true") => true,
                Some("false") => false,
                _ => return Err("true or false".into()),
            },
        }),
        K::GeoPoint | K::Attachment => {
            return Err("given through the envelope (location, photos), not as an attribute".into());
        }
    })
}

/// A time as the plugins take it, from (Unix ms, offset minutes).
fn datetime((ms, offset_minutes): (i64, i16)) -> Datetime {
    Datetime { seconds: ms.div_euclid(1000), offset_minutes }
}

/// An uploaded file, checked, before it is stored.
pub struct Upload {
    pub file_name: String,
    pub media_type: String,
    pub bytes: bytes::Bytes,
}

/// Where a report came from.
pub struct Origin {
    pub source: &'static str,
    pub citizen: Option<i64>,
    pub open311_key: Option<i64>,
    pub actor: Actor,
}

/// What the citizen is told at once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Receipt {
    pub id: i64,
    pub tracking_code: String,
    pub status: String,
    pub domain: Option<String>,
    pub category: Option<String>,
    /// The team's name, when one was assigned.
    pub team: Option<String>,
    /// When the citizen can expect a response.
    pub expected_response_by: Option<String>,
    pub routing: RoutingNote,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RoutingNote {
    /// `given` (the citizen chose), `classified`, or `triage`.
    pub how: &'static str,
    pub reason: String,
    /// Which version of the domain's plugin checked the report form: none while the domain is in
    /// manual mode or the report waits in triage. Kept on the timeline, not shown to the citizen.
    #[serde(skip)]
    pub validated_by: Option<String>,
}

fn tracking_code() -> String {
    // 12 symbols of 32 (60 bits): unguessable, short to read out on the phone, no 0/O or 1/I/L.
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let raw = crate::auth::secrets::random_bytes::<12>();
    let s: String = raw.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect();
    format!("{}-{}-{}", &s[..4], &s[4..8], &s[8..])
}

/// Normalises a tracking code as people type it (lower case, without dashes).
pub fn normalise_code(s: &str) -> Option<String> {
    let raw: String = s.chars().filter(|c| *c != '-' && !c.is_whitespace()).collect::<String>().to_uppercase();
    (raw.len() == 12 && raw.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| format!("{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..]))
}

/// The deadlines of a report received (or reopened) at `from` in a category with this response
/// limit: (acknowledge by, handle by).
pub fn deadlines(cal: &Calendar, s: &IntakeSettings, from: i64, limit: &TimeLimit) -> (i64, i64) {
    match limit.unit {
        TimeUnit::Hours => {
            let due = from + i64::from(limit.amount) * 3_600_000;
            (due, due)
        }
        TimeUnit::WorkingDays => {
            let due = cal.end_of_working_days(from, limit.amount);
            (acknowledge_by(cal, s, from).min(due), due)
        }
        TimeUnit::CalendarDays => {
            let due = crate::clock::Day::of(from).0 + i64::from(limit.amount) + 1;
            let due = crate::clock::Day(due).start_ms();
            (acknowledge_by(cal, s, from).min(due), due)
        }
    }
}

/// When a report received at `from` (or sent back to triage then) is acknowledged at the latest.
fn acknowledge_by(cal: &Calendar, s: &IntakeSettings, from: i64) -> i64 {
    cal.end_of_working_days(from, s.acknowledge_working_days)
}

/// (acknowledge by, handle by) for a report of `domain` and `category` timed from `from`, by the
/// category's response limit in the domain's published data (manual mode included); none
/// without a domain and category, or for a category the domain does not publish.
fn due_dates(
    intake: &IntakeState,
    plugins: &Snapshot,
    domain: Option<&str>,
    category: Option<&str>,
    from: i64,
) -> Option<(i64, i64)> {
    let (d, cat) = (domain?, category?);
    let limit = plugins.published(d)?.data().categories.iter().find(|x| x.code == cat).map(|x| x.response)?;
    Some(deadlines(&intake.calendar, &intake.settings, from, &limit))
}

/// Files a report: checks it, routes it, assigns it, stores it with its attachments and
/// messages. Nothing is stored when it fails.
pub async fn submit(state: &AppState, origin: Origin, r: NewReport, uploads: Vec<Upload>) -> Result<Receipt, ApiError> {
    let intake = &state.intake;
    let now = now_ms();
    // One snapshot for the whole report: classified, validated and timed by the same versions.
    let plugins = state.registry.snapshot();
    r.attributes.check()?;
    let env = check_envelope(&r, now)?;
    check_uploads(&intake.settings, &uploads)?;
    let mut routed = route(state, &plugins, &r, &env.description, now).await?;
    let code = tracking_code();
    let keys = object_keys(now, uploads.len());
    let validated_by = check_form(&plugins, &r, &env, &routed, &uploads, &keys, now).await?;
    routed.note.validated_by = validated_by;
    let mut c = service::conn(state).await?;
    let a = assign(intake, &mut c, &plugins, &routed, env.at, now).await?;
    // Nothing more is read: the connection goes back before the files are written and committed.
    drop(c);
    // Files first, then one transaction; the files are taken back when the transaction fails.
    let rows = put_files(intake, &uploads, &keys).await?;
    let report = report_row(&origin, &r, env, &routed, &a, &code, now);
    let filed = Filed {
        actor: origin.actor,
        open311_key: origin.open311_key,
        report,
        files: rows.clone(),
        how: routed.note.how,
        reason: routed.note.reason.clone(),
        validated_by: routed.note.validated_by.clone(),
        assigned: a.reason.clone(),
    };
    let id = match store_new(state, filed).await {
        Ok(id) => id,
        Err(e) => {
            take_back(intake, &rows).await;
            return Err(e);
        }
    };
    Ok(Receipt {
        id,
        tracking_code: code,
        status: a.status.into(),
        domain: routed.domain,
        category: routed.category,
        team: a.team,
        expected_response_by: a.handle_due.or(a.ack_due).map(rfc3339),
        routing: routed.note,
    })
}

/// The envelope, checked: what every report carries, whatever its domain.
struct Envelope {
    description: String,
    at: Option<GeoPoint>,
    address: Option<String>,
    /// (Unix ms, offset minutes), as given.
    occurred: Option<(i64, i16)>,
    contact: Contact,
}

/// Checks the envelope. Every field's problem is reported at once, so that a form can mark them
/// all.
fn check_envelope(r: &NewReport, now: i64) -> Result<Envelope, ApiError> {
    let mut problems: Vec<ApiError> = Vec::new();
    let description = r.description.trim().to_string();
    if description.chars().count() < 5 {
        problems.push(invalid("description", "too-short", "describe what you saw in at least 5 characters"));
    }
    if description.chars().count() > 2000 {
        problems.push(invalid("description", "too-long", "at most 2000 characters"));
    }
    let at = match &r.location {
        Some(l) => {
            let p = GeoPoint::new(l.lat, l.lon);
            if p.is_none() {
                problems.push(invalid("location", "out-of-range", "lat in [-90, 90], lon in [-180, 180] (WGS84)"));
            }
            p
        }
        None => None,
    };
    let address = r.address.as_deref().map(str::trim).filter(|a| !a.is_empty()).map(str::to_string);
    if r.location.is_none() && address.is_none() {
        problems.push(invalid("location", "required", "give the location (lat, lon) or the address"));
    }
    if address.as_ref().is_some_and(|a| a.chars().count() > 200) {
        problems.push(invalid("address", "too-long", "at most 200 characters"));
    }
    let occurred = r.occurred_at.as_deref().and_then(|t| occurred_at(t, now, &mut problems));
    let mut contact = r.contact.clone().unwrap_or_default();
    if let Some(p) = &contact.phone {
        match mobile(p) {
            Some(m) => contact.phone = Some(m),
            None => problems.push(invalid(
                "contact.phone",
                "invalid-phone",
                "a mainland mobile number: 11 digits, 13… to 19…",
            )),
        }
    }
    if let Some(e) = &contact.email
        && !crate::ids::is_email(e)
    {
        problems.push(invalid("contact.email", "invalid-email", "not an e-mail address"));
    }
    if contact.name.as_ref().is_some_and(|n| n.chars().count() > 64) {
        problems.push(invalid("contact.name", "too-long", "at most 64 characters"));
    }
    all_at_once(problems)?;
    Ok(Envelope { description, at, address, occurred, contact })
}

/// A mobile number as people write it (`139 1234 0000`, `139-1234-0000`, `+86 13912340000`),
/// as 11 digits; none unless it is a mainland mobile number.
fn mobile(s: &str) -> Option<String> {
    let digits: String = s.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let digits = digits.strip_prefix("+86").or_else(|| digits.strip_prefix("0086")).unwrap_or(&digits).to_string();
    crate::ids::is_mobile(&digits).then_some(digits)
}

/// When it happened: an RFC 3339 time, not in the future; else its problem joins `problems`.
fn occurred_at(t: &str, now: i64, problems: &mut Vec<ApiError>) -> Option<(i64, i16)> {
    match parse_rfc3339(t) {
        None => {
            problems.push(invalid(
                "occurred_at",
                "invalid-datetime",
                "an RFC 3339 date and time, e.g. 2026-11-26T09:30:00+08:00",
            ));
            None
        }
        // A few minutes' grace for the client's clock.
        Some((ms, _)) if ms > now + 300_000 => {
            problems.push(invalid("occurred_at", "in-future", "cannot lie in the future"));
            None
        }
        Some(o) => Some(o),
    }
}

/// The envelope's problems as one error: the first, every one in `details` as the plugin's are.
fn all_at_once(problems: Vec<ApiError>) -> Result<(), ApiError> {
    let Some(first) = problems.first() else { return Ok(()) };
    let all: Vec<serde_json::Value> = problems
        .iter()
        .map(|p| serde_json::json!({"field": p.field, "code": p.code, "message": {"en": p.message}}))
        .collect();
    let mut e = invalid(first.field.clone().unwrap_or_default(), first.code, first.message.clone());
    e.details = Some(Box::new(serde_json::Value::Array(all)));
    Err(e)
}

/// At most so many files, each within the size limit and the image it claims to be.
fn check_uploads(s: &IntakeSettings, uploads: &[Upload]) -> Result<(), ApiError> {
    if uploads.len() > s.max_attachments {
        return Err(invalid("photos", "too-many", format!("at most {} files", s.max_attachments)));
    }
    for (i, u) in uploads.iter().enumerate() {
        if u.bytes.len() > s.max_attachment_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "attachment-too-large",
                format!("each file at most {} bytes", s.max_attachment_bytes),
            )
            .field(format!("photos[{i}]")));
        }
        if objects::sniff(&u.bytes) != Some(u.media_type.as_str()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "attachment-type",
                format!("`{}` is not a {} image", u.file_name, u.media_type),
            )
            .field(format!("photos[{i}]")));
        }
    }
    Ok(())
}

/// Where a report goes: its domain and category (none: it waits in triage), and why.
struct Routed {
    domain: Option<String>,
    category: Option<String>,
    note: RoutingNote,
}

/// Domain and category: as given, classified from the text, or left to the command centre.
async fn route(
    state: &AppState,
    plugins: &Snapshot,
    r: &NewReport,
    description: &str,
    now: i64,
) -> Result<Routed, ApiError> {
    let routed = |domain, category, how, reason| Routed {
        domain,
        category,
        note: RoutingNote { how, reason, validated_by: None },
    };
    match (&r.domain, &r.category) {
        (None, Some(_)) => Err(invalid("domain", "required", "a category belongs to a domain: give the domain too")),
        (Some(d), Some(c)) => {
            check_category(plugins, d, c)?;
            let reason = "the reporter chose the domain and category".into();
            Ok(routed(Some(d.clone()), Some(c.clone()), "given", reason))
        }
        (Some(d), None) => {
            let served = enabled(plugins, d)?;
            let scores =
                if served.manual { Vec::new() } else { served.plugin.classify(description, now / 1000).await? };
            Ok(match scores.first().filter(|s| s.score >= state.routing.min_score) {
                Some(best) => {
                    let reason = format!("within {d}: {} scored {:.2}", best.category, best.score);
                    routed(Some(d.clone()), Some(best.category.clone()), "classified", reason)
                }
                None => {
                    routed(Some(d.clone()), None, "triage", format!("no category of {d} fits the text well enough"))
                }
            })
        }
        (None, None) => {
            let decision = crate::routing::route(plugins, description, now / 1000, state.routing).await;
            Ok(match decision.outcome {
                crate::routing::Outcome::Routed { domain: d, category: c } => {
                    routed(Some(d), Some(c), "classified", decision.reason)
                }
                crate::routing::Outcome::Triage => routed(None, None, "triage", decision.reason),
            })
        }
    }
}

/// A fresh object key for each of `n` files, under the day they arrived (`YYYY/MM/…`).
fn object_keys(now: i64, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let d = crate::clock::Day::of(now).to_string();
            format!("{}/{}/{}", &d[..4], &d[5..7], hex::encode(crate::auth::secrets::random_bytes::<16>()))
        })
        .collect()
}

/// Checks the report against its domain's own report form, by the domain's plugin; gives which
/// version of the plugin checked it (none while the domain is in manual mode or the report waits
/// in triage).
async fn check_form(
    plugins: &Snapshot,
    r: &NewReport,
    env: &Envelope,
    routed: &Routed,
    uploads: &[Upload],
    keys: &[String],
    now: i64,
) -> Result<Option<String>, ApiError> {
    let Some(d) = &routed.domain else {
        if let Some(name) = r.attributes.keys().next() {
            return Err(invalid(
                format!("attributes.{name}"),
                "needs-domain",
                "attributes belong to a domain's report form: give the domain",
            ));
        }
        return Ok(None);
    };
    let Some(p) = enabled(plugins, d).map(|s| (!s.manual).then_some(&s.plugin))? else { return Ok(None) };
    let mut values = envelope_values(env, routed.category.as_ref(), uploads, keys);
    values.extend(attribute_values(p, d, &r.attributes)?);
    form_verdict(&p.validate("report", values, now / 1000).await?)?;
    Ok(Some(p.manifest().version.clone()))
}

/// The envelope as the report form names its fields.
fn envelope_values(env: &Envelope, category: Option<&String>, uploads: &[Upload], keys: &[String]) -> Vec<FieldValue> {
    let mut values = vec![FieldValue { field: "description".into(), value: PValue::Text(env.description.clone()) }];
    if let Some(c) = category {
        values.push(FieldValue { field: "category".into(), value: PValue::Choice(c.clone()) });
    }
    if let Some(p) = env.at {
        values.push(FieldValue {
            field: "location".into(),
            value: PValue::Geo(crate::plugins::bindings::GeoPoint { lat: p.lat, lon: p.lon }),
        });
    }
    if let Some(a) = &env.address {
        values.push(FieldValue { field: "address".into(), value: PValue::Text(a.clone()) });
    }
    if let Some(o) = env.occurred {
        values.push(FieldValue { field: "occurred_at".into(), value: PValue::Datetime(datetime(o)) });
    }
    if !uploads.is_empty() {
        let list = uploads
            .iter()
            .zip(keys)
            .map(|(u, k)| Attachment {
                id: k.clone(),
                media_type: u.media_type.clone(),
                size_bytes: u.bytes.len() as u64,
            })
            .collect();
        values.push(FieldValue { field: "photos".into(), value: PValue::Attachments(list) });
    }
    if let Some(ph) = &env.contact.phone {
        values.push(FieldValue { field: "contact_phone".into(), value: PValue::Text(ph.clone()) });
    }
    values
}

/// The attributes, typed by domain `d`'s report form: 422 for one the form lacks (or that the
/// envelope carries), or of the wrong kind.
fn attribute_values(
    p: &Plugin,
    d: &str,
    attributes: &std::collections::BTreeMap<String, serde_json::Value>,
) -> Result<Vec<FieldValue>, ApiError> {
    let form = p.data().forms.iter().find(|f| f.id == "report");
    let mut values = Vec::new();
    for (name, v) in attributes {
        let field = form
            .and_then(|f| f.fields.iter().find(|x| &x.id == name))
            .filter(|x| !ENVELOPE_FIELDS.contains(&x.id.as_str()))
            .ok_or_else(|| {
                invalid(
                    format!("attributes.{name}"),
                    "unknown-attribute",
                    format!("{d}'s report form has no attribute `{name}`"),
                )
            })?;
        let value = attribute_value(&field.kind, v)
            .map_err(|m| invalid(format!("attributes.{name}"), "invalid-attribute", m))?;
        values.push(FieldValue { field: name.clone(), value });
    }
    Ok(values)
}

/// The plugin's verdict on the form: its first problem names the field as the request does
/// (`contact.phone`, `attributes.…`), every one is in `details`.
fn form_verdict(errors: &[FieldError]) -> Result<(), ApiError> {
    let Some(first) = errors.first() else { return Ok(()) };
    let field = match first.field.as_str() {
        "contact_phone" => "contact.phone".to_string(),
        "photos" => "photos".into(),
        f if !ENVELOPE_FIELDS.contains(&f) => format!("attributes.{f}"),
        f => f.to_string(),
    };
    let mut e = invalid(field, "invalid-report", format!("{}: {}", first.field, first.message.en));
    e.details = serde_json::to_value(errors).ok().map(Box::new);
    Err(e)
}

/// Who handles a new report and by when.
struct Assignment {
    status: &'static str,
    team_id: Option<i64>,
    /// The team's name, for the citizen's receipt.
    team: Option<String>,
    cell_id: Option<i64>,
    /// Why this team, or none: for the timeline.
    reason: String,
    ack_due: Option<i64>,
    handle_due: Option<i64>,
}

/// Assigns a routed report to the team covering its place, with its category's deadlines.
async fn assign(
    intake: &IntakeState,
    c: &mut Conn,
    plugins: &Snapshot,
    routed: &Routed,
    at: Option<GeoPoint>,
    now: i64,
) -> Result<Assignment, ApiError> {
    let (Some(d), Some(_)) = (&routed.domain, &routed.category) else {
        // Triage: the command centre routes it within the acknowledgement time.
        return Ok(Assignment {
            status: "triage",
            team_id: None,
            team: None,
            cell_id: None,
            reason: "waiting for a dispatcher".to_string(),
            ack_due: Some(acknowledge_by(&intake.calendar, &intake.settings, now)),
            handle_due: None,
        });
    };
    let a = crate::dispatch::assign(c, d, at).await?;
    let due = due_dates(intake, plugins, routed.domain.as_deref(), routed.category.as_deref(), now);
    Ok(Assignment {
        status: if a.team_id.is_some() { "dispatched" } else { "triage" },
        team_id: a.team_id,
        team: a.team_name,
        cell_id: a.cell.as_ref().map(|x| x.id),
        reason: a.reason,
        ack_due: due.map(|x| x.0),
        handle_due: due.map(|x| x.1),
    })
}

/// Puts the files in the object store; when one fails, those already put are taken back.
async fn put_files(intake: &IntakeState, uploads: &[Upload], keys: &[String]) -> Result<Vec<AttachmentRow>, ApiError> {
    let mut rows = Vec::new();
    for (u, k) in uploads.iter().zip(keys) {
        if let Err(e) = intake.objects.put(k, &u.bytes).await {
            take_back(intake, &rows).await;
            return Err(objects::unavailable(e));
        }
        rows.push(AttachmentRow {
            id: 0,
            object_key: k.clone(),
            file_name: u.file_name.chars().filter(|c| !c.is_control()).take(128).collect(),
            media_type: u.media_type.clone(),
            size_bytes: u.bytes.len() as i64,
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&u.bytes)),
        });
    }
    Ok(rows)
}

/// Removes the files of a report that was not stored. Best effort: nothing refers to them.
async fn take_back(intake: &IntakeState, rows: &[AttachmentRow]) {
    for r in rows {
        let _ = intake.objects.delete(&r.object_key).await;
    }
}

/// The new report's row, as it is inserted.
fn report_row(
    origin: &Origin,
    r: &NewReport,
    env: Envelope,
    routed: &Routed,
    a: &Assignment,
    code: &str,
    now: i64,
) -> ReportRow {
    ReportRow {
        id: 0,
        tracking_code: code.to_string(),
        source: origin.source.into(),
        citizen_id: origin.citizen,
        domain: routed.domain.clone(),
        category: routed.category.clone(),
        description: env.description,
        lat: env.at.map(|p| p.lat),
        lon: env.at.map(|p| p.lon),
        address: env.address,
        occurred_at: env.occurred.map(|o| o.0),
        contact_name: env.contact.name,
        contact_phone: env.contact.phone,
        contact_email: env.contact.email,
        status: a.status.into(),
        team_id: a.team_id,
        cell_id: a.cell_id,
        ack_due_at: a.ack_due,
        handle_due_at: a.handle_due,
        acknowledged_at: None,
        closed_at: None,
        result: None,
        duplicate_of: None,
        rating: None,
        rating_comment: None,
        reopened: 0,
        created_at: now,
        updated_at: now,
        attributes: (!r.attributes.is_empty()).then(|| serde_json::to_string(&r.attributes).unwrap_or_default()),
    }
}

/// What the commit writes of a new report, owned: the database's writer task may write it,
/// together with other reports ([`crate::store::Db::batched`]).
struct Filed {
    actor: Actor,
    open311_key: Option<i64>,
    report: ReportRow,
    files: Vec<AttachmentRow>,
    /// The routing note: how, why, and which plugin version checked the form.
    how: &'static str,
    reason: String,
    validated_by: Option<String>,
    /// Why this team.
    assigned: String,
}

/// Writes the report, its attachments, its timeline and its messages in one transaction, and
/// returns once that is committed (on SQLite, to disk: `synchronous = FULL`).
async fn store_new(state: &AppState, filed: Filed) -> Result<i64, ApiError> {
    let intake = state.intake.clone();
    let stored = state.db.batched(move |tx| Box::pin(async move { write_new(tx, &intake.notify, &filed).await }));
    stored.await.map_err(|e| match e {
        // Two reports drew the same tracking code: this one is not stored.
        StoreError::Conflict(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "retry", "please send the report again")
        }
        other => other.into(),
    })
}

async fn write_new(tx: &mut Conn, notify: &NotifySettings, f: &Filed) -> Result<i64, StoreError> {
    let (r, files) = (&f.report, &f.files);
    let id = store::insert(tx, r, f.open311_key).await?;
    store::add_attachments(tx, id, files).await?;
    let kind = if r.status == "dispatched" { "dispatched" } else { "triage" };
    let system = Actor::system();
    let events = [
        store::NewEvent {
            kind: "received",
            actor: &f.actor,
            public: true,
            note: None,
            detail: json!({"source": r.source, "attachments": files.len()}),
        },
        store::NewEvent {
            kind: "routed",
            actor: &system,
            public: false,
            note: Some(&f.reason),
            // Which version of the domain's plugin checked the report form (none: the domain is in
            // manual mode, or the report waits in triage).
            detail: json!({"how": f.how, "domain": r.domain, "category": r.category, "validated_by": f.validated_by}),
        },
        store::NewEvent {
            kind,
            actor: &system,
            public: true,
            note: None,
            detail: json!({"team_id": r.team_id, "reason": f.assigned}),
        },
    ];
    store::add_events(tx, id, &events).await?;
    let mut stored = r.clone();
    stored.id = id;
    announce(tx, notify, &stored, kind).await?;
    Ok(id)
}

/// Queues the messages of a report's event of `kind`: to the webhooks (`report.{kind}`) and to
/// whoever [`audience`] names. `r.id` is the stored report's.
pub async fn announce(c: &mut Conn, notify: &NotifySettings, r: &ReportRow, kind: &str) -> Result<(), StoreError> {
    let who = audience(c, notify, r, kind).await?;
    crate::notify::enqueue(c, notify, &format!("report.{kind}"), &event_body(r, r.id), &who).await?;
    Ok(())
}

/// What a notification says of a report: no personal data, and its number, never its tracking
/// code (the code is the reporter's key to rate and reopen it).
pub fn event_body(r: &ReportRow, id: i64) -> serde_json::Value {
    json!({"id": id, "status": r.status, "domain": r.domain, "category": r.category,
           "team_id": r.team_id, "handle_due_at": r.handle_due_at.map(rfc3339)})
}

/// Suggested duplicates of `r`: open reports of its category near it and recent.
pub async fn possible_duplicates(
    c: &mut Conn,
    s: &IntakeSettings,
    r: &ReportRow,
) -> Result<Vec<serde_json::Value>, StoreError> {
    let (Some(lat), Some(lon), Some(_), Some(_)) = (r.lat, r.lon, &r.domain, &r.category) else {
        return Ok(Vec::new());
    };
    let Some(here) = GeoPoint::new(lat, lon) else { return Ok(Vec::new()) };
    let since = r.created_at - i64::from(s.duplicate_window_days) * 86_400_000;
    let near = store::nearby_open(c, r, here.bbox_m(s.duplicate_radius_m), since).await?;
    let mut out: Vec<(f64, serde_json::Value)> = near
        .into_iter()
        .filter_map(|o| {
            let d = here.distance_m(GeoPoint::new(o.lat?, o.lon?)?);
            (d <= s.duplicate_radius_m).then(|| (d, json!({"id": o.id, "distance_m": d.round(), "created_at": rfc3339(o.created_at), "status": o.status})))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(out.into_iter().map(|x| x.1).collect())
}

/// Who is told of a report's event beyond the webhooks: by e-mail, the team (reminders), its
/// leads (new work) and, after a deadline, the command centre; by SMS, the citizen who left a
/// phone number (receipt, closure, merger).
pub async fn audience(
    c: &mut Conn,
    notify: &NotifySettings,
    r: &ReportRow,
    kind: &str,
) -> Result<crate::notify::Audience, StoreError> {
    use sqlx::Row;
    if notify.smtp.is_none() && notify.sms.is_none() {
        // Webhooks only: nobody to look up (and no extra reads inside the write).
        return Ok(Default::default());
    }
    let due =
        r.handle_due_at.map(|d| crate::clock::iso_cst(d)[..16].replace('T', " ")).unwrap_or_else(|| "尽快".into());
    let what = format!("{} #{}", r.category.as_deref().unwrap_or("未分类"), r.id);
    let (roles, dispatchers, subject, citizen_text): (&[&str], bool, String, Option<String>) = match kind {
        "dispatched" | "transferred" | "reopened" => (
            &["team-lead"],
            false,
            format!("新派遣：{what}，请于{due}前处置"),
            (kind == "dispatched")
                .then(|| format!("【城市综合执法】您的反映已受理，查询码{}，预计{due}前答复。", r.tracking_code)),
        ),
        "due-soon" => (&["officer", "team-lead"], false, format!("即将到期：{what}，处置期限{due}"), None),
        "overdue" | "escalated" => (&["team-lead"], true, format!("已超期：{what}，期限{due}"), None),
        "closed" => (
            &[],
            false,
            String::new(),
            Some(format!(
                "【城市综合执法】您反映的问题（查询码{}）已办结：{}。7日内可评价或申请重新办理。",
                r.tracking_code,
                r.result.as_deref().unwrap_or("")
            )),
        ),
        "merged" => (
            &[],
            false,
            String::new(),
            Some(format!("【城市综合执法】您反映的问题（查询码{}）与已受理的问题相同，已合并办理。", r.tracking_code)),
        ),
        _ => (&[], false, String::new(), None),
    };
    let mut emails = Vec::new();
    // A report waiting in triage has no team: its escalation goes to the command centre alone.
    if (r.team_id.is_some() && !roles.is_empty()) || dispatchers {
        let team = r.team_id.unwrap_or(-1);
        let dept: Option<i64> = sqlx::query("SELECT department_id FROM teams WHERE id = $1")
            .bind(team)
            .fetch_optional(&mut *c)
            .await?
            .map(|x| x.get(0));
        let rows = sqlx::query(
            "SELECT DISTINCT u.email, g.role, g.scope FROM users u JOIN role_grants g ON g.user_id = u.id \
             WHERE u.disabled = 0 AND u.email IS NOT NULL AND g.scope IN ($1, $2, 'all')",
        )
        .bind(format!("team:{team}"))
        .bind(format!("department:{}", dept.unwrap_or(-1)))
        .fetch_all(&mut *c)
        .await?;
        for x in rows {
            let (email, role, scope): (String, String, String) = (x.get(0), x.get(1), x.get(2));
            let wanted = (roles.contains(&role.as_str()) && scope != "all") || (dispatchers && role == "dispatcher");
            if wanted && !emails.contains(&email) {
                emails.push(email);
            }
        }
    }
    let text = match &citizen_text {
        Some(t) => t.clone(),
        None => format!("{subject}\n\n{}\n地址：{}", r.description, r.address.as_deref().unwrap_or("（见位置）")),
    };
    let mut phones = Vec::new();
    if let (Some(_), Some(phone), Some(sms)) = (&citizen_text, &r.contact_phone, &notify.sms) {
        // Receipts to one number are limited (no flood of texts to someone else's phone); the
        // report is taken all the same.
        let since = now_ms() - 3_600_000;
        if kind != "dispatched"
            || crate::notify::queued_since(c, "sms", phone, "report.dispatched", since).await?
                < i64::from(sms.receipts_per_hour)
        {
            phones.push(phone.clone());
        }
    }
    Ok(crate::notify::Audience { emails, subject, phones, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_codes_are_short_unambiguous_and_typed_back_in_any_case() {
        let c = tracking_code();
        assert_eq!(c.len(), 14);
        assert!(!c.contains(['0', 'O', '1', 'I', 'L']), "{c}");
        assert_eq!(normalise_code(&c.to_lowercase().replace('-', " ")), Some(c));
        assert_eq!(normalise_code("ABC"), None);
    }
}

//! Citizens' reports ("People's e-Eye"): intake at any hour, validated by the domain plugin's report
//! form; routing by classification when the citizen does not know the domain; dispatch to the team
//! covering the place; the team's actions; the clock; the citizen's tracking, rating and reopening.
//! A report is stored whole, with its attachments, its first timeline entries and its outbox
//! messages, in one transaction, or not at all.

pub mod deadlines;
pub mod objects;
pub mod routes;
pub mod store;

use crate::api_error::ApiError;
use crate::auth::store::{Actor, Conn};
use crate::clock::Calendar;
use crate::dispatch::geo::GeoPoint;
use crate::notify::NotifySettings;
use crate::plugins::bindings::{Attachment, Datetime, FieldValue, TimeUnit, Value as PValue};
use crate::plugins::{Served, Snapshot};
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

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// A report as a citizen (or an Open311 client) sends it.
#[derive(Clone, Debug, Deserialize)]
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
    /// The domain's own report-form fields beyond these (Open311's `attribute[…]`), by field id.
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, serde_json::Value>,
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
            let (ms, off) = parse_rfc3339(&text().unwrap_or_default()).ok_or("an RFC 3339 date and time")?;
            PValue::Datetime(Datetime { seconds: ms.div_euclid(1000), offset_minutes: off })
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
#[derive(Debug, Serialize)]
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

#[derive(Debug, Serialize)]
pub struct RoutingNote {
    /// `given` (the citizen chose), `classified`, or `triage`.
    pub how: &'static str,
    pub reason: String,
    /// Which version of the domain's plugin checked the report form: none while the domain is in
    /// manual mode or the report waits in triage. Kept on the timeline, not shown to the citizen.
    #[serde(skip)]
    pub validated_by: Option<String>,
}

/// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`) into (Unix ms, offset minutes).
pub fn parse_rfc3339(s: &str) -> Option<(i64, i16)> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let day = crate::clock::Day::parse(s.get(..10)?)?;
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() {
            return None;
        }
        ms = format!("{:0<3}", &frac[..frac.len().min(3)]).parse::<i64>().ok()?;
    }
    let offset_min: i64 = match s.get(i..)? {
        "Z" | "z" => 0,
        // ASCII only: slicing by byte below must never cut a character.
        tz if tz.len() == 6 && tz.is_ascii() && (tz.starts_with('+') || tz.starts_with('-')) && &tz[3..4] == ":" => {
            let (oh, om): (i64, i64) = (tz[1..3].parse().ok()?, tz[4..6].parse().ok()?);
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if tz.starts_with('-') { -m } else { m }
        }
        _ => return None,
    };
    // The date is read as a calendar date, not in CST: undo Day's +8 h.
    let utc_midnight = day.0 * 86_400_000;
    Some((utc_midnight + ((h * 60 + mi) * 60 + sec) * 1000 + ms - offset_min * 60_000, offset_min as i16))
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
pub fn deadlines(
    cal: &Calendar,
    s: &IntakeSettings,
    from: i64,
    limit: &crate::plugins::bindings::TimeLimit,
) -> (i64, i64) {
    match limit.unit {
        TimeUnit::Hours => {
            let due = from + i64::from(limit.amount) * 3_600_000;
            (due, due)
        }
        TimeUnit::WorkingDays => {
            let due = cal.end_of_working_days(from, limit.amount);
            (cal.end_of_working_days(from, s.acknowledge_working_days).min(due), due)
        }
        TimeUnit::CalendarDays => {
            let due = crate::clock::Day::of(from).0 + i64::from(limit.amount) + 1;
            let due = crate::clock::Day(due).start_ms();
            (cal.end_of_working_days(from, s.acknowledge_working_days).min(due), due)
        }
    }
}

/// Files a report: checks it, routes it, assigns it, stores it with its attachments and
/// messages. Nothing is stored when it fails.
pub async fn submit(state: &AppState, origin: Origin, r: NewReport, uploads: Vec<Upload>) -> Result<Receipt, ApiError> {
    let intake = &state.intake;
    let now = now_ms();
    // One snapshot for the whole report: classified, validated and timed by the same versions.
    let plugins = state.registry.snapshot();
    // ---- the envelope: every field's problem is reported at once ----
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
    let occurred = match &r.occurred_at {
        Some(t) => match parse_rfc3339(t) {
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
        },
        None => None,
    };
    let contact = r.contact.clone().unwrap_or_default();
    if let Some(e) = &contact.email
        && !crate::ids::is_email(e)
    {
        problems.push(invalid("contact.email", "invalid-email", "not an e-mail address"));
    }
    if contact.name.as_ref().is_some_and(|n| n.chars().count() > 64) {
        problems.push(invalid("contact.name", "too-long", "at most 64 characters"));
    }
    if let Some(first) = problems.first() {
        // The first problem in the envelope, every one in `details` as the plugin's are.
        let all: Vec<serde_json::Value> = problems
            .iter()
            .map(|p| serde_json::json!({"field": p.field, "code": p.code, "message": {"en": p.message}}))
            .collect();
        let mut e = invalid(first.field.clone().unwrap_or_default(), first.code, first.message.clone());
        e.details = Some(Box::new(serde_json::Value::Array(all)));
        return Err(e);
    }
    if uploads.len() > intake.settings.max_attachments {
        return Err(invalid("photos", "too-many", format!("at most {} files", intake.settings.max_attachments)));
    }
    for (i, u) in uploads.iter().enumerate() {
        if u.bytes.len() > intake.settings.max_attachment_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "attachment-too-large",
                format!("each file at most {} bytes", intake.settings.max_attachment_bytes),
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

    // ---- domain and category: given, classified, or triage ----
    let (mut domain, mut category) = (r.domain.clone(), r.category.clone());
    let mut routing;
    match (&domain, &category) {
        (None, Some(_)) => {
            return Err(invalid("domain", "required", "a category belongs to a domain: give the domain too"));
        }
        (Some(d), Some(c)) => {
            check_category(&plugins, d, c)?;
            routing = RoutingNote {
                how: "given",
                reason: "the reporter chose the domain and category".into(),
                validated_by: None,
            };
        }
        (Some(d), None) => {
            let served = enabled(&plugins, d)?;
            let scores =
                if served.manual { Vec::new() } else { served.plugin.classify(&description, now / 1000).await? };
            match scores.first().filter(|s| s.score >= state.routing.min_score) {
                Some(best) => {
                    category = Some(best.category.clone());
                    routing = RoutingNote {
                        how: "classified",
                        reason: format!("within {d}: {} scored {:.2}", best.category, best.score),
                        validated_by: None,
                    };
                }
                None => {
                    routing = RoutingNote {
                        how: "triage",
                        reason: format!("no category of {d} fits the text well enough"),
                        validated_by: None,
                    }
                }
            }
        }
        (None, None) => {
            let decision = crate::routing::route(&plugins, &description, now / 1000, state.routing).await;
            match decision.outcome {
                crate::routing::Outcome::Routed { domain: d, category: c } => {
                    domain = Some(d);
                    category = Some(c);
                    routing = RoutingNote { how: "classified", reason: decision.reason, validated_by: None };
                }
                crate::routing::Outcome::Triage => {
                    routing = RoutingNote { how: "triage", reason: decision.reason, validated_by: None }
                }
            }
        }
    }

    // ---- the domain's own report form ----
    let code = tracking_code();
    let keys: Vec<String> = uploads
        .iter()
        .map(|_| {
            let d = crate::clock::Day::of(now).to_string();
            format!("{}/{}/{}", &d[..4], &d[5..7], hex::encode(crate::auth::secrets::random_bytes::<16>()))
        })
        .collect();
    if domain.is_none()
        && let Some(name) = r.attributes.keys().next()
    {
        return Err(invalid(
            format!("attributes.{name}"),
            "needs-domain",
            "attributes belong to a domain's report form: give the domain",
        ));
    }
    let mut validated_by = None;
    if let Some(d) = &domain
        && let Some(p) = enabled(&plugins, d).map(|s| (!s.manual).then_some(&s.plugin))?
    {
        validated_by = Some(p.manifest().version.clone());
        let mut values = vec![FieldValue { field: "description".into(), value: PValue::Text(description.clone()) }];
        if let Some(c) = &category {
            values.push(FieldValue { field: "category".into(), value: PValue::Choice(c.clone()) });
        }
        if let Some(p) = at {
            values.push(FieldValue {
                field: "location".into(),
                value: PValue::Geo(crate::plugins::bindings::GeoPoint { lat: p.lat, lon: p.lon }),
            });
        }
        if let Some(a) = &address {
            values.push(FieldValue { field: "address".into(), value: PValue::Text(a.clone()) });
        }
        if let Some((ms, off)) = occurred {
            values.push(FieldValue {
                field: "occurred_at".into(),
                value: PValue::Datetime(Datetime { seconds: ms.div_euclid(1000), offset_minutes: off }),
            });
        }
        if !uploads.is_empty() {
            let list = uploads
                .iter()
                .zip(&keys)
                .map(|(u, k)| Attachment {
                    id: k.clone(),
                    media_type: u.media_type.clone(),
                    size_bytes: u.bytes.len() as u64,
                })
                .collect();
            values.push(FieldValue { field: "photos".into(), value: PValue::Attachments(list) });
        }
        if let Some(ph) = &contact.phone {
            values.push(FieldValue { field: "contact_phone".into(), value: PValue::Text(ph.clone()) });
        }
        let form = p.data().forms.iter().find(|f| f.id == "report");
        for (name, v) in &r.attributes {
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
        let errors = p.validate("report", values, now / 1000).await?;
        let envelope = |f: &str| ENVELOPE_FIELDS.contains(&f);
        if let Some(first) = errors.first() {
            let field = match first.field.as_str() {
                "contact_phone" => "contact.phone".to_string(),
                "photos" => "photos".into(),
                f if !envelope(f) => format!("attributes.{f}"),
                f => f.to_string(),
            };
            let mut e = invalid(field, "invalid-report", format!("{}: {}", first.field, first.message.en));
            e.details = serde_json::to_value(&errors).ok().map(Box::new);
            return Err(e);
        }
    }

    // ---- assignment and the clock ----
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let (status, team_id, team, cell_id, assign_reason, ack_due, handle_due) = match (&domain, &category) {
        (Some(d), Some(cat)) => {
            let a = crate::dispatch::assign(&mut c, d, at).await?;
            let limit = plugins
                .published(d)
                .and_then(|p| p.data().categories.iter().find(|x| &x.code == cat).map(|x| x.response));
            let (ack, due) = limit
                .map(|l| deadlines(&intake.calendar, &intake.settings, now, &l))
                .map_or((None, None), |(a, b)| (Some(a), Some(b)));
            let status = if a.team_id.is_some() { "dispatched" } else { "triage" };
            (status, a.team_id, a.team_name, a.cell.as_ref().map(|x| x.id), a.reason, ack, due)
        }
        _ => {
            // Triage: the command centre routes it within the acknowledgement time.
            let ack = intake.calendar.end_of_working_days(now, intake.settings.acknowledge_working_days);
            ("triage", None, None, None, "waiting for a dispatcher".to_string(), Some(ack), None)
        }
    };

    // ---- store: files first, then one transaction; files are removed if it fails ----
    let mut rows = Vec::new();
    for (u, k) in uploads.iter().zip(&keys) {
        if let Err(e) = intake.objects.put(k, &u.bytes).await {
            for done in &rows {
                let AttachmentRow { object_key, .. } = done;
                let _ = intake.objects.delete(object_key).await;
            }
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
    let report = ReportRow {
        id: 0,
        tracking_code: code.clone(),
        source: origin.source.into(),
        citizen_id: origin.citizen,
        domain: domain.clone(),
        category: category.clone(),
        description,
        lat: at.map(|p| p.lat),
        lon: at.map(|p| p.lon),
        address,
        occurred_at: occurred.map(|o| o.0),
        contact_name: contact.name.clone(),
        contact_phone: contact.phone.clone(),
        contact_email: contact.email.clone(),
        status: status.into(),
        team_id,
        cell_id,
        ack_due_at: ack_due,
        handle_due_at: handle_due,
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
    };
    routing.validated_by = validated_by;
    let stored = store_new(state, &mut c, &origin, &report, &rows, &routing, &assign_reason).await;
    let id = match stored {
        Ok(id) => id,
        Err(e) => {
            for r in &rows {
                let _ = intake.objects.delete(&r.object_key).await;
            }
            return Err(e);
        }
    };
    Ok(Receipt {
        id,
        tracking_code: code,
        status: status.into(),
        domain,
        category,
        team,
        expected_response_by: handle_due.or(ack_due).map(rfc3339),
        routing,
    })
}

async fn store_new(
    state: &AppState,
    c: &mut Conn,
    origin: &Origin,
    r: &ReportRow,
    files: &[AttachmentRow],
    routing: &RoutingNote,
    assigned: &str,
) -> Result<i64, ApiError> {
    let mut tx = state.db.write_on(c).await?;
    let id = store::insert(&mut tx, r, origin.open311_key).await.map_err(|e| match e {
        StoreError::Conflict(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "retry", "please send the report again")
        }
        other => other.into(),
    })?;
    for f in files {
        store::add_attachment(&mut tx, id, f).await?;
    }
    let kind = if r.status == "dispatched" { "dispatched" } else { "triage" };
    let system = Actor::system();
    let events = [
        store::NewEvent {
            kind: "received",
            actor: &origin.actor,
            public: true,
            note: None,
            detail: json!({"source": r.source, "attachments": files.len()}),
        },
        store::NewEvent {
            kind: "routed",
            actor: &system,
            public: false,
            note: Some(&routing.reason),
            // Which version of the domain's plugin checked the report form (none: the domain is in
            // manual mode, or the report waits in triage).
            detail: json!({"how": routing.how, "domain": r.domain, "category": r.category, "validated_by": routing.validated_by}),
        },
        store::NewEvent {
            kind,
            actor: &system,
            public: true,
            note: None,
            detail: json!({"team_id": r.team_id, "reason": assigned}),
        },
    ];
    store::add_events(&mut tx, id, &events).await?;
    let mut stored = r.clone();
    stored.id = id;
    let who = audience(&mut tx, &state.intake.notify, &stored, kind).await?;
    crate::notify::enqueue(&mut tx, &state.intake.notify, &format!("report.{kind}"), &event_body(r, id), &who).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(id)
}

/// What a notification says of a report: no personal data.
pub fn event_body(r: &ReportRow, id: i64) -> serde_json::Value {
    json!({"id": id, "tracking_code": r.tracking_code, "status": r.status, "domain": r.domain, "category": r.category,
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
    let what = format!("{} {}", r.category.as_deref().unwrap_or("未分类"), r.tracking_code);
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
    let phones = citizen_text.as_ref().and(r.contact_phone.clone()).into_iter().collect();
    Ok(crate::notify::Audience { emails, subject, phones, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_are_read_with_their_offset() {
        let (ms, off) = parse_rfc3339("2026-11-26T09:30:00+08:00").unwrap();
        assert_eq!((rfc3339(ms), off), ("2026-11-26T01:30:00.000Z".to_string(), 480));
        assert_eq!(parse_rfc3339("2026-11-26T01:30:00.5Z").unwrap().0 - ms, 500);
        for bad in [
            "2026-11-26T09:30:00+0é00",
            "2026-11-26T09:30:00.é1Z",
            "２０２６-11-26T09:30:00Z",
            "2026-11-26",
            "2026-11-26T25:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-26T09:30:00+8",
            "yesterday",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn tracking_codes_are_short_unambiguous_and_typed_back_in_any_case() {
        let c = tracking_code();
        assert_eq!(c.len(), 14);
        assert!(!c.contains(['0', 'O', '1', 'I', 'L']), "{c}");
        assert_eq!(normalise_code(&c.to_lowercase().replace('-', " ")), Some(c));
        assert_eq!(normalise_code("ABC"), None);
    }
}

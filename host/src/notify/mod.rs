//! Notifications through an outbox: a change writes its messages in its own transaction
//! ([`enqueue`]); a worker in every host process claims due messages, delivers them, and retries
//! with backoff. A message is claimed by one worker at a time (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL; SQLite has one writer), and a claim lapses if its worker dies, so nothing is lost
//! and nothing is sent twice at once.

use crate::auth::secrets::Secret;
use crate::store::{Db, StoreError, now_ms};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::time::Duration;

/// `[notify]` in the settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    pub webhooks: Vec<Webhook>,
    /// E-mail to staff (the team, its lead, the command centre); none without it.
    pub smtp: Option<Smtp>,
    /// Text messages to citizens who left a phone number; none without it.
    pub sms: Option<Sms>,
    /// How often the worker looks for due messages.
    pub poll_millis: u64,
    /// Attempts before a message is marked failed.
    pub max_attempts: u32,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self { webhooks: Vec::new(), smtp: None, sms: None, poll_millis: 500, max_attempts: 10 }
    }
}

/// An SMTP relay.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `starttls` (default), `tls` (implicit, port 465) or `none` (only for a relay on the same
    /// host or network).
    #[serde(default = "default_security")]
    pub security: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// `城市综合执法局 <noreply@example.gov.cn>`
    pub from: String,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_security() -> String {
    "starttls".into()
}

/// An SMS gateway reached over HTTP: the body template is POSTed to `url` with `{phone}` and
/// `{text}` replaced, each escaped as `content_type` needs ([`escape_for`]: JSON-escaped for JSON,
/// URL-encoded for a form, XML-escaped for XML), and the headers (e.g. the gateway's key) added.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sms {
    pub url: String,
    pub body_template: String,
    #[serde(default = "default_sms_content_type")]
    pub content_type: String,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, Secret>,
    /// Receipts (the text that a report was received) sent to one number within an hour, at most:
    /// more reports from that number are taken, without a text.
    #[serde(default = "default_receipts_per_hour")]
    pub receipts_per_hour: u32,
}

fn default_sms_content_type() -> String {
    "application/json".into()
}

fn default_receipts_per_hour() -> u32 {
    3
}

/// Who else hears of an event, beyond the webhooks: staff by e-mail, citizens by SMS.
#[derive(Clone, Debug, Default)]
pub struct Audience {
    pub emails: Vec<String>,
    pub subject: String,
    pub phones: Vec<String>,
    pub text: String,
}

/// A subscriber: every event (or those listed) is POSTed to `url` as JSON, signed with
/// `X-Casegrid-Signature: sha256=<HMAC-SHA256 of the body under secret>`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub url: String,
    pub secret: Secret,
    #[serde(default)]
    pub events: Vec<String>,
}

async fn put(
    c: &mut sqlx::AnyConnection,
    channel: &str,
    destination: &str,
    event: &str,
    body: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (created_at, channel, destination, event, body, status, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $1)",
    )
    .bind(now_ms())
    .bind(channel)
    .bind(destination)
    .bind(event)
    .bind(body)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Writes the messages `event` causes, inside the caller's transaction: one per webhook
/// subscribed to it and, where those channels are configured, one e-mail per address and one SMS
/// per phone of `audience`.
pub async fn enqueue(
    tx: &mut sqlx::AnyConnection,
    settings: &NotifySettings,
    event: &str,
    body: &serde_json::Value,
    audience: &Audience,
) -> Result<usize, StoreError> {
    let mut n = 0;
    let at = crate::store::rfc3339(now_ms());
    for w in settings.webhooks.iter().filter(|w| w.events.is_empty() || w.events.iter().any(|e| e == event)) {
        let payload = serde_json::json!({"event": event, "at": at, "data": body});
        put(tx, "webhook", &w.url, event, &payload.to_string()).await?;
        n += 1;
    }
    if settings.smtp.is_some() {
        for to in &audience.emails {
            let mail = serde_json::json!({"subject": audience.subject, "text": audience.text});
            put(tx, "email", to, event, &mail.to_string()).await?;
            n += 1;
        }
    }
    if settings.sms.is_some() {
        for to in &audience.phones {
            put(tx, "sms", to, event, &serde_json::json!({"text": audience.text}).to_string()).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// How many messages of `event` were queued for `destination` on `channel` since `since` (Unix ms).
pub async fn queued_since(
    c: &mut sqlx::AnyConnection,
    channel: &str,
    destination: &str,
    event: &str,
    since: i64,
) -> Result<i64, StoreError> {
    let n = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE destination = $1 AND created_at > $2 AND channel = $3 AND event = $4",
    )
    .bind(destination)
    .bind(since)
    .bind(channel)
    .bind(event)
    .fetch_one(&mut *c)
    .await?;
    Ok(n)
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
    for i in 0..64 {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let inner = Sha256::new().chain_update(ipad).chain_update(message).finalize();
    Sha256::new().chain_update(opad).chain_update(inner).finalize().into()
}

struct Claimed {
    id: i64,
    channel: String,
    destination: String,
    event: String,
    body: String,
    attempts: i64,
}

/// How long a claim holds before another worker may take the message: longer than a batch can
/// take to deliver (5 messages × a 20 s timeout), so no message is sent twice at once.
const CLAIM_MS: i64 = 300_000;
const BATCH: i64 = 5;

async fn claim(db: &Db, worker: &str, batch: i64) -> Result<Vec<Claimed>, StoreError> {
    let now = now_ms();
    let lock = db.dialect().skip_locked();
    let sql = format!(
        "UPDATE outbox SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1 WHERE id IN \
         (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $3 AND (claimed_until IS NULL OR claimed_until < $3) \
          ORDER BY id LIMIT $4 {lock}) RETURNING id, channel, destination, event, body, attempts"
    );
    let mut tx = db.write().await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(worker)
        .bind(now + CLAIM_MS)
        .bind(now)
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let mut claimed: Vec<Claimed> = rows
        .iter()
        .map(|r| Claimed {
            id: r.get(0),
            channel: r.get(1),
            destination: r.get(2),
            event: r.get(3),
            body: r.get(4),
            attempts: r.get(5),
        })
        .collect();
    // `UPDATE … RETURNING` promises no order (PostgreSQL returns rows as it updates them):
    // deliver in the order the changes happened.
    claimed.sort_by_key(|m| m.id);
    Ok(claimed)
}

/// Records a delivery's outcome, if this worker still holds the claim.
async fn settle(
    db: &Db,
    worker: &str,
    id: i64,
    outcome: Result<(), String>,
    attempts: i64,
    max: u32,
) -> Result<(), StoreError> {
    let now = now_ms();
    match outcome {
        Ok(()) => {
            sqlx::query("UPDATE outbox SET status = 'delivered', delivered_at = $1, claimed_until = NULL, last_error = NULL WHERE id = $2 AND claimed_by = $3")
                .bind(now)
                .bind(id)
                .bind(worker)
                .execute(db.pool())
                .await?;
        }
        Err(e) => {
            // Backoff: 2 s, 4 s, 8 s … capped at an hour.
            let wait = (2_000i64 << attempts.clamp(0, 20)).min(3_600_000);
            let status = if attempts >= i64::from(max) { "failed" } else { "pending" };
            sqlx::query("UPDATE outbox SET status = $1, next_attempt_at = $2, claimed_until = NULL, last_error = $3 WHERE id = $4 AND claimed_by = $5")
                .bind(status)
                .bind(now + wait)
                .bind(e)
                .bind(id)
                .bind(worker)
                .execute(db.pool())
                .await?;
        }
    }
    Ok(())
}

/// Delivers due messages until the process ends.
pub async fn worker(db: Db, settings: NotifySettings, name: String) {
    let client = match crate::outbound::client(Duration::from_secs(10)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "the notification worker cannot start");
            return;
        }
    };
    let mut tick = tokio::time::interval(Duration::from_millis(settings.poll_millis.max(50)));
    loop {
        tick.tick().await;
        let batch = match claim(&db, &name, BATCH).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "claiming outbox messages failed");
                continue;
            }
        };
        for m in batch {
            let outcome = deliver(&client, &settings, &m).await;
            if let Err(e) = &outcome {
                tracing::warn!(id = m.id, destination = %m.destination, error = %e, "delivery failed");
            }
            if let Err(e) = settle(&db, &name, m.id, outcome, m.attempts, settings.max_attempts).await {
                tracing::warn!(id = m.id, error = %e, "recording a delivery failed");
            }
        }
    }
}

async fn deliver(client: &reqwest::Client, settings: &NotifySettings, m: &Claimed) -> Result<(), String> {
    match m.channel.as_str() {
        "webhook" => webhook(client, settings, m).await,
        "email" => email(settings, m).await,
        "sms" => sms(client, settings, m).await,
        other => Err(format!("unknown channel {other}")),
    }
}

async fn email(settings: &NotifySettings, m: &Claimed) -> Result<(), String> {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let smtp = settings.smtp.as_ref().ok_or("SMTP is not configured any more")?;
    let mail: serde_json::Value = serde_json::from_str(&m.body).map_err(|e| e.to_string())?;
    let message = Message::builder()
        .from(smtp.from.parse().map_err(|e| format!("notify.smtp.from: {e}"))?)
        .to(m.destination.parse().map_err(|e| format!("{}: {e}", m.destination))?)
        .subject(mail["subject"].as_str().unwrap_or_default())
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(mail["text"].as_str().unwrap_or_default().to_string())
        .map_err(|e| e.to_string())?;
    let builder = match smtp.security.as_str() {
        "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
        "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(|e| e.to_string())?,
        _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host).map_err(|e| e.to_string())?,
    };
    let mut builder = builder.port(smtp.port).timeout(Some(Duration::from_secs(20)));
    if let (Some(u), Some(p)) = (&smtp.username, &smtp.password) {
        builder = builder
            .credentials(lettre::transport::smtp::authentication::Credentials::new(u.clone(), p.expose().to_string()));
    }
    builder.build().send(message).await.map(|_| ()).map_err(|e| e.to_string())
}

/// A JSON string's inside: the text between the quotes serde_json would write.
fn json_escaped(s: &str) -> String {
    let q = serde_json::Value::String(s.to_string()).to_string();
    q[1..q.len() - 1].to_string()
}

/// `s` as a value inside a body of `content_type`: URL-encoded for
/// `application/x-www-form-urlencoded`, XML-escaped for XML, JSON-escaped for JSON and any other
/// type, so that no value can end its field and add another.
pub fn escape_for(content_type: &str, s: &str) -> String {
    let ct = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if ct == "application/x-www-form-urlencoded" {
        form_encoded(s)
    } else if ct.ends_with("/xml") || ct.ends_with("+xml") {
        s.chars()
            .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
            .map(|c| match c {
                '&' => "&amp;".into(),
                '<' => "&lt;".into(),
                '>' => "&gt;".into(),
                '"' => "&quot;".into(),
                '\'' => "&apos;".into(),
                c => c.to_string(),
            })
            .collect()
    } else {
        json_escaped(s)
    }
}

/// The `application/x-www-form-urlencoded` byte serializer of the WHATWG URL standard.
fn form_encoded(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn sms(client: &reqwest::Client, settings: &NotifySettings, m: &Claimed) -> Result<(), String> {
    let gw = settings.sms.as_ref().ok_or("the SMS gateway is not configured any more")?;
    let msg: serde_json::Value = serde_json::from_str(&m.body).map_err(|e| e.to_string())?;
    let text = escape_for(&gw.content_type, msg["text"].as_str().unwrap_or_default());
    let phone = escape_for(&gw.content_type, &m.destination);
    // The text last: what it holds is not replaced again.
    let body = gw.body_template.replace("{phone}", &phone).replace("{text}", &text);
    let mut req = client.post(&gw.url).header("content-type", &gw.content_type).body(body);
    for (k, v) in &gw.headers {
        req = req.header(k, v.expose());
    }
    let r = req.send().await.map_err(|e| e.to_string())?;
    if r.status().is_success() { Ok(()) } else { Err(crate::outbound::refusal("the gateway", &r)) }
}

async fn webhook(client: &reqwest::Client, settings: &NotifySettings, m: &Claimed) -> Result<(), String> {
    let hook = settings
        .webhooks
        .iter()
        .find(|w| w.url == m.destination)
        .ok_or("no webhook with this URL is configured any more")?;
    let signature = hex::encode(hmac_sha256(hook.secret.expose().as_bytes(), m.body.as_bytes()));
    let r = client
        .post(&m.destination)
        .header("content-type", "application/json")
        .header("x-casegrid-event", &m.event)
        .header("x-casegrid-delivery", m.id.to_string())
        .header("x-casegrid-signature", format!("sha256={signature}"))
        .body(m.body.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status().is_success() { Ok(()) } else { Err(crate::outbound::refusal("the receiver", &r)) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sms_values_are_escaped_for_the_gateways_content_type() {
        use super::escape_for;
        let text = "结果: a&b=c \"d\"\n<e>";
        assert_eq!(escape_for("application/json", text), r#"结果: a&b=c \"d\"\n<e>"#);
        assert_eq!(
            escape_for("application/x-www-form-urlencoded; charset=utf-8", text),
            "%E7%BB%93%E6%9E%9C%3A+a%26b%3Dc+%22d%22%0A%3Ce%3E"
        );
        assert_eq!(escape_for("text/xml", text), "结果: a&amp;b=c &quot;d&quot;\n&lt;e&gt;");
        assert_eq!(escape_for("text/plain", "\"x"), "\\\"x");
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = super::hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}

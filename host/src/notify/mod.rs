//! Notifications through an outbox: a change writes its messages in its own transaction
//! ([`enqueue`]); a worker in every host process claims due messages, delivers them, and retries
//! with backoff. A message is claimed by one worker at a time (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL; SQLite has one writer), and a claim lapses if its worker dies, so nothing is lost
//! and nothing is sent twice at once.

use crate::auth::secrets::Secret;
use crate::store::{Backend, Db, StoreError, Tx, now_ms};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::time::Duration;

/// `[notify]` in the settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    pub webhooks: Vec<Webhook>,
    /// How often the worker looks for due messages.
    pub poll_millis: u64,
    /// Attempts before a message is marked failed.
    pub max_attempts: u32,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self { webhooks: Vec::new(), poll_millis: 500, max_attempts: 10 }
    }
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

/// Writes the messages `event` causes, inside the caller's transaction.
pub async fn enqueue(
    tx: &mut Tx,
    settings: &NotifySettings,
    event: &str,
    body: &serde_json::Value,
) -> Result<usize, StoreError> {
    let mut n = 0;
    let now = now_ms();
    for w in settings.webhooks.iter().filter(|w| w.events.is_empty() || w.events.iter().any(|e| e == event)) {
        let payload = serde_json::json!({"event": event, "at": crate::store::rfc3339(now), "data": body});
        sqlx::query(
            "INSERT INTO outbox (created_at, channel, destination, event, body, status, next_attempt_at) VALUES ($1, 'webhook', $2, $3, $4, 'pending', $1)",
        )
        .bind(now)
        .bind(&w.url)
        .bind(event)
        .bind(payload.to_string())
        .execute(&mut **tx)
        .await?;
        n += 1;
    }
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
    destination: String,
    event: String,
    body: String,
    attempts: i64,
}

/// How long a claim holds before another worker may take the message.
const CLAIM_MS: i64 = 60_000;

async fn claim(db: &Db, worker: &str, batch: i64) -> Result<Vec<Claimed>, StoreError> {
    let now = now_ms();
    let lock = if db.backend() == Backend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
    let sql = format!(
        "UPDATE outbox SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1 WHERE id IN \
         (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $3 AND (claimed_until IS NULL OR claimed_until < $3) \
          ORDER BY id LIMIT $4 {lock}) RETURNING id, destination, event, body, attempts"
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
    Ok(rows
        .iter()
        .map(|r| Claimed { id: r.get(0), destination: r.get(1), event: r.get(2), body: r.get(3), attempts: r.get(4) })
        .collect())
}

async fn settle(db: &Db, id: i64, outcome: Result<(), String>, attempts: i64, max: u32) -> Result<(), StoreError> {
    let now = now_ms();
    match outcome {
        Ok(()) => {
            sqlx::query("UPDATE outbox SET status = 'delivered', delivered_at = $1, claimed_until = NULL, last_error = NULL WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(db.pool())
                .await?;
        }
        Err(e) => {
            // Backoff: 2 s, 4 s, 8 s … capped at an hour.
            let wait = (2_000i64 << attempts.clamp(0, 20)).min(3_600_000);
            let status = if attempts >= i64::from(max) { "failed" } else { "pending" };
            sqlx::query("UPDATE outbox SET status = $1, next_attempt_at = $2, claimed_until = NULL, last_error = $3 WHERE id = $4")
                .bind(status)
                .bind(now + wait)
                .bind(e)
                .bind(id)
                .execute(db.pool())
                .await?;
        }
    }
    Ok(())
}

/// Delivers due messages until the process ends.
pub async fn worker(db: Db, settings: NotifySettings, name: String) {
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "the notification worker cannot start");
            return;
        }
    };
    let mut tick = tokio::time::interval(Duration::from_millis(settings.poll_millis.max(50)));
    loop {
        tick.tick().await;
        let batch = match claim(&db, &name, 20).await {
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
            if let Err(e) = settle(&db, m.id, outcome, m.attempts, settings.max_attempts).await {
                tracing::warn!(id = m.id, error = %e, "recording a delivery failed");
            }
        }
    }
}

async fn deliver(client: &reqwest::Client, settings: &NotifySettings, m: &Claimed) -> Result<(), String> {
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
    if r.status().is_success() { Ok(()) } else { Err(format!("the receiver answered {}", r.status())) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = super::hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}

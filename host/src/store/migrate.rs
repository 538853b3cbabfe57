//! Schema migrations, embedded in the binary and applied at start, in order, each in its own
//! transaction. A migration is written once for both backends; `{{id}}` stands for the dialect's
//! auto-numbered primary key, `{{blob}}` its byte-string type and `{{append_only:T}}` the triggers that keep table T append-only. An applied migration whose text has since changed stops the start:
//! a released migration is never edited, a new one is added.

use super::{Db, Dialect, Lock, StoreError};
use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, Row};

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "accounts", include_str!("migrations/0001_accounts.sql")),
    (2, "intake", include_str!("migrations/0002_intake.sql")),
    (3, "plugins", include_str!("migrations/0003_plugins.sql")),
    (4, "cases", include_str!("migrations/0004_cases.sql")),
    (5, "sign_in_attempts", include_str!("migrations/0005_sign_in_attempts.sql")),
    (6, "sms_receipts", include_str!("migrations/0006_sms_receipts.sql")),
    (7, "record_key", include_str!("migrations/0007_record_key.sql")),
    (8, "open311", include_str!("migrations/0008_open311.sql")),
];

fn render(sql: &str, dialect: &dyn Dialect) -> String {
    let mut out = sql.replace("{{id}}", dialect.id_column()).replace("{{blob}}", dialect.blob_column());
    while let Some(start) = out.find("{{append_only:") {
        let Some(len) = out[start..].find("}}") else { break };
        let table = out[start + "{{append_only:".len()..start + len].to_string();
        out.replace_range(start..start + len + 2, &dialect.append_only(&table));
    }
    out
}

pub(super) async fn run(db: &Db) -> Result<(), StoreError> {
    let mut tx = db.write().await?;
    db.serialise(&mut tx, Lock::Migrations).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
         checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let applied: Vec<(i64, String)> = sqlx::query("SELECT version, checksum FROM schema_migrations ORDER BY version")
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| (r.get::<i64, _>(0), r.get::<String, _>(1)))
        .collect();
    for &(version, name, sql) in MIGRATIONS {
        let checksum = hex::encode(Sha256::digest(sql.as_bytes()));
        if let Some((_, c)) = applied.iter().find(|(v, _)| *v == version) {
            if *c != checksum {
                return Err(StoreError::Schema(format!(
                    "migration {version:04}_{name} was applied with different text; released migrations must not change"
                )));
            }
            continue;
        }
        sqlx::raw_sql(AssertSqlSafe(render(sql, db.dialect))).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)")
            .bind(version)
            .bind(name)
            .bind(checksum)
            .bind(super::now_ms())
            .execute(&mut *tx)
            .await?;
        tracing::info!(version, name, "migration applied");
    }
    if let Some((v, _)) = applied.iter().find(|(v, _)| !MIGRATIONS.iter().any(|m| m.0 == *v)) {
        return Err(StoreError::Schema(format!(
            "the database has migration {v}, which this build does not know: it is newer"
        )));
    }
    tx.commit().await?;
    Ok(())
}

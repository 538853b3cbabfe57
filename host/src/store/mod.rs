//! The database: SQLite (a file under the data directory, WAL) by default, PostgreSQL when a
//! database URL is configured. One pool type serves both (sqlx's `Any` driver); SQL that is the same
//! in both dialects is written once, with `$1` placeholders, which both accept. Where the dialects
//! differ, code asks [`Db::backend`]. Times are stored as Unix milliseconds (`BIGINT`), dates as
//! `YYYY-MM-DD` text, so that both backends compare them the same way.

pub mod columns;
pub mod dialect;
mod migrate;

pub use dialect::{Dialect, Lock};

mod commit;
pub use commit::BoxFuture;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::path::Path;
use std::time::Duration;

pub use sqlx::Row as _;
pub use sqlx::any::AnyRow as Row;

pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    dialect: &'static dyn Dialect,
    /// SQLite's writer task for [`Db::batched`] (group commit); none on PostgreSQL.
    committer: Option<commit::Committer>,
}

/// Every SQLite connection's settings. WAL lets readers go on while one writer commits, and with
/// `synchronous = FULL` a commit returns only once the WAL is on disk: a report acknowledged is
/// kept through a power cut or an OS crash (`NORMAL` could lose the last commits). A writer waits
/// for the lock rather than failing at once.
const SQLITE_PRAGMAS: &[&str] = &[
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA busy_timeout = 10000",
    "PRAGMA foreign_keys = ON",
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write: the thing already exists.
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database schema: {0}")]
    Schema(String),
}

impl StoreError {
    /// Maps a unique violation to `Conflict(what)`, anything else to `Db`.
    pub fn unique(e: sqlx::Error, what: impl Into<String>) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what.into()),
            _ => StoreError::Db(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl Db {
    /// Opens the configured database and brings its schema up to date.
    /// `url`: a `postgres://` URL; without one, `data/casegrid.sqlite3` is used.
    pub async fn open(url: Option<&str>, data: &Path) -> anyhow::Result<Db> {
        install_default_drivers();
        let db = match url {
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(u)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL ({}): {e}", redact_url(u)))?;
                Db { pool, backend: Backend::Postgres, dialect: &dialect::Postgres, committer: None }
            }
            Some(u) if u.starts_with("sqlite:") => Self::sqlite(u).await?,
            Some(u) => anyhow::bail!("database_url must start with postgres:// or sqlite: (got {})", redact_url(u)),
            None => {
                std::fs::create_dir_all(data)
                    .map_err(|e| anyhow::anyhow!("cannot create the data directory {}: {e}", data.display()))?;
                let file = data.join("casegrid.sqlite3");
                Self::sqlite(&format!("sqlite://{}?mode=rwc", file.display())).await?
            }
        };
        migrate::run(&db).await?;
        Ok(db)
    }

    async fn sqlite(url: &str) -> anyhow::Result<Db> {
        let pool = AnyPoolOptions::new()
            // SQLite has one writer at a time; more connections only help readers.
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    for p in SQLITE_PRAGMAS {
                        conn.execute(*p).await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open SQLite database {url}: {e}"))?;
        // An in-memory database is one per connection: the writer could not share it.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let committer = (!in_memory).then(|| commit::Committer::start(url.to_string(), SQLITE_PRAGMAS));
        Ok(Db { pool, backend: Backend::Sqlite, dialect: &dialect::Sqlite, committer })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SQL that differs between backends.
    pub fn dialect(&self) -> &'static dyn Dialect {
        self.dialect
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that will write ([`Dialect::begin_write`]).
    pub async fn write(&self) -> Result<Tx> {
        Ok(self.pool.begin_with(self.dialect.begin_write()).await?)
    }

    /// [`Db::write`] on a connection the caller already holds (one pool checkout per request).
    pub async fn write_on<'c>(&self, c: &'c mut sqlx::AnyConnection) -> Result<sqlx::Transaction<'c, sqlx::Any>> {
        use sqlx::Connection;
        Ok(c.begin_with(self.dialect.begin_write()).await?)
    }

    /// Makes the transaction wait for every other one that serialises on `lock` until they end
    /// ([`Dialect::serialise`]); nothing where writers are serial already.
    pub async fn serialise(&self, tx: &mut sqlx::AnyConnection, lock: Lock) -> Result<()> {
        if let Some(sql) = self.dialect.serialise(lock) {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

// Time is the clock's; these stay reachable here for the callers written before it moved.
pub use crate::clock::{now_ms, rfc3339, today_cst};

/// A URL for messages: the password, if any, replaced.
pub fn redact_url(u: &str) -> String {
    match (u.find("://"), u.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &u[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &u[..s + 3], &creds[..c], &u[at..]),
                None => u.to_string(),
            }
        }
        _ => u.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_lose_their_password() {
        assert_eq!(super::redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}

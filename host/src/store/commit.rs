//! Group commit on SQLite. With `synchronous = FULL` every commit waits for the disk (an fsync of
//! the WAL), and SQLite has one writer at a time, so writes that each commit alone queue behind one
//! another's fsyncs. [`Db::batched`] hands its work to one writer task instead: the writer takes
//! every job that is waiting, runs each in a savepoint of its own (one that fails is undone alone
//! and told so) inside one transaction, and commits them all with one fsync. A job's caller hears
//! back only after that commit: what it is told is durable.
//!
//! The writer has its own connection, outside the pool: callers that hold pool connections while
//! they wait can never starve it.

use super::{Db, StoreError};
use sqlx::{AnyConnection, Connection, Executor};
use tokio::sync::{mpsc, oneshot};

/// A future that may borrow the writer's connection.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The most jobs one transaction takes.
const MAX_BATCH: usize = 64;

/// Work that runs inside the writer's transaction.
type Work = Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<(), StoreError>> + Send>;

struct Job {
    work: Work,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The sending side of the writer task.
#[derive(Clone)]
pub(super) struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Committer")
    }
}

impl Committer {
    /// Starts the writer task, which connects to `url` (with `pragmas`) when it first has work.
    pub(super) fn start(url: String, pragmas: &'static [&'static str]) -> Committer {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(url, pragmas, rx));
        Committer { jobs }
    }
}

/// The error a job hears when its batch failed as a whole (sqlx errors cannot be copied).
fn whole_batch(e: &StoreError) -> StoreError {
    StoreError::Db(sqlx::Error::Protocol(format!("the batch's transaction failed: {e}")))
}

async fn connect(url: &str, pragmas: &'static [&'static str]) -> Result<AnyConnection, StoreError> {
    let mut c = AnyConnection::connect(url).await?;
    for p in pragmas {
        c.execute(*p).await?;
    }
    Ok(c)
}

async fn run(url: String, pragmas: &'static [&'static str], mut rx: mpsc::Receiver<Job>) {
    let mut conn: Option<AnyConnection> = None;
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let c = match conn.take() {
            Some(c) => Ok(c),
            None => connect(&url, pragmas).await,
        };
        match c {
            Ok(mut c) => {
                // A task of its own: a job that panics fails its batch (each caller hears an error),
                // not the writer. A connection whose batch failed is not trusted again.
                let batch = tokio::spawn(async move {
                    let ok = write(&mut c, jobs).await;
                    (c, ok)
                });
                if let Ok((c, true)) = batch.await {
                    conn = Some(c);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the database writer cannot connect");
                for j in jobs {
                    let _ = j.done.send(Err(whole_batch(&e)));
                }
            }
        }
    }
}

/// Runs `jobs` in one transaction, each in its own savepoint, and commits; tells each job how it
/// ended. False when the transaction itself failed.
async fn write(c: &mut AnyConnection, jobs: Vec<Job>) -> bool {
    let mut tx = match c.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => {
            let e = StoreError::from(e);
            for j in jobs {
                let _ = j.done.send(Err(whole_batch(&e)));
            }
            return false;
        }
    };
    let mut written = Vec::with_capacity(jobs.len());
    let mut broken: Option<StoreError> = None;
    for Job { work, done } in jobs {
        if let Some(e) = &broken {
            let _ = done.send(Err(whole_batch(e)));
            continue;
        }
        let step = async {
            (&mut *tx).execute("SAVEPOINT job").await?;
            let outcome = work(&mut tx).await;
            let undo = if outcome.is_err() { "ROLLBACK TO job; RELEASE job" } else { "RELEASE job" };
            sqlx::raw_sql(undo).execute(&mut *tx).await?;
            Ok::<_, StoreError>(outcome)
        };
        match step.await {
            Ok(Ok(())) => written.push(done),
            Ok(Err(e)) => {
                let _ = done.send(Err(e));
            }
            Err(e) => {
                let _ = done.send(Err(whole_batch(&e)));
                broken = Some(e);
            }
        }
    }
    let committed = match broken {
        Some(e) => Err(e),
        None => tx.commit().await.map_err(StoreError::from),
    };
    match committed {
        Ok(()) => {
            for d in written {
                let _ = d.send(Ok(()));
            }
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "a batch of writes failed");
            for d in written {
                let _ = d.send(Err(whole_batch(&e)));
            }
            false
        }
    }
}

impl Db {
    /// Runs `f` in a write transaction and commits it: on SQLite together with whatever other
    /// work is waiting ([`self`](self)), on PostgreSQL (whose writers do not wait on one another)
    /// in a transaction of its own. `f` may run inside a savepoint: it must not commit.
    pub async fn batched<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        let Some(committer) = &self.committer else {
            let mut tx = self.write().await?;
            let v = f(&mut tx).await?;
            tx.commit().await?;
            return Ok(v);
        };
        let (value_tx, value_rx) = oneshot::channel();
        let work: Work = Box::new(move |c| {
            Box::pin(async move {
                let v = f(c).await?;
                let _ = value_tx.send(v);
                Ok(())
            })
        });
        let (done, finished) = oneshot::channel();
        let gone =
            || StoreError::Db(sqlx::Error::Protocol("the database writer stopped before this write committed".into()));
        committer.jobs.send(Job { work, done }).await.map_err(|_| gone())?;
        finished.await.map_err(|_| gone())??;
        value_rx.await.map_err(|_| gone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    async fn scratch(tag: &str) -> (Db, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("casegrid-commit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = Db::open(None, &dir).await.expect("open");
        sqlx::raw_sql("CREATE TABLE scratch (k TEXT NOT NULL UNIQUE)").execute(db.pool()).await.unwrap();
        (db, dir)
    }

    async fn put(db: &Db, k: String) -> Result<i64, StoreError> {
        db.batched(move |c| {
            Box::pin(async move {
                let r = sqlx::query("INSERT INTO scratch (k) VALUES ($1) RETURNING rowid").bind(k).fetch_one(c).await;
                Ok(r.map_err(|e| StoreError::unique(e, "k"))?.get::<i64, _>(0))
            })
        })
        .await
    }

    /// Every connection, the pool's and the writer's, waits for the disk at each commit.
    #[tokio::test]
    async fn sqlite_commits_are_synchronous_full_in_wal() {
        let (db, dir) = scratch("pragmas").await;
        let mut c = db.pool().acquire().await.unwrap();
        let sync: i64 = sqlx::query("PRAGMA synchronous").fetch_one(&mut *c).await.unwrap().get(0);
        let journal: String = sqlx::query("PRAGMA journal_mode").fetch_one(&mut *c).await.unwrap().get(0);
        assert_eq!((sync, journal.as_str()), (2, "wal"), "2 is FULL");
        let writer: i64 = db
            .batched(|c| {
                Box::pin(async move { Ok(sqlx::query("PRAGMA synchronous").fetch_one(c).await?.get::<i64, _>(0)) })
            })
            .await
            .unwrap();
        assert_eq!(writer, 2);
        drop(c);
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A job that panics fails its own batch, not the writer: the next write is committed.
    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_writer_goes_on() {
        let (db, dir) = scratch("panic").await;
        let boom =
            db.batched(|_c| Box::pin(async move { if true { panic!("a bug in a job") } else { Ok(0i64) } })).await;
        assert!(boom.is_err());
        assert_eq!(put(&db, "after".into()).await.unwrap(), 1);
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Many writers at once: each is told its own outcome, a failing one is undone alone, and
    /// what was acknowledged is there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_commits_together_and_undoes_a_failing_job_alone() {
        let (db, dir) = scratch("batch").await;
        let writers: Vec<_> = (0..200)
            .map(|i| {
                let db = db.clone();
                // Every tenth repeats a key written before it: a unique violation, in whatever batch.
                let k = if i % 10 == 9 { format!("k{}", i - 9) } else { format!("k{i}") };
                tokio::spawn(async move { (i, put(&db, k).await) })
            })
            .collect();
        let mut ok = Vec::new();
        for w in writers {
            let (i, r) = w.await.unwrap();
            match r {
                Ok(rowid) => ok.push((i, rowid)),
                Err(StoreError::Conflict(_)) => assert!(matches!(i % 10, 0 | 9), "job {i} failed"),
                Err(e) => panic!("job {i}: {e}"),
            }
        }
        // Of each pair with one key, one is stored (whichever ran first), the other refused.
        assert_eq!(ok.len(), 180, "{ok:?}");
        let rows: Vec<(i64, String)> = sqlx::query("SELECT rowid, k FROM scratch ORDER BY rowid")
            .fetch_all(db.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert_eq!(rows.len(), 180);
        let mut ids: Vec<i64> = ok.iter().map(|x| x.1).collect();
        ids.sort();
        assert_eq!(ids, rows.iter().map(|r| r.0).collect::<Vec<_>>(), "each was told its own row");
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}

//! The physical bound for intake: how many write transactions the database takes on this machine,
//! through the same pool and schema as the server — one report row per transaction, and the
//! intake's whole write set (the report, three timeline entries, one outbox message).
//!
//! `cargo bench -p casegrid --bench raw_insert` (SQLite in a temporary directory);
//! `CASEGRID_BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432/DB cargo bench …` for PostgreSQL
//! (an empty database: the bench migrates it).

use casegrid::store::{Db, now_ms};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TASKS: usize = 16;
const SECONDS: u64 = 10;

async fn one_row(db: &Db, n: u64) -> anyhow::Result<()> {
    let mut tx = db.write().await?;
    sqlx::query("INSERT INTO reports (tracking_code, source, description, status, created_at, updated_at) VALUES ($1, 'web', 'bench', 'triage', $2, $2)")
        .bind(format!("R{n:013}"))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn intake_set(db: &Db, n: u64) -> anyhow::Result<()> {
    let mut tx = db.write().await?;
    let id: i64 = sqlx::Row::get(
        &sqlx::query("INSERT INTO reports (tracking_code, source, description, status, created_at, updated_at) VALUES ($1, 'web', 'bench', 'dispatched', $2, $2) RETURNING id")
            .bind(format!("S{n:013}"))
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await?,
        0,
    );
    for kind in ["received", "routed", "dispatched"] {
        sqlx::query("INSERT INTO report_events (report_id, at, kind, actor, public, detail) VALUES ($1, $2, $3, 'system', 1, '{}')")
            .bind(id)
            .bind(now_ms())
            .bind(kind)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("INSERT INTO outbox (created_at, channel, destination, event, body, status, next_attempt_at) VALUES ($1, 'webhook', 'http://x', 'report.dispatched', '{}', 'delivered', $1)")
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn run<F, Fut>(db: &Db, name: &str, f: F)
where
    F: Fn(Db, u64) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (db, counter) = (db.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                f(db.clone(), n).await.expect("a write");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all: Vec<Duration> = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("a task"));
    }
    all.sort();
    let p = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "{name:<40} {:>8.0} tx/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} transactions, {TASKS} at once, {SECONDS} s)",
        all.len() as f64 / SECONDS as f64,
        p(0.5),
        p(0.99),
        all.len()
    );
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let url = std::env::var("CASEGRID_BENCH_POSTGRES").ok();
        let dir = std::env::temp_dir().join(format!("casegrid-raw-insert-{}", std::process::id()));
        let db = Db::open(url.as_deref(), &dir).await?;
        let backend = if url.is_some() { "postgres" } else { "sqlite" };
        run(&db, &format!("{backend}: one report row"), |db, n| async move { one_row(&db, n).await }).await;
        run(&db, &format!("{backend}: intake write set (5 rows)"), |db, n| async move { intake_set(&db, n).await })
            .await;
        db.close().await;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    })
}

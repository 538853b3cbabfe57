//! Helpers for the black-box tests: the repository's built plugins and fixtures, and a running
//! server on `127.0.0.1:0` with a fresh data directory, started through the same `run` as `main`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn built(dir: &str, name: &str) -> PathBuf {
    let p = repo().join("target").join(dir).join(name);
    assert!(p.exists(), "{} is missing: run `scripts/build-plugins --fixtures` (scripts/test does)", p.display());
    p
}

/// A bundled plugin component, e.g. `plugin("housing")`.
pub fn plugin(domain: &str) -> PathBuf {
    built("plugins", &format!("{domain}.wasm"))
}

/// A test fixture component, e.g. `fixture("hostile")`.
pub fn fixture(name: &str) -> PathBuf {
    built("fixtures", &format!("{name}.wasm"))
}

/// The `casegrid` binary cargo built for this test run.
pub fn casegrid_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join("target"));
    let p = target.join("debug").join("casegrid");
    assert!(p.exists(), "{} is missing: `cargo build -p casegrid` first (scripts/test does)", p.display());
    p
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("casegrid-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create a temp dir");
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server running in this process, stopped when dropped.
pub struct App {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    _data: TempDir,
    _plugins: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl App {
    /// Starts the server with exactly these plugin components in its plugin directory.
    pub async fn spawn(components: &[&Path]) -> App {
        let data = TempDir::new("data");
        let plugins = TempDir::new("plugins");
        for c in components {
            std::fs::copy(c, plugins.0.join(c.file_name().expect("a file"))).expect("copy a plugin");
        }
        let settings = casegrid::Settings {
            listen: "127.0.0.1:0".parse().expect("an address"),
            data: data.0.clone(),
            plugins: plugins.0.clone(),
            limits: Default::default(),
            routing: Default::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a local address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(casegrid::run(settings, listener, async {
            let _ = stopped.await;
        }));
        let app = App {
            addr,
            client: reqwest::Client::new(),
            _data: data,
            _plugins: plugins,
            stop: Some(stop),
            task: Some(task),
        };
        // `run` binds before loading plugins; wait until it answers.
        for _ in 0..600 {
            if app.client.get(app.url("/healthz")).send().await.is_ok() {
                return app;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the server did not come up");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.client.get(self.url(path)).send().await.expect("GET");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let r = self.client.post(self.url(path)).json(&body).send().await.expect("POST");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("the server task").expect("the server ran cleanly");
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Seconds since the Unix epoch now.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs() as i64
}

//! Helpers for the black-box tests: the repository's built plugins and fixtures, and a running
//! server on `127.0.0.1:0` with a fresh data directory, started through the same `run` as `main`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// Runs the `casegrid` binary on a data directory (SQLite there, whatever the environment says;
/// the first admin's password is [`ADMIN_PASSWORD`]); (exit code, stdout, stderr).
pub fn cli(data: &TempDir, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(casegrid_bin())
        .args(args)
        .arg("--data")
        .arg(&data.0)
        .env_remove("CASEGRID_DATABASE_URL")
        .env("CASEGRID_AUTH__BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .expect("run casegrid");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Runs the `casegrid` binary on a server's own database (its data directory, and its PostgreSQL
/// database when it has one): (exit code, stdout, stderr).
pub fn cli_on(app: &App, args: &[&str]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(casegrid_bin());
    cmd.args(args).arg("--data").arg(&app.settings.data).env_remove("CASEGRID_DATABASE_URL");
    if let Some(url) = &app.settings.database_url {
        cmd.arg("--database-url").arg(url.expose());
    }
    let out = cmd.output().expect("run casegrid");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf, bool);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("casegrid-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create a temp dir");
        Self(p, true)
    }
}

impl TempDir {
    /// A directory someone else owns: not removed on drop.
    pub fn kept(p: &Path) -> Self {
        Self(p.to_path_buf(), false)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The first admin's password in test servers (set through `auth.bootstrap_admin_password`).
pub const ADMIN_PASSWORD: &str = "Test-root-pw-2026";

/// The eight bundled domains.
pub const BUNDLED_DOMAINS: [&str; 8] = [
    "housing",
    "transport",
    "ecology",
    "natural-resources",
    "culture-tourism",
    "labour",
    "industry-energy",
    "commerce",
];

/// Every domain a test plugin may have (the bundled ones and the fixtures'): the staff account of
/// [`App::spawn`] is certified for each.
pub fn test_domains() -> Vec<&'static str> {
    BUNDLED_DOMAINS.iter().copied().chain(["hostile", "python-fixture"]).collect()
}

/// A server running in this process, stopped when dropped. Its requests through [`App::get`]
/// and [`App::post`] carry the API token of a staff account (officer certified for every test
/// domain, and dispatcher); [`App::anon`] sends none.
pub struct App {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// The staff account's API token.
    pub token: String,
    pub settings: casegrid::Settings,
    data: Arc<TempDir>,
    plugins: Arc<TempDir>,
    pg: Option<Arc<PgDatabase>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Test settings: plain-HTTP cookies, no sign-in rate limit, a known admin password.
pub fn test_settings(data: &Path, plugins: &Path) -> casegrid::Settings {
    let mut s = casegrid::Settings::new(data.to_path_buf(), plugins.to_path_buf());
    s.auth.cookie_secure = false;
    s.auth.login_per_minute = 0;
    s.auth.bootstrap_admin_password = Some(casegrid::auth::secrets::Secret::new(ADMIN_PASSWORD));
    s
}

/// The database a test server runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A file in the server's fresh data directory.
    Sqlite,
    /// A fresh database on the machine's PostgreSQL server (`CG_TEST_POSTGRES`, default
    /// `postgres://postgres@127.0.0.1:5432/postgres`), dropped afterwards.
    Postgres,
}

impl Backend {
    /// The backend of [`App::spawn`] and [`App::spawn_with`]: `CG_TEST_BACKEND=postgres`
    /// runs every story on PostgreSQL (`scripts/test` runs the system suite once on each).
    pub fn from_env() -> Backend {
        match std::env::var("CG_TEST_BACKEND").as_deref() {
            Ok("postgres") => Backend::Postgres,
            Ok("sqlite") | Err(_) => Backend::Sqlite,
            Ok(other) => panic!("CG_TEST_BACKEND is `{other}`: say sqlite or postgres"),
        }
    }
}

/// Prints what the samples of a benchmark were: how many, and min, p50, p90 and max in milliseconds.
pub fn print_timings(what: &str, samples: &mut [std::time::Duration]) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
    println!(
        "{what}: n = {}, min {:.1} ms, p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        samples.len(),
        at(0.0),
        at(0.5),
        at(0.9),
        at(1.0)
    );
}

/// The PostgreSQL server the tests create their databases on.
pub fn postgres_server() -> String {
    std::env::var("CG_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database made for one test, dropped when the last server using it is gone.
pub struct PgDatabase {
    pub url: String,
    name: String,
}

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        use sqlx::Connection;
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("casegrid_test_{}_{n}", std::process::id());
        let server = postgres_server();
        let mut c = sqlx::PgConnection::connect(&server).await.unwrap_or_else(|e| {
            panic!("PostgreSQL at {server} is not reachable ({e}): start it (.ci/run does), or set CG_TEST_POSTGRES")
        });
        // Two statements: PostgreSQL runs a multi-statement string as one transaction, which
        // DROP and CREATE DATABASE refuse.
        for sql in [format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), format!("CREATE DATABASE {name}")] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut c).await.expect("create a test database");
        }
        let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b).to_string();
        PgDatabase { url: format!("{base}/{name}"), name }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (server, name) = (postgres_server(), self.name.clone());
        // Drop cannot await: a thread with its own runtime does it.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&server).await.ok()?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&mut c)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

impl App {
    /// Starts the server with exactly these plugin components in its plugin directory.
    pub async fn spawn(components: &[&Path]) -> App {
        Self::spawn_with(components, |_| {}).await
    }

    /// Starts the server on a fresh database of the given backend.
    pub async fn spawn_on(backend: Backend, components: &[&Path]) -> App {
        Self::spawn_on_with(backend, components, |_| {}).await
    }

    /// Starts the server with test settings changed by `tweak`, on [`Backend::from_env`].
    pub async fn spawn_with(components: &[&Path], tweak: impl FnOnce(&mut casegrid::Settings)) -> App {
        Self::spawn_on_with(Backend::from_env(), components, tweak).await
    }

    pub async fn spawn_on_with(
        backend: Backend,
        components: &[&Path],
        tweak: impl FnOnce(&mut casegrid::Settings),
    ) -> App {
        let data = TempDir::new("data");
        let plugins = TempDir::new("plugins");
        for c in components {
            std::fs::copy(c, plugins.0.join(c.file_name().expect("a file"))).expect("copy a plugin");
        }
        let mut settings = test_settings(&data.0, &plugins.0);
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let db = PgDatabase::create().await;
                settings.database_url = Some(casegrid::auth::secrets::Secret::new(db.url.clone()));
                Some(Arc::new(db))
            }
        };
        tweak(&mut settings);
        let mut app = Self::start(settings, Arc::new(data), Arc::new(plugins), pg).await;
        app.token = app.staff_token().await;
        app
    }

    /// A server with exactly these settings (its data directory is the caller's to keep), signed
    /// in as nobody: for stories that set up their own accounts.
    pub async fn start_on(settings: casegrid::Settings) -> App {
        let (data, plugins) = (Arc::new(TempDir::kept(&settings.data)), Arc::new(TempDir::kept(&settings.plugins)));
        Self::start(settings, data, plugins, None).await
    }

    /// A second server process on the same database (and data directory), as a second host
    /// behind a balancer would be.
    pub async fn another(&self) -> App {
        let mut app =
            Self::start(self.settings.clone(), self.data.clone(), self.plugins.clone(), self.pg.clone()).await;
        app.token = self.token.clone();
        app
    }

    /// Stops this server and starts it again on the same database.
    pub async fn restart(mut self) -> App {
        let (settings, data, plugins, pg, token) =
            (self.settings.clone(), self.data.clone(), self.plugins.clone(), self.pg.clone(), self.token.clone());
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("the server task").expect("the server ran cleanly");
        }
        let mut app = Self::start(settings, data, plugins, pg).await;
        app.token = token;
        app
    }

    async fn start(
        settings: casegrid::Settings,
        data: Arc<TempDir>,
        plugins: Arc<TempDir>,
        pg: Option<Arc<PgDatabase>>,
    ) -> App {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a local address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(casegrid::run(settings.clone(), listener, async {
            let _ = stopped.await;
        }));
        let mut app = App {
            addr,
            client: reqwest::Client::new(),
            token: String::new(),
            settings,
            data,
            plugins,
            pg,
            stop: Some(stop),
            task: Some(task),
        };
        // `run` binds before loading plugins; wait until it answers.
        let mut up = false;
        for _ in 0..600 {
            if app.client.get(app.url("/healthz")).send().await.is_ok() {
                up = true;
                break;
            }
            if app.task.as_ref().is_some_and(|t| t.is_finished()) {
                let t = app.task.take().expect("the task");
                panic!("the server stopped: {:?}", t.await);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(up, "the server did not come up");
        app
    }

    /// Creates the staff account through the API, as an admin would, and returns its token.
    async fn staff_token(&self) -> String {
        let admin = self.sign_in("admin", ADMIN_PASSWORD).await;
        let domains = test_domains();
        let certs: Vec<serde_json::Value> = domains
            .iter()
            .map(|d| serde_json::json!({"domain": d, "number": format!("TEST-{d}"), "valid_until": "2099-12-31"}))
            .collect();
        let doc = serde_json::json!({
            "departments": [{"code": "TEST", "name": "测试支队"}],
            "teams": [{"code": "TEST-T", "name": "测试中队", "department": "TEST", "domains": domains}],
            "members": [{"login": "tester", "display_name": "测试员", "certifications": certs,
                         "roles": [{"role": "officer", "team": "TEST-T"}, {"role": "dispatcher"}]}]
        });
        let (s, out) = admin.post("/api/v1/org/import", doc).await;
        assert_eq!(s, 200, "{out}");
        let otp = out["members_created"][0]["one_time_password"].as_str().expect("a one-time password").to_string();
        let tester = self.sign_in_changing("tester", &otp, "Staff-pw-2026-xy").await;
        tester.new_token("tests").await
    }

    /// Imports an organisation document as the admin and signs every new member in (changing the
    /// one-time password): login → an API token of theirs.
    pub async fn people(&self, doc: serde_json::Value) -> std::collections::BTreeMap<String, String> {
        let admin = self.sign_in("admin", ADMIN_PASSWORD).await;
        let (s, out) = admin.post("/api/v1/org/import", doc).await;
        assert_eq!(s, 200, "{out}");
        let mut tokens = std::collections::BTreeMap::new();
        for (i, m) in out["members_created"].as_array().expect("members_created").iter().enumerate() {
            let login = m["login"].as_str().expect("a login");
            let otp = m["one_time_password"].as_str().expect("a one-time password");
            let s = self.sign_in_changing(login, otp, &format!("Member-pw-{i}-2026")).await;
            tokens.insert(login.to_string(), s.new_token("tests").await);
        }
        tokens
    }

    /// A handle on the server's own database (SQLite file or PostgreSQL), for stories that look
    /// underneath the API or move the clock.
    pub async fn db(&self) -> casegrid::store::Db {
        let url = self.settings.database_url.as_ref().map(|u| u.expose().to_string());
        casegrid::store::Db::open(url.as_deref(), &self.settings.data).await.expect("open the server's database")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET as the staff account.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        send(self.client.get(self.url(path)).bearer_auth(&self.token)).await
    }

    /// POST as the staff account.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        send(self.client.post(self.url(path)).bearer_auth(&self.token).json(&body)).await
    }

    /// Requests without credentials.
    pub fn anon(&self) -> As<'_> {
        As { app: self, auth: Auth::None }
    }

    /// Requests with this API token.
    pub fn with_token(&self, token: &str) -> As<'_> {
        As { app: self, auth: Auth::Token(token.to_string()) }
    }

    /// Signs in through `POST /api/v1/auth/login`; panics unless it succeeds.
    pub async fn sign_in(&self, login: &str, password: &str) -> As<'_> {
        let r = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"login": login, "password": password}))
            .send()
            .await
            .expect("POST login");
        let status = r.status().as_u16();
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("cg_session=").or_else(|| v.strip_prefix("__Host-cg_session=")))
            .map(|v| v.split(';').next().unwrap_or("").to_string());
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        assert_eq!(status, 200, "sign-in of {login}: {body}");
        let csrf = body["csrf_token"].as_str().expect("a CSRF token").to_string();
        As { app: self, auth: Auth::Session { cookie: cookie.expect("a session cookie"), csrf } }
    }

    /// Signs in with a one-time password and changes it, as a new account must.
    pub async fn sign_in_changing(&self, login: &str, otp: &str, new_password: &str) -> As<'_> {
        let s = self.sign_in(login, otp).await;
        let (st, b) = s
            .post("/api/v1/auth/password", serde_json::json!({"current_password": otp, "new_password": new_password}))
            .await;
        assert_eq!(st, 204, "password change of {login}: {b}");
        s
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

async fn send(req: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let r = req.send().await.expect("a request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Token(String),
    /// A browser's session: its cookie, and the CSRF token its pages send with changes.
    Session {
        cookie: String,
        csrf: String,
    },
}

/// Requests made as one caller.
pub struct As<'a> {
    pub app: &'a App,
    pub auth: Auth,
}

impl As<'_> {
    /// A request with this caller's credentials (and, for a session, its CSRF token).
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.app.client.request(method, self.app.url(path));
        match &self.auth {
            Auth::None => rb,
            Auth::Token(t) => rb.bearer_auth(t),
            Auth::Session { cookie, csrf } => {
                // Over HTTPS the server names its cookie with the `__Host-` prefix.
                let name = if self.app.settings.auth.cookie_secure { "__Host-cg_session" } else { "cg_session" };
                rb.header("cookie", format!("{name}={cookie}")).header("x-csrf-token", csrf)
            }
        }
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        send(self.request(reqwest::Method::POST, path).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        send(self.request(reqwest::Method::PUT, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        send(self.request(reqwest::Method::DELETE, path)).await
    }

    /// `POST /api/v1/plugins`: a component and, if given, its signature document.
    pub async fn publish(&self, component: Vec<u8>, signature: Option<&serde_json::Value>) -> (u16, serde_json::Value) {
        let mut form = reqwest::multipart::Form::new()
            .part("component", reqwest::multipart::Part::bytes(component).file_name("plugin.wasm"));
        if let Some(sig) = signature {
            form = form.part("signature", reqwest::multipart::Part::text(sig.to_string()));
        }
        send(self.request(reqwest::Method::POST, "/api/v1/plugins").multipart(form)).await
    }

    /// The session cookie's value, for a session.
    pub fn cookie(&self) -> Option<&str> {
        match &self.auth {
            Auth::Session { cookie, .. } => Some(cookie),
            _ => None,
        }
    }

    /// Creates an API token from this session; returns it.
    pub async fn new_token(&self, name: &str) -> String {
        let (s, b) = self.post("/api/v1/tokens", serde_json::json!({"name": name})).await;
        assert_eq!(s, 201, "token: {b}");
        b["token"].as_str().expect("the token").to_string()
    }
}

/// A webhook receiver on `127.0.0.1:0`: records each delivery (its headers and body) and answers
/// 503 to the first `fail_first` ones, 200 after.
pub struct Hook {
    pub url: String,
    pub received: Arc<std::sync::Mutex<Vec<Delivery>>>,
}

#[derive(Clone, Debug)]
pub struct Delivery {
    pub event: String,
    pub id: String,
    pub signature: String,
    pub body: String,
}

impl Hook {
    pub async fn start(fail_first: usize) -> Hook {
        let received: Arc<std::sync::Mutex<Vec<Delivery>>> = Arc::default();
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (rec, seen2) = (received.clone(), seen.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let (rec, seen) = (rec.clone(), seen2.clone());
                async move {
                    if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < fail_first {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    rec.lock().unwrap().push(Delivery {
                        event: h("x-casegrid-event"),
                        id: h("x-casegrid-delivery"),
                        signature: h("x-casegrid-signature"),
                        body,
                    });
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Hook { url, received }
    }

    /// Waits (up to `secs`) until at least `n` deliveries arrived; returns them.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Delivery> {
        for _ in 0..secs * 20 {
            let got = self.received.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let got = self.received.lock().unwrap().clone();
        panic!("{} deliveries after {secs} s, expected {n}: {got:?}", got.len());
    }

    /// Settings that send every event to this receiver, signed with `secret`.
    pub fn settings(&self, secret: &str) -> casegrid::notify::NotifySettings {
        casegrid::notify::NotifySettings {
            webhooks: vec![casegrid::notify::Webhook {
                url: self.url.clone(),
                secret: casegrid::auth::secrets::Secret::new(secret),
                events: vec![],
            }],
            smtp: None,
            sms: None,
            poll_millis: 100,
            max_attempts: 10,
        }
    }
}

/// A mail server on `127.0.0.1:0` speaking just enough SMTP to take messages: records each
/// (recipients, message text).
pub struct FakeSmtp {
    pub port: u16,
    pub mails: Arc<std::sync::Mutex<Vec<Mail>>>,
}

/// A message the fake server took: its recipients and its text.
pub type Mail = (Vec<String>, String);

impl FakeSmtp {
    /// Settings that send mail here (and poll the outbox every 100 ms).
    pub fn settings(&self) -> casegrid::notify::NotifySettings {
        let mut notify = casegrid::notify::NotifySettings { poll_millis: 100, ..Default::default() };
        notify.smtp = Some(casegrid::notify::Smtp {
            host: "127.0.0.1".into(),
            port: self.port,
            security: "none".into(),
            username: None,
            password: None,
            from: "执法局 <noreply@zf.example.cn>".into(),
        });
        notify
    }

    pub async fn start() -> FakeSmtp {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("an address").port();
        let mails: Arc<std::sync::Mutex<Vec<Mail>>> = Arc::default();
        let store = mails.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut lines = BufReader::new(r).lines();
                    let _ = w.write_all(b"220 fake ESMTP\r\n").await;
                    let (mut rcpt, mut data, mut in_data) = (Vec::new(), String::new(), false);
                    while let Ok(Some(line)) = lines.next_line().await {
                        if in_data {
                            if line == "." {
                                in_data = false;
                                store.lock().unwrap().push((std::mem::take(&mut rcpt), std::mem::take(&mut data)));
                                let _ = w.write_all(b"250 queued\r\n").await;
                            } else {
                                data.push_str(&line);
                                data.push('\n');
                            }
                            continue;
                        }
                        let upper = line.to_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                            b"250-fake\r\n250 8BITMIME\r\n"
                        } else if upper.starts_with("RCPT TO:") {
                            rcpt.push(line[8..].trim().trim_matches(|c| c == '<' || c == '>').to_string());
                            b"250 ok\r\n"
                        } else if upper.starts_with("DATA") {
                            in_data = true;
                            b"354 go on\r\n"
                        } else if upper.starts_with("QUIT") {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            break;
                        } else {
                            b"250 ok\r\n"
                        };
                        let _ = w.write_all(reply).await;
                    }
                });
            }
        });
        FakeSmtp { port, mails }
    }

    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Mail> {
        for _ in 0..secs * 20 {
            let got = self.mails.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{} mails after {secs} s, expected {n}", self.mails.lock().unwrap().len());
    }
}

/// An S3-compatible bucket on `127.0.0.1:0`, just enough of one: PUT, GET and DELETE of objects
/// by path (`/BUCKET/KEY`), `NoSuchKey` as S3 says it. Every request must carry a Version 4
/// `Authorization` for `access_key_id` in `region` over `host;x-amz-content-sha256;x-amz-date`,
/// and its `x-amz-content-sha256` must be the body's, or it is refused as S3 refuses it. After
/// [`FakeS3::fail_puts_after`], puts fail with 503 `SlowDown`.
pub struct FakeS3 {
    pub endpoint: String,
    pub objects: Arc<std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>>,
    puts_left: Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeS3 {
    pub const ACCESS_KEY_ID: &'static str = "CASEGRIDTESTKEY";
    pub const REGION: &'static str = "cn-test-1";

    pub async fn start() -> FakeS3 {
        use axum::http::{Method, StatusCode};
        use sha2::Digest;
        let objects: Arc<std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>> = Arc::default();
        let puts_left = Arc::new(std::sync::atomic::AtomicUsize::new(usize::MAX));
        let (store, left) = (objects.clone(), puts_left.clone());
        use axum::response::{IntoResponse, Response};
        let refuse = |status: StatusCode, code: &str| -> Response {
            (status, format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code></Error>"))
                .into_response()
        };
        let app = axum::Router::new().fallback(
            move |method: Method, uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (store, left) = (store.clone(), left.clone());
                async move {
                    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    let auth = h("authorization");
                    let scope_ok = auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={}/", FakeS3::ACCESS_KEY_ID))
                        && auth.contains(&format!("/{}/s3/aws4_request,", FakeS3::REGION))
                        && auth.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=")
                        && h("x-amz-date").len() == 16;
                    if !scope_ok {
                        return refuse(StatusCode::FORBIDDEN, "AccessDenied");
                    }
                    if h("x-amz-content-sha256") != hex::encode(sha2::Sha256::digest(&body)) {
                        return refuse(StatusCode::BAD_REQUEST, "XAmzContentSHA256Mismatch");
                    }
                    let key = uri.path().to_string();
                    match method {
                        Method::PUT => {
                            let go = left
                                .fetch_update(
                                    std::sync::atomic::Ordering::SeqCst,
                                    std::sync::atomic::Ordering::SeqCst,
                                    |n| n.checked_sub(1),
                                )
                                .is_ok();
                            if !go {
                                return refuse(StatusCode::SERVICE_UNAVAILABLE, "SlowDown");
                            }
                            store.lock().unwrap().insert(key, body.to_vec());
                            StatusCode::OK.into_response()
                        }
                        Method::GET => {
                            let found = store.lock().unwrap().get(&key).cloned();
                            match found {
                                Some(b) => (StatusCode::OK, b).into_response(),
                                None => refuse(StatusCode::NOT_FOUND, "NoSuchKey"),
                            }
                        }
                        Method::DELETE => {
                            store.lock().unwrap().remove(&key);
                            StatusCode::NO_CONTENT.into_response()
                        }
                        _ => refuse(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed"),
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeS3 { endpoint, objects, puts_left }
    }

    /// The next `n` puts succeed, the ones after fail.
    pub fn fail_puts_after(&self, n: usize) {
        self.puts_left.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Settings for the bucket `bucket`, keys under `prefix`.
    pub fn settings(&self, bucket: &str, prefix: &str) -> casegrid::intake::objects::ObjectSettings {
        casegrid::intake::objects::ObjectSettings::S3(casegrid::intake::objects::S3Settings {
            endpoint: self.endpoint.clone(),
            region: Self::REGION.into(),
            bucket: bucket.into(),
            access_key_id: Self::ACCESS_KEY_ID.into(),
            secret_access_key: casegrid::auth::secrets::Secret::new("test-secret"),
            path_style: true,
            prefix: prefix.into(),
            timeout_seconds: 5,
        })
    }
}

//! The plugin runtime: one wasmtime engine per process, components compiled once and cached, and a
//! fresh sandboxed instance for every call, under a deadline, a memory cap and bounded concurrency.

use super::bindings::{
    AssessError, Assessment, Category, CategoryScore, DomainPluginPre, FieldError, FieldValue, Form, Item, Manifest,
    SelfTest, ValidateError,
};
use super::cache::Cache;
use super::error::{LoadError, PluginError};
use super::sandbox::{self, CallState};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime::component::{Component, ComponentExportIndex, Instance, InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

/// How often the epoch advances; deadlines are whole ticks.
const TICK: Duration = Duration::from_millis(2);

/// Per memory and table slot, how much a finished call's memory may stay resident (reset in place).
const KEEP_RESIDENT: usize = 1 << 20;

/// Limits on plugins: defaults that fit a Rust plugin, and the ceilings up to which a plugin that
/// declares a need for more is granted it.
#[derive(Debug, Clone, serde::Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub default_memory_bytes: u64,
    pub max_memory_bytes: u64,
    pub default_call_millis: u32,
    pub max_call_millis: u32,
    pub default_component_bytes: u64,
    pub max_component_bytes: u64,
    /// Caps on what crosses the boundary, measured as the JSON encoding of the values.
    pub max_input_bytes: usize,
    pub max_output_bytes: usize,
    /// Plugin calls running at once; further calls wait their turn.
    pub concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            default_memory_bytes: 32 << 20,
            max_memory_bytes: 512 << 20,
            default_call_millis: 200,
            max_call_millis: 5_000,
            default_component_bytes: 8 << 20,
            max_component_bytes: 64 << 20,
            max_input_bytes: 1 << 20,
            max_output_bytes: 8 << 20,
            concurrency: 16,
        }
    }
}

/// What one plugin version is granted: what it asked for, up to the ceilings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Granted {
    pub memory_bytes: u64,
    pub call_millis: u32,
    pub component_bytes: u64,
}

/// The process's plugin runtime.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    cache: Cache,
    limits: Limits,
    permits: Arc<Semaphore>,
    observer: Arc<dyn Observer>,
}

/// One serving call as it ended, for whoever watches the runtime.
#[derive(Debug)]
pub struct Call<'a> {
    pub domain: &'a str,
    pub version: &'a str,
    /// The export called: `validate`, `assess` or `classify`.
    pub export: &'static str,
    pub outcome: Result<(), &'a PluginError>,
    /// From asking for a concurrency permit to the answer, instantiation included.
    pub elapsed: Duration,
}

/// What the server wants to know of serving calls: it counts them (metrics) and holds the plugin's
/// own faults against its version (the fault policy). The runtime itself keeps no counts, no
/// clock and no channel: those are the server's.
pub trait Observer: Send + Sync + 'static {
    fn call_finished(&self, call: &Call<'_>);
}

/// Nobody watches: tools, tests and benchmarks.
impl Observer for () {
    fn call_finished(&self, _: &Call<'_>) {}
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Runtime {
    /// [`Runtime::observed`] with nobody watching.
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> anyhow::Result<Arc<Self>> {
        Self::observed(limits, cache_dir, Arc::new(()))
    }

    /// Builds the engine and starts its epoch ticker. `cache_dir`: where precompiled components are
    /// kept (none: compile every time); `observer`: told of every serving call.
    pub fn observed(
        limits: Limits,
        cache_dir: Option<PathBuf>,
        observer: Arc<dyn Observer>,
    ) -> anyhow::Result<Arc<Self>> {
        let concurrency = limits.concurrency.max(1);
        let mut pool = PoolingAllocationConfig::default();
        // A slot of everything one store may hold, for every call that may run at once, plus spare
        // stores for loads: concurrent calls can never take each other's slots. (Exhaustion would
        // be reported as the host being busy, not as a fault of the plugin.)
        let stores = concurrency + 8;
        pool.total_component_instances(stores as u32)
            .total_core_instances((stores * sandbox::MAX_INSTANCES) as u32)
            .total_memories((stores * sandbox::MAX_MEMORIES) as u32)
            .total_tables((stores * sandbox::MAX_TABLES) as u32)
            .total_stacks(stores as u32)
            .max_core_instances_per_component(sandbox::MAX_INSTANCES as u32)
            .max_memories_per_component(sandbox::MAX_MEMORIES as u32)
            .max_tables_per_component(sandbox::MAX_TABLES as u32)
            .max_memory_size(usize::try_from(limits.max_memory_bytes)?)
            .table_elements(sandbox::MAX_TABLE_ELEMENTS)
            // A finished call's pages are reset to the component's image, never handed to the next
            // call as they were. Up to KEEP_RESIDENT bytes of them stay mapped and are reset in
            // place; with PAGEMAP_SCAN (Linux 6.7+) only the pages the call dirtied are touched, which
            // spares the madvise, the TLB shootdowns and the page faults of the next call. The rest
            // goes back to the OS.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT)
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            // Synchronous calls only: the component-model async machinery makes each call ~3x dearer.
            .concurrency_support(false)
            // Decisions must replay bit for bit on another machine.
            .cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true)
            .max_wasm_stack(1 << 20);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        // Every standard WASI interface is linked; what they may reach is decided per call by the
        // capability-free context in `sandbox`.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        sandbox::link_instant_clocks(&mut linker)?;
        spawn_ticker(&engine);
        let cache = Cache::new(&engine, cache_dir)?;
        Ok(Arc::new(Self { engine, linker, cache, permits: Arc::new(Semaphore::new(concurrency)), limits, observer }))
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads a component file; see [`Runtime::load_bytes`].
    pub fn load_file(&self, path: &Path) -> Result<Arc<Plugin>, LoadError> {
        let size = std::fs::metadata(path).map_err(|e| LoadError::Io(format!("{}: {e}", path.display())))?.len();
        if size > self.limits.max_component_bytes {
            return Err(LoadError::ComponentTooLarge { size, cap: self.limits.max_component_bytes });
        }
        let bytes = std::fs::read(path).map_err(|e| LoadError::Io(format!("{}: {e}", path.display())))?;
        self.load_bytes(&bytes)
    }

    /// Loads a component and checks its static data against the contract; any problem refuses it.
    pub fn load_bytes(&self, bytes: &[u8]) -> Result<Arc<Plugin>, LoadError> {
        let plugin = self.load_unchecked(bytes)?;
        let problems = super::check::static_data(&plugin);
        if !problems.is_empty() {
            return Err(LoadError::Contract(problems));
        }
        Ok(Arc::new(plugin))
    }

    /// Compiles (or takes from the cache), links and reads a component's static data, without the
    /// contract checks: `casegrid plugin check` reports those itself.
    pub fn load_unchecked(&self, bytes: &[u8]) -> Result<Plugin, LoadError> {
        let size = bytes.len() as u64;
        if size > self.limits.max_component_bytes {
            return Err(LoadError::ComponentTooLarge { size, cap: self.limits.max_component_bytes });
        }
        let sha256 = hex::encode(Sha256::digest(bytes));
        let component = self.cache.component(&self.engine, bytes, &sha256)?;
        let imports = component.component_type().imports(&self.engine).map(|(name, _)| name.to_string()).collect();
        let (pre, exports) = self.prepare(&component)?;
        let mut plugin = Plugin {
            imports,
            sha256,
            size,
            granted: Granted {
                memory_bytes: self.limits.default_memory_bytes,
                call_millis: self.limits.default_call_millis,
                component_bytes: self.limits.default_component_bytes,
            },
            max_input_bytes: self.limits.max_input_bytes,
            max_output_bytes: self.limits.max_output_bytes,
            engine: self.engine.clone(),
            pre,
            exports,
            permits: self.permits.clone(),
            observer: self.observer.clone(),
            manifest: None,
            data: StaticData::default(),
        };
        let load_error = |e: PluginError| LoadError::StaticData(e.to_string());
        let manifest = plugin.call_blocking(0, 0, |g| g.describe()).map_err(load_error)?;
        plugin.granted = self.grant(&manifest);
        if size > plugin.granted.component_bytes {
            return Err(LoadError::ComponentTooLarge { size, cap: plugin.granted.component_bytes });
        }
        plugin.data = StaticData {
            categories: plugin.call_blocking(0, 0, |g| g.categories()).map_err(load_error)?,
            forms: plugin.call_blocking(0, 0, |g| g.forms()).map_err(load_error)?,
            checklist: plugin.call_blocking(0, 0, |g| g.checklist()).map_err(load_error)?,
            self_tests: plugin.call_blocking(0, 0, |g| g.self_tests()).map_err(load_error)?,
        };
        plugin.manifest = Some(manifest);
        Ok(plugin)
    }

    /// Refuses imports outside standard WASI by name, then links and checks the exports.
    fn prepare(&self, component: &Component) -> Result<(InstancePre<CallState>, Exports), LoadError> {
        for (name, _) in component.component_type().imports(&self.engine) {
            if !sandbox::import_allowed(name) {
                return Err(LoadError::ForbiddenImport(name.to_string()));
            }
        }
        let pre = self.linker.instantiate_pre(component).map_err(|e| LoadError::Link(format!("{e:#}")))?;
        // Typechecks every export against the world, once per loaded version.
        let checked = DomainPluginPre::new(pre).map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        let exports = Exports::new(component).map_err(LoadError::WrongWorld)?;
        Ok((checked.instance_pre().clone(), exports))
    }

    fn grant(&self, m: &Manifest) -> Granted {
        let l = &self.limits;
        Granted {
            memory_bytes: m.limits.memory_bytes.unwrap_or(l.default_memory_bytes).min(l.max_memory_bytes),
            call_millis: m.limits.call_millis.unwrap_or(l.default_call_millis).min(l.max_call_millis),
            component_bytes: m.limits.component_bytes.unwrap_or(l.default_component_bytes).min(l.max_component_bytes),
        }
    }
}

/// Advances the engine's epoch every tick until the engine is dropped.
fn spawn_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("casegrid-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .expect("spawn the epoch ticker thread");
}

/// A plugin's static data, read once per loaded version.
#[derive(Debug, Default, Clone, Serialize)]
pub struct StaticData {
    pub categories: Vec<Category>,
    pub forms: Vec<Form>,
    pub checklist: Vec<Item>,
    pub self_tests: Vec<SelfTest>,
}

/// One loaded plugin version.
pub struct Plugin {
    /// The interfaces the component imports: standard WASI only, linked with nothing granted.
    pub imports: Vec<String>,
    pub sha256: String,
    pub size: u64,
    pub granted: Granted,
    max_input_bytes: usize,
    max_output_bytes: usize,
    engine: Engine,
    pre: InstancePre<CallState>,
    exports: Exports,
    permits: Arc<Semaphore>,
    observer: Arc<dyn Observer>,
    manifest: Option<Manifest>,
    data: StaticData,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").field("sha256", &self.sha256).field("manifest", &self.manifest).finish_non_exhaustive()
    }
}

impl Plugin {
    pub fn manifest(&self) -> &Manifest {
        self.manifest.as_ref().expect("a loaded plugin has read its manifest")
    }

    pub fn data(&self) -> &StaticData {
        &self.data
    }

    pub fn domain(&self) -> &str {
        &self.manifest().domain
    }

    /// Checks a form's values. `at`: the call's reference time (Unix seconds).
    pub async fn validate(
        self: &Arc<Self>,
        form: &str,
        values: Vec<FieldValue>,
        at: i64,
    ) -> Result<Vec<FieldError>, PluginError> {
        let size = json_size(&values, usize::MAX);
        let form = form.to_string();
        let started = std::time::Instant::now();
        let out = self.call(at, size, move |g| g.validate(&form, &values)).await;
        self.timed("validate", started, out)?
            .map_err(|ValidateError::UnknownForm(f)| PluginError::NotFound { what: "form", code: f })
    }

    /// Assesses a checklist item against a case's facts at the reference time `at`.
    pub async fn assess(
        self: &Arc<Self>,
        item: &str,
        facts: Vec<FieldValue>,
        at: i64,
    ) -> Result<Assessment, PluginError> {
        let size = json_size(&facts, usize::MAX);
        let item = item.to_string();
        let (item_code, given) = (item.clone(), facts.clone());
        let started = std::time::Instant::now();
        let out = self.call(at, size, move |g| g.assess(&item, &facts)).await;
        let a = self.timed("assess", started, out)?.map_err(|e| match e {
            AssessError::UnknownItem(code) => PluginError::NotFound { what: "item", code },
            AssessError::InvalidFacts(errors) => PluginError::InvalidFacts(errors),
            AssessError::NotInForce(code) => PluginError::NotInForce(code),
        })?;
        // The host trusts no plugin with a penalty: the answer must fit the published checklist.
        super::check::assessment(self, &item_code, &given, &a).map_err(PluginError::ContractViolation)?;
        Ok(a)
    }

    /// Scores a citizen's text against the plugin's categories.
    pub async fn classify(self: &Arc<Self>, text: &str, at: i64) -> Result<Vec<CategoryScore>, PluginError> {
        let text = text.to_string();
        let started = std::time::Instant::now();
        let out = self.call(at, text.len(), move |g| g.classify(&text)).await.and_then(scores_in_range);
        self.timed("classify", started, out)
    }

    /// [`Plugin::classify`] on the calling thread, for [`Plugin::each_blocking`].
    pub fn classify_blocking(&self, text: &str, at: i64) -> Result<Vec<CategoryScore>, PluginError> {
        let started = std::time::Instant::now();
        let out = self.call_blocking(at, text.len(), |g| g.classify(text)).and_then(scores_in_range);
        self.timed("classify", started, out)
    }

    /// Tells the observer how a serving call ended.
    fn timed<T>(
        &self,
        export: &'static str,
        started: std::time::Instant,
        out: Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        let (domain, version) = self.manifest.as_ref().map_or(("?", "?"), |m| (m.domain.as_str(), m.version.as_str()));
        let outcome = out.as_ref().map(|_| ()).map_err(|e| e);
        self.observer.call_finished(&Call { domain, version, export, outcome, elapsed: started.elapsed() });
        out
    }

    /// Runs `f` on each plugin in turn in one blocking section: one concurrency permit and one
    /// `block_in_place` for the lot, instead of a handoff per call. Intake classifies every report
    /// with every plugin this way.
    pub async fn each_blocking<R, F>(plugins: Vec<Arc<Plugin>>, f: F) -> Result<Vec<R>, PluginError>
    where
        R: Send + 'static,
        F: Fn(&Plugin) -> R + Send + 'static,
    {
        let Some(first) = plugins.first() else { return Ok(Vec::new()) };
        let permit = first.permits.clone().acquire_owned().await.map_err(|_| PluginError::ShuttingDown)?;
        let run = move || {
            let _permit = permit;
            plugins.iter().map(|p| f(p)).collect()
        };
        if tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
            return Ok(tokio::task::block_in_place(run));
        }
        tokio::task::spawn_blocking(run)
            .await
            .map_err(|e| PluginError::Crash { trap: format!("host task failed: {e}"), message: String::new() })
    }

    /// Runs a call once a concurrency permit is free, without stalling the async runtime: on a
    /// multi-thread runtime the worker hands its other tasks to another thread and runs the call
    /// itself (`block_in_place`, no thread handoff); elsewhere the call goes to the blocking pool.
    async fn call<R, F>(self: &Arc<Self>, at: i64, input_bytes: usize, f: F) -> Result<R, PluginError>
    where
        R: Serialize + Send + 'static,
        F: FnOnce(&mut Guest<'_>) -> wasmtime::Result<R> + Send + 'static,
    {
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| PluginError::ShuttingDown)?;
        if tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
            let out = tokio::task::block_in_place(|| self.call_blocking(at, input_bytes, f));
            drop(permit);
            return out;
        }
        let plugin = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            plugin.call_blocking(at, input_bytes, f)
        })
        .await
        .map_err(|e| PluginError::Crash { trap: format!("host task failed: {e}"), message: String::new() })?
    }

    /// One call on a fresh instance in a fresh store; the store, and any trap with it, is dropped
    /// at the end, so a failed call never affects the next one.
    pub fn call_blocking<R, F>(&self, at: i64, input_bytes: usize, f: F) -> Result<R, PluginError>
    where
        R: Serialize,
        F: FnOnce(&mut Guest<'_>) -> wasmtime::Result<R>,
    {
        if input_bytes > self.max_input_bytes {
            return Err(PluginError::InputTooLarge { size: input_bytes, cap: self.max_input_bytes });
        }
        let mut store = Store::new(&self.engine, CallState::new(at, self.granted.memory_bytes as usize));
        store.limiter(|s| &mut s.limiter);
        // Caps what the host copies out of the guest while lifting, before it allocates it.
        store.set_hostcall_fuel(self.max_output_bytes);
        // Before instantiating: a component's start functions run during instantiation.
        let ticks = u64::from(self.granted.call_millis).div_ceil(TICK.as_millis() as u64) + 1;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        let result = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| f(&mut Guest { store: &mut store, instance, exports: &self.exports }));
        let out = result.map_err(|e| self.failure(e, &store))?;
        let size = json_size(&out, self.max_output_bytes);
        if size > self.max_output_bytes {
            return Err(PluginError::OutputTooLarge { cap: self.max_output_bytes });
        }
        Ok(out)
    }

    /// Names what went wrong in a call.
    fn failure(&self, e: wasmtime::Error, store: &Store<CallState>) -> PluginError {
        let state = store.data();
        if state.limiter.memory_exceeded {
            return PluginError::OutOfMemory { cap: self.granted.memory_bytes };
        }
        if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
            return PluginError::Busy;
        }
        // wasmtime's hostcall-fuel error has no public type; its message is pinned by the
        // `big-output` case of the hostile fixture.
        if format!("{e:#}").contains("fuel allocated for hostcalls has been exhausted") {
            return PluginError::OutputTooLarge { cap: self.max_output_bytes };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PluginError::Timeout { millis: self.granted.call_millis },
            Some(trap) => PluginError::Crash { trap: trap.to_string(), message: state.stderr_text() },
            // Not a trap: the host refused what the guest returned (bad UTF-8, a bad discriminant,
            // an out-of-bounds pointer) or a resource cap was hit.
            None => PluginError::ContractViolation(format!("{e:#}")),
        }
    }
}

/// The length of `v`'s JSON encoding, counting no further than just past `cap`.
pub fn json_size(v: &impl Serialize, cap: usize) -> usize {
    struct Counter {
        n: usize,
        cap: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.n += buf.len();
            if self.n > self.cap { Err(std::io::ErrorKind::FileTooLarge.into()) } else { Ok(buf.len()) }
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter { n: 0, cap };
    let _ = serde_json::to_writer(&mut c, v);
    c.n
}

/// One call's fresh instance. Each method looks up, typechecks and calls only its own export (the
/// generated bindings would typecheck all eight, deep checklist types included, on every call).
pub struct Guest<'a> {
    store: &'a mut Store<CallState>,
    instance: Instance,
    exports: &'a Exports,
}

macro_rules! exports {
    ($($name:ident = $wit:literal ($($arg:ident: $t:ty),*) -> $r:ty;)*) => {
        /// Where each function of `casegrid:domain/plugin@1.0.0` is in a component.
        #[derive(Debug, Clone)]
        pub struct Exports {
            $($name: ComponentExportIndex,)*
        }

        impl Exports {
            fn new(component: &Component) -> Result<Self, String> {
                let (_, iface) = component
                    .get_export(None, "casegrid:domain/plugin@1.0.0")
                    .ok_or("no export casegrid:domain/plugin@1.0.0")?;
                Ok(Self {
                    $($name: component
                        .get_export(Some(&iface), $wit)
                        .map(|(_, i)| i)
                        .ok_or(concat!("no function ", $wit))?,)*
                })
            }
        }

        impl Guest<'_> {
            $(pub fn $name(&mut self, $($arg: $t),*) -> wasmtime::Result<$r> {
                let f = self.instance.get_typed_func::<($($t,)*), ($r,)>(&mut *self.store, &self.exports.$name)?;
                Ok(f.call(&mut *self.store, ($($arg,)*))?.0)
            })*
        }
    };
}

exports! {
    describe = "describe" () -> Manifest;
    categories = "categories" () -> Vec<Category>;
    forms = "forms" () -> Vec<Form>;
    checklist = "checklist" () -> Vec<Item>;
    self_tests = "self-tests" () -> Vec<SelfTest>;
    validate = "validate" (form: &str, values: &[FieldValue]) -> Result<Vec<FieldError>, ValidateError>;
    assess = "assess" (item: &str, facts: &[FieldValue]) -> Result<Assessment, AssessError>;
    classify = "classify" (text: &str) -> Vec<CategoryScore>;
}

fn scores_in_range(out: Vec<CategoryScore>) -> Result<Vec<CategoryScore>, PluginError> {
    if let Some(bad) = out.iter().find(|s| !(0.0..=1.0).contains(&s.score)) {
        return Err(PluginError::ContractViolation(format!(
            "category {} scored {}, outside 0..1",
            bad.category, bad.score
        )));
    }
    Ok(out)
}

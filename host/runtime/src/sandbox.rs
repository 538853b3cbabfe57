//! What a plugin call runs inside: WASI with no capabilities and fixed clocks and randomness, a
//! limiter that caps memory and tables, and the rule for which imports a component may have.
//!
//! Threats: a plugin reading the host's files or network (no preopens, every socket use denied), a
//! plugin whose answer depends on when or where it ran (clocks fixed to the call's reference time,
//! randomness from a fixed seed, so a decision replays years later), a plugin exhausting the host
//! (memory and table caps that trap instead of failing softly), a plugin holding a host thread
//! (sleeping and polling return at once: the epoch deadline only interrupts guest code, so nothing
//! the host does for a plugin may wait), a plugin holding host memory outside its memory limit (the
//! host resources a call may hold at once are capped: [`MAX_RESOURCES`]), and a flood of callers
//! getting a healthy plugin quarantined (a deadline missed while the host was saturated is the
//! host's fault, not the plugin's: [`Deadline`]).

use rand::SeedableRng as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime::ResourceLimiter;
use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamError, subscribe};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// Interfaces a guest toolchain may import; linked with nothing granted. Anything else is refused.
pub const ALLOWED_IMPORT_PREFIXES: [&str; 6] =
    ["wasi:cli/", "wasi:io/", "wasi:clocks/", "wasi:random/", "wasi:filesystem/", "wasi:sockets/"];

/// The seed of every plugin's randomness. Fixed, so that the same call gives the same answer.
const RANDOM_SEED: u64 = 0x4341_5345_4752_4944; // "CASEGRID"

/// How much of what a plugin writes to stderr (a panic message) is kept; the rest is dropped.
const STDERR_KEPT: usize = 4096;

/// Per-store caps besides memory, generous for any real toolchain's component. The pool is sized
/// from them, so concurrent calls can never take each other's slots.
pub const MAX_INSTANCES: usize = 64;
pub const MAX_TABLES: usize = 32;
pub const MAX_MEMORIES: usize = 8;
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Host resources (streams, pollables…) one call may hold at once, in the WASI resource table and
/// in the component's handle tables alike. Each lives in host memory, outside the plugin's memory
/// limit; a plugin that asks for more is stopped with [`crate::PluginError::TooManyResources`]. A
/// Rust or Python plugin holds a handful.
pub const MAX_RESOURCES: usize = 4096;

/// A call whose CPU share over the end of its deadline is below this (a quarter of a core) missed
/// its deadline because the host was saturated, not because the plugin ran too long.
pub const MIN_CPU_SHARE_FOR_FAULT: f64 = 0.25;

/// How a call's deadline is told apart: the plugin's own fault or the host's saturation.
///
/// The deadline is armed in two halves. When the first half runs out, [`Deadline::half_over`]
/// notes the calling thread's CPU time and the wall clock, and the call goes on; when the second
/// runs out, it measures the share of a core the call got in between. A plugin
/// that loops or computes too long on a host with room burns about a whole core: that timeout is
/// its fault. A call that got less than [`MIN_CPU_SHARE_FOR_FAULT`] was waiting for a core (a
/// flood of calls, other work on the machine): the host was saturated, and the deadline is the
/// host's. Nothing is measured on the path of a call that ends within the first half.
#[derive(Debug, Default)]
pub struct Deadline {
    /// Ticks of the second half.
    second_half: u64,
    checkpoint: Option<(Option<Duration>, std::time::Instant)>,
    /// The CPU share of the second half, once it ran out.
    pub cpu_share: Option<f64>,
}

impl Deadline {
    /// A deadline whose second half is `second_half` ticks.
    pub fn armed(second_half: u64) -> Self {
        Self { second_half, ..Self::default() }
    }

    /// Called as each half of the deadline runs out: at the first, notes where the call stands
    /// and gives it the second half's ticks; at the second, measures its CPU share since, and
    /// the call stops (none).
    pub fn half_over(&mut self) -> Option<u64> {
        match self.checkpoint {
            None => {
                self.checkpoint = Some((thread_cpu_time(), std::time::Instant::now()));
                Some(self.second_half)
            }
            Some((cpu, wall)) => {
                self.cpu_share = thread_cpu_time().zip(cpu).map(|(now, then)| {
                    let wall = wall.elapsed().as_secs_f64();
                    if wall <= 0.0 { 1.0 } else { (now.saturating_sub(then).as_secs_f64() / wall).min(1.0) }
                });
                None
            }
        }
    }

    /// Whether the deadline ran out while the call had its share of a core: the plugin's fault.
    /// Unmeasured (no thread CPU clock), every deadline is.
    pub fn plugins_fault(&self) -> bool {
        self.cpu_share.is_none_or(|s| s >= MIN_CPU_SHARE_FOR_FAULT)
    }
}

/// The CPU time the calling thread has used (user and system).
#[cfg(unix)]
fn thread_cpu_time() -> Option<Duration> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Some(Duration::new(t.tv_sec.max(0) as u64, t.tv_nsec.clamp(0, 999_999_999) as u32))
}

/// Elsewhere the share is not measured: every deadline counts as the plugin's.
#[cfg(not(unix))]
fn thread_cpu_time() -> Option<Duration> {
    None
}

/// The WASI version whose clock functions [`link_instant_clocks`] replaces: the one wasmtime-wasi
/// links. A test (`hostile` "sleep") fails if an upgrade leaves the real ones in place.
const CLOCKS: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Replaces `subscribe-duration` and `subscribe-instant`, whose pollables wait in real time in host
/// code, with pollables that are ready at once. To a plugin, time is frozen and every wait is over
/// immediately; a loop of sleeps is a busy loop, which the call's deadline stops.
pub fn link_instant_clocks(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(CLOCKS)?;
    clock.func_wrap("subscribe-duration", |mut store, (_,): (u64,)| Ok((ready(&mut store.data_mut().table)?,)))?;
    clock.func_wrap("subscribe-instant", |mut store, (_,): (u64,)| Ok((ready(&mut store.data_mut().table)?,)))?;
    linker.allow_shadowing(false);
    Ok(())
}

fn ready(table: &mut ResourceTable) -> wasmtime::Result<Resource<DynPollable>> {
    let r = table.push(Ready)?;
    subscribe(table, r)
}

struct Ready;

#[async_trait::async_trait]
impl Pollable for Ready {
    async fn ready(&mut self) {}
}

/// Whether an import of this name is one of the standard WASI interfaces the host links.
pub fn import_allowed(name: &str) -> bool {
    ALLOWED_IMPORT_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The state of one call's store.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: Limiter,
    pub stderr: StderrHead,
    pub deadline: Deadline,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl CallState {
    /// A fresh state for one call whose reference time is `at_unix_seconds`.
    pub fn new(at_unix_seconds: i64, memory_bytes: usize) -> Self {
        let stderr = StderrHead::default();
        let mut b = WasiCtx::builder();
        b.stderr(stderr.clone())
            .wall_clock(FixedWallClock(Duration::from_secs(at_unix_seconds.max(0) as u64)))
            .monotonic_clock(FrozenMonotonicClock)
            .secure_random(rand::rngs::StdRng::seed_from_u64(RANDOM_SEED))
            .insecure_random(rand::rngs::StdRng::seed_from_u64(RANDOM_SEED))
            .insecure_random_seed(u128::from(RANDOM_SEED))
            .max_random_size(64 * 1024)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        Self { wasi: b.build(), table, limiter: Limiter::new(memory_bytes), stderr, deadline: Deadline::default() }
    }

    /// The head of what the plugin wrote to stderr, lossily decoded and trimmed.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.0.lock().expect("stderr lock")).trim().to_string()
    }
}

/// The wall clock a plugin sees: always the call's reference time.
struct FixedWallClock(Duration);

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

/// The monotonic clock a plugin sees: it never advances, so no plugin can measure time.
struct FrozenMonotonicClock;

impl HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// A plugin's stderr: the first [`STDERR_KEPT`] bytes are kept for the crash report, the rest is
/// dropped. Writing never fails and never blocks, so a chatty plugin is not a crashing one.
#[derive(Clone, Default)]
pub struct StderrHead(Arc<Mutex<Vec<u8>>>);

impl StderrHead {
    fn keep(&self, bytes: &[u8]) {
        let mut buf = self.0.lock().expect("stderr lock");
        let room = STDERR_KEPT.saturating_sub(buf.len());
        buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl IsTerminal for StderrHead {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrHead {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for StderrHead {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.keep(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[async_trait::async_trait]
impl Pollable for StderrHead {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for StderrHead {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.keep(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Caps memory — the total over every memory of the call's component, not each one alone — and
/// tables. Growth past a cap traps (a soft failure would surface as an unrelated `unreachable` in
/// the guest) and is remembered so the failure is reported as out-of-memory.
pub struct Limiter {
    memory_bytes: usize,
    memory_total: usize,
    pub memory_exceeded: bool,
}

impl Limiter {
    fn new(memory_bytes: usize) -> Self {
        Self { memory_bytes, memory_total: 0, memory_exceeded: false }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.memory_total.saturating_add(desired.saturating_sub(current));
        if total > self.memory_bytes {
            self.memory_exceeded = true;
            wasmtime::bail!("plugin memory limit of {} bytes reached (wanted {total})", self.memory_bytes);
        }
        self.memory_total = total;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            wasmtime::bail!("plugin table limit of {MAX_TABLE_ELEMENTS} elements reached");
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }
    fn tables(&self) -> usize {
        MAX_TABLES
    }
    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_standard_wasi_may_be_imported() {
        assert!(import_allowed("wasi:filesystem/preopens@0.2.6"));
        assert!(import_allowed("wasi:sockets/tcp@0.2.0"));
        assert!(!import_allowed("wasi:http/outgoing-handler@0.2.0"));
        assert!(!import_allowed("acme:spy/exfil"));
        assert!(!import_allowed("wasi:cli"));
    }
}

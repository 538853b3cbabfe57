//! What a plugin call runs inside: WASI with no capabilities and fixed clocks and randomness, a
//! limiter that caps memory and tables, and the rule for which imports a component may have.
//!
//! Threats: a plugin reading the host's files or network (no preopens, every socket use denied), a
//! plugin whose answer depends on when or where it ran (clocks fixed to the call's reference time,
//! randomness from a fixed seed, so a decision replays years later), a plugin exhausting the host
//! (memory and table caps that trap instead of failing softly).

use rand::SeedableRng as _;
use std::time::Duration;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// Interfaces a guest toolchain may import; linked with nothing granted. Anything else is refused.
pub const ALLOWED_IMPORT_PREFIXES: [&str; 6] = [
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
    "wasi:sockets/",
];

/// The seed of every plugin's randomness. Fixed, so that the same call gives the same answer.
const RANDOM_SEED: u64 = 0x4341_5345_4752_4944; // "CASEGRID"

/// How much a plugin may write to stderr (a panic message) before the stream closes.
const STDERR_CAPACITY: usize = 4096;

/// Per-store caps besides memory, generous for any real toolchain's component.
pub const MAX_INSTANCES: usize = 64;
pub const MAX_TABLES: usize = 64;
pub const MAX_MEMORIES: usize = 16;
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Whether an import of this name is one of the standard WASI interfaces the host links.
pub fn import_allowed(name: &str) -> bool {
    ALLOWED_IMPORT_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The state of one call's store.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: Limiter,
    pub stderr: MemoryOutputPipe,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl CallState {
    /// A fresh state for one call whose reference time is `at_unix_seconds`.
    pub fn new(at_unix_seconds: i64, memory_bytes: usize) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let mut b = WasiCtx::builder();
        b.stderr(stderr.clone())
            .wall_clock(FixedWallClock(Duration::from_secs(
                at_unix_seconds.max(0) as u64
            )))
            .monotonic_clock(FrozenMonotonicClock)
            .secure_random(rand::rngs::StdRng::seed_from_u64(RANDOM_SEED))
            .insecure_random(rand::rngs::StdRng::seed_from_u64(RANDOM_SEED))
            .insecure_random_seed(u128::from(RANDOM_SEED))
            .max_random_size(64 * 1024)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        Self {
            wasi: b.build(),
            table: ResourceTable::new(),
            limiter: Limiter::new(memory_bytes),
            stderr,
        }
    }

    /// What the plugin wrote to stderr, lossily decoded and trimmed.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim()
            .to_string()
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

/// Caps memory and tables; growth past a cap traps (a soft failure would surface as an unrelated
/// `unreachable` in the guest) and is remembered so the failure is reported as out-of-memory.
pub struct Limiter {
    memory_bytes: usize,
    pub memory_exceeded: bool,
}

impl Limiter {
    fn new(memory_bytes: usize) -> Self {
        Self {
            memory_bytes,
            memory_exceeded: false,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_exceeded = true;
            wasmtime::bail!(
                "plugin memory limit of {} bytes reached (wanted {desired})",
                self.memory_bytes
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
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

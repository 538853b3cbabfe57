//! Precompiled components on disk, keyed by the component's sha256 and the engine's compatibility
//! hash, so a restart loads in a fraction of a millisecond instead of recompiling.
//!
//! Only artifacts this process's engine wrote into its own cache directory are ever deserialized;
//! nothing precompiled is accepted from outside. Files are written whole (temp file, then rename), and
//! one that fails to load is deleted and the component recompiled.

use super::error::LoadError;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

#[derive(Debug)]
pub struct Cache {
    dir: Option<PathBuf>,
    engine_hash: String,
}

impl Cache {
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> anyhow::Result<Self> {
        if let Some(d) = &dir {
            std::fs::create_dir_all(d)
                .map_err(|e| anyhow::anyhow!("creating the plugin cache {}: {e}", d.display()))?;
        }
        Ok(Self { dir, engine_hash: engine_hash(engine) })
    }

    /// The compiled component for `bytes`, from the cache when it holds a usable artifact.
    pub fn component(&self, engine: &Engine, bytes: &[u8], sha256: &str) -> Result<Component, LoadError> {
        let Some(dir) = &self.dir else {
            return compile(engine, bytes);
        };
        let path = dir.join(format!("{sha256}-{}.cwasm", &self.engine_hash[..16]));
        if path.exists() {
            match deserialize_own_artifact(engine, &path) {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding an unusable precompiled plugin");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let component = compile(engine, bytes)?;
        if let Err(e) = store(&component, &path) {
            // The cache is an optimisation: a read-only disk costs a recompile next time, nothing more.
            tracing::warn!(path = %path.display(), error = %e, "could not cache a precompiled plugin");
        }
        Ok(component)
    }
}

pub fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component, LoadError> {
    Component::new(engine, bytes).map_err(|e| LoadError::Invalid(format!("{e:#}")))
}

fn store(component: &Component, path: &Path) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, component.serialize()?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Deserializing runs native code that wasmtime compiled, so it is unsafe for any file but one this
/// engine wrote. The path is built here from the cache directory and the component's own hash; no
/// caller can hand in another file. Wasmtime still checks the artifact's header against the engine.
/// The file is read into memory rather than mapped: a cache file truncated or rewritten while a
/// plugin is loaded must not be able to fault the host (SIGBUS on a shrunken mapping).
#[allow(unsafe_code)]
fn deserialize_own_artifact(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    let bytes = std::fs::read(path)?;
    // SAFETY: `path` is in our cache directory and was written by `store` from `Component::serialize`.
    Ok(unsafe { Component::deserialize(engine, &bytes) }?)
}

/// A stable hex digest of the engine's compatibility hash (its version and every setting that
/// changes compiled code).
fn engine_hash(engine: &Engine) -> String {
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            unreachable!("only the full digest is read")
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    hex::encode(h.0.finalize())
}

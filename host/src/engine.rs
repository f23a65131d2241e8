//! The wasmtime engine: component model with async, pooling allocation, epoch deadlines, and
//! an on-disk cache of compiled components keyed by content and engine settings.

use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use sha2::{Digest as _, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of a linear memory zeroed in place when a pooled slot is reused, rather than given
/// back to the kernel.
const KEEP_RESIDENT_MEMORY: usize = 1 << 20;
/// The same for a table.
const KEEP_RESIDENT_TABLE: usize = 64 << 10;

/// Instances the pooling allocator keeps room for.
const POOLED_INSTANCES: u32 = 1000;

/// Builds the engine, with the pooling allocator when the address space allows it.
///
/// `max_memory` is the largest memory limit of any component, so the pool's slots fit it.
pub fn new(max_memory: u64) -> Result<Engine> {
    match Engine::new(&config(Some(max_memory))) {
        Ok(engine) => Ok(engine),
        Err(error) => {
            tracing::warn!(%error, "pooling allocator unavailable, allocating on demand");
            Engine::new(&config(None))
                .map_err(anyhow::Error::from)
                .context("failed to create the wasmtime engine")
        }
    }
}

fn config(pooling_memory: Option<u64>) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.wasm_component_model_async(true);
    config.concurrency_support(true);
    config.epoch_interruption(true);
    if let Some(max_memory) = pooling_memory {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOLED_INSTANCES)
            .total_core_instances(POOLED_INSTANCES * 4)
            .total_memories(POOLED_INSTANCES * 2)
            .total_tables(POOLED_INSTANCES * 4)
            .total_stacks(POOLED_INSTANCES)
            .max_memory_size(usize::try_from(max_memory).unwrap_or(usize::MAX));
        // A fresh instance per request or message makes slot reuse the hot path. Resetting a
        // slot by `madvise` costs a TLB shootdown on every core; with the kernel's PAGEMAP_SCAN
        // (Linux 6.7+, else ignored) the pages an instance touched are found and zeroed in
        // place instead, up to these sizes, and stay resident for the next instance.
        pool.linear_memory_keep_resident(KEEP_RESIDENT_MEMORY)
            .table_keep_resident(KEEP_RESIDENT_TABLE)
            .pagemap_scan(wasmtime::Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is dropped elsewhere.
pub fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::spawn(move || {
        while let Some(engine) = weak.upgrade() {
            engine.increment_epoch();
            drop(engine);
            std::thread::sleep(EPOCH_TICK);
        }
    });
}

/// The folder compiled components are cached in.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("JM_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("jm")))
        .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/jm")))
        .unwrap_or_else(|| std::env::temp_dir().join("jm-cache"))
}

/// Compiles `wasm`, or loads the result of an earlier compilation of the same bytes by the
/// same engine settings. Returns the component and its content hash.
pub fn load_component(engine: &Engine, wasm: &[u8], cache: &Path) -> Result<(Component, String)> {
    let digest = hex::encode(Sha256::digest(wasm));
    let mut settings = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut settings);
    let path = cache.join(format!(
        "{}-{:016x}.cwasm",
        &digest[..32],
        settings.finish()
    ));

    if path.exists() {
        match deserialize(engine, &path) {
            Ok(component) => return Ok((component, digest)),
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "ignoring bad cache entry")
            }
        }
    }
    let component = Component::new(engine, wasm).map_err(anyhow::Error::from)?;
    if let Err(error) = store(&component, cache, &path) {
        tracing::warn!(%error, "failed to cache compiled component");
    }
    Ok((component, digest))
}

fn store(component: &Component, cache: &Path, path: &Path) -> Result<()> {
    std::fs::create_dir_all(cache)?;
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, component.serialize()?)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

#[expect(
    unsafe_code,
    reason = "the file was written by `Component::serialize` of this host"
)]
fn deserialize(engine: &Engine, path: &Path) -> Result<Component> {
    // SAFETY: cache entries are written only by `store` above, named by the hash of their
    // source and of the engine settings, and renamed into place whole.
    Ok(unsafe { Component::deserialize_file(engine, path) }?)
}

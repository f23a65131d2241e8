//! Components as the host runs them: each in a [`Slot`] holding its current version and the
//! versions before it, so a reload swaps in place and a rollback goes back.
//!
//! A reload compiles and links the new bytes first, then checks them against every trigger
//! that uses the component; only then does the slot switch. Requests and messages take the
//! current version when they start, so those in flight finish on the version they began on.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Utc};
use wasmtime::Engine;
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime_wasi_http::handler::ProxyPre;

use crate::manifest::ComponentSpec;
use crate::state::{ComponentEnv, InstanceState};
use crate::trigger::http::HttpComponent;
use crate::trigger::kafka::KafkaHandler;

/// How many earlier versions a slot keeps for rollback.
pub const KEPT_VERSIONS: usize = 5;

/// What compiles and links components: shared by every slot.
pub struct Loader {
    /// The engine.
    pub engine: Engine,
    /// The linker with every interface the host provides.
    pub linker: Linker<InstanceState>,
    /// The folder of compiled components.
    pub cache: PathBuf,
}

/// One version of a component, ready for its triggers.
pub struct Version {
    /// SHA-256 of the Wasm bytes, hex.
    pub digest: String,
    /// Where the bytes came from: the source path, or `upload`.
    pub source: String,
    /// When it was loaded.
    pub loaded_at: DateTime<Utc>,
    /// Its HTTP handler, if an HTTP trigger uses the component.
    pub http: Option<HttpComponent>,
    /// Its Kafka handler, if a Kafka trigger uses the component.
    pub kafka: Option<Arc<KafkaHandler>>,
    /// The bytes, kept so a fleet can share them.
    pub wasm: Arc<Vec<u8>>,
}

/// Counters of one component across its versions.
#[derive(Default)]
pub struct Stats {
    /// Requests being handled now.
    pub requests_in_flight: AtomicI64,
    /// Requests handled since start.
    pub requests_handled: AtomicU64,
    /// Messages being handled now.
    pub messages_in_flight: AtomicI64,
    /// Messages handled since start.
    pub messages_handled: AtomicU64,
}

/// Decrements an in-flight counter and counts the work as handled when dropped.
pub struct InFlight<'a>(&'a AtomicI64, &'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
        self.1.fetch_add(1, Ordering::Relaxed);
    }
}

impl Stats {
    /// Counts a request from now until the guard drops.
    pub fn request(&self) -> InFlight<'_> {
        self.requests_in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.requests_in_flight, &self.requests_handled)
    }

    /// Counts a message from now until the guard drops.
    pub fn message(&self) -> InFlight<'_> {
        self.messages_in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.messages_in_flight, &self.messages_handled)
    }
}

/// A component and its versions.
pub struct Slot {
    /// The component's name.
    pub name: String,
    /// Its manifest entry.
    pub spec: ComponentSpec,
    /// What its instances share.
    pub env: Arc<ComponentEnv>,
    /// Whether an HTTP trigger uses it.
    pub uses_http: bool,
    /// Whether a Kafka trigger uses it.
    pub uses_kafka: bool,
    /// Its counters.
    pub stats: Stats,
    /// The digest of the version this host loaded from `source` at start: its deployment.
    pub deployed: String,
    loader: Arc<Loader>,
    current: RwLock<Arc<Version>>,
    earlier: Mutex<VecDeque<Arc<Version>>>,
}

impl Slot {
    /// Loads the component from its source for the triggers that use it.
    pub fn load(
        loader: Arc<Loader>,
        spec: ComponentSpec,
        env: Arc<ComponentEnv>,
        uses: (bool, bool),
    ) -> Result<Self> {
        let wasm = std::fs::read(&spec.source).with_context(|| {
            format!(
                "component `{}`: failed to read {}",
                spec.name,
                spec.source.display()
            )
        })?;
        let source = spec.source.display().to_string();
        let version = build(&loader, &spec, &env, uses, wasm, source)?;
        Ok(Self {
            name: spec.name.clone(),
            spec,
            env,
            uses_http: uses.0,
            uses_kafka: uses.1,
            stats: Stats::default(),
            deployed: version.digest.clone(),
            loader,
            current: RwLock::new(Arc::new(version)),
            earlier: Mutex::default(),
        })
    }

    /// The version new work runs on.
    pub fn current(&self) -> Arc<Version> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Earlier versions, newest first.
    pub fn earlier(&self) -> Vec<Arc<Version>> {
        let earlier = self
            .earlier
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        earlier.iter().rev().cloned().collect()
    }

    /// Builds a new version from `wasm` (or the source file) and switches to it; on any
    /// failure the current version stays.
    pub async fn reload(self: &Arc<Self>, wasm: Option<Vec<u8>>) -> Result<Arc<Version>> {
        let slot = self.clone();
        let version = tokio::task::spawn_blocking(move || {
            let (wasm, source) = match wasm {
                Some(wasm) => (wasm, "upload".to_string()),
                None => {
                    let path = &slot.spec.source;
                    let wasm = std::fs::read(path)
                        .with_context(|| format!("failed to read {}", path.display()))?;
                    (wasm, path.display().to_string())
                }
            };
            let uses = (slot.uses_http, slot.uses_kafka);
            build(&slot.loader, &slot.spec, &slot.env, uses, wasm, source)
        })
        .await
        .context("the reload task failed")??;
        let version = Arc::new(version);
        let previous = self.swap(version.clone());
        let mut earlier = self
            .earlier
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        earlier.push_back(previous);
        while earlier.len() > KEPT_VERSIONS {
            earlier.pop_front();
        }
        Ok(version)
    }

    /// Goes back to the version before the current one.
    pub fn rollback(&self) -> Result<Arc<Version>> {
        let mut earlier = self
            .earlier
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(version) = earlier.pop_back() else {
            bail!("component `{}` has no earlier version", self.name);
        };
        drop(earlier);
        self.swap(version.clone());
        Ok(version)
    }

    fn swap(&self, version: Arc<Version>) -> Arc<Version> {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::replace(&mut *current, version)
    }
}

/// Compiles, links and checks one version against the triggers that use it.
fn build(
    loader: &Loader,
    spec: &ComponentSpec,
    env: &Arc<ComponentEnv>,
    (http, kafka): (bool, bool),
    wasm: Vec<u8>,
    source: String,
) -> Result<Version> {
    let name = &spec.name;
    let started = std::time::Instant::now();
    let (component, digest) =
        crate::engine::load_component(&loader.engine, &wasm, &loader.cache)
            .with_context(|| format!("component `{name}`: the bytes are not a valid component"))?;
    let pre = loader
        .linker
        .instantiate_pre(&component)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("component `{name}` cannot be linked"))?;
    let http = http
        .then(|| http_pre(&component, pre.clone()))
        .transpose()
        .with_context(|| format!("component `{name}` is not an HTTP component"))?
        .map(|pre| HttpComponent::new(pre, env.clone(), spec));
    let kafka = kafka
        .then(|| KafkaHandler::new(pre.clone(), env.clone(), spec))
        .transpose()
        .with_context(|| format!("component `{name}` does not export jm:kafka/handler"))?
        .map(Arc::new);
    tracing::info!(
        component = %name,
        version = short(&digest),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "component loaded"
    );
    Ok(Version {
        digest,
        source,
        loaded_at: Utc::now(),
        http,
        kafka,
        wasm: Arc::new(wasm),
    })
}

/// Picks the HTTP world the component exports: `wasi:http/handler` 0.3, else
/// `wasi:http/incoming-handler` 0.2.
fn http_pre(
    component: &Component,
    pre: InstancePre<InstanceState>,
) -> Result<ProxyPre<InstanceState>> {
    let exports = |name: &str| component.get_export_index(None, name).is_some();
    if exports("wasi:http/handler@0.3.0") {
        Ok(ProxyPre::P3(
            wasmtime_wasi_http::p3::bindings::ServicePre::new(pre)?,
        ))
    } else if component
        .component_type()
        .exports(component.engine())
        .any(|(name, _)| name.starts_with("wasi:http/incoming-handler@0.2"))
    {
        Ok(ProxyPre::P2(
            wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre)?,
        ))
    } else {
        bail!("it exports neither wasi:http/handler@0.3.0 nor wasi:http/incoming-handler@0.2")
    }
}

/// The first 12 characters of a digest: how logs, the admin API and the CLI show a version.
pub fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

//! A loaded application: the manifest's components compiled, linked and bound to triggers.
//!
//! Loading walks the manifest once: resolve variables, connect shared resources, build the
//! engine and linker, then compile (or load from cache) and pre-link every component. Any
//! component that cannot link stops start-up with a message naming it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi_http::handler::ProxyPre;

use crate::capability::{self, Grants, Resources};
use crate::manifest::{ComponentSpec, Manifest};
use crate::runtime_config::RuntimeConfig;
use crate::state::{ComponentEnv, InstanceState};
use crate::trigger::http::{HttpComponent, HttpTrigger};
use crate::trigger::routes::RoutePattern;

/// The running form of an application.
pub struct App {
    /// The HTTP trigger.
    pub http: Arc<HttpTrigger>,
}

impl App {
    /// Loads every component of `manifest`.
    pub async fn load(manifest: &Manifest, runtime: &RuntimeConfig) -> Result<Self> {
        let values =
            capability::variables::resolve(&manifest.variables, |k| std::env::var(k).ok())?;
        let resources = Arc::new(Resources {
            postgres: Default::default(),
            redis: Default::default(),
            key_value: capability::key_value::Stores::connect(
                &runtime.redis_stores(),
                &runtime.memory_stores(),
            )
            .await?,
        });

        let max_memory = manifest.components.values().map(|c| c.memory_limit).max();
        let engine =
            crate::engine::new(max_memory.unwrap_or(crate::manifest::DEFAULT_MEMORY_LIMIT))?;
        crate::engine::spawn_epoch_ticker(&engine);
        let linker = linker(&engine)?;
        let cache = crate::engine::cache_dir();

        let mut indices = BTreeMap::new();
        let mut components = Vec::new();
        for trigger in &manifest.http_triggers {
            if indices.contains_key(&trigger.component) {
                continue;
            }
            let spec = &manifest.components[&trigger.component];
            for label in &spec.key_value_stores {
                if !resources.key_value.contains(label) {
                    bail!(
                        "component `{}` uses key-value store `{label}`, which runtime config \
                         does not define",
                        spec.name
                    );
                }
            }
            let pre = prepare(&engine, &linker, spec, &cache)?;
            let env = Arc::new(ComponentEnv {
                grants: Arc::new(Grants::new(spec, &values)),
                resources: resources.clone(),
                environment: spec.environment.clone(),
                memory_limit: spec.memory_limit,
            });
            indices.insert(trigger.component.clone(), components.len());
            components.push(HttpComponent::new(pre, env, spec.request_timeout));
        }

        let mut routes = Vec::new();
        for trigger in &manifest.http_triggers {
            if let Some(route) = &trigger.route {
                let pattern = RoutePattern::parse(route).map_err(anyhow::Error::msg)?;
                routes.push((pattern, indices[&trigger.component]));
            }
        }
        Ok(Self {
            http: Arc::new(HttpTrigger::new(routes, components)),
        })
    }
}

/// The linker every component is pre-linked against: WASI 0.2 and 0.3, `wasi:http` 0.2 and
/// 0.3, and the Spin interfaces.
fn linker(engine: &Engine) -> Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    capability::add_to_linker(&mut linker, InstanceState::spin)?;
    Ok(linker)
}

/// Compiles and pre-links one component for the HTTP trigger.
fn prepare(
    engine: &Engine,
    linker: &Linker<InstanceState>,
    spec: &ComponentSpec,
    cache: &Path,
) -> Result<ProxyPre<InstanceState>> {
    let name = &spec.name;
    let wasm = std::fs::read(&spec.source).with_context(|| {
        format!(
            "component `{name}`: failed to read {}",
            spec.source.display()
        )
    })?;
    let started = std::time::Instant::now();
    let (component, digest) =
        crate::engine::load_component(engine, &wasm, cache).with_context(|| {
            format!(
                "component `{name}`: {} is not a valid component",
                spec.source.display()
            )
        })?;
    let pre = linker
        .instantiate_pre(&component)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("component `{name}` cannot be linked"))?;
    let pre = http_pre(&component, pre)
        .with_context(|| format!("component `{name}` is not an HTTP component"))?;
    tracing::info!(component = %name, version = &digest[..12], elapsed_ms = started.elapsed().as_millis() as u64, "component loaded");
    Ok(pre)
}

/// Picks the HTTP world the component exports: `wasi:http/handler` 0.3, else
/// `wasi:http/incoming-handler` 0.2.
fn http_pre(
    component: &Component,
    pre: wasmtime::component::InstancePre<InstanceState>,
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

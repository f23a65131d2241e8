//! A loaded application: the manifest's components compiled, linked and bound to triggers.
//!
//! Loading walks the manifest once: resolve variables, connect shared resources (Kafka
//! included, starting a local broker when none is configured), build the engine and linker,
//! then compile (or load from cache) and pre-link every component a trigger names. Any
//! component that cannot link stops start-up with a message naming it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::net::TcpListener;
use tokio::sync::watch;
use wasmtime::Engine;
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime_wasi_http::handler::ProxyPre;

use crate::capability::{self, Grants, Resources};
use crate::kafka::Kafka;
use crate::kafka::broker::LocalBroker;
use crate::kafka::consumer::Dedup;
use crate::manifest::{ComponentSpec, KafkaTrigger, Manifest};
use crate::runtime_config::RuntimeConfig;
use crate::state::{ComponentEnv, InstanceState};
use crate::trigger::auth::EdgeAuth;
use crate::trigger::http::{HttpComponent, HttpTrigger};
use crate::trigger::kafka::KafkaHandler;
use crate::trigger::routes::RoutePattern;

/// The running form of an application.
pub struct App {
    /// The HTTP trigger.
    pub http: Arc<HttpTrigger>,
    kafka_triggers: Vec<(KafkaTrigger, Arc<KafkaHandler>)>,
    kafka: Option<(Arc<Kafka>, Dedup)>,
    _broker: Option<LocalBroker>,
}

/// A compiled component, pre-linked, with what its instances share.
struct Prepared {
    component: Component,
    pre: InstancePre<InstanceState>,
    env: Arc<ComponentEnv>,
}

impl App {
    /// Loads every component of `manifest` that a trigger names.
    pub async fn load(manifest: &Manifest, runtime: &RuntimeConfig) -> Result<Self> {
        let values =
            capability::variables::resolve(&manifest.variables, |k| std::env::var(k).ok())?;
        let (kafka, broker) = connect_kafka(manifest, runtime).await?;
        let resources = Arc::new(Resources {
            postgres: Default::default(),
            redis: Default::default(),
            key_value: capability::key_value::Stores::connect(
                &runtime.redis_stores(),
                &runtime.memory_stores(),
            )
            .await?,
            kafka: kafka.as_ref().map(|(k, _)| k.clone()),
        });

        let max_memory = manifest.components.values().map(|c| c.memory_limit).max();
        let engine =
            crate::engine::new(max_memory.unwrap_or(crate::manifest::DEFAULT_MEMORY_LIMIT))?;
        crate::engine::spawn_epoch_ticker(&engine);
        let linker = linker(&engine)?;
        let cache = crate::engine::cache_dir();

        let mut prepared: BTreeMap<String, Prepared> = BTreeMap::new();
        let used = manifest
            .http_triggers
            .iter()
            .map(|t| &t.component)
            .chain(manifest.kafka_triggers.iter().map(|t| &t.component));
        for name in used {
            if prepared.contains_key(name) {
                continue;
            }
            let spec = &manifest.components[name];
            check_stores(spec, &resources)?;
            let (component, pre) = prepare(&engine, &linker, spec, &cache)?;
            let env = Arc::new(ComponentEnv {
                grants: Arc::new(Grants::new(spec, &values)),
                resources: resources.clone(),
                environment: spec.environment.clone(),
                memory_limit: spec.memory_limit,
                volumes: spec.volumes.clone(),
            });
            prepared.insert(
                name.clone(),
                Prepared {
                    component,
                    pre,
                    env,
                },
            );
        }

        let auth = match &manifest.http_auth {
            Some(auth) => {
                let key = values.get(&auth.key_variable).with_context(|| {
                    format!(
                        "variable `{}` (the token key) has no value",
                        auth.key_variable
                    )
                })?;
                Some(EdgeAuth::new(key, &auth.public, &runtime.redis_url()).await?)
            }
            None => None,
        };
        let http = http_trigger(manifest, &prepared, auth)?;
        let mut kafka_triggers = Vec::new();
        for trigger in &manifest.kafka_triggers {
            let p = &prepared[&trigger.component];
            let timeout = manifest.components[&trigger.component].request_timeout;
            let handler =
                KafkaHandler::new(p.pre.clone(), p.env.clone(), timeout).with_context(|| {
                    format!(
                        "component `{}` does not export jm:kafka/handler",
                        trigger.component
                    )
                })?;
            kafka_triggers.push((trigger.clone(), Arc::new(handler)));
        }
        Ok(Self {
            http: Arc::new(http),
            kafka_triggers,
            kafka,
            _broker: broker,
        })
    }

    /// Serves HTTP on `listener` and runs the Kafka triggers until `shutdown` resolves; then
    /// stops taking work, lets what is in flight finish within `grace`, and commits.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        grace: Duration,
    ) -> Result<()> {
        let (stop, stopped) = watch::channel(false);
        let mut consumers = Vec::new();
        if let Some((kafka, dedup)) = &self.kafka {
            for (trigger, handler) in &self.kafka_triggers {
                consumers.push(tokio::spawn(crate::kafka::consumer::run(
                    kafka.clone(),
                    trigger.clone(),
                    handler.clone(),
                    dedup.clone(),
                    stopped.clone(),
                )));
            }
        }
        let http = self.http.clone().serve(listener, shutdown, grace);
        let result = http.await;
        let _ = stop.send(true);
        for consumer in consumers {
            match consumer.await {
                Ok(Err(error)) => {
                    tracing::warn!(error = %format!("{error:#}"), "kafka trigger failed")
                }
                Err(error) => tracing::warn!(%error, "kafka trigger panicked"),
                Ok(Ok(())) => {}
            }
        }
        result
    }
}

/// Connects to Kafka when the application uses it: the brokers of `JM_KAFKA_BROKERS`, then of
/// the manifest, else a local Tansu started here.
async fn connect_kafka(
    manifest: &Manifest,
    runtime: &RuntimeConfig,
) -> Result<(Option<(Arc<Kafka>, Dedup)>, Option<LocalBroker>)> {
    let uses_kafka = !manifest.kafka_triggers.is_empty()
        || manifest
            .components
            .values()
            .any(|c| !c.kafka_publish.is_empty());
    if !uses_kafka {
        return Ok((None, None));
    }
    let configured = std::env::var("JM_KAFKA_BROKERS")
        .ok()
        .or_else(|| manifest.kafka.brokers.clone());
    let (brokers, local) = match configured {
        Some(brokers) => (brokers, None),
        None => {
            let broker = LocalBroker::start()?;
            eprintln!("Started a local Kafka broker (Tansu) on {}", broker.address);
            tracing::info!(address = %broker.address, "local kafka broker started");
            (broker.address.clone(), Some(broker))
        }
    };
    let kafka = Kafka::start(brokers, manifest.kafka.clone()).await?;
    let dedup = Dedup::connect(&runtime.redis_url(), manifest.kafka.dedup_ttl).await?;
    Ok((Some((kafka, dedup)), local))
}

fn check_stores(spec: &ComponentSpec, resources: &Resources) -> Result<()> {
    for (host, _) in &spec.volumes {
        std::fs::create_dir_all(host).with_context(|| {
            format!(
                "component `{}`: failed to create volume {}",
                spec.name,
                host.display()
            )
        })?;
    }
    for label in &spec.key_value_stores {
        if !resources.key_value.contains(label) {
            bail!(
                "component `{}` uses key-value store `{label}`, which runtime config does not define",
                spec.name
            );
        }
    }
    Ok(())
}

fn http_trigger(
    manifest: &Manifest,
    prepared: &BTreeMap<String, Prepared>,
    auth: Option<EdgeAuth>,
) -> Result<HttpTrigger> {
    let mut indices = BTreeMap::new();
    let mut components = Vec::new();
    let mut routes = Vec::new();
    for trigger in &manifest.http_triggers {
        let name = &trigger.component;
        if !indices.contains_key(name) {
            let p = &prepared[name];
            let pre = http_pre(&p.component, p.pre.clone())
                .with_context(|| format!("component `{name}` is not an HTTP component"))?;
            let timeout = manifest.components[name].request_timeout;
            indices.insert(name.clone(), components.len());
            components.push(HttpComponent::new(pre, p.env.clone(), timeout));
        }
        if let Some(route) = &trigger.route {
            let pattern = RoutePattern::parse(route).map_err(anyhow::Error::msg)?;
            routes.push((pattern, indices[name]));
        }
    }
    Ok(HttpTrigger::new(routes, components, auth))
}

/// The linker every component is pre-linked against: WASI 0.2 and 0.3, `wasi:http` 0.2 and
/// 0.3, the Spin interfaces and the Kafka producer.
fn linker(engine: &Engine) -> Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    capability::add_to_linker(&mut linker, InstanceState::spin)?;
    Ok(linker)
}

/// Compiles (or loads from the cache) and pre-links one component.
fn prepare(
    engine: &Engine,
    linker: &Linker<InstanceState>,
    spec: &ComponentSpec,
    cache: &Path,
) -> Result<(Component, InstancePre<InstanceState>)> {
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
    tracing::info!(component = %name, version = &digest[..12], elapsed_ms = started.elapsed().as_millis() as u64, "component loaded");
    Ok((component, pre))
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

//! A loaded application: the manifest's components compiled, linked and bound to triggers.
//!
//! Loading walks the manifest once: resolve variables, connect shared resources (Kafka
//! included, starting a local broker when none is configured), build the engine and linker,
//! then compile (or load from cache) and pre-link every component a trigger names. Any
//! component that cannot link stops start-up with a message naming it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::net::TcpListener;
use tokio::sync::watch;
use wasmtime::Engine;
use wasmtime::component::Linker;

use crate::capability::{self, Grants, Resources};
use crate::component::{Loader, Slot};
use crate::kafka::Kafka;
use crate::kafka::broker::LocalBroker;
use crate::kafka::consumer::Joining;
use crate::kafka::dedup::Dedup;
use crate::manifest::{ComponentSpec, KafkaTrigger, Manifest, TimerTrigger};
use crate::runtime_config::RuntimeConfig;
use crate::state::{ComponentEnv, InstanceState};
use crate::trigger::auth::EdgeAuth;
use crate::trigger::http::HttpTrigger;
use crate::trigger::rate_limit::RateLimits;
use crate::trigger::routes::RoutePattern;

/// The running form of an application.
pub struct App {
    /// The HTTP trigger.
    pub http: Arc<HttpTrigger>,
    /// Every component a trigger uses, by name.
    pub slots: BTreeMap<String, Arc<Slot>>,
    kafka_triggers: Vec<KafkaTrigger>,
    timer_triggers: Vec<TimerTrigger>,
    app_name: String,
    redis_url: String,
    /// The Kafka connection and the de-duplication records, when the application uses Kafka.
    pub kafka: Option<(Arc<Kafka>, Dedup)>,
    /// The Kafka triggers yet to join their consumer groups.
    pub joining: Arc<Joining>,
    broker: Option<LocalBroker>,
}

impl App {
    /// The local broker this application started, for the caller to stop once every Kafka
    /// client is gone: stopped earlier, the clients still open report it as a failure.
    pub fn take_broker(&mut self) -> Option<LocalBroker> {
        self.broker.take()
    }

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
        let loader = Arc::new(Loader {
            linker: linker(&engine)?,
            engine,
            cache: crate::engine::cache_dir(),
        });

        let mut slots = BTreeMap::new();
        for (name, spec) in &manifest.components {
            let uses_http = manifest.http_triggers.iter().any(|t| &t.component == name)
                || manifest.timer_triggers.iter().any(|t| &t.component == name);
            let uses_kafka = manifest.kafka_triggers.iter().any(|t| &t.component == name);
            if !uses_http && !uses_kafka {
                continue;
            }
            check_stores(spec, &resources)?;
            let env = Arc::new(ComponentEnv {
                grants: Arc::new(Grants::new(spec, &values)),
                resources: resources.clone(),
                environment: spec.environment.clone(),
                memory_limit: spec.memory_limit,
                volumes: spec.volumes.clone(),
            });
            let slot = Slot::load(loader.clone(), spec.clone(), env, (uses_http, uses_kafka))?;
            slots.insert(name.clone(), Arc::new(slot));
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
        let limits = match manifest.rate_limit {
            Some((free, premium)) => {
                Some(RateLimits::new(free, premium, &runtime.redis_url()).await?)
            }
            None => None,
        };
        let http = http_trigger(manifest, &slots, auth, limits)?;
        Ok(Self {
            http: Arc::new(http),
            slots,
            kafka_triggers: manifest.kafka_triggers.clone(),
            joining: Arc::new(Joining::new(if kafka.is_some() {
                manifest.kafka_triggers.len()
            } else {
                0
            })),
            timer_triggers: manifest.timer_triggers.clone(),
            app_name: manifest.name.clone(),
            redis_url: runtime.redis_url(),
            kafka,
            broker,
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
            for trigger in &self.kafka_triggers {
                consumers.push(tokio::spawn(crate::kafka::consumer::run(
                    kafka.clone(),
                    trigger.clone(),
                    self.slots[&trigger.component].clone(),
                    dedup.clone(),
                    self.joining.clone(),
                    stopped.clone(),
                )));
            }
        }
        let mut timers = Vec::new();
        if !self.timer_triggers.is_empty() {
            let client =
                redis::Client::open(self.redis_url.as_str()).context("bad Redis url for timers")?;
            let redis = crate::redis_client::connect(client)
                .await
                .context("failed to reach Redis for timers")?;
            let host = uuid::Uuid::new_v4().to_string();
            for (index, trigger) in self.timer_triggers.iter().enumerate() {
                let slot = self.slots[&trigger.component].clone();
                let job = crate::trigger::timer::run(
                    self.app_name.clone(),
                    index,
                    trigger.clone(),
                    slot,
                    redis.clone(),
                    host.clone(),
                );
                timers.push(tokio::spawn(job));
            }
        }
        let http = self.http.clone().serve(listener, shutdown, grace);
        let result = http.await;
        let _ = stop.send(true);
        for timer in timers {
            timer.abort();
        }
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
                "component `{}` uses key-value store `{label}`, \
                 which runtime config does not define",
                spec.name
            );
        }
    }
    Ok(())
}

fn http_trigger(
    manifest: &Manifest,
    slots: &BTreeMap<String, Arc<Slot>>,
    auth: Option<EdgeAuth>,
    limits: Option<RateLimits>,
) -> Result<HttpTrigger> {
    let mut indices = BTreeMap::new();
    let mut components = Vec::new();
    let mut routes = Vec::new();
    for trigger in &manifest.http_triggers {
        let name = &trigger.component;
        if !indices.contains_key(name) {
            indices.insert(name.clone(), components.len());
            components.push(slots[name].clone());
        }
        if let Some(route) = &trigger.route {
            let pattern = RoutePattern::parse(route).map_err(anyhow::Error::msg)?;
            routes.push((pattern, indices[name]));
        }
    }
    Ok(HttpTrigger::new(routes, components, auth, limits))
}

/// The linker every component is pre-linked against: WASI 0.2 and 0.3, `wasi:http` 0.2 and
/// 0.3, the Spin interfaces and the Kafka producer.
pub fn linker(engine: &Engine) -> Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    capability::add_to_linker(&mut linker, InstanceState::spin)?;
    Ok(linker)
}

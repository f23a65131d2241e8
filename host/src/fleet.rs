//! A fleet of hosts on one Kafka and one Redis: a reload or rollback given to any host
//! reaches all of them, and every host runs the same bytes.
//!
//! A fleet is the hosts running one application (by `[application] name`). The host that
//! takes the command applies it first (so a broken build is refused before it spreads), stores
//! the Wasm in Redis under its SHA-256 (`jm:wasm:<digest>`), records it as the component's
//! wanted version, and announces `{component, digest}` on the `jm.control.<app>` topic. Every
//! host reads that topic from its end, fetches the bytes, checks their digest and swaps; a
//! host that joins later starts on the wanted versions, as long as it was deployed with the
//! same `source` the swap replaced (a new deployment's build wins over an old reload). Each
//! host also publishes what it runs (refreshed while it lives) so `jm components` can show the
//! fleet.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::{Message as _, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::component::{Slot, Version, short};
use crate::kafka::Kafka;

/// The prefix of the topic fleet commands travel on; the application's name follows.
pub const CONTROL_TOPIC_PREFIX: &str = "jm.control.";

/// How long a host's record lives without being refreshed.
const PRESENCE_TTL: Duration = Duration::from_secs(15);

/// How long stored Wasm bytes are kept.
const WASM_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// A command to every host: run this version of this component.
#[derive(Debug, Serialize, Deserialize)]
struct Command {
    component: String,
    digest: String,
    origin: String,
}

/// The version a component of the fleet should run, and the deployment it replaced.
#[derive(Debug, Serialize, Deserialize)]
struct Wanted {
    digest: String,
    /// The digest of the `source` the announcing host was deployed with.
    base: String,
}

/// What one host of the fleet runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostRecord {
    /// The host's id.
    pub host: String,
    /// Its admin address.
    pub admin: String,
    /// Component name to version (digest prefix).
    pub components: BTreeMap<String, String>,
}

/// This host's part in the fleet.
pub struct Fleet {
    app: String,
    topic: String,
    kafka: Arc<Kafka>,
    redis: redis::aio::ConnectionManager,
    slots: BTreeMap<String, Arc<Slot>>,
    admin: String,
}

impl Fleet {
    /// Joins the fleet: starts reading commands and publishing this host's record.
    pub async fn join(
        app: &str,
        kafka: Arc<Kafka>,
        redis_url: &str,
        slots: BTreeMap<String, Arc<Slot>>,
        admin: String,
    ) -> Result<Arc<Self>> {
        let client = redis::Client::open(redis_url).context("bad Redis url for the fleet")?;
        let redis = crate::redis_client::connect(client)
            .await
            .context("failed to reach Redis")?;
        let topic = format!("{CONTROL_TOPIC_PREFIX}{app}");
        crate::kafka::broker::create_topics(&kafka.brokers, std::slice::from_ref(&topic), 1)
            .await?;
        let app = app.to_string();
        let fleet = Arc::new(Self {
            app,
            topic,
            kafka,
            redis,
            slots,
            admin,
        });
        let consumer = fleet.control_consumer()?;
        fleet.catch_up().await;
        tokio::spawn(fleet.clone().follow(consumer));
        tokio::spawn(fleet.clone().publish_presence());
        Ok(fleet)
    }

    fn control_consumer(&self) -> Result<StreamConsumer> {
        let consumer: StreamConsumer =
            crate::kafka::client_config(&self.kafka.brokers, &self.kafka.settings)
                .set("group.id", format!("jm-control-{}", self.kafka.host_id))
                .set("enable.auto.commit", "false")
                .set("fetch.wait.max.ms", "10")
                .create()
                .context("failed to create the control consumer")?;
        let (_, high) = consumer
            .fetch_watermarks(&self.topic, 0, Duration::from_secs(10))
            .context("failed to read the end of the control topic")?;
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(&self.topic, 0, Offset::Offset(high))?;
        consumer.assign(&assignment)?;
        Ok(consumer)
    }

    /// Stores the bytes of `version` and tells every host to run it.
    pub async fn announce(&self, component: &str, version: &Version) -> Result<()> {
        let mut redis = self.redis.clone();
        let _: () = redis::cmd("SET")
            .arg(format!("jm:wasm:{}", version.digest))
            .arg(version.wasm.as_slice())
            .arg("EX")
            .arg(WASM_TTL.as_secs())
            .query_async(&mut redis)
            .await
            .context("failed to store the component in Redis")?;
        let wanted = Wanted {
            digest: version.digest.clone(),
            base: self
                .slots
                .get(component)
                .map(|slot| slot.deployed.clone())
                .unwrap_or_default(),
        };
        let _: () = redis::cmd("SET")
            .arg(self.wanted_key(component))
            .arg(serde_json::to_string(&wanted)?)
            .query_async(&mut redis)
            .await
            .context("failed to record the wanted version")?;
        let command = Command {
            component: component.to_string(),
            digest: version.digest.clone(),
            origin: self.kafka.host_id.clone(),
        };
        let value = serde_json::to_vec(&command)?;
        self.kafka
            .produce(&self.topic, Some(component.as_bytes()), &value, &[])
            .await
            .map_err(|e| anyhow::anyhow!("failed to announce the reload: {e}"))
    }

    fn wanted_key(&self, component: &str) -> String {
        format!("jm:fleet:{}:wanted:{component}", self.app)
    }

    /// Starts every component on the version the fleet last swapped to, if any and if it
    /// replaced the build this host was deployed with.
    async fn catch_up(&self) {
        for (name, slot) in &self.slots {
            let mut redis = self.redis.clone();
            let wanted: redis::RedisResult<Option<String>> = redis::cmd("GET")
                .arg(self.wanted_key(name))
                .query_async(&mut redis)
                .await;
            let Ok(Some(wanted)) = wanted else { continue };
            let Ok(wanted) = serde_json::from_str::<Wanted>(&wanted) else {
                tracing::warn!(component = %name, "ignoring an unreadable fleet version record");
                continue;
            };
            if wanted.base != slot.deployed {
                tracing::info!(
                    component = %name,
                    fleet = short(&wanted.digest),
                    deployed = short(&slot.deployed),
                    "keeping the deployed build: the fleet's version replaced another one"
                );
                continue;
            }
            let command = Command {
                component: name.clone(),
                digest: wanted.digest,
                origin: "fleet".into(),
            };
            if let Err(error) = self.apply(&command).await {
                tracing::warn!(
                    component = %name,
                    error = %format!("{error:#}"),
                    "could not catch up with the fleet"
                );
            }
        }
    }

    async fn follow(self: Arc<Self>, consumer: StreamConsumer) {
        loop {
            let message = match consumer.recv().await {
                Ok(message) => message.detach(),
                Err(error) => {
                    tracing::warn!(%error, "control consumer error");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let Ok(command) =
                serde_json::from_slice::<Command>(message.payload().unwrap_or_default())
            else {
                continue;
            };
            if let Err(error) = self.apply(&command).await {
                tracing::warn!(
                    component = %command.component,
                    error = %format!("{error:#}"),
                    "fleet reload failed"
                );
            }
        }
    }

    async fn apply(&self, command: &Command) -> Result<()> {
        let Some(slot) = self.slots.get(&command.component) else {
            return Ok(());
        };
        if slot.current().digest == command.digest {
            return Ok(());
        }
        let mut redis = self.redis.clone();
        let wasm: Vec<u8> = redis::cmd("GET")
            .arg(format!("jm:wasm:{}", command.digest))
            .query_async(&mut redis)
            .await
            .context("failed to fetch the component from Redis")?;
        let digest = hex::encode(Sha256::digest(&wasm));
        anyhow::ensure!(
            digest == command.digest,
            "fetched bytes do not match {}",
            command.digest
        );
        let version = slot.reload(Some(wasm)).await?;
        tracing::info!(
            component = %command.component,
            version = short(&version.digest),
            origin = %command.origin,
            "fleet reload applied"
        );
        crate::metrics::inc(
            "jm_reloads_total",
            &[("component", &command.component), ("result", "ok")],
        );
        Ok(())
    }

    fn record(&self) -> HostRecord {
        HostRecord {
            host: self.kafka.host_id.clone(),
            admin: self.admin.clone(),
            components: self
                .slots
                .iter()
                .map(|(name, slot)| (name.clone(), short(&slot.current().digest).to_string()))
                .collect(),
        }
    }

    async fn publish_presence(self: Arc<Self>) {
        loop {
            let mut redis = self.redis.clone();
            let record = serde_json::to_string(&self.record()).unwrap_or_default();
            let set: redis::RedisResult<()> = redis::cmd("SET")
                .arg(format!("jm:fleet:{}:host:{}", self.app, self.kafka.host_id))
                .arg(record)
                .arg("EX")
                .arg(PRESENCE_TTL.as_secs())
                .query_async(&mut redis)
                .await;
            if let Err(error) = set {
                tracing::warn!(%error, "failed to publish this host's record");
            }
            tokio::time::sleep(PRESENCE_TTL / 3).await;
        }
    }

    /// What every live host of the fleet runs.
    pub async fn hosts(&self) -> Result<Vec<HostRecord>> {
        let mut redis = self.redis.clone();
        let pattern = format!("jm:fleet:{}:host:*", self.app);
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut redis)
            .await?;
        let mut hosts = Vec::new();
        for key in keys {
            let text: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut redis).await?;
            if let Some(record) = text.and_then(|t| serde_json::from_str(&t).ok()) {
                hosts.push(record);
            }
        }
        hosts.sort_by(|a: &HostRecord, b| a.host.cmp(&b.host));
        Ok(hosts)
    }
}

//! Runtime config (`--runtime-config-file`): where key-value stores and databases live.
//!
//! Spin's format for key-value stores, plus `[postgres] url`, the server migrations run on:
//!
//! ```toml
//! [key_value_store.default]
//! type = "redis"
//! url = "redis://127.0.0.1:6379"
//!
//! [postgres]
//! url = "postgres://postgres@127.0.0.1:5432"
//!
//! [redis]
//! url = "redis://127.0.0.1:6379"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

/// The default Postgres server when neither runtime config nor `JM_POSTGRES_URL` names one.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432";
/// The default Redis server when neither runtime config nor `JM_REDIS_URL` names one.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Parsed runtime config.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Key-value stores by label.
    #[serde(default)]
    pub key_value_store: BTreeMap<String, KeyValueStoreConfig>,
    /// The Postgres server that holds the application's databases.
    pub postgres: Option<PostgresConfig>,
    /// The Redis server the host keeps its own records in (Kafka de-duplication).
    pub redis: Option<RedisConfig>,
}

/// `[redis]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// Redis url.
    pub url: String,
}

/// One `[key_value_store.LABEL]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyValueStoreConfig {
    /// `redis`, or `spin`/`memory` for a store in this process.
    #[serde(rename = "type")]
    pub kind: String,
    /// The Redis url, for `type = "redis"`.
    pub url: Option<String>,
}

/// `[postgres]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// Server url without a database name.
    pub url: String,
}

impl RuntimeConfig {
    /// Reads runtime config from `path`, or the empty config when there is none.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read runtime config {}", path.display()))?;
        let config: Self = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
        for (label, store) in &config.key_value_store {
            match (store.kind.as_str(), &store.url) {
                ("redis", Some(_)) | ("spin" | "memory", None) => {}
                ("redis", None) => bail!(
                    "{}: key_value_store `{label}` needs a `url`",
                    path.display()
                ),
                (kind, _) => bail!(
                    "{}: key_value_store `{label}` has type `{kind}`; expected `redis` or `memory`",
                    path.display()
                ),
            }
        }
        let host = config.redis_url();
        for (label, url) in config.redis_stores() {
            if same_database(&url, &host) {
                bail!(
                    "{}: key_value_store `{label}` is the host's own Redis database ({url}), \
                     whose tokens and records a component could then list and change; give it \
                     a database of its own (`redis://HOST:PORT/1`)",
                    path.display()
                );
            }
        }
        Ok(config)
    }

    /// Redis urls by label.
    pub fn redis_stores(&self) -> BTreeMap<String, String> {
        self.key_value_store
            .iter()
            .filter_map(|(label, s)| Some((label.clone(), s.url.clone()?)))
            .collect()
    }

    /// Labels of in-process stores.
    pub fn memory_stores(&self) -> Vec<String> {
        self.key_value_store
            .iter()
            .filter(|(_, s)| s.url.is_none())
            .map(|(l, _)| l.clone())
            .collect()
    }

    /// The host's Redis: `JM_REDIS_URL`, then runtime config, then the local default.
    pub fn redis_url(&self) -> String {
        std::env::var("JM_REDIS_URL")
            .ok()
            .or_else(|| self.redis.as_ref().map(|r| r.url.clone()))
            .unwrap_or_else(|| DEFAULT_REDIS_URL.to_string())
    }

    /// The Postgres server: `JM_POSTGRES_URL`, then runtime config, then the local default.
    pub fn postgres_url(&self) -> String {
        std::env::var("JM_POSTGRES_URL")
            .ok()
            .or_else(|| self.postgres.as_ref().map(|p| p.url.clone()))
            .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_string())
    }
}

/// Whether two Redis urls name the same database of the same server, as written (a server
/// named two ways, `localhost` and `127.0.0.1`, is not caught).
fn same_database(a: &str, b: &str) -> bool {
    let database = |url: &str| {
        let client = redis::Client::open(url).ok()?;
        let info = client.get_connection_info();
        Some((info.addr.to_string(), info.redis.db))
    };
    matches!((database(a), database(b)), (Some(a), Some(b)) if a == b)
}

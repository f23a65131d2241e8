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
use std::net::ToSocketAddrs as _;
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

/// Whether two Redis urls name the same database of the same server: TCP hosts are compared
/// by the addresses they resolve to, so `localhost` and `127.0.0.1` are one server.
fn same_database(a: &str, b: &str) -> bool {
    match (redis_database(a), redis_database(b)) {
        (Some((a, a_db)), Some((b, b_db))) => a_db == b_db && a.iter().any(|addr| b.contains(addr)),
        _ => false,
    }
}

/// The server addresses and database number a Redis url names.
fn redis_database(url: &str) -> Option<(Vec<String>, i64)> {
    let client = redis::Client::open(url).ok()?;
    let info = client.get_connection_info();
    let addresses = match &info.addr {
        redis::ConnectionAddr::Tcp(host, port)
        | redis::ConnectionAddr::TcpTls { host, port, .. } => {
            match (host.as_str(), *port).to_socket_addrs() {
                Ok(found) => found.map(|addr| addr.to_string()).collect(),
                Err(_) => vec![format!("{host}:{port}")],
            }
        }
        other => vec![other.to_string()],
    };
    Some((addresses, info.redis.db))
}

#[cfg(test)]
mod tests {
    use super::same_database;

    #[test]
    fn one_redis_server_named_two_ways_is_one_database() {
        assert!(same_database(
            "redis://localhost:6379/0",
            "redis://127.0.0.1:6379"
        ));
        assert!(same_database(
            "redis://127.0.0.1:6379/2",
            "redis://127.0.0.1/2"
        ));
    }

    #[test]
    fn another_database_or_port_is_another_database() {
        assert!(!same_database(
            "redis://localhost:6379/1",
            "redis://127.0.0.1:6379"
        ));
        assert!(!same_database(
            "redis://127.0.0.1:6380/0",
            "redis://127.0.0.1:6379/0"
        ));
    }
}

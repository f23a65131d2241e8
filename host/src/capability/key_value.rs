//! `spin:key-value`: labelled stores, in-process or on Redis, as runtime config maps them.
//!
//! The `default` label is always present (in-process unless runtime config maps it); other
//! labels exist only when runtime config declares them. A component opens only the labels in
//! its `key_value_stores`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};
use redis::AsyncCommands as _;
use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

use super::{Spin, SpinView};
use crate::bindings::key_value::{self, Error};

/// Keys asked of Redis per `SCAN` step when a component lists a store.
const SCAN_BATCH: usize = 1000;

/// Where one labelled store keeps its data.
pub enum Backend {
    /// A map in this process; lost on exit.
    Memory(Mutex<HashMap<String, Vec<u8>>>),
    /// A Redis server.
    Redis(redis::aio::ConnectionManager),
}

/// A store opened by a component: a handle on its backend.
pub struct Store(Arc<Backend>);

/// Every labelled store of the application.
#[derive(Default)]
pub struct Stores(BTreeMap<String, Arc<Backend>>);

impl Stores {
    /// Builds the stores: `redis_urls` maps labels to Redis, `memory` lists in-process labels.
    pub async fn connect(redis_urls: &BTreeMap<String, String>, memory: &[String]) -> Result<Self> {
        let mut stores = BTreeMap::new();
        for (label, url) in redis_urls {
            let client = redis::Client::open(url.as_str())
                .with_context(|| format!("key-value store `{label}`: bad Redis url"))?;
            let manager = crate::redis_client::connect_for_component(client)
                .await
                .with_context(|| format!("key-value store `{label}`: failed to reach Redis"))?;
            stores.insert(label.clone(), Arc::new(Backend::Redis(manager)));
        }
        for label in memory.iter().chain(std::iter::once(&"default".to_string())) {
            stores
                .entry(label.clone())
                .or_insert_with(|| Arc::new(Backend::Memory(Mutex::default())));
        }
        Ok(Self(stores))
    }

    /// Whether a label is known.
    pub fn contains(&self, label: &str) -> bool {
        self.0.contains_key(label)
    }
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

fn lock(
    map: &Mutex<HashMap<String, Vec<u8>>>,
) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
    map.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Backend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        match self {
            Self::Memory(map) => Ok(lock(map).get(key).cloned()),
            Self::Redis(conn) => conn.clone().get(key).await.map_err(other),
        }
    }

    async fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        match self {
            Self::Memory(map) => {
                lock(map).insert(key, value);
                Ok(())
            }
            Self::Redis(conn) => conn.clone().set(key, value).await.map_err(other),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        match self {
            Self::Memory(map) => {
                lock(map).remove(key);
                Ok(())
            }
            Self::Redis(conn) => conn.clone().del(key).await.map_err(other),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, Error> {
        match self {
            Self::Memory(map) => Ok(lock(map).contains_key(key)),
            Self::Redis(conn) => conn.clone().exists(key).await.map_err(other),
        }
    }

    async fn keys(&self) -> Result<Vec<String>, Error> {
        match self {
            Self::Memory(map) => Ok(lock(map).keys().cloned().collect()),
            Self::Redis(conn) => {
                let mut conn = conn.clone();
                // Many keys per round trip: the store may share a Redis with much else.
                let options = redis::ScanOptions::default().with_count(SCAN_BATCH);
                let mut iter = conn.scan_options::<String>(options).await.map_err(other)?;
                let mut keys = Vec::new();
                while let Some(key) = futures::StreamExt::next(&mut iter).await {
                    keys.push(key);
                }
                Ok(keys)
            }
        }
    }
}

/// Takes a handle on the backend of an open store out of the table.
fn backend<T>(
    accessor: &Accessor<T, Spin>,
    store: &Resource<Store>,
) -> wasmtime::Result<Arc<Backend>> {
    accessor.with(|mut access| Ok(access.get().table.get(store)?.0.clone()))
}

impl key_value::Host for SpinView<'_> {}

impl key_value::HostStore for SpinView<'_> {
    fn drop(&mut self, store: Resource<Store>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl<T> key_value::HostStoreWithStore<T> for Spin {
    async fn open(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<Store>, Error>> {
        accessor.with(|mut access| {
            let view = access.get();
            if !view.ctx.grants.key_value_stores.contains(&label) {
                return Ok(Err(Error::AccessDenied));
            }
            let Some(backend) = view.ctx.resources.key_value.0.get(&label).cloned() else {
                return Ok(Err(Error::NoSuchStore));
            };
            Ok(Ok(view.table.push(Store(backend))?))
        })
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<Store>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(backend(accessor, &store)?.get(&key).await)
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<Store>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(backend(accessor, &store)?.set(key, value).await)
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        store: Resource<Store>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(backend(accessor, &store)?.delete(&key).await)
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        store: Resource<Store>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        Ok(backend(accessor, &store)?.exists(&key).await)
    }

    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<Store>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), Error>>)> {
        let result = backend(accessor, &store)?.keys().await;
        let (keys, outcome) = match result {
            Ok(keys) => (keys, Ok(())),
            Err(e) => (Vec::new(), Err(e)),
        };
        accessor.with(|mut access| {
            let stream = StreamReader::new(&mut access, keys)?;
            let future =
                FutureReader::new(&mut access, async move { wasmtime::error::Ok(outcome) })?;
            Ok((stream, future))
        })
    }
}

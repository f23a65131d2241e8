//! `spin:redis`: the whole Redis interface, publish included, over shared connections.
//!
//! One multiplexed connection per address serves every instance; the address must match the
//! component's `allowed_outbound_hosts` (`redis://host[:port]`).

use std::collections::HashMap;

use redis::aio::ConnectionManager;
use tokio::sync::Mutex;
use wasmtime::component::{Accessor, Resource};

use super::{Spin, SpinView};
use crate::bindings::redis::{self as wit, Error, RedisParameter, RedisResult};

/// A connection opened by a component: a handle on the shared connection of its address.
pub struct Connection(ConnectionManager);

/// Shared Redis connections, one per address.
#[derive(Default)]
pub struct Clients(Mutex<HashMap<String, ConnectionManager>>);

impl Clients {
    async fn connect(&self, address: &str) -> Result<ConnectionManager, Error> {
        let mut clients = self.0.lock().await;
        if let Some(conn) = clients.get(address) {
            return Ok(conn.clone());
        }
        let client = redis::Client::open(address).map_err(|_| Error::InvalidAddress)?;
        let conn = crate::redis_client::connect_for_component(client)
            .await
            .map_err(other)?;
        clients.insert(address.to_string(), conn.clone());
        Ok(conn)
    }
}

fn other(e: redis::RedisError) -> Error {
    match e.kind() {
        redis::ErrorKind::TypeError => Error::TypeError,
        _ => Error::Other(e.to_string()),
    }
}

fn connection<T>(
    accessor: &Accessor<T, Spin>,
    conn: &Resource<Connection>,
) -> wasmtime::Result<ConnectionManager> {
    accessor.with(|mut access| Ok(access.get().table.get(conn)?.0.clone()))
}

/// Runs one command on the connection of `conn`.
async fn run<T, R: redis::FromRedisValue>(
    accessor: &Accessor<T, Spin>,
    conn: &Resource<Connection>,
    cmd: redis::Cmd,
) -> wasmtime::Result<Result<R, Error>> {
    let mut conn = connection(accessor, conn)?;
    Ok(cmd.query_async(&mut conn).await.map_err(other))
}

fn to_result(value: redis::Value) -> Result<RedisResult, Error> {
    Ok(match value {
        redis::Value::Nil => RedisResult::Nil,
        redis::Value::Int(i) => RedisResult::Int64(i),
        redis::Value::BulkString(bytes) => RedisResult::Binary(bytes),
        redis::Value::SimpleString(s) => RedisResult::Status(s),
        redis::Value::Okay => RedisResult::Status("OK".into()),
        redis::Value::Boolean(b) => RedisResult::Int64(b.into()),
        redis::Value::Double(d) => RedisResult::Binary(d.to_string().into_bytes()),
        redis::Value::VerbatimString { text, .. } => RedisResult::Binary(text.into_bytes()),
        redis::Value::BigNumber(n) => RedisResult::Binary(n.to_string().into_bytes()),
        other => return Err(Error::Other(format!("unsupported Redis reply: {other:?}"))),
    })
}

impl wit::Host for SpinView<'_> {}

impl wit::HostConnection for SpinView<'_> {
    fn drop(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

impl<T> wit::HostConnectionWithStore<T> for Spin {
    async fn open(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        let (allowed, resources) = accessor.with(|mut access| {
            let ctx = access.get().ctx;
            (
                ctx.grants.allowed_hosts.check_url(&address),
                ctx.resources.clone(),
            )
        });
        if let Err(refusal) = allowed {
            tracing::debug!(%refusal, "redis address refused");
            return Ok(Err(Error::InvalidAddress));
        }
        let conn = match resources.redis.connect(&address).await {
            Ok(conn) => conn,
            Err(e) => return Ok(Err(e)),
        };
        accessor.with(|mut access| Ok(Ok(access.get().table.push(Connection(conn))?)))
    }

    async fn publish(
        accessor: &Accessor<T, Self>,
        conn: Resource<Connection>,
        channel: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(channel).arg(payload);
        Ok(run::<T, i64>(accessor, &conn, cmd).await?.map(drop))
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        conn: Resource<Connection>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        run(accessor, &conn, redis::Cmd::get(key)).await
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        conn: Resource<Connection>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        run(accessor, &conn, redis::Cmd::set(key, value)).await
    }

    async fn incr(
        accessor: &Accessor<T, Self>,
        conn: Resource<Connection>,
        key: String,
    ) -> wasmtime::Result<Result<i64, Error>> {
        run(accessor, &conn, redis::Cmd::incr(key, 1)).await
    }

    async fn del(
        accessor: &Accessor<T, Self>,
        conn: Resource<Connection>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        run(accessor, &conn, redis::Cmd::del(keys)).await
    }

    async fn sadd(
        accessor: &Accessor<T, Self>,
        conn: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        run(accessor, &conn, redis::Cmd::sadd(key, values)).await
    }

    async fn smembers(
        accessor: &Accessor<T, Self>,
        conn: Resource<Connection>,
        key: String,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        run(accessor, &conn, redis::Cmd::smembers(key)).await
    }

    async fn srem(
        accessor: &Accessor<T, Self>,
        conn: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        run(accessor, &conn, redis::Cmd::srem(key, values)).await
    }

    async fn execute(
        accessor: &Accessor<T, Self>,
        conn: Resource<Connection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<RedisResult>, Error>> {
        let mut cmd = redis::cmd(&command);
        for argument in arguments {
            match argument {
                RedisParameter::Int64(i) => cmd.arg(i),
                RedisParameter::Binary(b) => cmd.arg(b),
            };
        }
        let value = match run::<T, redis::Value>(accessor, &conn, cmd).await? {
            Ok(value) => value,
            Err(e) => return Ok(Err(e)),
        };
        let values = match value {
            redis::Value::Array(items) | redis::Value::Set(items) => items,
            single => vec![single],
        };
        Ok(values.into_iter().map(to_result).collect())
    }
}

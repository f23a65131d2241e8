//! `spin:postgres`: connections from a pool per address, shared by every instance.
//!
//! A connection a component opens is one pooled session for its whole life, so `BEGIN` and
//! `COMMIT` work across calls. A session dropped inside a transaction is closed rather than
//! returned to the pool. Value conversions live in `postgres_values`.

#![expect(
    clippy::result_large_err,
    reason = "the error is the WIT type the component receives, built once per failed call"
)]

use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio::sync::Mutex;
use tokio_postgres::types::ToSql;
use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

use super::postgres_values::{Param, columns, convert_row, query_error};
use super::{Spin, SpinCtx, SpinView};
use crate::bindings::postgres::{self, Column, DbValue, Error, ParameterValue, RowSet};

/// Connections allowed per address and host.
const POOL_SIZE: usize = 64;

/// Shared pools, one per database address.
#[derive(Default)]
pub struct Pools(std::sync::Mutex<HashMap<String, Pool>>);

impl Pools {
    fn pool(&self, address: &str) -> Result<Pool, Error> {
        let mut pools = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(pool) = pools.get(address) {
            return Ok(pool.clone());
        }
        let config = tokio_postgres::Config::from_str(address)
            .map_err(|e| Error::ConnectionFailed(format!("invalid address: {e}")))?;
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = Manager::from_config(config, tokio_postgres::NoTls, manager_config);
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| Error::ConnectionFailed(e.to_string()))?;
        pools.insert(address.to_string(), pool.clone());
        Ok(pool)
    }

    async fn session(&self, address: &str) -> Result<Session, Error> {
        let client = self.pool(address)?.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => Error::ConnectionFailed(e.to_string()),
            other => Error::ConnectionFailed(other.to_string()),
        })?;
        Ok(Session {
            client: Mutex::new(Some(client)),
            in_transaction: AtomicBool::new(false),
        })
    }
}

/// One pooled session.
pub struct Session {
    client: Mutex<Option<Object>>,
    in_transaction: AtomicBool,
}

/// A connection resource held by a component.
pub struct Connection(Arc<Session>);

/// A connection builder resource: an address waiting for `build`.
pub struct ConnectionBuilder(String);

impl Drop for Session {
    fn drop(&mut self) {
        if self.in_transaction.load(Ordering::Relaxed)
            && let Some(client) = self.client.get_mut().take()
        {
            // Detached from the pool and dropped: the server rolls the transaction back.
            drop(Object::take(client));
        }
    }
}

impl Session {
    fn note_transaction(&self, statement: &str) {
        let word = statement.split_whitespace().next().unwrap_or_default();
        match word.to_ascii_uppercase().trim_end_matches(';') {
            "BEGIN" | "START" => self.in_transaction.store(true, Ordering::Relaxed),
            "COMMIT" | "ROLLBACK" | "END" | "ABORT" => {
                self.in_transaction.store(false, Ordering::Relaxed)
            }
            _ => {}
        }
    }

    async fn query(
        &self,
        statement: &str,
        params: Vec<ParameterValue>,
    ) -> Result<(Vec<Column>, Vec<Vec<DbValue>>), Error> {
        self.note_transaction(statement);
        let guard = self.client.lock().await;
        let client = guard
            .as_ref()
            .ok_or_else(|| Error::Other("connection closed".into()))?;
        let prepared = client
            .prepare_cached(statement)
            .await
            .map_err(query_error)?;
        let params: Vec<Param> = params.into_iter().map(Param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let rows = client.query(&prepared, &refs).await.map_err(query_error)?;
        let rows = rows
            .iter()
            .map(convert_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((columns(prepared.columns()), rows))
    }

    async fn execute(&self, statement: &str, params: Vec<ParameterValue>) -> Result<u64, Error> {
        self.note_transaction(statement);
        let guard = self.client.lock().await;
        let client = guard
            .as_ref()
            .ok_or_else(|| Error::Other("connection closed".into()))?;
        let prepared = client
            .prepare_cached(statement)
            .await
            .map_err(query_error)?;
        let params: Vec<Param> = params.into_iter().map(Param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        client.execute(&prepared, &refs).await.map_err(query_error)
    }
}

/// Opens a session for a component, checking the address against its grants.
async fn open(
    ctx: (Result<(), String>, Arc<super::Resources>),
    address: &str,
) -> Result<Session, Error> {
    let (allowed, resources) = ctx;
    if let Err(refusal) = allowed {
        return Err(Error::ConnectionFailed(refusal));
    }
    resources.postgres.session(address).await
}

fn grant(ctx: &SpinCtx, address: &str) -> (Result<(), String>, Arc<super::Resources>) {
    let allowed = ctx.grants.allowed_hosts.check_url(address).map(drop);
    (allowed, ctx.resources.clone())
}

fn session<T>(
    accessor: &Accessor<T, Spin>,
    conn: &Resource<Connection>,
) -> wasmtime::Result<Arc<Session>> {
    accessor.with(|mut access| Ok(access.get().table.get(conn)?.0.clone()))
}

impl postgres::Host for SpinView<'_> {}

impl postgres::HostConnection for SpinView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        match open(grant(self.ctx, &address), &address).await {
            Ok(session) => Ok(Ok(self.table.push(Connection(Arc::new(session)))?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn query(
        &mut self,
        conn: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let session = self.table.get(&conn)?.0.clone();
        let result = session.query(&statement, params).await;
        Ok(result.map(|(columns, rows)| RowSet { columns, rows }))
    }

    async fn execute(
        &mut self,
        conn: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let session = self.table.get(&conn)?.0.clone();
        Ok(session.execute(&statement, params).await)
    }

    fn drop(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

impl<T> postgres::HostConnectionWithStore<T> for Spin {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        let ctx = accessor.with(|mut access| grant(access.get().ctx, &address));
        match open(ctx, &address).await {
            Ok(session) => accessor.with(|mut access| {
                Ok(Ok(access
                    .get()
                    .table
                    .push(Connection(Arc::new(session)))?))
            }),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn query_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<
        Result<
            (
                Vec<Column>,
                StreamReader<Vec<DbValue>>,
                FutureReader<Result<(), Error>>,
            ),
            Error,
        >,
    > {
        let session = session(accessor, &conn)?;
        let (columns, rows) = match session.query(&statement, params).await {
            Ok(result) => result,
            Err(e) => return Ok(Err(e)),
        };
        accessor.with(|mut access| {
            let rows = StreamReader::new(&mut access, rows)?;
            let done = FutureReader::new(&mut access, async { wasmtime::error::Ok(Ok(())) })?;
            Ok(Ok((columns, rows, done)))
        })
    }

    async fn execute_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let session = session(accessor, &conn)?;
        Ok(session.execute(&statement, params).await)
    }
}

impl postgres::HostConnectionBuilder for SpinView<'_> {
    fn new(&mut self, address: String) -> wasmtime::Result<Resource<ConnectionBuilder>> {
        Ok(self.table.push(ConnectionBuilder(address))?)
    }

    fn set_ca_root(
        &mut self,
        _builder: Resource<ConnectionBuilder>,
        _certificate: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(Err(Error::Other(
            "this host connects to Postgres without TLS".into(),
        )))
    }

    async fn build(
        &mut self,
        builder: Resource<ConnectionBuilder>,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        let address = self.table.get(&builder)?.0.clone();
        postgres::HostConnection::open(self, address).await
    }

    fn drop(&mut self, builder: Resource<ConnectionBuilder>) -> wasmtime::Result<()> {
        self.table.delete(builder)?;
        Ok(())
    }
}

impl<T> postgres::HostConnectionBuilderWithStore<T> for Spin {
    async fn build_async(
        accessor: &Accessor<T, Self>,
        builder: Resource<ConnectionBuilder>,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        let address = accessor
            .with(|mut access| wasmtime::error::Ok(access.get().table.get(&builder)?.0.clone()))?;
        <Self as postgres::HostConnectionWithStore<T>>::open_async(accessor, address).await
    }
}

//! The service's own database through `spin:postgres`: opening the one its `pg_url` variable
//! names, running statements and reading columns, with failures turned into API errors that
//! name no SQL. An unreachable database answers 503, so a client knows to come back.

use spin_sdk::pg::{Connection, Decode, ParameterValue, Row};

use crate::ApiError;

/// Seconds a client should wait before retrying when the database is down.
const RETRY_AFTER: u32 = 5;

/// Opens the database named by the `pg_url` variable; when it cannot be reached, the client
/// gets `unavailable` ("the tag catalogue is unavailable") with a 503.
pub async fn open(unavailable: &str) -> Result<Connection, ApiError> {
    let url = spin_sdk::variables::get("pg_url")
        .await
        .map_err(|e| ApiError::internal(format!("failed to read variable pg_url: {e:?}")))?;
    Connection::open(url).await.map_err(|e| {
        eprintln!("failed to open the database: {e}");
        ApiError::unavailable(unavailable, RETRY_AFTER)
    })
}

/// Runs a query and collects its rows.
pub async fn rows(
    db: &Connection,
    sql: &str,
    params: Vec<ParameterValue>,
) -> Result<Vec<Row>, ApiError> {
    let result = db.query(sql, params).await.map_err(failed)?;
    result.collect().await.map_err(failed)
}

/// Runs a statement and answers how many rows it changed.
pub async fn execute(
    db: &Connection,
    sql: &str,
    params: Vec<ParameterValue>,
) -> Result<u64, ApiError> {
    db.execute(sql, params).await.map_err(failed)
}

/// Ends the open transaction without its changes; a failure here only goes to the log.
pub async fn rollback(db: &Connection) {
    if let Err(e) = db.execute("ROLLBACK", Vec::new()).await {
        eprintln!("failed to roll back: {e}");
    }
}

/// A column of a row; a missing or mistyped column is our bug, not the client's.
pub fn column<T: Decode>(row: &Row, name: &str) -> Result<T, ApiError> {
    row.get::<T>(name)
        .ok_or_else(|| ApiError::internal(format!("column `{name}` is missing or mistyped")))
}

/// A failed statement: the log gets the database's words, the client a 500 without them.
fn failed(error: spin_sdk::pg::Error) -> ApiError {
    ApiError::internal(format!("query failed: {error}"))
}

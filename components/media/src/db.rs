//! The service's database, `jm_media`: opening it, running statements and reading columns.

use jm_service::ApiError;
use spin_sdk::pg::{Connection, Decode, ParameterValue, Row};

/// Seconds a client should wait before retrying when the database is down.
const RETRY_AFTER: u32 = 5;

/// Opens the database named by the `pg_url` variable; 503 when it cannot be reached.
pub async fn open() -> Result<Connection, ApiError> {
    let url = spin_sdk::variables::get("pg_url")
        .await
        .map_err(|e| ApiError::internal(format!("failed to read variable pg_url: {e:?}")))?;
    Connection::open(url).await.map_err(|e| {
        eprintln!("failed to open the media database: {e}");
        ApiError::unavailable("media records are unavailable", RETRY_AFTER)
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

fn failed(error: spin_sdk::pg::Error) -> ApiError {
    ApiError::internal(format!("media query failed: {error}"))
}

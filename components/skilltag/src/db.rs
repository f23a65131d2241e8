//! The service's database, `jm_skilltag`: opening it and reading rows as text.

use jm_service::ApiError;
use spin_sdk::pg::{Connection, ParameterValue, Row};

/// Seconds a client should wait before retrying when the database is down.
const RETRY_AFTER: u32 = 5;

/// Opens the database named by the `pg_url` variable; 503 when it cannot be reached.
pub async fn open() -> Result<Connection, ApiError> {
    let url = spin_sdk::variables::get("pg_url")
        .await
        .map_err(|e| ApiError::internal(format!("failed to read variable pg_url: {e:?}")))?;
    Connection::open(url).await.map_err(|e| {
        eprintln!("failed to open the tag database: {e}");
        ApiError::unavailable("the tag catalogue is unavailable", RETRY_AFTER)
    })
}

/// Runs a query and collects its rows.
pub async fn rows(
    db: &Connection,
    sql: &str,
    params: Vec<ParameterValue>,
) -> Result<Vec<Row>, ApiError> {
    let result = db.query(sql, params).await.map_err(query_failed)?;
    result.collect().await.map_err(query_failed)
}

/// Runs a statement and answers how many rows it changed.
pub async fn execute(
    db: &Connection,
    sql: &str,
    params: Vec<ParameterValue>,
) -> Result<u64, ApiError> {
    db.execute(sql, params).await.map_err(query_failed)
}

/// A text column of a row; a missing or mistyped column is our bug, not the client's.
pub fn text(row: &Row, column: &str) -> Result<String, ApiError> {
    row.get::<String>(column)
        .ok_or_else(|| ApiError::internal(format!("column `{column}` is missing or not text")))
}

fn query_failed(error: spin_sdk::pg::Error) -> ApiError {
    ApiError::internal(format!("tag query failed: {error}"))
}

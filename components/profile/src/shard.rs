//! The five profile databases: where each one is, opening a connection to it, and asking
//! several at once with a deadline, so that a slow or unreachable shard costs a request at most
//! `shard_timeout_ms` and never its whole answer.

use std::future::Future;
use std::time::Duration;

use futures::future::{self, Either};
use jm_service::ApiError;
use spin_sdk::pg::{self, Connection, ParameterValue, PgError, QueryError};

use crate::country::SHARDS;

/// Every shard, in order.
pub const ALL: [u8; SHARDS as usize] = [1, 2, 3, 4, 5];

/// How long a shard may take when the variable does not say.
const DEFAULT_TIMEOUT_MS: u64 = 2000;

/// Seconds a client should wait before retrying when a shard is unavailable.
pub const RETRY_AFTER: u32 = 5;

/// Why a shard could not do what was asked.
#[derive(Debug)]
pub enum DbError {
    /// The shard could not be reached or did not answer in time.
    Unavailable(String),
    /// A row with the same key already exists.
    Duplicate,
    /// A referenced row does not exist.
    MissingParent,
    /// Any other failure.
    Failed(String),
}

impl From<pg::Error> for DbError {
    fn from(error: pg::Error) -> Self {
        match error {
            pg::Error::PgError(PgError::ConnectionFailed(why)) => Self::Unavailable(why),
            pg::Error::PgError(PgError::QueryFailed(QueryError::DbError(db))) => {
                match db.code.as_str() {
                    "23505" => Self::Duplicate,
                    "23503" => Self::MissingParent,
                    code if code.starts_with("08") || code.starts_with("57P") => {
                        Self::Unavailable(db.as_text)
                    }
                    _ => Self::Failed(db.as_text),
                }
            }
            other => Self::Failed(other.to_string()),
        }
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable(why) => write!(f, "shard unavailable: {why}"),
            Self::Duplicate => write!(f, "duplicate key"),
            Self::MissingParent => write!(f, "referenced row is missing"),
            Self::Failed(why) => write!(f, "query failed: {why}"),
        }
    }
}

impl DbError {
    /// The API error a client sees: 503 for an unavailable shard, 500 for anything else.
    pub fn into_api(self) -> ApiError {
        match self {
            Self::Unavailable(why) => {
                eprintln!("profile shard unavailable: {why}");
                ApiError::unavailable("the profile store is unavailable", RETRY_AFTER)
            }
            other => ApiError::internal(other),
        }
    }
}

/// The address of `shard`: variable `pg_url_<n>` when set, else `<pg_host>/jm_profile_<n>`.
async fn address(shard: u8) -> Result<String, DbError> {
    let own = spin_sdk::variables::get(&format!("pg_url_{shard}")).await;
    if let Ok(url) = own
        && !url.trim().is_empty()
    {
        return Ok(url);
    }
    let host = spin_sdk::variables::get("pg_host")
        .await
        .map_err(|e| DbError::Failed(format!("variable pg_host: {e:?}")))?;
    Ok(format!("{}/jm_profile_{shard}", host.trim_end_matches('/')))
}

/// Opens a connection to `shard`.
pub async fn connect(shard: u8) -> Result<Connection, DbError> {
    let address = address(shard).await?;
    Ok(Connection::open(address).await?)
}

/// How long one shard may take to answer (variable `shard_timeout_ms`).
pub async fn timeout() -> Duration {
    let ms = spin_sdk::variables::get("shard_timeout_ms").await.ok();
    let ms = ms
        .and_then(|ms| ms.trim().parse().ok())
        .unwrap_or(DEFAULT_TIMEOUT_MS);
    Duration::from_millis(ms)
}

/// Runs `work` on `shard`, failing with `Unavailable` when it takes longer than `limit`.
pub async fn within<T, F>(shard: u8, limit: Duration, work: F) -> Result<T, DbError>
where
    F: Future<Output = Result<T, DbError>>,
{
    let deadline = spin_sdk::time::sleep(limit);
    match future::select(Box::pin(work), Box::pin(deadline)).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(DbError::Unavailable(format!(
            "shard {shard} did not answer within {} ms",
            limit.as_millis()
        ))),
    }
}

/// Runs `work` on each of `shards` in parallel, each within the deadline.
pub async fn each<T, F, Fut>(shards: &[u8], work: F) -> Vec<(u8, Result<T, DbError>)>
where
    F: Fn(u8) -> Fut,
    Fut: Future<Output = Result<T, DbError>>,
{
    let limit = timeout().await;
    let asks = shards.iter().map(|&shard| {
        let ask = within(shard, limit, work(shard));
        async move { (shard, ask.await) }
    });
    future::join_all(asks).await
}

/// A text parameter, or SQL NULL.
pub fn text(value: Option<&str>) -> ParameterValue {
    value.map_or(ParameterValue::DbNull, |v| {
        ParameterValue::Str(v.to_string())
    })
}

/// A UUID parameter.
pub fn uuid(value: &str) -> ParameterValue {
    ParameterValue::Uuid(value.to_string())
}

/// Runs `statements` on `db` as one transaction, rolling back when one fails.
pub async fn transaction(db: &Connection, statements: Vec<Statement>) -> Result<(), DbError> {
    db.execute("BEGIN", Vec::new()).await?;
    for (sql, params) in statements {
        if let Err(error) = db.execute(sql, params).await {
            let _ = db.execute("ROLLBACK", Vec::new()).await;
            return Err(error.into());
        }
    }
    Ok(db.execute("COMMIT", Vec::new()).await.map(|_| ())?)
}

/// One SQL statement with its parameters.
pub type Statement = (&'static str, Vec<ParameterValue>);

/// Whether `text` is a UUID in its canonical textual form.
pub fn is_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_recognised() {
        assert!(is_uuid("11111111-1111-4111-8111-111111111111"));
        assert!(!is_uuid("11111111-1111-4111-8111-11111111111"));
        assert!(!is_uuid("11111111x1111-4111-8111-111111111111"));
    }
}

//! The service's settings and connections, all from Spin variables: the database and Redis
//! addresses, the token key (a secret), and the lockout and registration timings, which
//! tests shorten through `SPIN_VARIABLE_*`.

use jm_service::{ApiError, ApiResult};
use spin_sdk::pg::Connection as Db;
use spin_sdk::redis::Connection as Redis;

/// How long the 5 failures that lock an email may be apart, by default (SPEC 6.2).
const LOCKOUT_WINDOW_SECS: u64 = 60;
/// How long an email stays locked, by default (SPEC 6.2).
const LOCKOUT_SECS: u64 = 15 * 60;
/// How long registration waits for profile's reply, by default (SPEC 2).
const REGISTRATION_TIMEOUT_MS: u32 = 10_000;

/// The value of a variable; a missing one is the operator's error, never the client's.
pub async fn text(name: &str) -> ApiResult<String> {
    spin_sdk::variables::get(name)
        .await
        .map_err(|e| ApiError::internal(format!("variable `{name}`: {e:?}")))
}

/// A numeric variable, or `default` when it is unset or not a number.
async fn number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match spin_sdk::variables::get(name).await {
        Ok(value) => value.trim().parse().unwrap_or(default),
        Err(_) => default,
    }
}

/// The lockout window and duration in seconds.
pub async fn lockout() -> (u64, u64) {
    let window = number("lockout_window_secs", LOCKOUT_WINDOW_SECS).await;
    let lock = number("lockout_secs", LOCKOUT_SECS).await;
    (window.max(1), lock.max(1))
}

/// How long registration waits for profile, in milliseconds.
pub async fn registration_timeout_ms() -> u32 {
    number("registration_timeout_ms", REGISTRATION_TIMEOUT_MS).await
}

/// A connection to the service's database; 503 while it cannot be reached.
pub async fn db() -> ApiResult<Db> {
    jm_service::db::open("accounts are unavailable").await
}

/// A connection to Redis.
pub async fn redis() -> ApiResult<Redis> {
    let url = text("redis_url").await?;
    Redis::open(url)
        .await
        .map_err(|e| ApiError::internal(format!("redis: {e:?}")))
}

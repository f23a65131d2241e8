//! Login lockout (SPEC 6.2), kept in Redis per email (lower case): failures are counted in
//! `jm:login:failures:<email>`, which lives one window from the first failure; the fifth
//! sets `jm:login:lock:<email>` to the unlock time for the lock duration. While it exists
//! every login of that email answers `ACCOUNT_LOCKED`, even with the right password.

use jm_service::{ApiError, ApiResult};
use spin_sdk::redis::{Connection as Redis, RedisParameter};

/// Failures within one window that lock an email.
const MAX_FAILURES: i64 = 5;

/// How failures are counted and how long a lock lasts, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// The window the failures must fall in.
    pub window: u64,
    /// How long the email stays locked.
    pub lock: u64,
}

fn failures_key(email: &str) -> String {
    format!("jm:login:failures:{}", email.to_lowercase())
}

fn lock_key(email: &str) -> String {
    format!("jm:login:lock:{}", email.to_lowercase())
}

fn arg(text: impl Into<String>) -> RedisParameter {
    RedisParameter::Binary(text.into().into_bytes())
}

fn failed(error: spin_sdk::redis::Error) -> ApiError {
    ApiError::internal(format!("redis: {error:?}"))
}

/// 401 `ACCOUNT_LOCKED`, saying when the email opens again.
pub fn locked(unlocks_at: i64) -> ApiError {
    let when = jm_service::iso8601(unlocks_at, 0);
    let message = format!("too many failed logins: the account is locked until {when}");
    ApiError::other(401, "ACCOUNT_LOCKED", message)
        .with_extra(serde_json::json!({ "unlocksAt": when }))
}

/// `ACCOUNT_LOCKED` while `email` is locked.
pub async fn check(redis: &Redis, email: &str) -> ApiResult<()> {
    let Some(value) = redis.get(lock_key(email)).await.map_err(failed)? else {
        return Ok(());
    };
    let unlocks_at = String::from_utf8_lossy(&value)
        .parse()
        .unwrap_or_else(|_| crate::now());
    Err(locked(unlocks_at))
}

/// Counts a failed login of `email`: the error to answer, `ACCOUNT_LOCKED` once it locks.
pub async fn fail(redis: &Redis, policy: Policy, email: &str) -> ApiResult<ApiError> {
    let key = failures_key(email);
    // The counter starts with its expiry, so INCR keeps a window that began at the first.
    let start = vec![
        arg(&key),
        arg("0"),
        arg("EX"),
        RedisParameter::Int64(policy.window as i64),
    ];
    redis
        .execute("SET", start.into_iter().chain([arg("NX")]))
        .await
        .map_err(failed)?;
    let failures = redis.incr(&key).await.map_err(failed)?;
    if failures < MAX_FAILURES {
        return Ok(ApiError::invalid_credentials());
    }
    let unlocks_at = crate::now() + policy.lock as i64;
    let lock = vec![
        arg(lock_key(email)),
        arg(unlocks_at.to_string()),
        arg("EX"),
        RedisParameter::Int64(policy.lock as i64),
    ];
    redis.execute("SET", lock).await.map_err(failed)?;
    redis.del([key]).await.map_err(failed)?;
    Ok(locked(unlocks_at))
}

/// Forgets the failures of `email` after a successful login.
pub async fn clear(redis: &Redis, email: &str) -> ApiResult<()> {
    redis.del([failures_key(email)]).await.map_err(failed)?;
    Ok(())
}

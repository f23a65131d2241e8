//! Token pairs and their records: every token issued is recorded in Redis as
//! `jm:token:<jti>` for its lifetime (the edge refuses an access token whose record is
//! gone), and a company's refresh token ids are kept in `jm:refresh:<companyId>`, so that a
//! refresh token presented twice revokes them all. Both travel as `HttpOnly` cookies.

use jm_service::{ApiError, ApiResult, Reply};
use spin_sdk::redis::{Connection as Redis, RedisParameter, RedisResult};

use crate::jwe::{ACCESS, COMPANY_ROLE, Claims, REFRESH, Sealer};

/// The access token's lifetime: 15 minutes.
pub const ACCESS_SECS: i64 = 15 * 60;
/// The refresh token's lifetime: 7 days.
pub const REFRESH_SECS: i64 = 7 * 24 * 60 * 60;
/// The cookie of the access token.
pub const ACCESS_COOKIE: &str = "ACCESS_TOKEN";
/// The cookie of the refresh token.
pub const REFRESH_COOKIE: &str = "REFRESH_TOKEN";

/// The value of a refresh token's record once it was exchanged.
const USED: &str = "used";

/// A fresh access and refresh token.
pub struct Pair {
    /// The access token.
    pub access: String,
    /// The refresh token.
    pub refresh: String,
}

/// What presenting a refresh token found.
#[derive(Debug, PartialEq, Eq)]
pub enum Spent {
    /// It was unused and is now used.
    Fresh,
    /// It had been exchanged before: someone replays it.
    Reused,
    /// It has no record: revoked or never issued.
    Unknown,
}

fn token_key(jti: &str) -> String {
    format!("jm:token:{jti}")
}

fn family_key(company_id: &str) -> String {
    format!("jm:refresh:{company_id}")
}

fn arg(text: impl Into<String>) -> RedisParameter {
    RedisParameter::Binary(text.into().into_bytes())
}

fn failed(error: spin_sdk::redis::Error) -> ApiError {
    ApiError::internal(format!("redis: {error:?}"))
}

fn claims(company_id: &str, kind: &str, lifetime: i64) -> Claims {
    let now = crate::now();
    Claims {
        sub: company_id.to_string(),
        role: COMPANY_ROLE.to_string(),
        kind: kind.to_string(),
        jti: crate::secret::new_id(),
        iat: now,
        exp: now + lifetime,
    }
}

/// `SET key value EX seconds`.
async fn record(redis: &Redis, key: String, value: &str, seconds: i64) -> ApiResult<()> {
    let args = [
        arg(key),
        arg(value),
        arg("EX"),
        RedisParameter::Int64(seconds),
    ];
    redis.execute("SET", args).await.map_err(failed)?;
    Ok(())
}

/// Issues and records a new pair for `company_id`.
pub async fn issue(redis: &Redis, sealer: &Sealer, company_id: &str) -> ApiResult<Pair> {
    let access = claims(company_id, ACCESS, ACCESS_SECS);
    let refresh = claims(company_id, REFRESH, REFRESH_SECS);
    let pair = Pair {
        access: sealer.seal(&access, &crate::secret::random_bytes(12))?,
        refresh: sealer.seal(&refresh, &crate::secret::random_bytes(12))?,
    };
    record(redis, token_key(&access.jti), "1", ACCESS_SECS).await?;
    record(redis, token_key(&refresh.jti), "1", REFRESH_SECS).await?;
    let family = family_key(company_id);
    redis.sadd(&family, [&refresh.jti]).await.map_err(failed)?;
    let expire = [arg(family), RedisParameter::Int64(REFRESH_SECS)];
    redis.execute("EXPIRE", expire).await.map_err(failed)?;
    Ok(pair)
}

/// Marks refresh token `jti` used, atomically, and says what it was before.
pub async fn spend(redis: &Redis, jti: &str) -> ApiResult<Spent> {
    let args = [
        arg(token_key(jti)),
        arg(USED),
        arg("XX"),
        arg("KEEPTTL"),
        arg("GET"),
    ];
    let before = redis.execute("SET", args).await.map_err(failed)?;
    Ok(match before.first() {
        Some(RedisResult::Binary(value)) if value.as_slice() == USED.as_bytes() => Spent::Reused,
        Some(RedisResult::Binary(_)) => Spent::Fresh,
        _ => Spent::Unknown,
    })
}

/// Revokes every refresh token of `company_id`.
pub async fn revoke_family(redis: &Redis, company_id: &str) -> ApiResult<()> {
    let family = family_key(company_id);
    let jtis = redis.smembers(&family).await.map_err(failed)?;
    let keys = jtis.iter().map(|jti| token_key(jti)).chain([family]);
    redis.del(keys).await.map_err(failed)?;
    Ok(())
}

/// Revokes access token `jti`.
pub async fn revoke_access(redis: &Redis, jti: &str) -> ApiResult<()> {
    redis.del([token_key(jti)]).await.map_err(failed)?;
    Ok(())
}

/// Revokes refresh token `jti` of `company_id`.
pub async fn revoke_refresh(redis: &Redis, company_id: &str, jti: &str) -> ApiResult<()> {
    redis.del([token_key(jti)]).await.map_err(failed)?;
    redis
        .srem(family_key(company_id), [jti])
        .await
        .map_err(failed)?;
    Ok(())
}

/// A `Set-Cookie` value with the attributes both token cookies share.
fn cookie(name: &str, value: &str, max_age: i64) -> String {
    format!("{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; Secure; SameSite=Strict")
}

/// Adds the cookies of `pair` to `reply`.
pub fn set_cookies(reply: Reply, pair: &Pair) -> Reply {
    reply
        .header(
            "set-cookie",
            cookie(ACCESS_COOKIE, &pair.access, ACCESS_SECS),
        )
        .header(
            "set-cookie",
            cookie(REFRESH_COOKIE, &pair.refresh, REFRESH_SECS),
        )
}

/// Adds cookies to `reply` that make the client forget both tokens.
pub fn clear_cookies(reply: Reply) -> Reply {
    reply
        .header("set-cookie", cookie(ACCESS_COOKIE, "", 0))
        .header("set-cookie", cookie(REFRESH_COOKIE, "", 0))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value(req: &spin_sdk::http::Request, name: &str) -> Option<String> {
    req.headers()
        .get_all("cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

//! Rate limits at the edge, kept in Redis so they hold across every host of a fleet: a token
//! bucket per company for authenticated requests and per client address for the others.
//!
//! `[application.trigger.http.rate_limit]` sets the free tier (`per_minute`, `burst`) and the
//! premium tier (`premium_per_minute`, `premium_burst`), applied to tokens whose role is
//! `PREMIUM`. Every answer carries `X-RateLimit-Limit` and `X-RateLimit-Remaining`; a refused
//! request gets 429 `RATE_LIMITED` with `Retry-After`.

use anyhow::{Context as _, Result};

/// One tier: a bucket of `burst` requests refilled at `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    /// Requests a minute in the long run.
    pub per_minute: u32,
    /// Requests allowed at once.
    pub burst: u32,
}

/// The limits of an application.
pub struct RateLimits {
    free: Tier,
    premium: Tier,
    redis: redis::aio::ConnectionManager,
    script: redis::Script,
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// The tier's per-minute limit.
    pub limit: u32,
    /// Requests left in the bucket.
    pub remaining: u32,
    /// Seconds until a request would be allowed again.
    pub retry_after: u32,
}

/// Refills the bucket for the time since it was last touched, then takes one token.
const BUCKET: &str = r"
local rate = tonumber(ARGV[1]) / 60000
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
local wait = 0
if allowed == 0 then wait = math.ceil((1 - tokens) / rate / 1000) end
return {allowed, math.floor(tokens), wait}
";

impl RateLimits {
    /// Connects to the Redis that holds the buckets.
    pub async fn new(free: Tier, premium: Tier, redis_url: &str) -> Result<Self> {
        let client = redis::Client::open(redis_url).context("bad Redis url for rate limits")?;
        let redis = crate::redis_client::connect(client)
            .await
            .context("failed to reach Redis for rate limits")?;
        Ok(Self {
            free,
            premium,
            redis,
            script: redis::Script::new(BUCKET),
        })
    }

    /// Takes one request from the bucket of `company` (with its role) or, without one, of
    /// the client address. Fails open, with a warning, when Redis cannot answer.
    pub async fn check(&self, company: Option<(&str, &str)>, client: &str) -> Decision {
        let (key, tier) = match company {
            Some((id, role)) => {
                let tier = if role == "PREMIUM" {
                    self.premium
                } else {
                    self.free
                };
                (format!("jm:rate:company:{id}"), tier)
            }
            None => (format!("jm:rate:client:{client}"), self.free),
        };
        let now = chrono::Utc::now().timestamp_millis();
        let mut redis = self.redis.clone();
        let result: redis::RedisResult<(i64, i64, i64)> = self
            .script
            .key(key)
            .arg(tier.per_minute)
            .arg(tier.burst)
            .arg(now)
            .invoke_async(&mut redis)
            .await;
        match result {
            Ok((allowed, remaining, wait)) => Decision {
                allowed: allowed == 1,
                limit: tier.per_minute,
                remaining: remaining.max(0) as u32,
                retry_after: wait.max(1) as u32,
            },
            Err(error) => {
                tracing::warn!(
                    %error,
                    blame = "host",
                    "rate limit check failed; letting the request through"
                );
                Decision {
                    allowed: true,
                    limit: tier.per_minute,
                    remaining: tier.burst,
                    retry_after: 0,
                }
            }
        }
    }
}

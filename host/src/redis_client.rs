//! Connections to Redis, for the host itself and for components: one multiplexed connection
//! per use that reconnects by itself, with bounded waits.
//!
//! redis-rs's own defaults retry a lost connection for minutes (a back-off that starts at a
//! second and grows a hundredfold per try, up to a minute, six tries) and wait for an answer
//! forever, so a Redis restart would stall every caller, Kafka lanes and the edge's token
//! checks included, for that long. Here a call fails within seconds and the next one tries
//! again.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long the host waits for an answer.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Attempts to restore a lost connection, 1 s then 2 s apart (with jitter), before a call
/// fails.
const RETRIES: usize = 2;

/// Connects for the host's own use: a call fails once [`RESPONSE_TIMEOUT`] passes.
pub async fn connect(client: redis::Client) -> redis::RedisResult<ConnectionManager> {
    ConnectionManager::new_with_config(client, config().set_response_timeout(RESPONSE_TIMEOUT))
        .await
}

/// Connects for a component's `spin:redis` or key-value calls, which may block on purpose
/// (`BLPOP`): an answer is awaited as long as the component's own deadline allows.
pub async fn connect_for_component(client: redis::Client) -> redis::RedisResult<ConnectionManager> {
    ConnectionManager::new_with_config(client, config()).await
}

fn config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_factor(2)
        .set_max_delay(2000)
        .set_number_of_retries(RETRIES)
        .set_connection_timeout(CONNECT_TIMEOUT)
}

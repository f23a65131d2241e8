//! The timer trigger: scheduled work declared in the manifest, run by exactly one host of a
//! fleet at each tick.
//!
//! Every host keeps the schedule; at each tick they race for a Redis lease
//! (`SET jm:timer:<app>:<n> <host> NX PX <interval>`), and only the winner sends the job to
//! its component: an HTTP `POST` to the job's path with `jm-scheduled: 1`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};

use crate::component::Slot;
use crate::manifest::TimerTrigger;

/// Runs one timer trigger until the process ends.
pub async fn run(
    app: String,
    index: usize,
    trigger: TimerTrigger,
    slot: Arc<Slot>,
    redis: redis::aio::ConnectionManager,
    host: String,
) {
    let mut ticks = tokio::time::interval(trigger.every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let lease = format!("jm:timer:{app}:{index}");
        let mut conn = redis.clone();
        let won: redis::RedisResult<Option<String>> = redis::cmd("SET")
            .arg(&lease)
            .arg(&host)
            .arg("NX")
            .arg("PX")
            .arg(lease_millis(trigger.every))
            .query_async(&mut conn)
            .await;
        match won {
            Ok(Some(_)) => fire(&trigger, &slot).await,
            Ok(None) => tracing::debug!(path = %trigger.path, "another host runs this tick"),
            Err(error) => tracing::warn!(%error, path = %trigger.path, "timer lease failed"),
        }
    }
}

/// The lease outlives most of the interval so a host with a late clock cannot run it twice.
fn lease_millis(every: Duration) -> u64 {
    (every.as_millis() as u64)
        .saturating_sub(every.as_millis() as u64 / 10)
        .max(1)
}

async fn fire(trigger: &TimerTrigger, slot: &Slot) {
    let version = slot.current();
    let Some(http) = &version.http else { return };
    let body = Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync();
    let request = http::Request::post(format!("http://localhost{}", trigger.path))
        .header("jm-scheduled", "1")
        .header("spin-path-info", trigger.path.as_str())
        .header("spin-full-url", format!("http://localhost{}", trigger.path))
        .body(body);
    let Ok(request) = request else { return };
    let _in_flight = slot.stats.request();
    match http.handle(request).await {
        Ok(response) => {
            tracing::debug!(
                component = %slot.name,
                path = %trigger.path,
                status = response.status().as_u16(),
                "scheduled job ran"
            )
        }
        Err(error) => {
            tracing::warn!(
                component = %slot.name,
                path = %trigger.path,
                error = %format!("{error:#}"),
                "scheduled job failed"
            )
        }
    }
}

//! Kafka test component: publishes and requests over HTTP, and handles messages with a
//! behaviour named in each value, recording every effect in Redis for the tests to read.

use std::sync::atomic::{AtomicI64, Ordering};

use jm_kafka::{Handler, Message, Outcome};
use serde::{Deserialize, Serialize};
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::redis::{Connection, RedisParameter};

/// A value of a `*EVENTS` topic: `action` picks the behaviour.
#[derive(Deserialize)]
struct Event {
    id: String,
    action: String,
    seq: i32,
}

/// A value of a `*PING` topic and of its reply.
#[derive(Serialize, Deserialize)]
struct Ping {
    id: String,
    text: String,
}

type Reply = (StatusCode, String);

/// `POST /publish/{topic}[?key=K]` with a JSON value, or `POST /request/{topic}?timeout=MS`.
#[http_service]
async fn probe(req: Request) -> Reply {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
    };
    let (key, timeout) = (param("key"), param("timeout"));
    let body = match req.into_body().bytes().await {
        Ok(body) => body,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("body: {e:?}")),
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "body is not JSON".into());
    };
    if let Some(topic) = path.strip_prefix("/publish/") {
        return match jm_kafka::publish(topic, key.as_deref(), &value).await {
            Ok(()) => (StatusCode::ACCEPTED, "published".into()),
            Err(e) => (error_status(&e), e.to_string()),
        };
    }
    if let Some(topic) = path.strip_prefix("/request/") {
        let timeout = timeout.and_then(|t| t.parse().ok()).unwrap_or(5000);
        let reply =
            jm_kafka::request::<_, serde_json::Value>(topic, key.as_deref(), &value, timeout);
        return match reply.await {
            Ok(reply) => (StatusCode::OK, reply.to_string()),
            Err(e) => (error_status(&e), e.to_string()),
        };
    }
    (StatusCode::NOT_FOUND, "no such probe route".into())
}

fn error_status(error: &jm_kafka::KafkaError) -> StatusCode {
    use jm_kafka::{Error, KafkaError};
    match error {
        KafkaError::Kafka(Error::TopicNotAllowed(_)) => StatusCode::FORBIDDEN,
        KafkaError::Kafka(Error::InvalidValue(_)) | KafkaError::Json(_) => StatusCode::BAD_REQUEST,
        KafkaError::Kafka(Error::Timeout) => StatusCode::SERVICE_UNAVAILABLE,
        KafkaError::Kafka(Error::Broker(_)) => StatusCode::BAD_GATEWAY,
    }
}

struct Probe;

impl Handler for Probe {
    async fn handle(message: Message) -> Outcome {
        if message.topic.ends_with("PING") {
            return ping(&message).await;
        }
        match message.value_as::<Event>() {
            Ok(event) => event_effect(&message, event).await,
            Err(e) => Outcome::Reject(format!("not an event: {e}")),
        }
    }
}

jm_kafka::export_handler!(Probe);

async fn redis() -> Result<Connection, Outcome> {
    let url = spin_sdk::variables::get("redis_url")
        .await
        .map_err(|e| Outcome::RetryLater(format!("variable: {e:?}")))?;
    Connection::open(url)
        .await
        .map_err(|e| Outcome::RetryLater(format!("redis: {e:?}")))
}

async fn ping(message: &Message) -> Outcome {
    let Ok(ping) = message.value_as::<Ping>() else {
        return Outcome::Reject("not a ping".into());
    };
    let pong = Ping {
        id: ping.id,
        text: format!("pong: {}", ping.text),
    };
    match message.reply(&pong).await {
        Ok(()) => Outcome::Ok,
        Err(e) => Outcome::RetryLater(e.to_string()),
    }
}

/// Messages this instance has handled with the action `count`.
static COUNTED: AtomicI64 = AtomicI64::new(0);

/// Runs the event's behaviour; each successful handling appends the event's `seq` to its
/// key's order list and adds one effect. `count` also records how many such events the
/// handling instance has seen, under the event's id.
async fn event_effect(message: &Message, event: Event) -> Outcome {
    let redis = match redis().await {
        Ok(redis) => redis,
        Err(outcome) => return outcome,
    };
    let attempts = redis
        .incr(format!("{}:attempts", event.id))
        .await
        .unwrap_or_default();
    match event.action.as_str() {
        "flaky" if attempts < 3 => return Outcome::RetryLater(format!("attempt {attempts}")),
        "fail" => return Outcome::RetryLater("always fails".into()),
        "reject" => return Outcome::Reject("rejected by the probe".into()),
        "trap" => panic!("the probe traps"),
        action if action.starts_with("sleep-") => {
            let ms = action.trim_start_matches("sleep-").parse().unwrap_or(0);
            spin_sdk::wasip3::clocks::monotonic_clock::wait_for(ms * 1_000_000).await;
        }
        _ => {}
    }
    if event.action == "count" {
        let counted = COUNTED.fetch_add(1, Ordering::Relaxed) + 1;
        let set = redis.set(format!("{}:count", event.id), counted.to_string());
        if let Err(e) = set.await {
            return Outcome::RetryLater(format!("redis: {e:?}"));
        }
    }
    let order = format!("{}:order", message.key_str().unwrap_or("none"));
    let push = redis.execute(
        "RPUSH",
        vec![
            RedisParameter::Binary(order.into_bytes()),
            RedisParameter::Int64(event.seq.into()),
        ],
    );
    if let Err(e) = push.await {
        return Outcome::RetryLater(format!("redis: {e:?}"));
    }
    match redis.incr(format!("{}:effects", event.id)).await {
        Ok(_) => Outcome::Ok,
        Err(e) => Outcome::RetryLater(format!("redis: {e:?}")),
    }
}

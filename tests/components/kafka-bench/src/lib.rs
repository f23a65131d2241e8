//! Kafka benchmark component (bench/kafka.sh): its handler accepts every message and answers
//! requests on `*PING` topics; `GET /ping` makes one request-reply round trip over Kafka.

use jm_kafka::{Handler, Message, Outcome};
use serde::{Deserialize, Serialize};
use spin_sdk::http::{Request, StatusCode};
use spin_sdk::http_service;

/// The topic `GET /ping` sends its request to; the reply comes back on `BENCH_PING_REPLY`.
const PING_TOPIC: &str = "BENCH_PING";

/// A value of `BENCH_PING` and of its reply.
#[derive(Serialize, Deserialize)]
struct Ping {
    id: String,
    text: String,
}

/// `GET /ping`: one request to `BENCH_PING`, answered with the reply's text.
#[http_service]
async fn ping(req: Request) -> (StatusCode, String) {
    if req.uri().path() != "/ping" {
        return (StatusCode::NOT_FOUND, "only /ping".into());
    }
    let ping = Ping {
        id: "bench".into(),
        text: "ping".into(),
    };
    match jm_kafka::request::<_, Ping>(PING_TOPIC, None, &ping, 5000).await {
        Ok(pong) => (StatusCode::OK, pong.text),
        Err(e) if e.is_timeout() => (StatusCode::GATEWAY_TIMEOUT, e.to_string()),
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

struct Bench;

impl Handler for Bench {
    async fn handle(message: Message) -> Outcome {
        if !message.topic.ends_with("PING") {
            return Outcome::Ok;
        }
        let pong = Ping {
            id: message.offset.to_string(),
            text: "pong".into(),
        };
        match message.reply(&pong).await {
            Ok(()) => Outcome::Ok,
            Err(e) => Outcome::RetryLater(e.to_string()),
        }
    }
}

jm_kafka::export_handler!(Bench);

//! The auth service: accounts, credentials, token pairs, login lockout and subscription
//! status (SPEC 2 "auth", flows 1 and 2, SPEC 6.2). It answers `/api/register`,
//! `/api/login`, `/api/refresh`, `/api/logout` and `/api/me`, and handles replies to
//! registrations that came after their request gave up.

mod account;
mod config;
mod jwe;
mod lockout;
mod login;
mod register;
mod secret;
mod session;
mod tokens;

use jm_kafka::{Handler, Message, Outcome};
use jm_service::{ApiError, Reply};
use spin_sdk::http::Request;
use spin_sdk::http_service;

/// Routes a request to its handler and answers errors with the API's error body.
#[http_service]
async fn handle(req: Request) -> Reply {
    let path = req.uri().path().to_string();
    let method = req.method().as_str().to_string();
    let result = match (method.as_str(), path.as_str()) {
        ("POST", "/api/register") => register::handle(req).await,
        ("POST", "/api/login") => login::handle(req).await,
        ("POST", "/api/refresh") => session::refresh(req).await,
        ("POST", "/api/logout") => session::logout(req).await,
        ("GET", "/api/me") => session::me(req).await,
        _ => Err(ApiError::not_found("there is no such route")),
    };
    jm_service::finish(&path, result)
}

/// The Kafka side: late replies of profile to registrations.
struct Replies;

impl Handler for Replies {
    async fn handle(message: Message) -> Outcome {
        if message.topic == format!("{}_REPLY", register::TOPIC) {
            register::late_reply(&message).await
        } else {
            Outcome::Reject(format!("auth does not handle topic {}", message.topic))
        }
    }
}

jm_kafka::export_handler!(Replies);

/// Now, in seconds since the epoch.
pub(crate) fn now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_secs() as i64)
}

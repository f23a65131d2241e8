//! The admin API: health, readiness, metrics, and the components with their versions, reload
//! and rollback. Listens on loopback by default; beyond loopback a token from
//! `JM_ADMIN_TOKEN` is required (`Authorization: Bearer`) for everything but health.
//!
//! - `GET /healthz`, `GET /readyz`, `GET /metrics`
//! - `GET /components`: this host's components (and the fleet's, when there is one)
//! - `POST /components/NAME/reload`: from its source, or from the Wasm in the body
//! - `POST /components/NAME/rollback`: back to the version before

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::component::{Slot, Version, short};
use crate::fleet::Fleet;
use crate::kafka::consumer::Joining;
use crate::metrics;

/// The largest Wasm body a reload accepts.
const MAX_WASM: usize = 256 << 20;

/// What the admin API serves from.
#[derive(Default)]
pub struct AdminState {
    /// Whether the application is loaded and serving.
    pub ready: AtomicBool,
    /// The application's components, once loaded.
    pub slots: OnceLock<BTreeMap<String, Arc<Slot>>>,
    /// The fleet, when the application runs on Kafka.
    pub fleet: OnceLock<Arc<Fleet>>,
    /// The Kafka triggers yet to join their consumer groups.
    pub joining: OnceLock<Arc<Joining>>,
    /// The token required beyond health checks, if any.
    pub token: Option<String>,
}

type Reply = Response<Full<Bytes>>;

/// Serves the admin API on `listener` until the process exits.
pub async fn serve(listener: TcpListener, state: Arc<AdminState>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(answer(&state, req).await) }
        });
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new();
            _ = conn.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Ready: serving HTTP, and every Kafka trigger holds its share of partitions.
fn ready(state: &AdminState) -> bool {
    state.ready.load(Ordering::Relaxed) && state.joining.get().is_none_or(|j| j.done())
}

async fn answer(state: &AdminState, req: Request<hyper::body::Incoming>) -> Reply {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    match (&method, path.as_str()) {
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok"),
        (&Method::GET, "/readyz") if ready(state) => text(StatusCode::OK, "ready"),
        (&Method::GET, "/readyz") => text(StatusCode::SERVICE_UNAVAILABLE, "starting"),
        _ if !authorized(state, &req) => {
            error(StatusCode::UNAUTHORIZED, "a valid admin token is required")
        }
        (&Method::GET, "/metrics") => metrics_reply(state),
        (&Method::GET, "/components") => components(state).await,
        (&Method::POST, _) => command(state, &path, req).await,
        _ => error(StatusCode::NOT_FOUND, "no such admin endpoint"),
    }
}

fn authorized<B>(state: &AdminState, req: &Request<B>) -> bool {
    let Some(token) = &state.token else {
        return true;
    };
    let given = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn command(state: &AdminState, path: &str, req: Request<hyper::body::Incoming>) -> Reply {
    let Some(rest) = path.strip_prefix("/components/") else {
        return error(StatusCode::NOT_FOUND, "no such admin endpoint");
    };
    let Some((name, action)) = rest.split_once('/') else {
        return error(StatusCode::NOT_FOUND, "no such admin endpoint");
    };
    let Some(slot) = state.slots.get().and_then(|s| s.get(name)).cloned() else {
        return error(StatusCode::NOT_FOUND, &format!("no component `{name}`"));
    };
    let result = match action {
        "reload" => match read_body(req).await {
            Ok(body) => slot.reload((!body.is_empty()).then_some(body)).await,
            Err(reply) => return reply,
        },
        "rollback" => slot.rollback(),
        _ => return error(StatusCode::NOT_FOUND, "no such admin endpoint"),
    };
    match result {
        Ok(version) => {
            metrics::inc("jm_reloads_total", &[("component", name), ("result", "ok")]);
            tracing::info!(
                component = name,
                version = short(&version.digest),
                action,
                "component swapped"
            );
            if let Some(fleet) = state.fleet.get()
                && let Err(e) = fleet.announce(name, &version).await
            {
                return error(StatusCode::BAD_GATEWAY, &format!("swapped here, but {e:#}"));
            }
            json_reply(StatusCode::OK, &describe_version(name, &version))
        }
        Err(e) => {
            metrics::inc(
                "jm_reloads_total",
                &[("component", name), ("result", "refused")],
            );
            tracing::warn!(component = name, action, error = %format!("{e:#}"), "swap refused");
            error(StatusCode::UNPROCESSABLE_ENTITY, &format!("{e:#}"))
        }
    }
}

async fn read_body(req: Request<hyper::body::Incoming>) -> Result<Vec<u8>, Reply> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_WASM);
    match limited.collect().await {
        Ok(body) => Ok(body.to_bytes().to_vec()),
        Err(_) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is too large or broken",
        )),
    }
}

fn describe_version(name: &str, version: &Version) -> Value {
    json!({
        "name": name,
        "version": short(&version.digest),
        "digest": version.digest,
        "source": version.source,
        "loadedAt": version.loaded_at.to_rfc3339(),
    })
}

async fn components(state: &AdminState) -> Reply {
    let Some(slots) = state.slots.get() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the application is still loading",
        );
    };
    let list: Vec<Value> = slots
        .iter()
        .map(|(name, slot)| {
            let mut entry = describe_version(name, &slot.current());
            let s = &slot.stats;
            entry["requests"] = json!({
                "inFlight": s.requests_in_flight.load(Ordering::Relaxed),
                "handled": s.requests_handled.load(Ordering::Relaxed),
            });
            entry["messages"] = json!({
                "inFlight": s.messages_in_flight.load(Ordering::Relaxed),
                "handled": s.messages_handled.load(Ordering::Relaxed),
            });
            entry["earlier"] = json!(
                slot.earlier()
                    .iter()
                    .map(|v| short(&v.digest))
                    .collect::<Vec<_>>()
            );
            entry
        })
        .collect();
    let mut body = json!({ "components": list });
    if let Some(fleet) = state.fleet.get() {
        body["fleet"] = match fleet.hosts().await {
            Ok(hosts) => json!(hosts),
            Err(e) => json!({ "error": e.to_string() }),
        };
    }
    json_reply(StatusCode::OK, &body)
}

fn metrics_reply(state: &AdminState) -> Reply {
    let mut extra = Vec::new();
    for (name, slot) in state.slots.get().into_iter().flatten() {
        let labels = metrics::label_set(&[("component", name)]);
        let s = &slot.stats;
        let in_use = s.requests_in_flight.load(Ordering::Relaxed)
            + s.messages_in_flight.load(Ordering::Relaxed);
        extra.push(("jm_instances_in_use", labels.clone(), in_use as f64));
        extra.push((
            "jm_requests_handled",
            labels.clone(),
            s.requests_handled.load(Ordering::Relaxed) as f64,
        ));
        extra.push((
            "jm_messages_handled",
            labels,
            s.messages_handled.load(Ordering::Relaxed) as f64,
        ));
    }
    let mut reply = Response::new(Full::new(Bytes::from(metrics::render(&extra))));
    reply.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    reply
}

fn json_reply(status: StatusCode, value: &Value) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(value.to_string())));
    *reply.status_mut() = status;
    reply.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    reply
}

fn error(status: StatusCode, message: &str) -> Reply {
    json_reply(status, &json!({ "error": message }))
}

fn text(status: StatusCode, body: &'static str) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *reply.status_mut() = status;
    reply
}

//! The admin listener: liveness and readiness for operators and orchestrators.
//!
//! `/healthz` answers while the process runs; `/readyz` once the application is loaded and its
//! triggers are serving.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Serves the admin endpoints on `listener` until the process exits.
pub async fn serve(listener: TcpListener, ready: Arc<AtomicBool>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let ready = ready.clone();
        let service = hyper::service::service_fn(move |req: http::Request<_>| {
            let ready = ready.load(Ordering::Relaxed);
            async move { Ok::<_, Infallible>(answer(req.uri().path(), ready)) }
        });
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new();
            _ = conn.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

fn answer(path: &str, ready: bool) -> Response<Full<Bytes>> {
    let (status, text) = match path {
        "/healthz" => (StatusCode::OK, "ok"),
        "/readyz" if ready => (StatusCode::OK, "ready"),
        "/readyz" => (StatusCode::SERVICE_UNAVAILABLE, "starting"),
        _ => (StatusCode::NOT_FOUND, "not found"),
    };
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

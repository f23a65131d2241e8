//! Minimal Spin HTTP component used by the benchmark: every request gets
//! `200 Hello, world!` as text/plain.

use spin_sdk::http::{FullBody, HeaderMap, HeaderValue, IntoResponse, Request, StatusCode};
use spin_sdk::http_service;

/// Answers every request with a fixed greeting.
#[http_service]
async fn hello(_req: Request) -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("text/plain"));
    (
        StatusCode::OK,
        headers,
        FullBody::new(&b"Hello, world!"[..]),
    )
}

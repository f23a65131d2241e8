//! Benchmark Spin component: each request opens a postgres connection to the `pg_url`
//! variable, looks up one random `bench_item` row (id 1..=1000) and answers it as JSON.

use std::hash::{BuildHasher, RandomState};

use serde_json::json;
use spin_sdk::http::{HeaderMap, HeaderValue, IntoResponse, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::pg::{Connection, DbValue, ParameterValue};
use spin_sdk::wasip3::http::types::{ErrorCode, Response as WasiResponse};

/// The single query run per request.
const QUERY: &str = "SELECT id, name FROM bench_item WHERE id = $1";

/// Looks up one row and answers `{"id": .., "name": ".."}`, or 404 when there is none.
#[http_service]
async fn pg_query(_req: Request) -> Reply {
    let url = match spin_sdk::variables::get("pg_url").await {
        Ok(url) => url,
        Err(e) => return Reply::error(format!("variable error: {e:?}")),
    };
    let connection = match Connection::open(url).await {
        Ok(connection) => connection,
        Err(e) => return Reply::error(format!("open failed: {e:?}")),
    };
    let query = match connection
        .query(QUERY, [ParameterValue::Int32(random_id())])
        .await
    {
        Ok(query) => query,
        Err(e) => return Reply::error(format!("query failed: {e:?}")),
    };
    let (_columns, rows, outcome) = query.into_inner();
    let rows = rows.collect().await;
    if let Err(e) = outcome.await {
        return Reply::error(format!("query failed: {e:?}"));
    }
    let Some(row) = rows.first() else {
        return Reply::new(StatusCode::NOT_FOUND, "text/plain", "no such row".into());
    };
    let id = match row.first() {
        Some(DbValue::Int32(id)) => i64::from(*id),
        Some(DbValue::Int64(id)) => *id,
        other => return Reply::error(format!("unexpected id value: {other:?}")),
    };
    let name = match row.get(1) {
        Some(DbValue::Str(name)) => name.clone(),
        other => return Reply::error(format!("unexpected name value: {other:?}")),
    };
    let body = json!({"id": id, "name": name}).to_string();
    Reply::new(StatusCode::OK, "application/json", body)
}

/// A random id in 1..=1000, seeded from the host's randomness via std's `RandomState`.
fn random_id() -> i32 {
    let offset = RandomState::new().hash_one(0u8) % 1000;
    1 + i32::try_from(offset).unwrap_or(0)
}

/// A fully buffered response with a content type.
struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: String,
}

impl Reply {
    fn new(status: StatusCode, content_type: &'static str, body: String) -> Self {
        Self {
            status,
            content_type,
            body,
        }
    }

    fn error(message: String) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", message)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Result<WasiResponse, ErrorCode> {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static(self.content_type));
        (self.status, headers, self.body).into_response()
    }
}

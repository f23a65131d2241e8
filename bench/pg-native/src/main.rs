//! `pg-native`: the benchmark's native anchor for the `pg_query` component. `GET /` runs the
//! same query for a random id 1..=1000 on a pooled Postgres connection and answers the same JSON.

use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;

use anyhow::{Context as _, Result};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// The single query run per request, as in the `pg_query` component.
const QUERY: &str = "SELECT id, name FROM bench_item WHERE id = $1";

/// The pool's connection cap.
const MAX_CONNECTIONS: u32 = 64;

/// The Postgres database when `PG_URL` is not set.
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/jm_bench";

/// One `bench_item` row as the component answers it.
#[derive(Serialize)]
struct Item {
    id: i32,
    name: String,
}

#[tokio::main]
async fn main() -> Result<()> {
    let listen: SocketAddr = std::env::args()
        .nth(1)
        .context("usage: pg-native LISTEN_ADDR (e.g. 127.0.0.1:3000)")?
        .parse()
        .context("bad listen address")?;
    let url = std::env::var("PG_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect(&url)
        .await
        .with_context(|| format!("failed to connect to {url}"))?;
    let app = Router::new().route("/", get(query)).with_state(pool);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("failed to listen on {listen}"))?;
    eprintln!("Serving http://{}", listener.local_addr()?);
    axum::serve(listener, app).await.context("server failed")
}

/// Looks up one random row: `{"id": .., "name": ".."}`, 404 when missing, 500 on error.
async fn query(State(pool): State<PgPool>) -> Response {
    match sqlx::query_as::<_, (i32, String)>(QUERY)
        .bind(random_id())
        .fetch_optional(&pool)
        .await
    {
        Ok(Some((id, name))) => Json(Item { id, name }).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no such row").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("query failed: {e}")).into_response(),
    }
}

/// A random id in 1..=1000, from std's randomly seeded `RandomState`, as the component does.
fn random_id() -> i32 {
    let offset = RandomState::new().hash_one(0u8) % 1000;
    1 + i32::try_from(offset).unwrap_or(0)
}

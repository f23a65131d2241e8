//! The profile service: company profiles and applicant markers, kept in five Postgres shards
//! by the company's country (`country`, `shard`). HTTP routes are dispatched here; Kafka
//! messages go to `events`. A public profile is read by id; everything else acts for the
//! company of the access token (the `jm-company-id` header the host's edge sets).

mod country;
mod events;
mod markers;
mod profile;
mod relocate;
mod search;
mod shard;
mod update;

use jm_service::{ApiError, ApiResult, Reply, finish, percent_decode};
use spin_sdk::http::Request;
use spin_sdk::http_service;

jm_kafka::export_handler!(Events);

use events::Events;

/// Routes a request to its handler and answers errors with the API's error body.
#[http_service]
async fn handle(req: Request) -> Reply {
    let path = req.uri().path().to_string();
    finish(&path, route(req, &path).await)
}

async fn route(req: Request, path: &str) -> ApiResult {
    let method = req.method().as_str().to_string();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["api", "profile"]) => search::search(&req).await,
        ("PUT", ["api", "profile"]) => update::update(req).await,
        ("GET", ["api", "profile", id]) => public_profile(&percent_decode(id)).await,
        ("GET", ["api", "markers"]) => markers::list(req).await,
        ("POST", ["api", "markers"]) => markers::create(req).await,
        ("PUT", ["api", "markers", id]) => markers::change(req, &percent_decode(id)).await,
        ("DELETE", ["api", "markers", id]) => markers::remove(req, &percent_decode(id)).await,
        _ => Err(ApiError::not_found("no such route")),
    }
}

/// `GET /api/profile/{companyId}`: the public profile of any company.
async fn public_profile(company_id: &str) -> ApiResult {
    let located = profile::locate(company_id).await?;
    Ok(Reply::json(200, &located.profile))
}

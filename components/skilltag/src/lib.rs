//! The skill tag service: the catalogue of skill tags that job posts and applicant searches
//! refer to. `GET /api/tags` searches it (public); `POST /api/tags` adds a tag and
//! `DELETE /api/tags/{id}` removes one, both for an authenticated company.

mod name;
mod tags;

use jm_service::{ApiError, ApiResult, Reply, company_id, finish};
use spin_sdk::http::{Method, Request};
use spin_sdk::http_service;

/// The collection route; a tag is `/api/tags/{id}`.
const TAGS: &str = "/api/tags";

/// Entry point: answers every request with a reply or the API's error body.
#[http_service]
async fn skilltag(req: Request) -> Reply {
    let path = req.uri().path().to_string();
    let result = route(req, &path).await;
    finish(&path, result)
}

/// Dispatches on the method and the path below `/api/tags`.
async fn route(req: Request, path: &str) -> ApiResult {
    let Some(rest) = path.strip_prefix(TAGS) else {
        return Err(no_route());
    };
    let id = rest.trim_start_matches('/');
    let method = req.method().clone();
    match (method, id) {
        (Method::GET, "") => tags::search(&req).await,
        (Method::POST, "") => {
            company_id(&req)?;
            tags::create(req).await
        }
        (Method::DELETE, id) if !id.is_empty() && !id.contains('/') => {
            company_id(&req)?;
            tags::delete(id).await
        }
        _ => Err(no_route()),
    }
}

fn no_route() -> ApiError {
    ApiError::not_found("no such route")
}

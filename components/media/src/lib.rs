//! The media service: a company's logo (announced to profile with `JM_LOGO_UPDATED`), its
//! images and videos (recorded in `jm_media`), all kept as files in the media folder and
//! served publicly from `/media/{name}`. Types are told by content, never by file name.

mod files;
mod form;
mod logo;
mod multipart;
mod serve;
mod sniff;
mod store;

use jm_service::{ApiError, ApiResult, Reply, company_id, finish};
use spin_sdk::http::{Method, Request};
use spin_sdk::http_service;

/// Entry point: answers every request with a reply or the API's error body.
#[http_service]
async fn media(req: Request) -> Reply {
    let path = req.uri().path().to_string();
    let result = route(req, &path).await;
    finish(&path, result)
}

/// Dispatches on the method and path.
async fn route(req: Request, path: &str) -> ApiResult {
    let method = req.method().clone();
    let file_id = path.strip_prefix("/api/media/files/");
    let served = path.strip_prefix("/media/");
    match (method, path) {
        (Method::POST, "/api/media/logo") => logo::upload(req).await,
        (Method::POST, "/api/media/files") => files::upload(req).await,
        (Method::GET, "/api/media/files") => files::list(&req).await,
        (Method::DELETE, _) if file_id.is_some() => {
            files::delete(&req, file_id.unwrap_or_default()).await
        }
        (Method::GET, _) if served.is_some() => serve::file(served.unwrap_or_default()).await,
        _ => Err(ApiError::not_found("no such route")),
    }
}

/// The company the edge verified, which must be a UUID since it names files.
fn caller(req: &Request) -> ApiResult<String> {
    let company = company_id(req)?.to_ascii_lowercase();
    if is_uuid(&company) {
        Ok(company)
    } else {
        Err(ApiError::unauthorized("the token does not name a company"))
    }
}

/// Whether `id` is a UUID as `8-4-4-4-12` hexadecimal digits.
fn is_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == lengths.len()
        && groups.iter().zip(lengths).all(|(group, length)| {
            group.len() == length && group.chars().all(|c| c.is_ascii_hexdigit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_have_five_hex_groups() {
        assert!(is_uuid("33333333-3333-4333-8333-333333333333"));
        assert!(!is_uuid("33333333-3333-4333-8333-33333333333"));
        assert!(!is_uuid("../../etc/passwd"));
    }
}

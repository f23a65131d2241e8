//! `GET /media/{name}`: a stored file with its content type (the recorded one, or sniffed
//! for logos), served so that a browser neither guesses a type nor runs what it holds.

use jm_service::{ApiError, ApiResult, Reply};

use crate::files::recorded_content_type;
use crate::sniff::Media;
use crate::store::Store;

/// Forbids scripts and any fetch from an SVG opened directly.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// The stored file `name`, or 404.
pub async fn file(name: &str) -> ApiResult {
    let store = Store::open().await;
    let data = store
        .read(name)?
        .ok_or_else(|| ApiError::not_found("no such media file"))?;
    let content_type = content_type(name, &data).await;
    let reply = Reply {
        status: 200,
        headers: Vec::new(),
        body: data,
    }
    .header("content-type", content_type)
    .header("x-content-type-options", "nosniff")
    .header("content-security-policy", CONTENT_SECURITY_POLICY)
    .header("cache-control", "public, max-age=60");
    Ok(reply)
}

/// The recorded content type of an image or video; for a logo, or a file without a record,
/// the one its bytes tell.
async fn content_type(name: &str, data: &[u8]) -> String {
    if !is_logo(name) {
        match recorded_content_type(name).await {
            Ok(Some(content_type)) => return content_type,
            Ok(None) => {}
            Err(error) => eprintln!("content type of `{name}` not read: {}", error.message),
        }
    }
    Media::sniff(data)
        .map_or("application/octet-stream", Media::content_type)
        .to_string()
}

/// Whether a stored name is a logo's, `{companyId}-logo-{filename}`.
fn is_logo(name: &str) -> bool {
    name.get(36..42) == Some("-logo-")
}

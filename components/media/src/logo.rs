//! `POST /api/media/logo`: one PNG, JPEG, WebP or SVG image of at most 2 MiB, stored as
//! `{companyId}-logo-{filename}`, announced to profile with `JM_LOGO_UPDATED`; the company's
//! older logos are removed once the new one is announced.

use jm_service::{ApiError, ApiResult, Reply};
use serde::Serialize;
use serde_json::json;
use spin_sdk::http::Request;

use crate::caller;
use crate::form::{Form, size};
use crate::multipart::Part;
use crate::sniff::Media;
use crate::store::{Store, clean_file_name};

/// The largest logo.
const MAX_LOGO: usize = 2 << 20;
/// Room for the form's boundaries and headers around the logo.
const FORM_OVERHEAD: usize = 64 << 10;
/// The topic that tells profile about a new logo.
const TOPIC: &str = "JM_LOGO_UPDATED";
/// Seconds before a retry when the announcement could not be sent.
const RETRY_AFTER: u32 = 5;

/// The value of `JM_LOGO_UPDATED`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogoUpdated<'a> {
    company_id: &'a str,
    logo_url: &'a str,
}

/// Stores the caller's logo, announces it and answers `{url}`.
pub async fn upload(req: Request) -> ApiResult {
    let company = caller(&req)?;
    let company = company.as_str();
    let form = Form::read(req, MAX_LOGO + FORM_OVERHEAD, &too_large()).await?;
    let files = form.files()?;
    let file = only_file(&files)?;
    check(file)?;
    let store = Store::open().await;
    let name = format!("{company}-logo-{}", clean_file_name(&file.file_name()));
    let staged = store.stage(name, file.data)?;
    if let Err(error) = store.publish(&staged) {
        store.discard(&staged);
        return Err(error);
    }
    let url = format!("/media/{}", staged.name);
    announce(company, &url).await?;
    remove_older_logos(&store, company, &staged.name);
    Ok(Reply::json(200, &json!({ "url": url })))
}

/// The one file part of the form.
fn only_file<'p, 'a>(files: &'p [Part<'a>]) -> ApiResult<&'p Part<'a>> {
    match files {
        [file] => Ok(file),
        [] => Err(ApiError::invalid("file", "a logo file is required")),
        _ => Err(ApiError::invalid(
            "file",
            "exactly one logo file is expected",
        )),
    }
}

/// Whether the logo is small enough and an accepted image.
fn check(file: &Part<'_>) -> ApiResult<()> {
    if file.data.len() > MAX_LOGO {
        return Err(ApiError::payload_too_large(too_large()));
    }
    match Media::sniff(file.data) {
        Some(Media::Png | Media::Jpeg | Media::Webp | Media::Svg) => Ok(()),
        _ => Err(ApiError::invalid(
            &file.field(),
            format!(
                "\"{}\" is not a PNG, JPEG, WebP or SVG image",
                file.file_name()
            ),
        )),
    }
}

/// The message of a 413 for a logo.
fn too_large() -> String {
    format!("a logo must be at most {}", size(MAX_LOGO))
}

/// Publishes `JM_LOGO_UPDATED`; 503 when the broker does not take it.
async fn announce(company: &str, url: &str) -> ApiResult<()> {
    let value = LogoUpdated {
        company_id: company,
        logo_url: url,
    };
    jm_kafka::publish(TOPIC, Some(company), &value)
        .await
        .map_err(|e| {
            eprintln!("failed to publish {TOPIC}: {e}");
            ApiError::unavailable(
                "the logo is stored but the profile could not be updated",
                RETRY_AFTER,
            )
        })
}

/// Removes the company's logos other than `current`; a failure only goes to the log.
fn remove_older_logos(store: &Store, company: &str, current: &str) {
    let names = match store.names_with_prefix(&format!("{company}-logo-")) {
        Ok(names) => names,
        Err(_) => return,
    };
    for name in names.iter().filter(|name| *name != current) {
        let _ = store.remove(name);
    }
}

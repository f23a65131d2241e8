//! A company's images and videos: `POST /api/media/files` stores several at once, all or
//! none (each staged on disk, rows written in one transaction, then the files moved into
//! place before it commits), `GET` lists them and `DELETE /api/media/files/{id}` removes one.

use jm_service::{ApiError, ApiResult, FieldError, Reply, db};
use serde::Serialize;
use spin_sdk::http::Request;
use spin_sdk::pg::{Connection, ParameterValue};

use crate::form::{Form, size};
use crate::multipart::Part;
use crate::sniff::{Kind, Media};
use crate::store::{Staged, Store, clean_file_name};
use crate::{caller, is_uuid};

/// What a client is told when the database cannot be reached.
const UNAVAILABLE: &str = "media records are unavailable";

/// The largest image.
const MAX_IMAGE: usize = 5 << 20;
/// The largest video.
const MAX_VIDEO: usize = 50 << 20;
/// The largest upload request.
const MAX_REQUEST: usize = 100 << 20;
/// The most files one request may carry.
const MAX_FILES: usize = 20;

/// Records a file, or refreshes the record of a file stored again under the same name.
const UPSERT: &str = "INSERT INTO media_file (id, company_id, kind, name, content_type, size) \
     VALUES (gen_random_uuid(), $1, $2, $3, $4, $5) \
     ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, \
     content_type = EXCLUDED.content_type, size = EXCLUDED.size, created_at = now() \
     RETURNING id::text AS id";
/// A company's files, newest first.
const LIST: &str = "SELECT id::text AS id, kind, name, content_type, size, \
     to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS created_at \
     FROM media_file WHERE company_id = $1 ORDER BY created_at DESC, name";
/// Removes one of a company's files, answering its stored name.
const DELETE: &str = "DELETE FROM media_file WHERE id = $1 AND company_id = $2 RETURNING name";
/// The content type recorded for a stored name.
const CONTENT_TYPE: &str = "SELECT content_type FROM media_file WHERE name = $1";

/// A checked file of an upload.
struct Upload<'a> {
    /// The form field and file name the client sent it with, for error messages.
    field: String,
    client_name: String,
    kind: Kind,
    content_type: &'static str,
    name: String,
    data: &'a [u8],
}

/// A stored file as an upload answers it.
#[derive(Serialize)]
struct Saved {
    id: String,
    url: String,
    kind: &'static str,
}

/// A stored file as the list shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    id: String,
    url: String,
    kind: String,
    name: String,
    content_type: String,
    size: i64,
    created_at: String,
}

/// `POST /api/media/files`: 201 with `[{id, url, kind}]`, or nothing stored at all.
pub async fn upload(req: Request) -> ApiResult {
    let company = caller(&req)?;
    let too_large = format!("an upload must be at most {}", size(MAX_REQUEST));
    let form = Form::read(req, MAX_REQUEST, &too_large).await?;
    let uploads = check(&company, &form.files()?)?;
    let db = db::open(UNAVAILABLE).await?;
    let store = Store::open().await;
    let staged = stage_all(&store, &uploads)?;
    let saved = save(&db, &store, &company, &uploads, &staged).await;
    if saved.is_err() {
        staged.iter().for_each(|file| store.discard(file));
    }
    Ok(Reply::json(201, &saved?))
}

/// `GET /api/media/files`: the caller's files, newest first.
pub async fn list(req: &Request) -> ApiResult {
    let company = caller(req)?;
    let db = db::open(UNAVAILABLE).await?;
    let rows = db::rows(&db, LIST, vec![ParameterValue::Str(company)]).await?;
    let files = rows
        .iter()
        .map(|row| {
            let name: String = db::column(row, "name")?;
            Ok(Listed {
                id: db::column(row, "id")?,
                url: format!("/media/{name}"),
                kind: db::column(row, "kind")?,
                content_type: db::column(row, "content_type")?,
                size: db::column(row, "size")?,
                created_at: db::column(row, "created_at")?,
                name,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Reply::json(200, &files))
}

/// `DELETE /api/media/files/{id}`: removes the caller's file and its record; another
/// company's file is as absent as one that never was.
pub async fn delete(req: &Request, id: &str) -> ApiResult {
    let company = caller(req)?;
    if !is_uuid(id) {
        return Err(ApiError::invalid("id", "must be a UUID"));
    }
    let db = db::open(UNAVAILABLE).await?;
    db::execute(&db, "BEGIN", Vec::new()).await?;
    let removed = remove(&db, &company, id).await;
    if removed.is_err() {
        db::rollback(&db).await;
    }
    removed?;
    db::execute(&db, "COMMIT", Vec::new()).await?;
    Ok(Reply::empty(204))
}

/// The content type recorded for the stored name, if any.
pub async fn recorded_content_type(name: &str) -> ApiResult<Option<String>> {
    let db = db::open(UNAVAILABLE).await?;
    let rows = db::rows(&db, CONTENT_TYPE, vec![ParameterValue::Str(name.into())]).await?;
    rows.first()
        .map(|row| db::column(row, "content_type"))
        .transpose()
}

/// The uploads of a form: every file an accepted image or video, each within its size.
fn check<'a>(company: &str, parts: &[Part<'a>]) -> ApiResult<Vec<Upload<'a>>> {
    if parts.is_empty() {
        return Err(ApiError::invalid("files", "at least one file is required"));
    }
    if parts.len() > MAX_FILES {
        return Err(ApiError::invalid(
            "files",
            format!("at most {MAX_FILES} files at once"),
        ));
    }
    let mut uploads = Vec::with_capacity(parts.len());
    let mut details = Vec::new();
    for part in parts {
        match Media::sniff(part.data).filter(|media| *media != Media::Svg) {
            Some(media) => uploads.push(upload_of(company, part, media)),
            None => details.push(FieldError {
                field: part.field(),
                message: format!(
                    "\"{}\" is not a PNG, JPEG, WebP or GIF image nor an MP4 or WebM video",
                    part.file_name()
                ),
            }),
        }
    }
    details.extend(duplicates(&uploads));
    if !details.is_empty() {
        return Err(ApiError::validation(details));
    }
    check_sizes(&uploads)?;
    Ok(uploads)
}

/// An accepted file with the name it is stored as.
fn upload_of<'a>(company: &str, part: &Part<'a>, media: Media) -> Upload<'a> {
    let kind = media.kind();
    let client_name = part.file_name();
    let file_name = clean_file_name(&client_name);
    Upload {
        field: part.field(),
        client_name,
        kind,
        content_type: media.content_type(),
        name: format!("{company}-{}-{file_name}", kind.as_str()),
        data: part.data,
    }
}

/// A detail for each file whose stored name an earlier file of the upload already takes.
fn duplicates(uploads: &[Upload<'_>]) -> Vec<FieldError> {
    let repeated = |(i, upload): &(usize, &Upload<'_>)| {
        uploads[..*i]
            .iter()
            .any(|earlier| earlier.name == upload.name)
    };
    uploads
        .iter()
        .enumerate()
        .filter(repeated)
        .map(|(_, upload)| FieldError {
            field: upload.field.clone(),
            message: format!(
                "\"{}\" has the same name as another file of the upload",
                upload.client_name
            ),
        })
        .collect()
}

/// 413 for the first file past the limit of its kind.
fn check_sizes(uploads: &[Upload<'_>]) -> ApiResult<()> {
    for upload in uploads {
        let limit = match upload.kind {
            Kind::Image => MAX_IMAGE,
            Kind::Video => MAX_VIDEO,
        };
        if upload.data.len() > limit {
            return Err(ApiError::payload_too_large(format!(
                "\"{}\" is larger than {} ({} at most)",
                upload.client_name,
                size(limit),
                upload.kind.as_str()
            )));
        }
    }
    Ok(())
}

/// Writes every upload under a temporary name; on a failure none stays.
fn stage_all(store: &Store, uploads: &[Upload<'_>]) -> ApiResult<Vec<Staged>> {
    let mut staged = Vec::with_capacity(uploads.len());
    for upload in uploads {
        match store.stage(upload.name.clone(), upload.data) {
            Ok(file) => staged.push(file),
            Err(error) => {
                staged.iter().for_each(|file| store.discard(file));
                return Err(error);
            }
        }
    }
    Ok(staged)
}

/// Records every upload and moves its file into place, in one transaction.
async fn save(
    db: &Connection,
    store: &Store,
    company: &str,
    uploads: &[Upload<'_>],
    staged: &[Staged],
) -> ApiResult<Vec<Saved>> {
    db::execute(db, "BEGIN", Vec::new()).await?;
    let saved = record_and_publish(db, store, company, uploads, staged).await;
    match saved {
        Ok(saved) => {
            db::execute(db, "COMMIT", Vec::new()).await?;
            Ok(saved)
        }
        Err(error) => {
            db::rollback(db).await;
            Err(error)
        }
    }
}

/// Inside the transaction: the rows, then the files.
async fn record_and_publish(
    db: &Connection,
    store: &Store,
    company: &str,
    uploads: &[Upload<'_>],
    staged: &[Staged],
) -> ApiResult<Vec<Saved>> {
    let mut saved = Vec::with_capacity(uploads.len());
    for upload in uploads {
        let params = vec![
            ParameterValue::Str(company.to_string()),
            ParameterValue::Str(upload.kind.as_str().to_string()),
            ParameterValue::Str(upload.name.clone()),
            ParameterValue::Str(upload.content_type.to_string()),
            ParameterValue::Int64(upload.data.len() as i64),
        ];
        let rows = db::rows(db, UPSERT, params).await?;
        let row = rows
            .first()
            .ok_or_else(|| ApiError::internal("the upsert answered no id"))?;
        saved.push(Saved {
            id: db::column(row, "id")?,
            url: format!("/media/{}", upload.name),
            kind: upload.kind.as_str(),
        });
    }
    for file in staged {
        store.publish(file)?;
    }
    Ok(saved)
}

/// Inside the transaction: deletes the row, then its file.
async fn remove(db: &Connection, company: &str, id: &str) -> ApiResult<()> {
    let params = vec![
        ParameterValue::Str(id.to_string()),
        ParameterValue::Str(company.into()),
    ];
    let rows = db::rows(db, DELETE, params).await?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::not_found("no such file"))?;
    let name: String = db::column(row, "name")?;
    Store::open().await.remove(&name)
}

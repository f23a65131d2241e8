//! The tag endpoints: search with prefix matches first, create with case-insensitive
//! uniqueness (a unique index on `lower(name)` settles concurrent creates), and delete.

use jm_service::{ApiError, ApiResult, Reply, db, json_body, query_param};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use spin_sdk::http::Request;
use spin_sdk::pg::{Connection, ParameterValue};

use crate::name;

/// What a client is told when the database cannot be reached.
const UNAVAILABLE: &str = "the tag catalogue is unavailable";

/// How many tags a search answers when the client does not say.
const DEFAULT_LIMIT: i64 = 20;
/// The most tags one search answers.
const MAX_LIMIT: i64 = 100;
/// How often a create retries when the tag it collided with vanished before it was read.
const CREATE_ATTEMPTS: usize = 3;

/// Tags containing `$1` (case-insensitively), those starting with it first, then by name.
const SEARCH: &str = "SELECT id::text AS id, name FROM skill_tag \
     WHERE strpos(lower(name), lower($1)) > 0 \
     ORDER BY strpos(lower(name), lower($1)) <> 1, lower(name), name, id \
     LIMIT $2";
/// Adds a tag unless one with the same name in any case exists.
const INSERT: &str = "INSERT INTO skill_tag (id, name) VALUES (gen_random_uuid(), $1) \
     ON CONFLICT ((lower(name))) DO NOTHING RETURNING id::text AS id, name";
/// The tag whose name equals `$1` in any case.
const BY_NAME: &str = "SELECT id::text AS id, name FROM skill_tag WHERE lower(name) = lower($1)";
/// Removes one tag.
const DELETE: &str = "DELETE FROM skill_tag WHERE id = $1";

/// A tag as the API shows it.
#[derive(Debug, Serialize)]
struct Tag {
    id: String,
    name: String,
}

/// The body of `POST /api/tags`.
#[derive(Deserialize)]
struct NewTag {
    name: Option<Value>,
}

/// `GET /api/tags?q=&limit=`: matching tags, prefix matches first.
pub async fn search(req: &Request) -> ApiResult {
    let q = query_param(req, "q").unwrap_or_default().trim().to_string();
    let limit = limit(query_param(req, "limit").as_deref())?;
    let db = db::open(UNAVAILABLE).await?;
    let params = vec![ParameterValue::Str(q), ParameterValue::Int64(limit)];
    let tags = tags(&db, SEARCH, params).await?;
    Ok(Reply::json(200, &tags))
}

/// `POST /api/tags {name}`: 201 with the new tag, or 409 carrying the existing one.
pub async fn create(req: Request) -> ApiResult {
    let body: NewTag = json_body(req).await?;
    let raw = match body.name {
        Some(Value::String(raw)) => raw,
        Some(_) => return Err(ApiError::invalid("name", "must be a string")),
        None => return Err(ApiError::invalid("name", "is required")),
    };
    let name = name::normalise(&raw).map_err(|why| ApiError::invalid("name", why))?;
    let db = db::open(UNAVAILABLE).await?;
    for _ in 0..CREATE_ATTEMPTS {
        let params = vec![ParameterValue::Str(name.clone())];
        if let Some(tag) = tags(&db, INSERT, params).await?.pop() {
            return Ok(Reply::json(201, &tag));
        }
        let params = vec![ParameterValue::Str(name.clone())];
        if let Some(existing) = tags(&db, BY_NAME, params).await?.pop() {
            return Err(
                ApiError::conflict(format!("the tag `{}` already exists", existing.name))
                    .with_extra(json!({ "existing": existing })),
            );
        }
    }
    Err(ApiError::internal(
        "a tag create kept colliding with a tag that vanished",
    ))
}

/// `DELETE /api/tags/{id}`: 204, or 404 when there is no such tag.
pub async fn delete(id: &str) -> ApiResult {
    if !name::is_uuid(id) {
        return Err(ApiError::invalid("id", "must be a UUID"));
    }
    let db = db::open(UNAVAILABLE).await?;
    let deleted = db::execute(&db, DELETE, vec![ParameterValue::Uuid(id.to_string())]).await?;
    if deleted == 0 {
        return Err(ApiError::not_found("no such tag"));
    }
    Ok(Reply::empty(204))
}

/// The `limit` parameter: 20 when absent, at most 100.
fn limit(raw: Option<&str>) -> Result<i64, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.parse::<i64>() {
        Ok(limit) if limit >= 1 => Ok(limit.min(MAX_LIMIT)),
        _ => Err(ApiError::invalid(
            "limit",
            "must be a whole number of at least 1",
        )),
    }
}

/// Runs a query whose rows are tags.
async fn tags(db: &Connection, sql: &str, params: Vec<ParameterValue>) -> ApiResult<Vec<Tag>> {
    let rows = db::rows(db, sql, params).await?;
    rows.iter()
        .map(|row| {
            Ok(Tag {
                id: db::column(row, "id")?,
                name: db::column(row, "name")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_to_20_and_caps_at_100() {
        assert_eq!(limit(None), Ok(20));
        assert_eq!(limit(Some("")), Ok(20));
        assert_eq!(limit(Some("5")), Ok(5));
        assert_eq!(limit(Some("1000")), Ok(100));
    }

    #[test]
    fn limit_must_be_a_positive_number() {
        assert!(limit(Some("0")).is_err());
        assert!(limit(Some("ten")).is_err());
    }
}

//! Applicant markers: a company marks an applicant FAVORITE or WARNING. The markers live in
//! `company_applicant_marker` beside the company's profile, in its shard, and move with it.
//! Every route acts for the company of the token only, so no company sees another's markers.

use jm_service::validate::Validator;
use jm_service::{ApiError, ApiResult, Reply, company_id, json_body, query_param};
use serde::Serialize;
use serde_json::{Map, Value, json};
use spin_sdk::http::Request;
use spin_sdk::pg::{Connection, ParameterValue, Row};

use crate::profile::locate;
use crate::shard::{self, DbError};

/// The kinds of marker.
const KINDS: [&str; 2] = ["FAVORITE", "WARNING"];

/// The columns a marker query selects, times as RFC 3339 UTC with milliseconds.
pub const COLUMNS: &str = "applicant_id, marker, \
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS created_at, \
    to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS updated_at";

/// One company's mark on one applicant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Marker {
    /// The applicant's id in the JA system.
    pub applicant_id: String,
    /// FAVORITE or WARNING.
    pub marker: String,
    /// When the marker was made.
    pub created_at: String,
    /// When the marker last changed.
    pub updated_at: String,
}

impl Marker {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        let text = |name: &str| {
            row.get::<String>(name)
                .ok_or_else(|| DbError::Failed(format!("column `{name}` is missing")))
        };
        Ok(Self {
            applicant_id: text("applicant_id")?,
            marker: text("marker")?,
            created_at: text("created_at")?,
            updated_at: text("updated_at")?,
        })
    }
}

/// Runs a marker query and reads its rows.
async fn rows(
    db: &Connection,
    sql: String,
    params: Vec<ParameterValue>,
) -> Result<Vec<Marker>, DbError> {
    let rows = db.query(sql, params).await?.collect().await?;
    rows.iter().map(Marker::from_row).collect()
}

/// Every marker of `company_id` in `db`, newest first.
pub async fn of_company(db: &Connection, company_id: &str) -> Result<Vec<Marker>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM company_applicant_marker WHERE company_id = $1 \
         ORDER BY created_at DESC, applicant_id"
    );
    rows(db, sql, vec![shard::uuid(company_id)]).await
}

/// Whether `id` looks like an applicant id: 1 to 64 letters, digits, `-` or `_`.
fn is_applicant_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A string field of a JSON object body, checked by `ok`.
fn field(
    body: &Map<String, Value>,
    name: &str,
    ok: fn(&str) -> bool,
    why: &str,
    v: &mut Validator,
) -> String {
    let value = body
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    v.required(Some(value), name);
    v.check(value.is_empty() || ok(value), name, why);
    value.to_string()
}

fn is_kind(text: &str) -> bool {
    KINDS.contains(&text)
}

const KIND_RULE: &str = "must be FAVORITE or WARNING";
const ID_RULE: &str = "must be 1 to 64 letters, digits, - or _";

/// Reads `{marker}` and, when `with_id`, `{applicantId}` from a JSON object body.
async fn read_body(req: Request, with_id: bool) -> ApiResult<(String, String)> {
    let Value::Object(body) = json_body::<Value>(req).await? else {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    };
    let mut v = Validator::new();
    let id = if with_id {
        field(&body, "applicantId", is_applicant_id, ID_RULE, &mut v)
    } else {
        String::new()
    };
    let kind = field(&body, "marker", is_kind, KIND_RULE, &mut v);
    v.finish()?;
    Ok((id, kind))
}

/// A connection to the shard holding `company`'s profile.
async fn shard_of(company: &str) -> ApiResult<Connection> {
    let located = locate(company).await?;
    shard::connect(located.shard)
        .await
        .map_err(DbError::into_api)
}

/// Maps a failed marker write: a company whose row just moved away answers 503.
fn write_error(error: DbError) -> ApiError {
    match error {
        DbError::MissingParent => DbError::Unavailable("the profile moved".into()).into_api(),
        DbError::Duplicate => ApiError::conflict("this applicant already has a marker"),
        other => other.into_api(),
    }
}

/// `POST /api/markers` `{applicantId, marker}`: 201 with the marker, 409 if one exists.
pub async fn create(req: Request) -> ApiResult {
    let company = company_id(&req)?;
    let (applicant, kind) = read_body(req, true).await?;
    let db = shard_of(&company).await?;
    let sql = format!(
        "INSERT INTO company_applicant_marker (company_id, applicant_id, marker) \
         VALUES ($1, $2, $3) RETURNING {COLUMNS}"
    );
    let params = vec![
        shard::uuid(&company),
        ParameterValue::Str(applicant),
        kind.into(),
    ];
    let made = rows(&db, sql, params).await.map_err(write_error)?;
    made.first()
        .map(|m| Reply::json(201, m))
        .ok_or_else(|| ApiError::internal("no row"))
}

/// `PUT /api/markers/{applicantId}` `{marker}`: 200 with the marker, 404 if there is none.
pub async fn change(req: Request, applicant: &str) -> ApiResult {
    let company = company_id(&req)?;
    check_id(applicant)?;
    let (_, kind) = read_body(req, false).await?;
    let db = shard_of(&company).await?;
    let sql = format!(
        "UPDATE company_applicant_marker SET marker = $3, updated_at = now() \
         WHERE company_id = $1 AND applicant_id = $2 RETURNING {COLUMNS}"
    );
    let params = vec![
        shard::uuid(&company),
        applicant.to_string().into(),
        kind.into(),
    ];
    let changed = rows(&db, sql, params).await.map_err(write_error)?;
    changed
        .first()
        .map(|m| Reply::json(200, m))
        .ok_or_else(no_marker)
}

/// `DELETE /api/markers/{applicantId}`: 204, or 404 if there is none.
pub async fn remove(req: Request, applicant: &str) -> ApiResult {
    let company = company_id(&req)?;
    check_id(applicant)?;
    let db = shard_of(&company).await?;
    let sql = "DELETE FROM company_applicant_marker WHERE company_id = $1 AND applicant_id = $2";
    let params = vec![shard::uuid(&company), applicant.to_string().into()];
    match db
        .execute(sql, params)
        .await
        .map_err(|e| write_error(e.into()))?
    {
        0 => Err(no_marker()),
        _ => Ok(Reply::empty(204)),
    }
}

/// `GET /api/markers[?marker=FAVORITE|WARNING]`: the caller's markers, newest first.
pub async fn list(req: Request) -> ApiResult {
    let kind = query_param(&req, "marker").filter(|k| !k.is_empty());
    if kind.as_deref().is_some_and(|k| !is_kind(k)) {
        return Err(ApiError::invalid("marker", KIND_RULE));
    }
    let company = company_id(&req)?;
    let db = shard_of(&company).await?;
    let mut items = of_company(&db, &company).await.map_err(DbError::into_api)?;
    if let Some(kind) = kind {
        items.retain(|m| m.marker == kind);
    }
    Ok(Reply::json(
        200,
        &json!({ "items": items, "total": items.len() }),
    ))
}

fn check_id(applicant: &str) -> ApiResult<()> {
    if is_applicant_id(applicant) {
        Ok(())
    } else {
        Err(ApiError::invalid("applicantId", ID_RULE))
    }
}

fn no_marker() -> ApiError {
    ApiError::not_found("no marker for this applicant")
}

//! What every Job Manager service shares: the one error body of the API, JSON replies, the
//! company the edge authenticated, and field validation that reports every bad field at once.

use serde::Serialize;
use spin_sdk::http::{
    FullBody, HeaderMap, HeaderName, HeaderValue, IntoResponse, Request, StatusCode,
};
use spin_sdk::wasip3::http::types::{ErrorCode, Response as WasiResponse};

pub mod db;
pub mod validate;

/// The header the host's edge sets to the verified company id of the request's token.
pub const COMPANY_HEADER: &str = "jm-company-id";
/// The header the host's edge sets to the token's role.
pub const ROLE_HEADER: &str = "jm-role";
/// The header the host's edge sets to the token's id.
pub const TOKEN_ID_HEADER: &str = "jm-token-id";

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's name as the client sent it (camelCase).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An error as the API answers it: a status, a code from the API's table, and a message that
/// never carries internal detail (no SQL, no stack, no internal names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The error code, e.g. `VALIDATION_ERROR`.
    pub code: &'static str,
    /// A message for the client.
    pub message: String,
    /// One entry per invalid field, for `VALIDATION_ERROR`.
    pub details: Vec<FieldError>,
    /// Seconds after which a retry may succeed (`Retry-After`).
    pub retry_after: Option<u32>,
    /// Extra members of the error object, e.g. the existing tag of a conflict.
    pub extra: Option<serde_json::Value>,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
            extra: None,
        }
    }

    /// 400 `VALIDATION_ERROR` with one detail per bad field.
    pub fn validation(details: Vec<FieldError>) -> Self {
        let mut error = Self::new(400, "VALIDATION_ERROR", "the request has invalid fields");
        error.details = details;
        error
    }

    /// 400 `VALIDATION_ERROR` for one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// 401 `UNAUTHORIZED`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "UNAUTHORIZED", message)
    }

    /// 401 `INVALID_CREDENTIALS`.
    pub fn invalid_credentials() -> Self {
        Self::new(401, "INVALID_CREDENTIALS", "email or password is wrong")
    }

    /// 403 `FORBIDDEN`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "FORBIDDEN", message)
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "NOT_FOUND", message)
    }

    /// 409 `CONFLICT`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "CONFLICT", message)
    }

    /// 413 `PAYLOAD_TOO_LARGE`.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(413, "PAYLOAD_TOO_LARGE", message)
    }

    /// 503 `SERVICE_UNAVAILABLE` with `Retry-After`.
    pub fn unavailable(message: impl Into<String>, retry_after: u32) -> Self {
        let mut error = Self::new(503, "SERVICE_UNAVAILABLE", message);
        error.retry_after = Some(retry_after);
        error
    }

    /// 500 `INTERNAL_ERROR`; `cause` goes to the component's log, never to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        eprintln!("internal error: {cause}");
        Self::new(500, "INTERNAL_ERROR", "something went wrong on our side")
    }

    /// Any other code of the API's table.
    pub fn other(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self::new(status, code, message)
    }

    /// Adds members to the error object.
    pub fn with_extra(mut self, extra: serde_json::Value) -> Self {
        self.extra = Some(extra);
        self
    }

    /// The response for a request to `path`.
    pub fn respond(&self, path: &str) -> Reply {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if !self.details.is_empty() {
            error["details"] = serde_json::json!(self.details);
        }
        if let (Some(serde_json::Value::Object(extra)), Some(object)) =
            (&self.extra, error.as_object_mut())
        {
            object.extend(extra.clone());
        }
        let body = serde_json::json!({ "error": error, "path": path, "timestamp": now_iso8601() });
        let mut reply = Reply::json(self.status, &body);
        if let Some(seconds) = self.retry_after {
            reply
                .headers
                .push(("retry-after".into(), seconds.to_string()));
        }
        reply
    }
}

/// A response: status, headers and body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON body.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_default();
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        }
    }

    /// No body.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Result<WasiResponse, ErrorCode> {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                headers.append(name, value);
            }
        }
        (
            status,
            headers,
            FullBody::new(bytes::Bytes::from(self.body)),
        )
            .into_response()
    }
}

/// The result of a handler: a reply or an API error.
pub type ApiResult<T = Reply> = Result<T, ApiError>;

/// Turns a handler's result into the response for `path`.
pub fn finish(path: &str, result: ApiResult) -> Reply {
    result.unwrap_or_else(|error| error.respond(path))
}

/// The company the edge verified for this request, or 401.
pub fn company_id(req: &Request) -> ApiResult<String> {
    header(req, COMPANY_HEADER)
        .ok_or_else(|| ApiError::unauthorized("a valid access token is required"))
}

/// A request header as text.
pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The value of query parameter `name`, percent-decoded.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    let query = req.uri().query()?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode(value))
    })
}

/// Decodes `%XX` escapes and `+` as space.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a JSON body into `T`, answering `VALIDATION_ERROR` when it is not valid JSON of
/// that shape.
pub async fn json_body<T: serde::de::DeserializeOwned>(req: Request) -> ApiResult<T> {
    use spin_sdk::http::body::IncomingBodyExt as _;
    let bytes = req
        .into_body()
        .bytes()
        .await
        .map_err(|_| ApiError::invalid("body", "the body could not be read"))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid("body", format!("not valid JSON: {e}")))
}

/// The current time as RFC 3339 UTC with milliseconds.
pub fn now_iso8601() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    iso8601(now.as_secs() as i64, now.subsec_millis())
}

/// A Unix time as RFC 3339 UTC with milliseconds.
pub fn iso8601(seconds: i64, millis: u32) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to a (year, month, day) of the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_code_message_details_path_and_time() {
        let error = ApiError::invalid("email", "must contain one @");
        let reply = error.respond("/api/register");
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(reply.status, 400);
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"][0]["field"], "email");
        assert_eq!(body["path"], "/api/register");
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(iso8601(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_780_000_000, 5), "2026-05-28T20:26:40.005Z");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c%2Fd"), "a b c/d");
        assert_eq!(percent_decode("100%"), "100%");
    }
}

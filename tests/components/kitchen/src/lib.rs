//! Multi-purpose Spin test component mounted at any wildcard route: the part of the path the
//! wildcard matched (the `spin-path-info` header) picks a behaviour (echo, key-value,
//! variables, env, postgres, redis, outbound HTTP, traps, sleep, a per-instance counter).

use std::io::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{FullBody, HeaderMap, HeaderValue, IntoResponse, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::key_value::Store;
use spin_sdk::pg::{self, Connection as PgConnection, ParameterValue, RangeBoundKind};
use spin_sdk::redis::{self, Connection as RedisConnection, RedisParameter};
use spin_sdk::wasip3::http::types::{ErrorCode, Response as WasiResponse};

/// Requests this instance has served `/count`: 1 on a fresh instance.
static COUNT: AtomicU32 = AtomicU32::new(0);

/// Size of each allocation made by `/kitchen/oom`.
const OOM_CHUNK: usize = 1 << 20;

/// Entry point: dispatches on the method and the path below the component's route.
#[http_service]
async fn kitchen(req: Request) -> Reply {
    let method = req.method().as_str().to_owned();
    let path_info = req
        .headers()
        .get("spin-path-info")
        .and_then(|v| v.to_str().ok());
    let path = path_info.unwrap_or_default().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let Some(route) = path.strip_prefix('/') else {
        return not_found();
    };

    match (method.as_str(), route) {
        ("GET", "hello") => Reply::text(StatusCode::OK, "hello from kitchen"),
        ("GET", "headers") => headers(&req),
        ("POST", "echo") => match read_body(req).await {
            Ok(body) => Reply::bytes(StatusCode::OK, body),
            Err(reply) => reply,
        },
        (_, r) if r.starts_with("kv/") => kv(&method, &r["kv/".len()..], req).await,
        ("GET", r) if r.starts_with("var/") => variable(&r["var/".len()..]).await,
        ("GET", r) if r.starts_with("env/") => env(&r["env/".len()..]),
        ("GET" | "POST", "stdout") => stdout(),
        ("POST", "pg") => match parse_json(req).await {
            Ok(request) => postgres(request).await,
            Err(reply) => reply,
        },
        ("POST", "redis") => match parse_json(req).await {
            Ok(request) => redis_ops(request).await,
            Err(reply) => reply,
        },
        ("GET", "outbound") => outbound(&query).await,
        ("GET", "trap") => panic!("kitchen trap requested"),
        ("GET", "loop") => spin_forever(),
        ("GET", "oom") => exhaust_memory(),
        ("GET", "sleep") => sleep(&query).await,
        ("GET", "count") => {
            let count = COUNT.fetch_add(1, Ordering::Relaxed) + 1;
            Reply::text(StatusCode::OK, count.to_string())
        }
        _ => not_found(),
    }
}

/// A response: status, optional content type and a fully buffered body.
struct Reply {
    status: StatusCode,
    content_type: Option<&'static str>,
    body: Bytes,
}

impl Reply {
    fn text(status: StatusCode, body: impl Into<String>) -> Self {
        let body = Bytes::from(body.into());
        Self {
            status,
            content_type: Some("text/plain; charset=utf-8"),
            body,
        }
    }

    fn bytes(status: StatusCode, body: impl Into<Bytes>) -> Self {
        let body = body.into();
        Self {
            status,
            content_type: Some("application/octet-stream"),
            body,
        }
    }

    fn json(status: StatusCode, value: &Value) -> Self {
        let body = Bytes::from(value.to_string());
        Self {
            status,
            content_type: Some("application/json"),
            body,
        }
    }

    fn empty(status: StatusCode) -> Self {
        Self {
            status,
            content_type: None,
            body: Bytes::new(),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Result<WasiResponse, ErrorCode> {
        let mut headers = HeaderMap::new();
        if let Some(content_type) = self.content_type {
            headers.insert("content-type", HeaderValue::from_static(content_type));
        }
        (self.status, headers, FullBody::new(self.body)).into_response()
    }
}

fn not_found() -> Reply {
    Reply::text(StatusCode::NOT_FOUND, "no such kitchen route")
}

/// Reads the whole request body, or explains why it could not.
async fn read_body(req: Request) -> Result<Bytes, Reply> {
    req.into_body()
        .bytes()
        .await
        .map_err(|e| Reply::text(StatusCode::BAD_REQUEST, format!("body error: {e:?}")))
}

/// Reads the whole request body and parses it as JSON into `T`.
async fn parse_json<T: for<'de> Deserialize<'de>>(req: Request) -> Result<T, Reply> {
    let body = read_body(req).await?;
    serde_json::from_slice(&body)
        .map_err(|e| Reply::text(StatusCode::BAD_REQUEST, format!("bad request: {e}")))
}

/// `GET /kitchen/headers`: the method, URI and headers of the request as JSON.
fn headers(req: &Request) -> Reply {
    let mut map = serde_json::Map::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match map.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                map.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let uri = req.uri().to_string();
    let value = json!({"method": req.method().as_str(), "uri": uri, "headers": map});
    Reply::json(StatusCode::OK, &value)
}

/// What a `/kitchen/kv/...` request asks of the store.
enum KvOp<'a> {
    List,
    Get(&'a str),
    Set(&'a str),
    Delete(&'a str),
}

/// `/kitchen/kv/{label}[/{key}]`: list, get, set or delete in the named store.
async fn kv(method: &str, rest: &str, req: Request) -> Reply {
    let (label, key) = match rest.split_once('/') {
        Some((label, key)) if !key.is_empty() => (label, Some(key)),
        Some((label, _)) => (label, None),
        None => (rest, None),
    };
    let op = match (method, key) {
        ("GET", None) => KvOp::List,
        ("GET", Some(key)) => KvOp::Get(key),
        ("PUT", Some(key)) => KvOp::Set(key),
        ("DELETE", Some(key)) => KvOp::Delete(key),
        _ => return not_found(),
    };
    if label.is_empty() {
        return not_found();
    }

    let store = match Store::open(label).await {
        Ok(store) => store,
        Err(e) => {
            return Reply::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("open failed: {e:?}"),
            );
        }
    };
    let kv_error = |e| {
        Reply::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("kv error: {e:?}"),
        )
    };
    match op {
        KvOp::List => match store.get_keys().await.collect().await {
            Ok(mut keys) => {
                keys.sort();
                Reply::json(StatusCode::OK, &json!(keys))
            }
            Err(e) => kv_error(e),
        },
        KvOp::Get(key) => match store.get(key).await {
            Ok(Some(value)) => Reply::bytes(StatusCode::OK, value),
            Ok(None) => Reply::text(StatusCode::NOT_FOUND, "no such key"),
            Err(e) => kv_error(e),
        },
        KvOp::Set(key) => {
            let body = match read_body(req).await {
                Ok(body) => body,
                Err(reply) => return reply,
            };
            match store.set(key, &body).await {
                Ok(()) => Reply::empty(StatusCode::NO_CONTENT),
                Err(e) => kv_error(e),
            }
        }
        KvOp::Delete(key) => match store.delete(key).await {
            Ok(()) => Reply::empty(StatusCode::NO_CONTENT),
            Err(e) => kv_error(e),
        },
    }
}

/// `GET /kitchen/var/{name}`: the value of a Spin variable.
async fn variable(name: &str) -> Reply {
    match spin_sdk::variables::get(name).await {
        Ok(value) => Reply::text(StatusCode::OK, value),
        Err(e) => Reply::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("variable error: {e:?}"),
        ),
    }
}

/// `GET /kitchen/env/{name}`: the value of an environment variable.
fn env(name: &str) -> Reply {
    match std::env::var(name) {
        Ok(value) => Reply::text(StatusCode::OK, value),
        Err(e) => Reply::text(StatusCode::NOT_FOUND, format!("env error: {e}")),
    }
}

/// `GET /kitchen/stdout`: one line to stdout and one to stderr.
fn stdout() -> Reply {
    println!("kitchen says hi");
    eprintln!("kitchen warns");
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    Reply::text(StatusCode::OK, "ok")
}

/// Body of `POST /kitchen/pg`.
#[derive(Deserialize)]
struct PgRequest {
    address: String,
    statements: Vec<PgStatement>,
}

#[derive(Deserialize)]
struct PgStatement {
    sql: String,
    #[serde(default)]
    params: Vec<PgParam>,
    #[serde(default)]
    execute: bool,
}

/// A range bound: `null` or `[value, "inclusive" | "exclusive"]`.
type Bound<T> = Option<(T, BoundKind)>;

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum BoundKind {
    Inclusive,
    Exclusive,
}

#[derive(Deserialize)]
struct IntervalJson {
    micros: i64,
    days: i32,
    months: i32,
}

/// A query parameter, `{"type": <kebab-case parameter-value case>, "value": ...}`.
#[derive(Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
enum PgParam {
    Boolean(bool),
    Int8(i8),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Floating32(f32),
    Floating64(f64),
    Str(String),
    Binary(Vec<u8>),
    Date((i32, u8, u8)),
    Time((u8, u8, u8, u32)),
    Datetime((i32, u8, u8, u8, u8, u8, u32)),
    Timestamp(i64),
    Uuid(String),
    Jsonb(Value),
    Decimal(String),
    RangeInt32((Bound<i32>, Bound<i32>)),
    RangeInt64((Bound<i64>, Bound<i64>)),
    RangeDecimal((Bound<String>, Bound<String>)),
    ArrayInt32(Vec<Option<i32>>),
    ArrayInt64(Vec<Option<i64>>),
    ArrayDecimal(Vec<Option<String>>),
    ArrayStr(Vec<Option<String>>),
    Interval(IntervalJson),
    DbNull,
}

fn bound<T>(bound: Bound<T>) -> Option<(T, RangeBoundKind)> {
    bound.map(|(value, kind)| {
        let kind = match kind {
            BoundKind::Inclusive => RangeBoundKind::Inclusive,
            BoundKind::Exclusive => RangeBoundKind::Exclusive,
        };
        (value, kind)
    })
}

impl From<PgParam> for ParameterValue {
    fn from(param: PgParam) -> Self {
        match param {
            PgParam::Boolean(v) => Self::Boolean(v),
            PgParam::Int8(v) => Self::Int8(v),
            PgParam::Int16(v) => Self::Int16(v),
            PgParam::Int32(v) => Self::Int32(v),
            PgParam::Int64(v) => Self::Int64(v),
            PgParam::Floating32(v) => Self::Floating32(v),
            PgParam::Floating64(v) => Self::Floating64(v),
            PgParam::Str(v) => Self::Str(v),
            PgParam::Binary(v) => Self::Binary(v),
            PgParam::Date(v) => Self::Date(v),
            PgParam::Time(v) => Self::Time(v),
            PgParam::Datetime(v) => Self::Datetime(v),
            PgParam::Timestamp(v) => Self::Timestamp(v),
            PgParam::Uuid(v) => Self::Uuid(v),
            PgParam::Jsonb(v) => Self::Jsonb(v.to_string().into_bytes()),
            PgParam::Decimal(v) => Self::Decimal(v),
            PgParam::RangeInt32((lo, hi)) => Self::RangeInt32((bound(lo), bound(hi))),
            PgParam::RangeInt64((lo, hi)) => Self::RangeInt64((bound(lo), bound(hi))),
            PgParam::RangeDecimal((lo, hi)) => Self::RangeDecimal((bound(lo), bound(hi))),
            PgParam::ArrayInt32(v) => Self::ArrayInt32(v),
            PgParam::ArrayInt64(v) => Self::ArrayInt64(v),
            PgParam::ArrayDecimal(v) => Self::ArrayDecimal(v),
            PgParam::ArrayStr(v) => Self::ArrayStr(v),
            PgParam::Interval(IntervalJson {
                micros,
                days,
                months,
            }) => Self::Interval(pg::Interval {
                micros,
                days,
                months,
            }),
            PgParam::DbNull => Self::DbNull,
        }
    }
}

/// `POST /kitchen/pg`: runs the statements in order on one connection.
async fn postgres(request: PgRequest) -> Reply {
    let connection = match PgConnection::open(request.address).await {
        Ok(connection) => connection,
        Err(e) => {
            return Reply::json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"error": format!("{e:?}")}),
            );
        }
    };
    let mut results = Vec::new();
    for statement in request.statements {
        let params: Vec<ParameterValue> = statement.params.into_iter().map(Into::into).collect();
        let outcome = if statement.execute {
            connection
                .execute(statement.sql, params)
                .await
                .map(|n| json!({"rows_affected": n}))
        } else {
            pg_query(&connection, statement.sql, params).await
        };
        match outcome {
            Ok(result) => results.push(result),
            Err(e) => {
                let body = json!({"error": format!("{e:?}"), "results": results});
                return Reply::json(StatusCode::INTERNAL_SERVER_ERROR, &body);
            }
        }
    }
    Reply::json(StatusCode::OK, &json!({"results": results}))
}

/// Runs one query and renders its columns and rows with `Debug`.
async fn pg_query(
    connection: &PgConnection,
    sql: String,
    params: Vec<ParameterValue>,
) -> Result<Value, pg::Error> {
    let (columns, rows, outcome) = connection.query(sql, params).await?.into_inner();
    let rows = rows.collect().await;
    outcome.await?;
    let columns: Vec<Value> = columns
        .iter()
        .map(|c| json!([c.name, format!("{:?}", c.data_type)]))
        .collect();
    let rows: Vec<Value> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| Value::String(format!("{v:?}")))
                .collect()
        })
        .collect();
    Ok(json!({"columns": columns, "rows": rows}))
}

/// Body of `POST /kitchen/redis`.
#[derive(Deserialize)]
struct RedisRequest {
    address: String,
    ops: Vec<RedisOp>,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum RedisOp {
    Set {
        key: String,
        value: String,
    },
    Get {
        key: String,
    },
    Incr {
        key: String,
    },
    Del {
        keys: Vec<String>,
    },
    Sadd {
        key: String,
        values: Vec<String>,
    },
    Smembers {
        key: String,
    },
    Srem {
        key: String,
        values: Vec<String>,
    },
    Publish {
        channel: String,
        payload: String,
    },
    Execute {
        command: String,
        #[serde(default)]
        args: Vec<RedisArg>,
    },
}

/// An `execute` argument: a JSON integer becomes int64, a string becomes binary.
#[derive(Deserialize)]
#[serde(untagged)]
enum RedisArg {
    Int(i64),
    Str(String),
}

/// Runs one redis operation and renders its result with `Debug`.
async fn redis_op(connection: &RedisConnection, op: RedisOp) -> Result<String, redis::Error> {
    Ok(match op {
        RedisOp::Set { key, value } => format!("{:?}", connection.set(key, value).await?),
        RedisOp::Get { key } => {
            let value = connection.get(key).await?;
            let value = value.map(|v| String::from_utf8_lossy(&v).into_owned());
            format!("{value:?}")
        }
        RedisOp::Incr { key } => format!("{:?}", connection.incr(key).await?),
        RedisOp::Del { keys } => format!("{:?}", connection.del(keys).await?),
        RedisOp::Sadd { key, values } => format!("{:?}", connection.sadd(key, values).await?),
        RedisOp::Smembers { key } => {
            let mut members = connection.smembers(key).await?;
            members.sort();
            format!("{members:?}")
        }
        RedisOp::Srem { key, values } => format!("{:?}", connection.srem(key, values).await?),
        RedisOp::Publish { channel, payload } => {
            format!("{:?}", connection.publish(channel, payload).await?)
        }
        RedisOp::Execute { command, args } => {
            let args = args.into_iter().map(|arg| match arg {
                RedisArg::Int(n) => RedisParameter::Int64(n),
                RedisArg::Str(s) => RedisParameter::Binary(s.into_bytes()),
            });
            format!("{:?}", connection.execute(command, args).await?)
        }
    })
}

/// `POST /kitchen/redis`: runs the operations in order on one connection.
async fn redis_ops(request: RedisRequest) -> Reply {
    let connection = match RedisConnection::open(request.address).await {
        Ok(connection) => connection,
        Err(e) => {
            return Reply::json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"error": format!("{e:?}")}),
            );
        }
    };
    let mut results = Vec::new();
    for op in request.ops {
        match redis_op(&connection, op).await {
            Ok(result) => results.push(result),
            Err(e) => {
                let body = json!({"error": format!("{e:?}"), "results": results});
                return Reply::json(StatusCode::INTERNAL_SERVER_ERROR, &body);
            }
        }
    }
    Reply::json(StatusCode::OK, &json!({"results": results}))
}

/// `GET /kitchen/outbound?url=URL`: fetches URL and reports its status and body.
async fn outbound(query: &str) -> Reply {
    let Some(url) = query_param(query, "url") else {
        return Reply::text(StatusCode::BAD_REQUEST, "missing url parameter");
    };
    let response = match spin_sdk::http::get(url).await {
        Ok(response) => response,
        Err(e) => return Reply::text(StatusCode::BAD_GATEWAY, format!("outbound error: {e:?}")),
    };
    let status = response.status().as_u16();
    match response.into_body().bytes().await {
        Ok(body) => {
            let body = String::from_utf8_lossy(&body);
            Reply::text(StatusCode::OK, format!("status={status} body={body}"))
        }
        Err(e) => Reply::text(StatusCode::BAD_GATEWAY, format!("outbound error: {e:?}")),
    }
}

/// `GET /kitchen/sleep?ms=N`: waits N milliseconds on the host's monotonic clock.
async fn sleep(query: &str) -> Reply {
    let Some(ms) = query_param(query, "ms").and_then(|ms| ms.parse::<u64>().ok()) else {
        return Reply::text(StatusCode::BAD_REQUEST, "missing or bad ms parameter");
    };
    spin_sdk::time::sleep(Duration::from_millis(ms)).await;
    Reply::text(StatusCode::OK, "slept")
}

/// `GET /kitchen/loop`: burns CPU forever without ever yielding to the host.
fn spin_forever() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

/// `GET /kitchen/oom`: holds ever more 1 MiB chunks until allocation fails and aborts.
fn exhaust_memory() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = Vec::with_capacity(OOM_CHUNK);
        chunk.resize(OOM_CHUNK, 0x5a);
        hoard.push(std::hint::black_box(chunk));
    }
}

/// The percent-decoded value of `name` in a query string, if present.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode(value))
    })
}

/// Decodes `%XX` escapes; malformed escapes are kept as they are.
fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

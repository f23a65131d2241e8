//! End-to-end tests of the auth service (flows 1 and 2, SPEC 6.2) on the repository's
//! `spin.toml` cut down to auth alone, against the real Postgres, Redis and Kafka
//! (`JM_KAFKA_BROKERS`). The test plays profile where a registration needs it: it reads
//! `JM_COMPANY_REGISTRATION` and answers on `JM_COMPANY_REGISTRATION_REPLY`.
//!
//! Tests named `edge_*` need the host's edge authentication (`jm-company-id` from the token).

#![expect(
    clippy::expect_used,
    reason = "test helpers stop the test with the failed step's message"
)]

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jm_host::kafka::schema::Schemas;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Header, Headers as _, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};
use serde_json::{Value, json};
use support::{Host, HostBuilder};

const REDIS: &str = "redis://127.0.0.1:6379";
const POSTGRES: &str = "host=127.0.0.1 user=postgres dbname=jm_auth";
const TOKEN_KEY: &str = "ZGV2ZWxvcG1lbnQta2V5LW9ubHktMzItYnl0ZXMhISE";
const REQUEST_TOPIC: &str = "JM_COMPANY_REGISTRATION";
const REPLY_TOPIC: &str = "JM_COMPANY_REGISTRATION_REPLY";
/// The seed's PHC string of `Company1!`, for accounts a test writes straight to the table.
const COMPANY1_HASH: &str = concat!(
    "$argon2id$v=19$m=19456,t=2,p=1$gk0zcfHsSSQnO2tzU5bTIw$",
    "xo2rJnd+FJiNZGOQL0Uw7g917+jH+WVLximEBDPxomI"
);
const PASSWORD: &str = "Company1!";
const WAIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The host

fn repo_root() -> PathBuf {
    HostBuilder::repo_root()
        .canonicalize()
        .expect("repository root")
}

/// The repository's manifest with auth's triggers and component only, paths made absolute.
fn auth_manifest() -> String {
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("spin.toml")).expect("read spin.toml");
    let mut doc: toml::Table = text.parse().expect("spin.toml is TOML");
    if let Some(toml::Value::Table(triggers)) = doc.get_mut("trigger") {
        for (_, list) in triggers.iter_mut() {
            if let toml::Value::Array(entries) = list {
                entries.retain(|t| t.get("component").and_then(|c| c.as_str()) == Some("auth"));
                // A group of this test's own: hosts of other tests come and go on the shared
                // broker, and a group they keep rebalancing delays this test's replies.
                for entry in entries.iter_mut().filter_map(|t| t.as_table_mut()) {
                    if entry.contains_key("group") {
                        let group = format!("jm-auth-test-{}", uuid::Uuid::new_v4());
                        entry.insert("group".into(), toml::Value::String(group));
                    }
                }
            }
        }
    }
    let components = doc
        .get_mut("component")
        .and_then(|c| c.as_table_mut())
        .expect("[component]");
    components.retain(|name, _| name == "auth");
    let auth = components
        .get_mut("auth")
        .and_then(|c| c.as_table_mut())
        .expect("[component.auth]");
    let source = auth["source"].as_str().expect("source").to_string();
    auth.insert("source".into(), path_value(&root.join(source)));
    if let Some(build) = auth.get_mut("build").and_then(|b| b.as_table_mut()) {
        build.insert("workdir".into(), path_value(&root.join("components")));
    }
    let kafka = doc
        .get_mut("application")
        .and_then(|a| a.get_mut("trigger"))
        .and_then(|t| t.get_mut("kafka"))
        .and_then(|k| k.as_table_mut())
        .expect("[application.trigger.kafka]");
    kafka.insert("schemas".into(), path_value(&root.join("avro")));
    toml::to_string(&doc).expect("manifest as TOML")
}

fn path_value(path: &std::path::Path) -> toml::Value {
    toml::Value::String(path.display().to_string())
}

/// A host of auth alone, with auth's migrations and seed beside the manifest.
fn auth_host() -> HostBuilder {
    let mut builder = HostBuilder::new(&auth_manifest());
    for folder in ["migrations/jm_auth", "seed/jm_auth"] {
        let dir = repo_root().join(folder);
        for entry in std::fs::read_dir(&dir).expect("auth's SQL files") {
            let path = entry.expect("entry").path();
            let name = path.file_name().expect("name").to_string_lossy();
            let text = std::fs::read_to_string(&path).expect("SQL file");
            builder = builder.file(&format!("{folder}/{name}"), &text);
        }
    }
    builder
}

/// Starts a host; the first start of the run goes alone, so that one host creates and
/// migrates `jm_auth` while the others wait (concurrent `CREATE DATABASE` fails in `jm up`).
fn start(builder: HostBuilder) -> Host {
    static MIGRATED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut migrated = MIGRATED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if *migrated {
        drop(migrated);
        return builder.start();
    }
    let host = builder.start();
    *migrated = true;
    host
}

/// A unique email for one test.
fn email(tag: &str) -> String {
    format!("{tag}-{}@auth-test.example", uuid::Uuid::new_v4().simple())
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// What a client sees of a response.
struct Seen {
    status: u16,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

impl Seen {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    fn cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().expect("cookie text").to_string())
            .collect()
    }

    /// The value of cookie `name` set by the response.
    fn cookie(&self, name: &str) -> String {
        let prefix = format!("{name}=");
        self.cookies()
            .iter()
            .find_map(|c| c.strip_prefix(&prefix).map(|rest| rest.to_string()))
            .and_then(|rest| rest.split(';').next().map(str::to_string))
            .expect("cookie set")
    }

    fn detail_fields(&self) -> Vec<String> {
        let details = self.body["error"]["details"].as_array().cloned();
        details
            .unwrap_or_default()
            .iter()
            .map(|d| d["field"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

async fn call(
    host: &Host,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    cookies: &[(&str, &str)],
) -> Seen {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", host.url));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    if !cookies.is_empty() {
        let header: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        request = request.header("cookie", header.join("; "));
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Seen {
        status,
        body,
        headers,
    }
}

async fn post(host: &Host, path: &str, body: Value) -> Seen {
    call(host, reqwest::Method::POST, path, Some(body), &[]).await
}

async fn login(host: &Host, email: &str, password: &str) -> Seen {
    post(
        host,
        "/api/login",
        json!({"email": email, "password": password}),
    )
    .await
}

fn registration(email: &str) -> Value {
    json!({
        "companyName": "Acme Test",
        "email": email,
        "password": "Secret1!",
        "country": "vn",
        "phoneNumber": "+84123456789",
        "city": "Ho Chi Minh City",
        "address": "1 Nguyen Hue",
    })
}

// ---------------------------------------------------------------------------------------------
// Postgres, Redis and tokens

async fn db() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(POSTGRES, tokio_postgres::NoTls)
        .await
        .expect("connect to jm_auth");
    tokio::spawn(connection);
    client
}

/// The id and status of the account of `email`, if any.
async fn account_row(email: &str) -> Option<(String, String)> {
    let row = db()
        .await
        .query_opt(
            "SELECT id::text, status FROM account WHERE lower(email) = lower($1)",
            &[&email],
        )
        .await
        .expect("select account");
    row.map(|r| (r.get(0), r.get(1)))
}

/// Writes an ACTIVE account with password `Company1!` straight to the table.
async fn active_account(email: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    db().await
        .execute(
            "INSERT INTO account (id, email, company_name, password_hash, status) \
             VALUES ($1::text::uuid, $2, 'Direct Co', $3, 'ACTIVE')",
            &[&id, &email, &COMPANY1_HASH],
        )
        .await
        .expect("insert account");
    id
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(REDIS)
        .expect("redis")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

async fn ttl(key: &str) -> i64 {
    let mut redis = redis().await;
    redis::cmd("TTL")
        .arg(key)
        .query_async(&mut redis)
        .await
        .expect("TTL")
}

fn cipher() -> Aes256Gcm {
    let key = B64.decode(TOKEN_KEY).expect("key");
    Aes256Gcm::new_from_slice(&key).expect("32 bytes")
}

/// The claims of a token the service issued.
fn open(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 5, "{token}");
    assert_eq!(parts[1], "", "dir has no encrypted key");
    let header: Value =
        serde_json::from_slice(&B64.decode(parts[0]).expect("header")).expect("header JSON");
    assert_eq!(header, json!({"alg": "dir", "enc": "A256GCM"}));
    let iv = B64.decode(parts[2]).expect("iv");
    let mut sealed = B64.decode(parts[3]).expect("ciphertext");
    sealed.extend(B64.decode(parts[4]).expect("tag"));
    let payload = Payload {
        msg: &sealed,
        aad: parts[0].as_bytes(),
    };
    let plain = cipher()
        .decrypt(Nonce::from_slice(&iv), payload)
        .expect("decrypt");
    serde_json::from_slice(&plain).expect("claims")
}

/// A token sealed as the service seals them, with `claims`.
fn seal(claims: &Value) -> String {
    let header = B64.encode(r#"{"alg":"dir","enc":"A256GCM"}"#);
    let iv = [3u8; 12];
    let plain = claims.to_string();
    let payload = Payload {
        msg: plain.as_bytes(),
        aad: header.as_bytes(),
    };
    let sealed = cipher()
        .encrypt(Nonce::from_slice(&iv), payload)
        .expect("encrypt");
    let (body, tag) = sealed.split_at(sealed.len() - 16);
    let (iv, body, tag) = (B64.encode(iv), B64.encode(body), B64.encode(tag));
    format!("{header}..{iv}.{body}.{tag}")
}

fn now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.expect("clock").as_secs() as i64
}

// ---------------------------------------------------------------------------------------------
// Playing profile

fn brokers() -> String {
    std::env::var("JM_KAFKA_BROKERS")
        .expect("JM_KAFKA_BROKERS names the test broker (scripts/test.sh starts one)")
}

fn schemas() -> Schemas {
    Schemas::load(&repo_root().join("avro")).expect("schemas")
}

/// Profile as the test plays it: reads the registration requests sent after it was created.
struct FakeProfile {
    consumer: StreamConsumer,
    producer: FutureProducer,
    schemas: Schemas,
}

/// One registration request: its value and its correlation id.
struct Request {
    value: Value,
    correlation_id: String,
}

impl FakeProfile {
    /// Starts reading `JM_COMPANY_REGISTRATION` at its current end (no group to join).
    fn new() -> Self {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers())
            .set("group.id", format!("auth-test-{}", uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let metadata = consumer
            .fetch_metadata(Some(REQUEST_TOPIC), Duration::from_secs(10))
            .expect("metadata");
        let mut assignment = TopicPartitionList::new();
        for topic in metadata.topics() {
            for partition in topic.partitions() {
                let (_, high) = consumer
                    .fetch_watermarks(REQUEST_TOPIC, partition.id(), Duration::from_secs(10))
                    .expect("watermarks");
                assignment
                    .add_partition_offset(REQUEST_TOPIC, partition.id(), Offset::Offset(high))
                    .expect("add partition");
            }
        }
        consumer.assign(&assignment).expect("assign");
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers())
            .set("linger.ms", "0")
            .create()
            .expect("producer");
        Self {
            consumer,
            producer,
            schemas: schemas(),
        }
    }

    /// The next request for `email`, waiting at most `WAIT`.
    async fn next_for(&self, email: &str) -> Request {
        let request = self.find(email).await;
        request.expect("a registration request within the wait")
    }

    async fn find(&self, email: &str) -> Option<Request> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let Ok(Ok(message)) =
                tokio::time::timeout(Duration::from_millis(500), self.consumer.recv()).await
            else {
                continue;
            };
            let message = message.detach();
            let value = self
                .schemas
                .decode(REQUEST_TOPIC, message.payload().unwrap_or_default())
                .expect("request decodes");
            let value: Value = serde_json::from_str(&value).expect("JSON");
            if value["email"] == email {
                let correlation_id = header(&message, "correlation-id").expect("correlation-id");
                assert_eq!(
                    header(&message, "reply-topic").as_deref(),
                    Some(REPLY_TOPIC)
                );
                return Some(Request {
                    value,
                    correlation_id,
                });
            }
        }
        None
    }

    /// Answers `request` with `ok` and `error`.
    async fn reply(&self, request: &Request, ok: bool, error: Option<&str>) {
        let company_id = request.value["companyId"].as_str().expect("companyId");
        let value = json!({"companyId": company_id, "ok": ok, "error": error}).to_string();
        let bytes = self.schemas.encode(REPLY_TOPIC, &value).expect("encode");
        let message_id = uuid::Uuid::new_v4().to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "correlation-id",
                value: Some(request.correlation_id.as_bytes()),
            })
            .insert(Header {
                key: "message-id",
                value: Some(message_id.as_bytes()),
            });
        let record = FutureRecord::to(REPLY_TOPIC)
            .key(company_id)
            .payload(&bytes)
            .headers(headers);
        self.producer
            .send(record, Duration::from_secs(10))
            .await
            .expect("produce reply");
    }

    /// Waits for the request of `email` and confirms it.
    async fn confirm(&self, email: &str) -> Request {
        let request = self.next_for(email).await;
        self.reply(&request, true, None).await;
        request
    }
}

fn header(message: &OwnedMessage, name: &str) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Registers `body` while the fake profile confirms it.
async fn register_confirmed(host: &Host, body: Value) -> (Seen, Request) {
    let profile = FakeProfile::new();
    let email = body["email"].as_str().expect("email").to_string();
    let (seen, request) = tokio::join!(post(host, "/api/register", body), profile.confirm(&email));
    (seen, request)
}

// ---------------------------------------------------------------------------------------------
// Registration (flow 1)

#[tokio::test]
async fn registration_creates_an_active_account_once_profile_confirms() {
    let host = start(auth_host());
    let email = email("register");
    let (seen, request) = register_confirmed(&host, registration(&email)).await;

    assert_eq!(seen.status, 201, "{}", seen.body);
    let company_id = seen.body["companyId"].as_str().expect("companyId");
    assert_eq!(seen.body, json!({"companyId": company_id, "email": email}));
    assert_eq!(
        request.value,
        json!({
            "companyId": company_id, "companyName": "Acme Test", "email": email,
            "country": "VN", "city": "Ho Chi Minh City", "address": "1 Nguyen Hue",
            "phoneNumber": "+84123456789",
        })
    );
    assert_eq!(
        account_row(&email).await,
        Some((company_id.to_string(), "ACTIVE".to_string()))
    );
    let stored: String = db()
        .await
        .query_one(
            "SELECT password_hash FROM account WHERE email = $1",
            &[&email],
        )
        .await
        .expect("hash")
        .get(0);
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    assert_eq!(login(&host, &email, "Secret1!").await.status, 200);
}

#[tokio::test]
async fn every_invalid_field_gets_its_own_detail() {
    let host = start(auth_host());
    let bad = json!({
        "companyName": "  ", "email": "not an@email", "password": "password",
        "country": "V1", "phoneNumber": "0123456789", "city": "x".repeat(201),
        "address": "y".repeat(201),
    });
    let seen = post(&host, "/api/register", bad).await;
    assert_eq!((seen.status, seen.code()), (400, "VALIDATION_ERROR"));
    assert_eq!(
        seen.detail_fields(),
        [
            "companyName",
            "email",
            "password",
            "country",
            "phoneNumber",
            "city",
            "address"
        ]
    );
    assert_eq!(seen.body["path"], "/api/register");

    let seen = post(&host, "/api/register", json!({})).await;
    assert_eq!(
        seen.detail_fields(),
        ["companyName", "email", "password", "country"]
    );
    assert!(
        seen.body["error"]["details"]
            .as_array()
            .expect("details")
            .iter()
            .all(|d| d["message"] == "is required")
    );

    for (field, value) in [
        ("email", json!(format!("{}@example.com", "a".repeat(250)))),
        ("email", json!("two@@example.com")),
        ("email", json!("no-dot@example")),
        ("password", json!("Short1!")),
        ("password", json!("nodigits!A")),
        ("password", json!("noupper1!")),
        ("password", json!("NoSpecial1")),
        ("phoneNumber", json!("+84 123")),
        ("phoneNumber", json!("+8412345678901234")),
        ("country", json!("Q")),
    ] {
        let mut body = registration(&email("rules"));
        body[field] = value.clone();
        let seen = post(&host, "/api/register", body).await;
        assert_eq!(seen.status, 400, "{field} = {value}");
        assert_eq!(seen.detail_fields(), [field], "{field} = {value}");
    }

    let seen = call(&host, reqwest::Method::POST, "/api/register", None, &[]).await;
    assert_eq!((seen.status, seen.code()), (400, "VALIDATION_ERROR"));
}

#[tokio::test]
async fn a_duplicate_email_answers_conflict_whatever_its_case() {
    let host = start(auth_host());
    let email = email("dup");
    let (seen, _) = register_confirmed(&host, registration(&email)).await;
    assert_eq!(seen.status, 201, "{}", seen.body);

    let mut again = registration(&email.to_uppercase());
    again["password"] = json!("Another1!");
    let seen = post(&host, "/api/register", again).await;
    assert_eq!(
        (seen.status, seen.code()),
        (409, "CONFLICT"),
        "{}",
        seen.body
    );

    let mut other_company = registration(&email);
    other_company["companyName"] = json!("Someone Else");
    let seen = post(&host, "/api/register", other_company).await;
    assert_eq!((seen.status, seen.code()), (409, "CONFLICT"));
}

#[tokio::test]
async fn a_country_profile_refuses_is_a_validation_error_and_leaves_no_account() {
    let host = start(auth_host());
    let email = email("atlantis");
    let mut body = registration(&email);
    body["country"] = json!("Atlantis");
    let profile = FakeProfile::new();
    let refuse = async {
        let request = profile.next_for(&email).await;
        assert_eq!(request.value["country"], "Atlantis");
        profile
            .reply(&request, false, Some("unknown country"))
            .await;
    };
    let (seen, ()) = tokio::join!(post(&host, "/api/register", body), refuse);

    assert_eq!((seen.status, seen.code()), (400, "VALIDATION_ERROR"));
    assert_eq!(
        seen.body["error"]["details"],
        json!([{"field": "country", "message": "unknown country"}])
    );
    assert_eq!(account_row(&email).await, None);
}

#[tokio::test]
async fn without_a_reply_registration_answers_503_and_a_retry_with_the_same_body_succeeds() {
    let host = start(auth_host().env("SPIN_VARIABLE_REGISTRATION_TIMEOUT_MS", "1500"));
    let email = email("timeout");
    let profile = FakeProfile::new();
    let seen = post(&host, "/api/register", registration(&email)).await;
    assert_eq!((seen.status, seen.code()), (503, "SERVICE_UNAVAILABLE"));
    assert!(seen.headers.contains_key("retry-after"));
    let first = profile.next_for(&email).await;
    let (pending_id, status) = account_row(&email).await.expect("a pending account");
    assert_eq!(status, "PENDING");
    assert_eq!(first.value["companyId"], pending_id.as_str());

    let seen = login(&host, &email, "Secret1!").await;
    assert_eq!(
        (seen.status, seen.code()),
        (403, "FORBIDDEN"),
        "{}",
        seen.body
    );

    let (seen, retry) = register_confirmed(&host, registration(&email)).await;
    assert_eq!(seen.status, 201, "{}", seen.body);
    assert_eq!(seen.body["companyId"], pending_id.as_str());
    assert_eq!(retry.value["companyId"], pending_id.as_str());
    assert_eq!(
        account_row(&email).await,
        Some((pending_id, "ACTIVE".to_string()))
    );
}

#[tokio::test]
async fn a_late_confirmation_completes_the_registration_on_its_own() {
    let host = start(auth_host().env("SPIN_VARIABLE_REGISTRATION_TIMEOUT_MS", "1000"));
    let email = email("late");
    let profile = FakeProfile::new();
    let seen = post(&host, "/api/register", registration(&email)).await;
    assert_eq!(seen.status, 503);
    let request = profile.next_for(&email).await;
    profile.reply(&request, true, None).await;

    let deadline = Instant::now() + WAIT;
    while account_row(&email).await.map(|r| r.1).as_deref() != Some("ACTIVE") {
        assert!(
            Instant::now() < deadline,
            "the late reply was not applied\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(login(&host, &email, "Secret1!").await.status, 200);
    // The client's retry of the same body now answers as the first success would have.
    let seen = post(&host, "/api/register", registration(&email)).await;
    assert_eq!(seen.status, 201, "{}", seen.body);
    assert_eq!(seen.body["companyId"], request.value["companyId"]);
}

/// The shards holding a profile of `company_id`, by number.
async fn profile_shards(company_id: &str) -> Vec<u32> {
    let mut shards = Vec::new();
    for shard in 1..=5 {
        let config = format!("host=127.0.0.1 user=postgres dbname=jm_profile_{shard}");
        let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls)
            .await
            .expect("connect to a profile shard");
        tokio::spawn(connection);
        let sql = "SELECT count(*) FROM company_profile WHERE company_id = $1::text::uuid";
        let row = client.query_one(sql, &[&company_id]).await.expect("count");
        if row.get::<_, i64>(0) > 0 {
            shards.push(shard);
        }
    }
    shards
}

/// Flow 1 on the whole application with the real profile service, on a broker of its own
/// (so that its profile answers no other test's registration).
#[tokio::test]
async fn flow_1_registration_creates_the_profile_through_the_real_profile_service() {
    let manifest = repo_root().join("spin.toml");
    let mut host = start(HostBuilder::from_file(&manifest).env_remove("JM_KAFKA_BROKERS"));
    let email = email("flow1");
    let mut body = registration(&email);
    body["country"] = json!("Singapore");
    // The first attempts may time out while profile's consumer joins its group: a retry of
    // the same body is what a client does then.
    let deadline = Instant::now() + Duration::from_secs(120);
    let seen = loop {
        let seen = post(&host, "/api/register", body.clone()).await;
        if seen.status != 503 || Instant::now() > deadline {
            break seen;
        }
    };
    assert_eq!(seen.status, 201, "{}\n{}", seen.body, host.log());
    let company_id = seen.body["companyId"].as_str().expect("companyId");
    assert_eq!(
        account_row(&email).await,
        Some((company_id.to_string(), "ACTIVE".to_string()))
    );
    assert_eq!(profile_shards(company_id).await.len(), 1);
    let profile = call(
        &host,
        reqwest::Method::GET,
        &format!("/api/profile/{company_id}"),
        None,
        &[],
    )
    .await;
    assert_eq!(profile.status, 200, "{}", profile.body);
    assert_eq!(profile.body["companyName"], "Acme Test");
    assert_eq!(profile.body["country"], "SG");
    // A graceful stop also stops the broker `jm up` started, once its own Kafka clients are
    // gone: none of them reports the broker down on the way out.
    assert!(host.terminate().success());
    let log = host.log();
    let stopping = log
        .split("stopped accepting")
        .nth(1)
        .expect("a graceful stop");
    assert!(!stopping.contains("AllBrokersDown"), "{log}");
    assert!(!stopping.contains("Connection refused"), "{log}");
}

// ---------------------------------------------------------------------------------------------
// Login (flow 2) and lockout (SPEC 6.2)

#[tokio::test]
async fn login_sets_both_token_cookies_and_records_them_in_redis() {
    let host = start(auth_host());
    let email = email("login");
    let company_id = active_account(&email).await;
    let seen = login(&host, &email.to_uppercase(), PASSWORD).await;

    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(
        seen.body,
        json!({"companyId": company_id, "email": email, "premium": false, "premiumExpiresAt": null})
    );
    let cookies = seen.cookies();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    for (name, max_age, kind) in [
        ("ACCESS_TOKEN", 900, "ACCESS"),
        ("REFRESH_TOKEN", 604_800, "REFRESH"),
    ] {
        let cookie = cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .expect("cookie");
        let attributes: Vec<&str> = cookie.split("; ").skip(1).collect();
        assert_eq!(
            attributes,
            [
                format!("Max-Age={max_age}").as_str(),
                "Path=/",
                "HttpOnly",
                "Secure",
                "SameSite=Strict"
            ]
        );
        let claims = open(&seen.cookie(name));
        assert_eq!(claims["sub"], company_id.as_str());
        assert_eq!(claims["role"], "COMPANY");
        assert_eq!(claims["type"], kind);
        let (iat, exp) = (
            claims["iat"].as_i64().expect("iat"),
            claims["exp"].as_i64().expect("exp"),
        );
        assert_eq!(exp - iat, max_age);
        assert!((iat - now()).abs() < 60);
        let jti = claims["jti"].as_str().expect("jti");
        let left = ttl(&format!("jm:token:{jti}")).await;
        assert!(left > max_age - 60 && left <= max_age, "{name}: ttl {left}");
    }
}

#[tokio::test]
async fn the_seed_companies_log_in_with_their_subscription() {
    let host = start(auth_host());
    for (email, password, premium) in [
        ("hr@lotuslabs.example", "Company1!", false),
        ("hr@mekongworks.example", "Company2!", false),
        ("hr@saigonsoftware.example", "Company3!", true),
        ("hr@lioncitydata.example", "Company4!", true),
    ] {
        let seen = login(&host, email, password).await;
        assert_eq!(seen.status, 200, "{email}: {}", seen.body);
        assert_eq!(seen.body["premium"], premium, "{email}");
        let expected = if premium {
            json!("2030-01-01T00:00:00.000Z")
        } else {
            Value::Null
        };
        assert_eq!(seen.body["premiumExpiresAt"], expected, "{email}");
    }
}

#[tokio::test]
async fn a_wrong_password_or_an_unknown_email_answers_invalid_credentials() {
    let host = start(auth_host());
    let email = email("wrong");
    active_account(&email).await;
    for (email, password) in [
        (email.as_str(), "Company2!"),
        ("nobody@auth-test.example", PASSWORD),
    ] {
        let seen = login(&host, email, password).await;
        assert_eq!(
            (seen.status, seen.code()),
            (401, "INVALID_CREDENTIALS"),
            "{}",
            seen.body
        );
        assert!(seen.cookies().is_empty());
    }
    let seen = post(&host, "/api/login", json!({"email": email})).await;
    assert_eq!(seen.detail_fields(), ["password"]);
}

#[tokio::test]
async fn five_failures_lock_the_email_even_for_the_right_password_until_the_lock_ends() {
    let host = start(auth_host().env("SPIN_VARIABLE_LOCKOUT_SECS", "4"));
    let email = email("lock");
    active_account(&email).await;
    for _ in 0..4 {
        let seen = login(&host, &email, "Wrong1!!").await;
        assert_eq!(seen.code(), "INVALID_CREDENTIALS");
    }
    let fifth = login(&host, &email, "Wrong1!!").await;
    assert_eq!((fifth.status, fifth.code()), (401, "ACCOUNT_LOCKED"));
    let unlocks_at = fifth.body["error"]["unlocksAt"]
        .as_str()
        .expect("unlocksAt");
    let message = fifth.body["error"]["message"].as_str().expect("message");
    assert!(message.contains(unlocks_at), "{message}");

    let seen = login(&host, &email.to_uppercase(), PASSWORD).await;
    assert_eq!((seen.status, seen.code()), (401, "ACCOUNT_LOCKED"));
    assert_eq!(seen.body["error"]["unlocksAt"], unlocks_at);

    tokio::time::sleep(Duration::from_secs(5)).await;
    let seen = login(&host, &email, PASSWORD).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
}

#[tokio::test]
async fn failures_further_apart_than_the_window_do_not_lock() {
    let host = start(auth_host().env("SPIN_VARIABLE_LOCKOUT_WINDOW_SECS", "3"));
    let email = email("window");
    active_account(&email).await;
    for _ in 0..4 {
        assert_eq!(
            login(&host, &email, "Wrong1!!").await.code(),
            "INVALID_CREDENTIALS"
        );
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        login(&host, &email, "Wrong1!!").await.code(),
        "INVALID_CREDENTIALS"
    );
    assert_eq!(login(&host, &email, PASSWORD).await.status, 200);
}

// ---------------------------------------------------------------------------------------------
// Refresh

async fn refresh(host: &Host, token: &str) -> Seen {
    call(
        host,
        reqwest::Method::POST,
        "/api/refresh",
        None,
        &[("REFRESH_TOKEN", token)],
    )
    .await
}

#[tokio::test]
async fn refresh_rotates_the_pair_and_a_reused_refresh_token_revokes_them_all() {
    let host = start(auth_host());
    let email = email("rotate");
    let company_id = active_account(&email).await;
    let first = login(&host, &email, PASSWORD).await;
    let second = login(&host, &email, PASSWORD).await;
    let (r1, other_session) = (
        first.cookie("REFRESH_TOKEN"),
        second.cookie("REFRESH_TOKEN"),
    );

    let rotated = refresh(&host, &r1).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert_eq!(rotated.body["companyId"], company_id.as_str());
    let r2 = rotated.cookie("REFRESH_TOKEN");
    assert_ne!(r2, r1);
    assert_eq!(open(&rotated.cookie("ACCESS_TOKEN"))["type"], "ACCESS");
    assert_eq!(open(&r2)["sub"], company_id.as_str());

    let replay = refresh(&host, &r1).await;
    assert_eq!((replay.status, replay.code()), (401, "UNAUTHORIZED"));
    for token in [&r2, &other_session, &r1] {
        let seen = refresh(&host, token).await;
        assert_eq!((seen.status, seen.code()), (401, "UNAUTHORIZED"));
        let jti = open(token)["jti"].as_str().expect("jti").to_string();
        assert_eq!(ttl(&format!("jm:token:{jti}")).await, -2, "record removed");
    }
}

#[tokio::test]
async fn an_expired_refresh_token_answers_token_expired_and_a_forged_one_unauthorized() {
    let host = start(auth_host());
    let email = email("expired");
    let company_id = active_account(&email).await;
    let expired = seal(&json!({
        "sub": company_id, "role": "COMPANY", "type": "REFRESH",
        "jti": uuid::Uuid::new_v4().to_string(), "iat": now() - 700_000, "exp": now() - 10,
    }));
    let seen = refresh(&host, &expired).await;
    assert_eq!((seen.status, seen.code()), (401, "TOKEN_EXPIRED"));

    let access = login(&host, &email, PASSWORD).await.cookie("ACCESS_TOKEN");
    for token in [access.as_str(), "garbage", "a..b.c.d"] {
        let seen = refresh(&host, token).await;
        assert_eq!((seen.status, seen.code()), (401, "UNAUTHORIZED"), "{token}");
    }
    let seen = call(&host, reqwest::Method::POST, "/api/refresh", None, &[]).await;
    assert_eq!((seen.status, seen.code()), (401, "UNAUTHORIZED"));
}

// ---------------------------------------------------------------------------------------------
// Me and logout: these need the host's edge authentication.

#[tokio::test]
async fn edge_me_answers_the_account_and_its_subscription() {
    let host = start(auth_host());
    let email = email("me");
    let company_id = active_account(&email).await;
    let access = login(&host, &email, PASSWORD).await.cookie("ACCESS_TOKEN");
    let seen = call(
        &host,
        reqwest::Method::GET,
        "/api/me",
        None,
        &[("ACCESS_TOKEN", &access)],
    )
    .await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(
        seen.body,
        json!({
            "companyId": company_id, "email": email, "companyName": "Direct Co",
            "premium": false, "premiumExpiresAt": null, "status": "ACTIVE",
        })
    );
    let seen = call(&host, reqwest::Method::GET, "/api/me", None, &[]).await;
    assert_eq!((seen.status, seen.code()), (401, "UNAUTHORIZED"));
}

#[tokio::test]
async fn edge_logout_revokes_both_tokens_and_clears_the_cookies() {
    let host = start(auth_host());
    let email = email("logout");
    active_account(&email).await;
    let seen = login(&host, &email, PASSWORD).await;
    let (access, refresh_token) = (seen.cookie("ACCESS_TOKEN"), seen.cookie("REFRESH_TOKEN"));
    let both = [
        ("ACCESS_TOKEN", access.as_str()),
        ("REFRESH_TOKEN", refresh_token.as_str()),
    ];

    let seen = call(&host, reqwest::Method::POST, "/api/logout", None, &both).await;
    assert_eq!(seen.status, 204, "{}", seen.body);
    let mut cleared = seen.cookies();
    cleared.sort();
    assert_eq!(
        cleared,
        [
            "ACCESS_TOKEN=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Strict",
            "REFRESH_TOKEN=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Strict",
        ]
    );

    let me = call(
        &host,
        reqwest::Method::GET,
        "/api/me",
        None,
        &[("ACCESS_TOKEN", &access)],
    )
    .await;
    assert_eq!((me.status, me.code()), (401, "UNAUTHORIZED"));
    let seen = refresh(&host, &refresh_token).await;
    assert_eq!((seen.status, seen.code()), (401, "UNAUTHORIZED"));
}

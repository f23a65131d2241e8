//! End-to-end tests of the profile service on the repository's `spin.toml`: registration over
//! Kafka into the shard of the country, the public profile, updates and moves between shards,
//! search across shards with some or all of them unreachable, logo events and markers. Each
//! host's consumer groups are its own, so the tests run side by side.

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers stop the test with the failed step's message"
)]

mod support;

use std::time::{Duration, Instant};

use jm_host::kafka::schema::Schemas;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Header, Headers as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message as _};
use serde_json::{Value, json};
use support::{Host, HostBuilder};

const PG_SERVER: &str = "host=127.0.0.1 port=5432 user=postgres";
const UNREACHABLE: &str = "postgres://postgres@127.0.0.1:1";
const WAIT: Duration = Duration::from_secs(40);

// ---- the host ----

fn app() -> HostBuilder {
    HostBuilder::app()
}

/// The app with the listed shards pointing at a closed port.
fn app_without_shards(shards: &[u8]) -> HostBuilder {
    shards.iter().fold(app(), |app, n| {
        app.env(
            &format!("SPIN_VARIABLE_PG_URL_{n}"),
            &format!("{UNREACHABLE}/jm_profile_{n}"),
        )
    })
}

/// Stops the host with SIGTERM, so that it leaves the consumer group at once.
fn stop(mut host: Host) {
    host.terminate();
}

// ---- data ----

fn unique(name: &str) -> String {
    format!(
        "{name} {}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

async fn shard_db(shard: u8) -> tokio_postgres::Client {
    let config = format!("{PG_SERVER} dbname=jm_profile_{shard}");
    let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls)
        .await
        .expect("connect to a profile shard");
    tokio::spawn(connection);
    client
}

/// Inserts a profile straight into `shard`; returns the company id.
async fn seed_company(shard: u8, country: &str, name: &str) -> String {
    let id = uuid::Uuid::new_v4();
    shard_db(shard)
        .await
        .execute(
            "INSERT INTO company_profile (company_id, company_name, email, country, city) \
             VALUES ($1, $2, $3, $4, 'Some City')",
            &[&id, &name, &format!("{id}@example.test"), &country],
        )
        .await
        .expect("insert a profile");
    id.to_string()
}

/// The shards that hold a row of `company`, with its country.
async fn rows_of(company: &str) -> Vec<(u8, String)> {
    let id = uuid::Uuid::parse_str(company).expect("uuid");
    let mut found = Vec::new();
    for shard in 1..=5 {
        let rows = shard_db(shard)
            .await
            .query(
                "SELECT country FROM company_profile WHERE company_id = $1",
                &[&id],
            )
            .await
            .expect("query a shard");
        found.extend(rows.iter().map(|r| (shard, r.get::<_, String>(0))));
    }
    found
}

async fn markers_in(shard: u8, company: &str) -> Vec<(String, String)> {
    let id = uuid::Uuid::parse_str(company).expect("uuid");
    let rows = shard_db(shard)
        .await
        .query(
            "SELECT applicant_id, marker FROM company_applicant_marker WHERE company_id = $1",
            &[&id],
        )
        .await
        .expect("query markers");
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

// ---- tokens ----

/// A live access token for `company`, signed with the development key of `spin.toml`.
async fn token(company: &str) -> String {
    support::mint_token(support::DEV_TOKEN_KEY, company, 900, false).await
}

// ---- HTTP ----

/// A response as the tests look at it.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

async fn call(
    host: &Host,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", host.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        retry_after,
        body,
    }
}

fn fields_in_error(body: &Value) -> Vec<String> {
    let details = body["error"]["details"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut fields: Vec<String> = details
        .iter()
        .filter_map(|d| d["field"].as_str().map(str::to_string))
        .collect();
    fields.sort();
    fields
}

fn names(items: &Value) -> Vec<String> {
    items
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["companyName"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

// ---- Kafka ----

fn brokers() -> String {
    std::env::var("JM_KAFKA_BROKERS")
        .expect("JM_KAFKA_BROKERS names the test broker (scripts/test.sh starts one)")
}

fn schemas() -> Schemas {
    Schemas::load(&HostBuilder::repo_root().join("avro")).expect("the app's schemas")
}

/// Publishes `value` to `topic` as auth or media would, with `extra` headers.
async fn produce(topic: &str, key: &str, value: &Value, extra: &[(&str, &str)]) {
    let bytes = schemas()
        .encode(topic, &value.to_string())
        .expect("encode with the topic's schema");
    let message_id = uuid::Uuid::new_v4().to_string();
    let mut headers = OwnedHeaders::new().insert(Header {
        key: "message-id",
        value: Some(message_id.as_bytes()),
    });
    for (name, text) in extra {
        headers = headers.insert(Header {
            key: name,
            value: Some(text.as_bytes()),
        });
    }
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("producer");
    let record = FutureRecord::to(topic)
        .key(key)
        .payload(&bytes)
        .headers(headers);
    producer
        .send(record, Duration::from_secs(10))
        .await
        .expect("produce");
}

/// Sends a registration request and waits for the reply with its correlation id.
async fn register(value: Value) -> Value {
    let correlation = uuid::Uuid::new_v4().to_string();
    let key = value["companyId"].as_str().unwrap_or_default().to_string();
    let headers = [
        ("correlation-id", correlation.as_str()),
        ("reply-topic", "JM_COMPANY_REGISTRATION_REPLY"),
    ];
    produce("JM_COMPANY_REGISTRATION", &key, &value, &headers).await;
    reply_to(&correlation).await
}

async fn reply_to(correlation: &str) -> Value {
    let topic = "JM_COMPANY_REGISTRATION_REPLY";
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", format!("profile-test-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let next = tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await;
        let Ok(Ok(message)) = next else { continue };
        let matches = message.headers().is_some_and(|headers| {
            headers
                .iter()
                .any(|h| h.key == "correlation-id" && h.value == Some(correlation.as_bytes()))
        });
        if matches {
            let payload = message.payload().expect("payload");
            let json = schemas().decode(topic, payload).expect("decode the reply");
            return serde_json::from_str(&json).expect("reply JSON");
        }
    }
    panic!("no reply with correlation id {correlation}");
}

fn registration(company: &str, name: &str, country: &str) -> Value {
    json!({
        "companyId": company, "companyName": name, "email": format!("{company}@example.test"),
        "country": country, "city": "Hanoi", "address": null, "phoneNumber": "+84912345678"
    })
}

// ---- registration ----

#[tokio::test]
async fn registration_creates_the_profile_in_the_shard_of_its_country_once() {
    let host = app().start();
    let (vn, de) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );

    let reply = register(registration(&vn, &unique("Hanoi Labs"), "Vietnam")).await;
    assert_eq!(reply, json!({"companyId": vn, "ok": true, "error": null}));
    assert_eq!(rows_of(&vn).await, vec![(5, "VN".to_string())]);

    let reply = register(registration(&de, &unique("Berlin Bytes"), "de")).await;
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(rows_of(&de).await, vec![(2, "DE".to_string())]);

    let again = register(registration(&vn, &unique("Hanoi Labs"), "VN")).await;
    assert_eq!(again, json!({"companyId": vn, "ok": true, "error": null}));
    assert_eq!(rows_of(&vn).await.len(), 1, "a second request adds no row");
    stop(host);
}

#[tokio::test]
async fn registration_with_an_unknown_country_is_refused_in_the_reply() {
    let host = app().start();
    let company = uuid::Uuid::new_v4().to_string();
    let reply = register(registration(&company, &unique("Nowhere Inc"), "Atlantis")).await;
    assert_eq!(
        reply,
        json!({"companyId": company, "ok": false, "error": "unknown country"})
    );
    assert!(rows_of(&company).await.is_empty());
    stop(host);
}

// ---- public profile ----

#[tokio::test]
async fn a_public_profile_is_read_without_a_token() {
    let host = app().start();
    let name = unique("Public Co");
    let company = seed_company(3, "BR", &name).await;

    let answer = call(&host, "GET", &format!("/api/profile/{company}"), None, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({"companyId": company, "companyName": name, "country": "BR",
            "city": "Some City", "address": null, "phoneNumber": null, "aboutUs": null,
            "whoWeAreLookingFor": null, "logoUrl": null, "premium": false})
    );

    let seeded = "/api/profile/33333333-3333-4333-8333-333333333333";
    let answer = call(&host, "GET", seeded, None, None).await;
    assert_eq!(answer.body["companyName"], "Saigon Software");
    assert_eq!(answer.body["premium"], true);

    let missing = format!("/api/profile/{}", uuid::Uuid::new_v4());
    let answer = call(&host, "GET", &missing, None, None).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.body["error"]["code"], "NOT_FOUND");
    assert_eq!(answer.body["path"], missing);
    stop(host);
}

// ---- update ----

#[tokio::test]
async fn an_update_keeps_left_out_fields_and_reports_every_bad_field() {
    let host = app().start();
    let name = unique("Update Co");
    let company = seed_company(5, "VN", &name).await;
    let token = token(&company).await;

    let change = json!({"aboutUs": "We build things."});
    let answer = call(&host, "PUT", "/api/profile", None, Some(change.clone())).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body["error"]["code"], "UNAUTHORIZED");

    let bad = json!({"companyName": " ", "country": "Atlantis", "phoneNumber": "12345",
        "premium": true});
    let answer = call(&host, "PUT", "/api/profile", Some(&token), Some(bad)).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(
        fields_in_error(&answer.body),
        ["companyName", "country", "phoneNumber", "premium"]
    );

    let answer = call(&host, "PUT", "/api/profile", Some(&token), Some(change)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["aboutUs"], "We build things.");
    assert_eq!(answer.body["companyName"], name);
    assert_eq!(answer.body["city"], "Some City");

    let clear = json!({"city": null, "phoneNumber": "+84901234567"});
    let answer = call(&host, "PUT", "/api/profile", Some(&token), Some(clear)).await;
    assert_eq!(answer.body["city"], Value::Null);
    assert_eq!(answer.body["phoneNumber"], "+84901234567");
    let read = call(&host, "GET", &format!("/api/profile/{company}"), None, None).await;
    assert_eq!(read.body, answer.body);
    stop(host);
}

#[tokio::test]
async fn a_country_change_moves_the_profile_and_its_markers_to_the_new_shard() {
    let host = app().start();
    let company = seed_company(5, "VN", &unique("Moving Co")).await;
    let token = token(&company).await;
    let marker = json!({"applicantId": "applicant-1", "marker": "FAVORITE"});
    let answer = call(&host, "POST", "/api/markers", Some(&token), Some(marker)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);

    let change = json!({"country": "france", "city": "Lyon"});
    let answer = call(&host, "PUT", "/api/profile", Some(&token), Some(change)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["country"], "FR");
    assert_eq!(rows_of(&company).await, vec![(2, "FR".to_string())]);
    assert_eq!(
        markers_in(2, &company).await,
        vec![("applicant-1".to_string(), "FAVORITE".to_string())]
    );
    assert!(markers_in(5, &company).await.is_empty());

    let answer = call(&host, "GET", "/api/markers", Some(&token), None).await;
    assert_eq!(answer.body["items"][0]["applicantId"], "applicant-1");
    let read = call(&host, "GET", &format!("/api/profile/{company}"), None, None).await;
    assert_eq!(read.body["city"], "Lyon");
    stop(host);
}

#[tokio::test]
async fn a_move_to_an_unreachable_shard_changes_nothing() {
    let host = app_without_shards(&[2]).start();
    let company = seed_company(5, "VN", &unique("Staying Co")).await;
    let token = token(&company).await;

    let change = json!({"country": "FR", "aboutUs": "Moving to Paris"});
    let answer = call(&host, "PUT", "/api/profile", Some(&token), Some(change)).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], "SERVICE_UNAVAILABLE");
    assert!(answer.retry_after.is_some());
    assert_eq!(rows_of(&company).await, vec![(5, "VN".to_string())]);
    let read = call(&host, "GET", &format!("/api/profile/{company}"), None, None).await;
    assert_eq!(read.body["aboutUs"], Value::Null);
    stop(host);
}

// ---- search ----

/// Seeds three companies named `<tag> A|B|C` in shards 5, 1 and 3.
async fn seed_search(tag: &str) -> Vec<String> {
    seed_company(5, "SG", &format!("{tag} Charlie")).await;
    seed_company(1, "NG", &format!("{tag} alpha")).await;
    seed_company(3, "US", &format!("{tag} Bravo")).await;
    vec![
        format!("{tag} alpha"),
        format!("{tag} Bravo"),
        format!("{tag} Charlie"),
    ]
}

#[tokio::test]
async fn search_asks_every_shard_and_sorts_and_pages_by_name() {
    let host = app().start();
    let tag = unique("Searchable");
    let all = seed_search(&tag).await;
    let token = token("11111111-1111-4111-8111-111111111111").await;
    let query = tag.to_uppercase().replace(' ', "%20");

    let answer = call(&host, "GET", "/api/profile?name=x", None, None).await;
    assert_eq!(answer.status, 401);

    let path = format!("/api/profile?name={query}");
    let answer = call(&host, "GET", &path, Some(&token), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(names(&answer.body["items"]), all);
    assert_eq!(answer.body["total"], 3);

    let path = format!("/api/profile?name={query}&limit=1&offset=1");
    let answer = call(&host, "GET", &path, Some(&token), None).await;
    assert_eq!(names(&answer.body["items"]), all[1..2]);
    assert_eq!(answer.body["total"], 3);

    let path = format!("/api/profile?name={query}&country=United%20States");
    let answer = call(&host, "GET", &path, Some(&token), None).await;
    assert_eq!(names(&answer.body["items"]), all[1..2]);

    let path = "/api/profile?country=Atlantis&limit=0";
    let answer = call(&host, "GET", path, Some(&token), None).await;
    assert_eq!(answer.status, 400);
    assert_eq!(fields_in_error(&answer.body), ["country", "limit"]);
    stop(host);
}

#[tokio::test]
async fn search_with_one_shard_unreachable_answers_206_with_the_rows_and_the_missing_shard() {
    let host = app_without_shards(&[2]).start();
    let tag = unique("Partial");
    let all = seed_search(&tag).await;
    let token = token("11111111-1111-4111-8111-111111111111").await;

    let path = format!("/api/profile?name={}", tag.replace(' ', "%20"));
    let answer = call(&host, "GET", &path, Some(&token), None).await;
    assert_eq!(answer.status, 206, "{}", answer.body);
    let error = &answer.body["error"];
    assert_eq!(error["code"], "PARTIAL_CONTENT");
    assert_eq!(error["missingShards"], json!([2]));
    assert_eq!(names(&error["items"]), all);
    assert_eq!(answer.body["path"], "/api/profile");

    let other = format!(
        "/api/profile/{}",
        seed_company(3, "CA", &unique("Elsewhere")).await
    );
    let answer = call(&host, "GET", &other, None, None).await;
    assert_eq!(answer.status, 200, "other shards still serve profiles");
    stop(host);
}

#[tokio::test]
async fn search_with_every_shard_unreachable_answers_503() {
    let host = app_without_shards(&[1, 2, 3, 4, 5]).start();
    let token = token("11111111-1111-4111-8111-111111111111").await;
    let answer = call(&host, "GET", "/api/profile?name=a", Some(&token), None).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], "SERVICE_UNAVAILABLE");
    assert!(answer.retry_after.is_some());
    stop(host);
}

// ---- logo ----

#[tokio::test]
async fn a_logo_event_sets_the_logo_url() {
    let host = app().start();
    let company = seed_company(4, "JP", &unique("Logo Co")).await;
    let url = format!("/media/{company}-logo-mark.png");
    let event = json!({"companyId": company, "logoUrl": url});
    produce("JM_LOGO_UPDATED", &company, &event, &[]).await;

    let deadline = Instant::now() + WAIT;
    loop {
        let read = call(&host, "GET", &format!("/api/profile/{company}"), None, None).await;
        if read.body["logoUrl"] == url.as_str() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "logoUrl is still {}\n{}",
            read.body["logoUrl"],
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop(host);
}

// ---- markers ----

#[tokio::test]
async fn markers_are_created_changed_listed_and_deleted() {
    let host = app().start();
    let company = seed_company(5, "VN", &unique("Marker Co")).await;
    let token = token(&company).await;
    let token = Some(token.as_str());

    let create = json!({"applicantId": "ja-42", "marker": "FAVORITE"});
    let answer = call(&host, "POST", "/api/markers", token, Some(create.clone())).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body["applicantId"], "ja-42");
    assert_eq!(answer.body["marker"], "FAVORITE");
    let answer = call(&host, "POST", "/api/markers", token, Some(create)).await;
    assert_eq!(answer.status, 409);
    assert_eq!(answer.body["error"]["code"], "CONFLICT");

    let bad = json!({"applicantId": "", "marker": "LIKE"});
    let answer = call(&host, "POST", "/api/markers", token, Some(bad)).await;
    assert_eq!(fields_in_error(&answer.body), ["applicantId", "marker"]);

    let change = json!({"marker": "WARNING"});
    let answer = call(
        &host,
        "PUT",
        "/api/markers/ja-42",
        token,
        Some(change.clone()),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["marker"], "WARNING");
    let answer = call(&host, "PUT", "/api/markers/ja-43", token, Some(change)).await;
    assert_eq!(answer.status, 404);

    let answer = call(&host, "GET", "/api/markers", token, None).await;
    assert_eq!(answer.body["total"], 1);
    assert_eq!(answer.body["items"][0]["marker"], "WARNING");

    let answer = call(&host, "DELETE", "/api/markers/ja-42", token, None).await;
    assert_eq!(answer.status, 204);
    let answer = call(&host, "DELETE", "/api/markers/ja-42", token, None).await;
    assert_eq!(answer.status, 404);
    assert!(markers_in(5, &company).await.is_empty());
    stop(host);
}

#[tokio::test]
async fn a_company_cannot_see_or_change_another_companys_markers() {
    let host = app().start();
    let owner = seed_company(5, "VN", &unique("Owner Co")).await;
    let other = seed_company(2, "DE", &unique("Other Co")).await;
    let (owner_token, other_token) = (token(&owner).await, token(&other).await);
    let (mine, theirs) = (Some(owner_token.as_str()), Some(other_token.as_str()));

    let create = json!({"applicantId": "ja-7", "marker": "WARNING"});
    let answer = call(&host, "POST", "/api/markers", mine, Some(create)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);

    let answer = call(&host, "GET", "/api/markers", theirs, None).await;
    assert_eq!(answer.body["items"], json!([]));
    let change = json!({"marker": "FAVORITE"});
    let answer = call(&host, "PUT", "/api/markers/ja-7", theirs, Some(change)).await;
    assert_eq!(answer.status, 404);
    let answer = call(&host, "DELETE", "/api/markers/ja-7", theirs, None).await;
    assert_eq!(answer.status, 404);

    let answer = call(&host, "GET", "/api/markers", mine, None).await;
    assert_eq!(answer.body["items"][0]["marker"], "WARNING");
    assert_eq!(
        markers_in(5, &owner).await,
        vec![("ja-7".to_string(), "WARNING".to_string())]
    );
    stop(host);
}

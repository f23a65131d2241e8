//! End-to-end tests of the media service on the real application (`spin.toml`): logo upload
//! with its `JM_LOGO_UPDATED` message, image and video uploads that store all or nothing,
//! limits, listing and deleting per company, and serving files from `/media/{name}`. Tokens
//! are minted here as auth would issue them; files land in the manifest's `data/media`.

#![expect(
    clippy::expect_used,
    reason = "test helpers stop the test with the failed step's message"
)]

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use jm_host::kafka::schema::Schemas;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::{ClientConfig, Message as _};
use reqwest::Method;
use serde_json::{Value, json};
use support::{Host, HostBuilder};

/// A real 1×1 PNG.
const PNG: &str = "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489000000\
                   0d49444154789c63f8cfc0f01f00050001ff89993d1d0000000049454e44ae426082";
const SVG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- logo -->\n\
                   <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1\" height=\"1\"/>\n";
const MIB: usize = 1 << 20;

fn png() -> Vec<u8> {
    (0..PNG.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&PNG[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A PNG signature followed by filler, `len` bytes in all.
fn png_of_size(len: usize) -> Vec<u8> {
    let mut data = png();
    data.resize(len, 0);
    data
}

/// The start of an MP4 file: a `ftyp` box.
fn mp4() -> Vec<u8> {
    let mut data = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    data.extend([0u8; 64]);
    data
}

/// The start of a WebM file: an EBML header.
fn webm() -> Vec<u8> {
    let mut data = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm".to_vec();
    data.extend([0u8; 64]);
    data
}

fn start() -> Host {
    HostBuilder::app().start()
}

fn media_dir() -> PathBuf {
    HostBuilder::repo_root().join("data/media")
}

/// Names in the media folder that belong to `company`.
fn stored_files(company: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(media_dir()) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.contains(company))
        .collect()
}

/// An access token for `company`, recorded in Redis as auth records it.
async fn access_token(company: &str) -> String {
    support::mint_token(support::DEV_TOKEN_KEY, company, 900, false).await
}

/// A `multipart/form-data` body of `(field, file name, bytes)` parts, and its content type.
fn form(parts: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = format!("----jm{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::new();
    for (field, file_name, data) in parts {
        body.extend(format!("--{boundary}\r\n").bytes());
        body.extend(
            format!(
                "Content-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\n"
            )
            .bytes(),
        );
        body.extend(b"Content-Type: application/octet-stream\r\n\r\n");
        body.extend(*data);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// An answer: status, headers and body.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A company calling the API with its token, or an anonymous caller.
struct Client {
    url: String,
    company: String,
    token: Option<String>,
}

impl Client {
    async fn company(host: &Host) -> Self {
        let company = uuid::Uuid::new_v4().to_string();
        let token = Some(access_token(&company).await);
        Self {
            url: host.url.clone(),
            company,
            token,
        }
    }

    fn anonymous(host: &Host) -> Self {
        Self {
            url: host.url.clone(),
            company: String::new(),
            token: None,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<(String, Vec<u8>)>) -> Answer {
        let client = reqwest::Client::new();
        let mut request = client.request(method, format!("{}{path}", self.url));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        let response = request.send().await.expect("request");
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.expect("body").to_vec(),
        }
    }

    async fn upload(&self, path: &str, parts: &[(&str, &str, &[u8])]) -> Answer {
        self.call(Method::POST, path, Some(form(parts))).await
    }

    async fn list(&self) -> Vec<Value> {
        let answer = self.call(Method::GET, "/api/media/files", None).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.json().as_array().expect("a list").clone()
    }
}

/// Reads `JM_LOGO_UPDATED` from the start until a message of `company` comes, decoded.
async fn logo_message(company: &str) -> Option<Value> {
    let brokers = std::env::var("JM_KAFKA_BROKERS").expect("JM_KAFKA_BROKERS names the broker");
    let schemas = Schemas::load(&HostBuilder::repo_root().join("avro")).expect("schemas");
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("media-test-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("consumer");
    consumer.subscribe(&["JM_LOGO_UPDATED"]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline {
        let received = tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await;
        let Ok(Ok(message)) = received else { continue };
        let Some(payload) = message.payload() else {
            continue;
        };
        let value = schemas
            .decode("JM_LOGO_UPDATED", payload)
            .expect("a valid JM_LOGO_UPDATED");
        let value: Value = serde_json::from_str(&value).expect("json");
        if value["companyId"] == company {
            return Some(value);
        }
    }
    None
}

/// The number of recorded files of `company` in `jm_media`.
async fn recorded_files(company: &str) -> i64 {
    let pool = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/jm_media")
        .await
        .expect("connect to jm_media");
    sqlx::query_scalar("SELECT count(*) FROM media_file WHERE company_id::text = $1")
        .bind(company)
        .fetch_one(&pool)
        .await
        .expect("count rows")
}

#[tokio::test]
async fn a_png_logo_is_stored_served_and_announced_to_profile() {
    let host = start();
    let company = Client::company(&host).await;
    let answer = company
        .upload("/api/media/logo", &[("file", "../../Our Logo.png", &png())])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let url = format!("/media/{}-logo-Our_Logo.png", company.company);
    assert_eq!(answer.json(), json!({ "url": url }));

    let served = Client::anonymous(&host).call(Method::GET, &url, None).await;
    assert_eq!(served.status, 200, "{}", served.text());
    assert_eq!(served.header("content-type"), "image/png");
    assert_eq!(served.header("x-content-type-options"), "nosniff");
    assert_eq!(served.body, png());

    let message = logo_message(&company.company)
        .await
        .expect("JM_LOGO_UPDATED for the company");
    assert_eq!(
        message,
        json!({ "companyId": company.company, "logoUrl": url })
    );
}

#[tokio::test]
async fn a_new_logo_replaces_the_old_one() {
    let host = start();
    let company = Client::company(&host).await;
    let first = company
        .upload("/api/media/logo", &[("file", "first.png", &png())])
        .await;
    assert_eq!(first.status, 200, "{}", first.text());
    let second = company
        .upload("/api/media/logo", &[("file", "second.svg", SVG.as_bytes())])
        .await;
    assert_eq!(second.status, 200, "{}", second.text());

    let anyone = Client::anonymous(&host);
    let old = first.json()["url"].as_str().expect("url").to_string();
    assert_eq!(anyone.call(Method::GET, &old, None).await.status, 404);
    let new = second.json()["url"].as_str().expect("url").to_string();
    let served = anyone.call(Method::GET, &new, None).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.header("content-type"), "image/svg+xml");
    assert!(
        served.header("content-security-policy").contains("sandbox"),
        "an SVG must not run scripts"
    );
}

#[tokio::test]
async fn a_logo_that_is_not_an_image_is_refused_whatever_its_name() {
    let host = start();
    let company = Client::company(&host).await;
    let answer = company
        .upload(
            "/api/media/logo",
            &[("file", "logo.png", b"<html>not an image</html>")],
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(body["error"]["details"][0]["field"], "file");
    let message = body["error"]["details"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("logo.png"), "{message}");

    let gif = company
        .upload(
            "/api/media/logo",
            &[("file", "logo.gif", b"GIF89a\x01\0\x01\0")],
        )
        .await;
    assert_eq!(gif.status, 400, "a GIF is not a logo type: {}", gif.text());
    let none = company.upload("/api/media/logo", &[]).await;
    assert_eq!(none.status, 400, "{}", none.text());
    assert!(stored_files(&company.company).is_empty());
}

#[tokio::test]
async fn a_logo_past_2_mib_is_refused_with_413() {
    let host = start();
    let company = Client::company(&host).await;
    let just_over = png_of_size(2 * MIB + 1);
    let answer = company
        .upload("/api/media/logo", &[("file", "big.png", &just_over)])
        .await;
    assert_eq!(answer.status, 413, "{}", answer.text());
    assert_eq!(answer.json()["error"]["code"], "PAYLOAD_TOO_LARGE");

    let far_over = png_of_size(3 * MIB);
    let answer = company
        .upload("/api/media/logo", &[("file", "bigger.png", &far_over)])
        .await;
    assert_eq!(answer.status, 413, "{}", answer.text());
    assert!(stored_files(&company.company).is_empty());

    let at_limit = png_of_size(2 * MIB);
    let answer = company
        .upload("/api/media/logo", &[("file", "fits.png", &at_limit)])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
}

#[tokio::test]
async fn images_and_videos_are_stored_recorded_listed_and_served() {
    let host = start();
    let company = Client::company(&host).await;
    let (png, mp4, webm) = (png(), mp4(), webm());
    let answer = company
        .upload(
            "/api/media/files",
            &[
                ("files", "office.png", &png),
                ("files", "tour.mp4", &mp4),
                ("files", "team.webm", &webm),
            ],
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    let saved = answer.json();
    let c = &company.company;
    let urls: Vec<(&str, &str)> = saved
        .as_array()
        .expect("a list")
        .iter()
        .map(|f| {
            (
                f["url"].as_str().unwrap_or_default(),
                f["kind"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let expected_urls = [
        format!("/media/{c}-image-office.png"),
        format!("/media/{c}-video-tour.mp4"),
        format!("/media/{c}-video-team.webm"),
    ];
    let expected: Vec<(&str, &str)> = expected_urls
        .iter()
        .map(String::as_str)
        .zip(["image", "video", "video"])
        .collect();
    assert_eq!(urls, expected);
    assert_eq!(recorded_files(c).await, 3);

    let listed = company.list().await;
    assert_eq!(listed.len(), 3);
    let tour = listed
        .iter()
        .find(|f| f["kind"] == "video" && f["contentType"] == "video/mp4")
        .expect("the mp4 is listed");
    assert_eq!(tour["size"], mp4.len());
    assert!(tour["createdAt"].as_str().is_some_and(|t| t.ends_with('Z')));

    let anyone = Client::anonymous(&host);
    let served = anyone.call(Method::GET, &expected_urls[1], None).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.header("content-type"), "video/mp4");
    assert_eq!(served.body, mp4);
    let served = anyone.call(Method::GET, &expected_urls[2], None).await;
    assert_eq!(served.header("content-type"), "video/webm");
}

#[tokio::test]
async fn one_bad_file_stores_none_of_the_upload() {
    let host = start();
    let company = Client::company(&host).await;
    let answer = company
        .upload(
            "/api/media/files",
            &[
                ("files", "good.png", &png()),
                ("files", "fake.png", b"this is plain text, not an image"),
            ],
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    let details = body["error"]["details"].as_array().expect("details");
    assert_eq!(details.len(), 1, "{body}");
    assert!(
        details[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("fake.png")),
        "{body}"
    );
    assert!(company.list().await.is_empty());
    assert_eq!(recorded_files(&company.company).await, 0);
    assert!(stored_files(&company.company).is_empty());
}

#[tokio::test]
async fn an_image_past_5_mib_is_refused_with_413_and_nothing_is_stored() {
    let host = start();
    let company = Client::company(&host).await;
    let big = png_of_size(5 * MIB + 1);
    let answer = company
        .upload(
            "/api/media/files",
            &[("files", "small.png", &png()), ("files", "huge.png", &big)],
        )
        .await;
    assert_eq!(answer.status, 413, "{}", answer.text());
    assert!(answer.text().contains("huge.png"));
    assert!(company.list().await.is_empty());
    assert!(stored_files(&company.company).is_empty());
}

#[tokio::test]
async fn a_video_may_be_large_but_not_past_50_mib() {
    let host = start();
    let company = Client::company(&host).await;
    let mut large = mp4();
    large.resize(40 * MIB, 7);
    let answer = company
        .upload("/api/media/files", &[("files", "large.mp4", &large)])
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    let url = answer.json()[0]["url"].as_str().expect("url").to_string();
    let served = Client::anonymous(&host).call(Method::GET, &url, None).await;
    assert_eq!((served.status, served.body.len()), (200, large.len()));

    large.resize(50 * MIB + 1, 7);
    let answer = company
        .upload("/api/media/files", &[("files", "too-large.mp4", &large)])
        .await;
    assert_eq!(answer.status, 413, "{}", answer.text());
    let listed = company.list().await;
    assert_eq!(listed.len(), 1);

    let path = format!("/api/media/files/{}", listed[0]["id"].as_str().expect("id"));
    assert_eq!(company.call(Method::DELETE, &path, None).await.status, 204);
}

#[tokio::test]
async fn files_are_private_to_their_company() {
    let host = start();
    let owner = Client::company(&host).await;
    let other = Client::company(&host).await;
    let answer = owner
        .upload("/api/media/files", &[("files", "mine.png", &png())])
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    let saved = &answer.json()[0];
    let path = format!("/api/media/files/{}", saved["id"].as_str().expect("id"));
    let url = saved["url"].as_str().expect("url").to_string();

    assert!(other.list().await.is_empty());
    let refused = other.call(Method::DELETE, &path, None).await;
    assert_eq!(refused.status, 404, "{}", refused.text());
    assert_eq!(owner.list().await.len(), 1);

    let deleted = owner.call(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    assert!(owner.list().await.is_empty());
    let anyone = Client::anonymous(&host);
    assert_eq!(anyone.call(Method::GET, &url, None).await.status, 404);
    assert!(stored_files(&owner.company).is_empty());
    assert_eq!(owner.call(Method::DELETE, &path, None).await.status, 404);

    let bad = owner
        .call(Method::DELETE, "/api/media/files/42", None)
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text());
}

#[tokio::test]
async fn served_names_cannot_leave_the_media_folder() {
    let host = start();
    let anyone = Client::anonymous(&host);
    for path in [
        "/media/..%2F..%2Fspin.toml",
        "/media/..%2Fspin.toml",
        "/media/%2E%2E/spin.toml",
        "/media/.hidden",
        "/media/no-such-file.png",
    ] {
        let answer = anyone.call(Method::GET, path, None).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.text());
        assert!(!answer.text().contains("spin_manifest_version"));
    }
}

#[tokio::test]
async fn uploads_and_listings_need_an_access_token() {
    let host = start();
    let anyone = Client::anonymous(&host);
    let answer = anyone
        .upload("/api/media/logo", &[("file", "a.png", &png())])
        .await;
    assert_eq!(answer.status, 401, "{}", answer.text());
    assert_eq!(answer.json()["error"]["code"], "UNAUTHORIZED");
    let answer = anyone.call(Method::GET, "/api/media/files", None).await;
    assert_eq!(answer.status, 401);
}

//! End-to-end tests of the skill tag service on the real application (`spin.toml`): search
//! order, case- and space-insensitive uniqueness, deletion, the seeded catalogue, and the
//! token the writes need. Tokens are minted here as auth would issue them.

#![expect(
    clippy::expect_used,
    reason = "test helpers stop the test with the failed step's message"
)]

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{Host, HostBuilder};

/// The seeded tags of SPEC 7's two premium posts, with their fixed ids.
const SEEDED: [(&str, &str); 6] = [
    ("React", "7a600000-0000-4000-8000-000000000001"),
    ("Spring Boot", "7a600000-0000-4000-8000-000000000002"),
    ("Docker", "7a600000-0000-4000-8000-000000000003"),
    ("Python", "7a600000-0000-4000-8000-000000000004"),
    ("AWS", "7a600000-0000-4000-8000-000000000005"),
    ("Snowflake", "7a600000-0000-4000-8000-000000000006"),
];

fn start() -> Host {
    HostBuilder::app().start()
}

/// Lower-case letters unique to one test, so that tags of other tests never match.
fn unique() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    id.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                (b'g' + (c as u8 - b'0')) as char
            } else {
                c
            }
        })
        .take(12)
        .collect()
}

/// An access token for `company`, recorded in Redis as auth records it.
async fn access_token(company: &str) -> String {
    support::mint_token(support::DEV_TOKEN_KEY, company, 900, false).await
}

/// A caller of the API, with a token or without.
struct Client {
    url: String,
    token: Option<String>,
}

impl Client {
    async fn company(host: &Host) -> Self {
        let company = uuid::Uuid::new_v4().to_string();
        Self {
            url: host.url.clone(),
            token: Some(access_token(&company).await),
        }
    }

    fn anonymous(host: &Host) -> Self {
        Self {
            url: host.url.clone(),
            token: None,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = reqwest::Client::new().request(method, format!("{}{path}", self.url));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn create(&self, name: &str) -> (u16, Value) {
        self.call(Method::POST, "/api/tags", Some(json!({ "name": name })))
            .await
    }

    async fn search(&self, query: &str) -> Vec<String> {
        let (status, body) = self
            .call(Method::GET, &format!("/api/tags?{query}"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        let tags = body.as_array().expect("a list of tags");
        tags.iter()
            .map(|tag| tag["name"].as_str().expect("name").to_string())
            .collect()
    }
}

#[tokio::test]
async fn search_answers_prefix_matches_first_then_other_matches_by_name() {
    let host = start();
    let company = Client::company(&host).await;
    let s = unique();
    for name in [
        format!("x{s}"),
        format!("{s} Zeta"),
        format!("A{s}y"),
        format!("{s} alpha"),
    ] {
        let (status, body) = company.create(&name).await;
        assert_eq!(status, 201, "{body}");
    }

    let anyone = Client::anonymous(&host);
    let found = anyone.search(&format!("q={}", s.to_uppercase())).await;
    let expected = [
        format!("{s} alpha"),
        format!("{s} Zeta"),
        format!("A{s}y"),
        format!("x{s}"),
    ];
    assert_eq!(found, expected);
    assert_eq!(
        anyone.search(&format!("q={s}&limit=2")).await,
        expected[..2]
    );
}

#[tokio::test]
async fn search_limits_to_20_by_default_and_100_at_most() {
    let host = start();
    let company = Client::company(&host).await;
    let s = unique();
    for n in 0..21 {
        let (status, body) = company.create(&format!("{s}{n:02}")).await;
        assert_eq!(status, 201, "{body}");
    }
    let anyone = Client::anonymous(&host);
    assert_eq!(anyone.search(&format!("q={s}")).await.len(), 20);
    assert_eq!(anyone.search(&format!("q={s}&limit=1000")).await.len(), 21);
    assert!(anyone.search("limit=1000").await.len() <= 100);

    let (status, body) = anyone.call(Method::GET, "/api/tags?limit=zero", None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "limit");
}

#[tokio::test]
async fn a_new_tag_is_trimmed_and_a_case_or_space_variant_conflicts_with_it() {
    let host = start();
    let company = Client::company(&host).await;
    let s = unique();
    let (status, created) = company.create(&format!("  Rust  {s} ")).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], format!("Rust {s}"));
    assert!(
        created["id"].as_str().is_some_and(|id| id.len() == 36),
        "{created}"
    );

    for variant in [
        format!("rust {s}"),
        format!("RUST\t{s}   "),
        format!(" rust   {}", s.to_uppercase()),
    ] {
        let (status, body) = company.create(&variant).await;
        assert_eq!(status, 409, "{variant:?}: {body}");
        assert_eq!(body["error"]["code"], "CONFLICT");
        assert_eq!(body["error"]["existing"], created, "{body}");
        assert_eq!(body["path"], "/api/tags");
    }
}

#[tokio::test]
async fn concurrent_creates_of_one_name_make_one_tag() {
    let host = start();
    let company = Client::company(&host).await;
    let s = unique();
    let names: Vec<String> = (0..6)
        .map(|n| {
            if n % 2 == 0 {
                format!("Go{s}")
            } else {
                format!("gO{s}")
            }
        })
        .collect();
    let answers = futures::future::join_all(names.iter().map(|name| company.create(name))).await;

    let created: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == 201)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(status, _)| *status != 201) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(body["error"]["existing"]["id"], created[0]["id"]);
    }
    assert_eq!(
        Client::anonymous(&host)
            .search(&format!("q={s}"))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_tag_name_must_be_a_string_of_1_to_50_characters() {
    let host = start();
    let company = Client::company(&host).await;
    let too_long = "é".repeat(51);
    for body in [
        json!({}),
        json!({ "name": "   " }),
        json!({ "name": too_long }),
        json!({ "name": 7 }),
    ] {
        let (status, answer) = company
            .call(Method::POST, "/api/tags", Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(answer["error"]["details"][0]["field"], "name", "{answer}");
    }
    let (status, answer) = company.create(&"é".repeat(50)).await;
    assert!(status == 201 || status == 409, "{answer}");
}

#[tokio::test]
async fn a_deleted_tag_is_gone_and_deleting_it_again_is_not_found() {
    let host = start();
    let company = Client::company(&host).await;
    let s = unique();
    let (_, created) = company.create(&format!("Temp {s}")).await;
    let path = format!("/api/tags/{}", created["id"].as_str().expect("id"));

    let (status, body) = company.call(Method::DELETE, &path, None).await;
    assert_eq!(status, 204, "{body}");
    assert!(company.search(&format!("q={s}")).await.is_empty());
    let (status, body) = company.call(Method::DELETE, &path, None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "NOT_FOUND");

    let (status, body) = company
        .call(Method::DELETE, "/api/tags/not-a-uuid", None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "id");
}

#[tokio::test]
async fn writing_tags_needs_an_access_token() {
    let host = start();
    let anyone = Client::anonymous(&host);
    let (status, body) = anyone.create("Anonymous").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
    let path = format!("/api/tags/{}", SEEDED[0].1);
    let (status, body) = anyone.call(Method::DELETE, &path, None).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn the_seeded_catalogue_has_the_skills_of_the_seeded_posts() {
    let host = start();
    let anyone = Client::anonymous(&host);
    for (name, id) in SEEDED {
        let query = format!("/api/tags?q={}", name.replace(' ', "%20"));
        let (status, body) = anyone.call(Method::GET, &query, None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body[0], json!({ "id": id, "name": name }), "{name}: {body}");
    }
}

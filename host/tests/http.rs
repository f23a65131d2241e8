//! End-to-end tests of `jm up` serving test components over HTTP, against the machine's real
//! Postgres and Redis. Build the components first (`scripts/test.sh` does).

#![expect(
    clippy::expect_used,
    reason = "test helpers stop the test with the failed step's message"
)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{HostBuilder, get, post};

const REDIS: &str = "redis://127.0.0.1:6379";
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

const MANIFEST: &str = r#"
spin_manifest_version = 2

[application]
name = "kitchen"

[variables]
greeting = { default = "hello" }
api_token = { required = true, secret = true }

[[trigger.http]]
route = "/kitchen/..."
component = "kitchen"

[[trigger.http]]
route = "/params/:team/:player/..."
component = "kitchen"

[[trigger.http]]
route = "/exact"
component = "p2-echo"

[[trigger.http]]
route = "/slow/..."
component = "slow"

[[trigger.http]]
route = "/p2/..."
component = "p2-echo"

[[trigger.http]]
route = { private = true }
component = "hello"

[[trigger.http]]
route = "/reused/..."
component = "reused"

[component.kitchen]
source = "{components}/kitchen.wasm"
environment = { KITCHEN_MODE = "test" }
allowed_outbound_hosts = ["postgres://127.0.0.1", "redis://127.0.0.1", "http://127.0.0.1:*"]
key_value_stores = ["default", "shared"]
variables = { message = "{{ greeting }}, world", token = "{{ api_token }}" }

[component.slow]
source = "{components}/kitchen.wasm"
request_timeout_ms = 1000
memory_limit_mib = 32

[component.p2-echo]
source = "{components}/p2_echo.wasm"

[component.hello]
source = "{components}/hello.wasm"

[component.reused]
source = "{components}/kitchen.wasm"
instance_reuse = 3
"#;

fn kitchen() -> HostBuilder {
    HostBuilder::new(MANIFEST)
        .env("SPIN_VARIABLE_API_TOKEN", "s3cret")
        .runtime_config(
            "[key_value_store.shared]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379/1\"\n",
        )
}

async fn json_post(url: impl AsRef<str>, body: Value) -> (u16, Value) {
    let (status, text) = post(url.as_ref(), body.to_string()).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn routes_pick_the_most_specific_component_and_set_spin_headers() {
    let host = kitchen().start();
    let (status, body) = get(&format!("{}/params/red/7/headers?x=1", host.url)).await;
    assert_eq!(status, 200, "{body}");
    let headers: Value = serde_json::from_str(&body).expect("json");
    let h = &headers["headers"];
    assert_eq!(h["spin-path-match-team"], "red");
    assert_eq!(h["spin-path-match-player"], "7");
    assert_eq!(h["spin-path-info"], "/headers");
    assert_eq!(h["spin-matched-route"], "/params/:team/:player/...");
    assert_eq!(h["spin-raw-component-route"], "/params/:team/:player/...");
    assert_eq!(h["spin-component-route"], "/params/:team/:player");
    assert_eq!(h["spin-base-path"], "/");
    let port = host.url.rsplit(':').next().unwrap_or_default();
    assert_eq!(
        h["spin-full-url"],
        format!("http://127.0.0.1:{port}/params/red/7/headers?x=1")
    );
    assert!(
        h["spin-client-addr"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:"))
    );

    assert_eq!(
        get(&format!("{}/exact", host.url)).await,
        (200, "p2 GET /exact\n".into())
    );
    assert_eq!(get(&format!("{}/exact/more", host.url)).await.0, 404);
    assert_eq!(get(&format!("{}/nowhere", host.url)).await.0, 404);
}

#[tokio::test]
async fn both_http_worlds_stream_bodies() {
    let host = kitchen().start();
    let big = "x".repeat(3 << 20);
    let (status, body) = post(&format!("{}/p2/upload?n=1", host.url), big.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(body, format!("p2 POST /p2/upload?n=1\n{big}"));
    let (status, body) = post(&format!("{}/kitchen/echo", host.url), big.clone()).await;
    assert_eq!((status, body.len()), (200, big.len()));
}

#[tokio::test]
async fn key_value_in_process_and_on_redis() {
    let host = kitchen().start();
    let client = reqwest::Client::new();
    let key = format!("kv-test-{}", std::process::id());
    for label in ["default", "shared"] {
        let url = format!("{}/kitchen/kv/{label}/{key}", host.url);
        let put = client.put(&url).body("value-1").send().await.expect("put");
        assert_eq!(put.status().as_u16(), 204);
        assert_eq!(get(&url).await, (200, "value-1".into()));
        let (_, keys) = get(&format!("{}/kitchen/kv/{label}", host.url)).await;
        assert!(keys.contains(&key), "{keys}");
        client.delete(&url).send().await.expect("delete");
        assert_eq!(get(&url).await.0, 404);
    }
    // The shared store is a Redis database of its own: a value set there is seen by Redis.
    let url = format!("{}/kitchen/kv/shared/{key}", host.url);
    client.put(&url).body("in-redis").send().await.expect("put");
    let mut redis = redis::Client::open(format!("{REDIS}/1"))
        .expect("redis")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let stored: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .expect("GET");
    assert_eq!(stored.as_deref(), Some("in-redis"));
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .expect("DEL");

    let (status, body) = get(&format!("{}/kitchen/kv/private/x", host.url)).await;
    assert_eq!(
        (status, body.as_str()),
        (500, "open failed: Error::AccessDenied")
    );
}

#[tokio::test]
async fn key_value_label_missing_from_runtime_config_stops_start_up() {
    let log = HostBuilder::new(MANIFEST)
        .env("SPIN_VARIABLE_API_TOKEN", "t")
        .start_expecting_failure();
    assert!(
        log.contains(
            "component `kitchen` uses key-value store `shared`, \
             which runtime config does not define"
        ),
        "{log}"
    );
}

#[tokio::test]
async fn a_key_value_store_on_the_hosts_own_redis_database_stops_start_up() {
    let log = HostBuilder::new(MANIFEST)
        .env("SPIN_VARIABLE_API_TOKEN", "t")
        .runtime_config(
            "[key_value_store.shared]\ntype = \"redis\"\nurl = \"redis://localhost:6379/0\"\n",
        )
        .start_expecting_failure();
    assert!(
        log.contains(
            "key_value_store `shared` is the host's own Redis database \
             (redis://localhost:6379/0), whose tokens and records a component could then list \
             and change; give it a database of its own (`redis://HOST:PORT/1`)"
        ),
        "{log}"
    );
}

#[tokio::test]
async fn variables_expand_templates_and_read_the_environment() {
    let host = kitchen().env("SPIN_VARIABLE_GREETING", "hej").start();
    assert_eq!(
        get(&format!("{}/kitchen/var/message", host.url)).await,
        (200, "hej, world".into())
    );
    assert_eq!(
        get(&format!("{}/kitchen/var/token", host.url)).await,
        (200, "s3cret".into())
    );
    let (status, body) = get(&format!("{}/kitchen/var/greeting", host.url)).await;
    assert_eq!(
        (status, body.as_str()),
        (500, "variable error: Error::Undefined(\"greeting\")")
    );
    assert_eq!(
        get(&format!("{}/kitchen/env/KITCHEN_MODE", host.url)).await,
        (200, "test".into())
    );
    assert!(!host.log().contains("s3cret"), "a secret reached the log");
}

#[tokio::test]
async fn required_variable_without_value_stops_start_up() {
    let log = HostBuilder::new(MANIFEST).start_expecting_failure();
    assert!(
        log.contains(
            "variable `api_token` is required: set SPIN_VARIABLE_API_TOKEN in the environment"
        ),
        "{log}"
    );
}

fn param(kind: &str, value: Value) -> Value {
    json!({"type": kind, "value": value})
}

#[tokio::test]
async fn postgres_round_trips_every_value_type() {
    let host = kitchen().start();
    let table = format!("kitchen_types_{}", std::process::id());
    let insert = format!(
        "INSERT INTO {table} VALUES \
         ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)"
    );
    let statements = json!([
        {"sql": format!("DROP TABLE IF EXISTS {table}"), "params": [], "execute": true},
        {"sql": format!("CREATE TABLE {table} (b bool, i2 int2, i4 int4, i8 int8, \
            f4 float4, f8 float8, s text, by bytea, d date, t time, ts timestamp, u uuid, \
            j jsonb, n numeric, \
            r4 int4range, r8 int8range, rn numrange, a4 int4[], a8 int8[], at text[], \
            iv interval)"),
         "params": [], "execute": true},
        {"sql": insert, "execute": true, "params": [
            param("boolean", json!(true)), param("int16", json!(-2)), param("int32", json!(40000)),
            param("int64", json!(9_000_000_000_i64)), param("floating32", json!(1.5)),
            param("floating64", json!(2.25)), param("str", json!("héllo")),
            param("binary", json!([0, 255])), param("date", json!([2026, 12, 3])),
            param("time", json!([13, 14, 15, 0])),
            param("datetime", json!([2026, 12, 3, 13, 14, 15, 500_000_000])),
            param("uuid", json!("5f0c6a2e-8f3b-4d7a-9a51-2b8d7e0c1f42")),
            param("jsonb", json!({"a": [1, 2]})), param("decimal", json!("12.50")),
            param("range-int32", json!([[1, "inclusive"], [5, "exclusive"]])),
            param("range-int64", json!([null, [10, "exclusive"]])),
            param("range-decimal", json!([["1.5", "inclusive"], ["2.5", "exclusive"]])),
            param("array-int32", json!([1, null, 3])), param("array-int64", json!([7])),
            param("array-str", json!(["a", null])),
            param("interval", json!({"micros": 3_600_000_000_i64, "days": 2, "months": 1})),
        ]},
        {"sql": format!("SELECT * FROM {table}"), "params": []},
        {"sql": format!("DROP TABLE {table}"), "params": [], "execute": true},
    ]);
    let (status, body) = json_post(
        &format!("{}/kitchen/pg", host.url),
        json!({"address": POSTGRES, "statements": statements}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let row = &body["results"][3]["rows"][0];
    let expected = [
        "DbValue::Boolean(true)",
        "DbValue::Int16(-2)",
        "DbValue::Int32(40000)",
        "DbValue::Int64(9000000000)",
        "DbValue::Floating32(1.5)",
        "DbValue::Floating64(2.25)",
        "DbValue::Str(\"héllo\")",
        "DbValue::Binary([0, 255])",
        "DbValue::Date((2026, 12, 3))",
        "DbValue::Time((13, 14, 15, 0))",
        "DbValue::Datetime((2026, 12, 3, 13, 14, 15, 500000000))",
        "DbValue::Uuid(\"5f0c6a2e-8f3b-4d7a-9a51-2b8d7e0c1f42\")",
        "DbValue::Jsonb([123, 34, 97, 34, 58, 32, 91, 49, 44, 32, 50, 93, 125])",
        "DbValue::Decimal(\"12.50\")",
        "DbValue::RangeInt32((Some((1, RangeBoundKind::Inclusive)), \
         Some((5, RangeBoundKind::Exclusive))))",
        "DbValue::RangeInt64((None, Some((10, RangeBoundKind::Exclusive))))",
        "DbValue::RangeDecimal((Some((\"1.5\", RangeBoundKind::Inclusive)), \
         Some((\"2.5\", RangeBoundKind::Exclusive))))",
        "DbValue::ArrayInt32([Some(1), None, Some(3)])",
        "DbValue::ArrayInt64([Some(7)])",
        "DbValue::ArrayStr([Some(\"a\"), None])",
        "DbValue::Interval(Interval { micros: 3600000000, days: 2, months: 1 })",
    ];
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(row[i], *want, "column {i}");
    }
    assert_eq!(
        body["results"][3]["columns"][13],
        json!(["n", "DbDataType::Decimal"])
    );
}

#[tokio::test]
async fn postgres_transaction_commits_and_rolls_back_on_one_connection() {
    let host = kitchen().start();
    let table = format!("kitchen_tx_{}", std::process::id());
    let run = |statements: Value| {
        json_post(
            format!("{}/kitchen/pg", host.url),
            json!({"address": POSTGRES, "statements": statements}),
        )
    };
    let exec = |sql: String| json!({"sql": sql, "params": [], "execute": true});
    let (status, body) = run(json!([
        exec(format!("DROP TABLE IF EXISTS {table}")),
        exec(format!("CREATE TABLE {table} (n int4)")),
        exec("BEGIN".into()),
        exec(format!("INSERT INTO {table} VALUES (1)")),
        exec("ROLLBACK".into()),
        exec("BEGIN".into()),
        exec(format!("INSERT INTO {table} VALUES (2)")),
        exec("COMMIT".into()),
        exec("BEGIN".into()),
        exec(format!("INSERT INTO {table} VALUES (3)")),
    ]))
    .await;
    assert_eq!(status, 200, "{body}");
    // The request ended inside a transaction: its session must not leak into the pool.
    let (status, body) = run(json!([
        {"sql": format!("SELECT n FROM {table} ORDER BY n"), "params": []},
        exec(format!("DROP TABLE {table}")),
    ]))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["rows"], json!([["DbValue::Int32(2)"]]));
}

#[tokio::test]
async fn postgres_errors_reach_the_component_and_change_nothing() {
    let host = kitchen().start();
    let (status, body) = json_post(
        &format!("{}/kitchen/pg", host.url),
        json!({
            "address": POSTGRES,
            "statements": [{"sql": "SELECT * FROM no_such_table", "params": []}]
        }),
    )
    .await;
    assert_eq!(status, 500);
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("42P01") && error.contains("no_such_table"),
        "{error}"
    );
}

#[tokio::test]
async fn redis_commands_and_publish_work() {
    let host = kitchen().start();
    let key = format!("kitchen-redis-{}", std::process::id());
    let client = redis::Client::open(REDIS).expect("redis");
    let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
    pubsub.subscribe(&key).await.expect("subscribe");

    let ops = json!([
        {"op": "set", "key": key, "value": "v"},
        {"op": "get", "key": key},
        {"op": "incr", "key": format!("{key}-n")},
        {"op": "sadd", "key": format!("{key}-s"), "values": ["b", "a"]},
        {"op": "smembers", "key": format!("{key}-s")},
        {"op": "srem", "key": format!("{key}-s"), "values": ["a"]},
        {"op": "execute", "command": "STRLEN", "args": [key]},
        {"op": "publish", "channel": key, "payload": "hello subscribers"},
        {"op": "del", "keys": [key, format!("{key}-n"), format!("{key}-s")]},
    ]);
    let (status, body) = json_post(
        &format!("{}/kitchen/redis", host.url),
        json!({"address": REDIS, "ops": ops}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["results"],
        json!([
            "()",
            "Some(\"v\")",
            "1",
            "2",
            "[\"a\", \"b\"]",
            "1",
            "[RedisResult::Int64(1)]",
            "()",
            "3"
        ])
    );
    let mut messages = pubsub.on_message();
    let message = tokio::time::timeout(
        Duration::from_secs(5),
        futures::StreamExt::next(&mut messages),
    )
    .await
    .expect("a published message")
    .expect("message");
    assert_eq!(
        message.get_payload::<String>().ok().as_deref(),
        Some("hello subscribers")
    );
}

#[tokio::test]
async fn refused_hosts_are_errors_the_component_sees() {
    let host = kitchen().start();
    let (status, body) = get(&format!(
        "{}/kitchen/outbound?url=http://example.com/",
        host.url
    ))
    .await;
    assert_eq!(
        (status, body.as_str()),
        (502, "outbound error: ErrorCode::HttpRequestDenied")
    );
    let allowed = format!("{}/kitchen/outbound?url={}/exact", host.url, host.url);
    assert_eq!(
        get(&allowed).await,
        (200, "status=200 body=p2 GET /exact\n".into())
    );

    let (status, body) = json_post(
        &format!("{}/kitchen/pg", host.url),
        json!({"address": "postgres://postgres@127.0.0.2:5432/postgres", "statements": []}),
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(
        body["error"],
        "PgError(Error::ConnectionFailed(\"postgres://127.0.0.2:5432 \
         is not in the component's allowed_outbound_hosts\"))"
    );
    let (status, body) = json_post(
        &format!("{}/kitchen/redis", host.url),
        json!({"address": "redis://10.1.1.1:6379", "ops": []}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (500, Some("Error::InvalidAddress"))
    );
}

#[tokio::test]
async fn a_trap_answers_500_and_harms_no_other_request() {
    let host = kitchen().start();
    let slow = tokio::spawn(get(format!("{}/kitchen/sleep?ms=500", host.url).leak()));
    assert_eq!(get(&format!("{}/kitchen/trap", host.url)).await.0, 500);
    assert_eq!(
        get(&format!("{}/kitchen/hello", host.url)).await,
        (200, "hello from kitchen".into())
    );
    assert_eq!(slow.await.expect("join"), (200, "slept".into()));
}

#[tokio::test]
async fn each_request_gets_a_fresh_instance_unless_the_manifest_allows_reuse() {
    let host = kitchen().start();
    let mut fresh = Vec::new();
    let mut reused = Vec::new();
    for _ in 0..4 {
        fresh.push(get(&format!("{}/kitchen/count", host.url)).await.1);
        reused.push(get(&format!("{}/reused/count", host.url)).await.1);
    }
    assert_eq!(fresh, ["1", "1", "1", "1"]);
    // `instance_reuse = 3`: one instance serves three requests, then a fresh one takes over.
    assert_eq!(reused, ["1", "2", "3", "1"]);
}

#[tokio::test]
async fn an_endless_loop_answers_504_within_the_deadline() {
    let host = kitchen().start();
    let started = Instant::now();
    let (status, _) = get(&format!("{}/slow/loop", host.url)).await;
    let elapsed = started.elapsed();
    assert_eq!(status, 504);
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert_eq!(
        get(&format!("{}/slow/hello", host.url)).await,
        (200, "hello from kitchen".into())
    );
}

#[tokio::test]
async fn a_memory_bomb_answers_500() {
    let host = kitchen().start();
    assert_eq!(get(&format!("{}/slow/oom", host.url)).await.0, 500);
    assert_eq!(get(&format!("{}/slow/hello", host.url)).await.0, 200);
}

#[tokio::test]
async fn component_output_reaches_the_log_tagged_with_the_component() {
    let host = kitchen().start();
    assert_eq!(get(&format!("{}/kitchen/stdout", host.url)).await.0, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = host.log();
    let line = log
        .lines()
        .find(|l| l.contains("kitchen says hi"))
        .unwrap_or_default();
    assert!(
        line.contains("component=kitchen") && line.contains("stream=\"stdout\""),
        "{log}"
    );
}

#[tokio::test]
async fn migrations_create_the_database_and_apply_once() {
    let database = format!("jm_test_migrations_{}", std::process::id());
    let migration = "CREATE TABLE greeting (id int PRIMARY KEY, text text NOT NULL);\n\
                     INSERT INTO greeting VALUES (1, 'migrated');\n";
    let start = || {
        kitchen()
            .file(
                &format!("migrations/{database}/0001_greeting.sql"),
                migration,
            )
            .env("JM_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
            .start()
    };
    let host = start();
    assert!(
        host.log()
            .contains(&format!("Migrated {database}: 1 applied, 1 new")),
        "{}",
        host.log()
    );
    let address = format!("postgres://postgres@127.0.0.1:5432/{database}");
    let (status, body) = json_post(
        &format!("{}/kitchen/pg", host.url),
        json!({
            "address": address,
            "statements": [{"sql": "SELECT text FROM greeting", "params": []}]
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["results"][0]["rows"],
        json!([["DbValue::Str(\"migrated\")"]])
    );
    drop(host);

    let again = start();
    assert!(
        again
            .log()
            .contains(&format!("Migrated {database}: 1 applied, 0 new")),
        "{}",
        again.log()
    );
    drop(again);
    let _ = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-c",
            &format!("DROP DATABASE {database}"),
        ])
        .output();
}

#[tokio::test]
async fn manifest_errors_stop_start_up_with_file_and_line() {
    let bad = MANIFEST.replace(
        "memory_limit_mib = 32",
        "memory_limit_mib = 32\ncolour = \"red\"",
    );
    let log = HostBuilder::new(&bad).start_expecting_failure();
    assert!(
        log.contains("spin.toml:50: unknown field `colour`, expected one of"),
        "{log}"
    );

    let never = MANIFEST.replace("instance_reuse = 3", "instance_reuse = 0");
    let log = HostBuilder::new(&never).start_expecting_failure();
    assert!(log.contains("`instance_reuse` must be at least 1"), "{log}");

    let missing = MANIFEST.replace("component = \"slow\"", "component = \"fast\"");
    let log = HostBuilder::new(&missing).start_expecting_failure();
    assert!(
        log.contains("trigger names component `fast`, which is not in [component]"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_in_flight_requests_finish_and_exits_zero() {
    let mut host = kitchen().start();
    let slow = tokio::spawn(get(format!("{}/kitchen/sleep?ms=700", host.url).leak()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = tokio::task::block_in_place(|| host.terminate());
    assert!(status.success(), "{status:?}\n{}", host.log());
    assert_eq!(slow.await.expect("join"), (200, "slept".into()));
}

const EDGE: &str = r#"
spin_manifest_version = 2

[application]
name = "edge"

[application.trigger.http.auth]
key = "token_key"
public = ["GET /open/...", "/anything/..."]

[variables]
token_key = { default = "ZGV2ZWxvcG1lbnQta2V5LW9ubHktMzItYnl0ZXMhISE", secret = true }

[[trigger.http]]
route = "/open/..."
component = "kitchen"

[[trigger.http]]
route = "/closed/..."
component = "kitchen"

[component.kitchen]
source = "{components}/kitchen.wasm"
"#;

async fn headers_seen(url: &str, token: Option<&str>, spoof: bool) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.header("cookie", format!("theme=dark; ACCESS_TOKEN={token}"));
    }
    if spoof {
        request = request.header("jm-company-id", "someone-else");
    }
    let response = request.send().await.expect("GET");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn the_edge_verifies_tokens_once_and_hands_the_company_to_the_component() {
    let host = HostBuilder::new(EDGE).start();
    let company = uuid_like();
    let token = support::mint_token(support::DEV_TOKEN_KEY, &company, 60, false).await;

    let (status, body) =
        headers_seen(&format!("{}/closed/headers", host.url), Some(&token), true).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["headers"]["jm-company-id"], company.as_str());
    assert!(body["headers"]["jm-token-id"].is_string());

    let (status, body) = headers_seen(&format!("{}/closed/headers", host.url), None, true).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
    assert_eq!(body["path"], "/closed/headers");
    assert!(body["timestamp"].is_string());

    // Public routes pass without a token, and a spoofed identity never reaches the component.
    let (status, body) = headers_seen(&format!("{}/open/headers", host.url), None, true).await;
    assert_eq!(status, 200);
    assert!(body["headers"].get("jm-company-id").is_none(), "{body}");
}

#[tokio::test]
async fn expired_forged_and_revoked_tokens_are_refused() {
    let host = HostBuilder::new(EDGE).start();
    let url = format!("{}/closed/headers", host.url);
    let expired = support::mint_token(support::DEV_TOKEN_KEY, "c1", -5, false).await;
    let (status, body) = headers_seen(&url, Some(&expired), false).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("TOKEN_EXPIRED"))
    );

    let other_key = "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktMzI";
    let forged = support::mint_token(other_key, "c1", 60, false).await;
    let (status, body) = headers_seen(&url, Some(&forged), false).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("UNAUTHORIZED"))
    );

    let revoked = support::mint_token(support::DEV_TOKEN_KEY, "c1", 60, true).await;
    let (status, body) = headers_seen(&url, Some(&revoked), false).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("UNAUTHORIZED"))
    );
}

fn uuid_like() -> String {
    format!(
        "c-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    )
}

#[tokio::test]
async fn rate_limits_hold_per_company_with_headers_and_429() {
    let manifest = EDGE.replace(
        "[variables]",
        "[application.trigger.http.rate_limit]\nper_minute = 60\nburst = 3\n\n[variables]",
    );
    let host = HostBuilder::new(&manifest).start();
    let company = uuid_like();
    let token = support::mint_token(support::DEV_TOKEN_KEY, &company, 60, false).await;
    let client = reqwest::Client::new();
    let call = || {
        client
            .get(format!("{}/closed/hello", host.url))
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    for remaining in ["2", "1", "0"] {
        let response = call().await.expect("GET");
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["x-ratelimit-limit"], "60");
        assert_eq!(response.headers()["x-ratelimit-remaining"], remaining);
    }
    let response = call().await.expect("GET");
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(call().await.expect("GET").status().as_u16(), 200);
}

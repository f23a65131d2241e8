//! End-to-end tests of the Kafka trigger, publish and request-reply against a real broker
//! (`JM_KAFKA_BROKERS`, which `scripts/test.sh` starts), with effects recorded in Redis.

#![expect(
    clippy::expect_used,
    reason = "test helpers stop the test with the failed step's message"
)]

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use jm_host::kafka::schema::Schemas;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Header, Headers as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message as _};
use serde_json::{Value, json};
use support::{Host, HostBuilder, post};

const REDIS: &str = "redis://127.0.0.1:6379";

const EVENT: &str = r#"{"type":"record","name":"Event","namespace":"jm.test","doc":"A probe event",
  "fields":[{"name":"id","type":"string"},{"name":"action","type":"string"},
  {"name":"seq","type":"int"}]}"#;
const PING: &str = r#"{"type":"record","name":"Ping","namespace":"jm.test","doc":"A probe ping",
  "fields":[{"name":"id","type":"string"},{"name":"text","type":"string"}]}"#;

/// One test's topics, group and Redis keys, unique on the shared broker.
struct Scenario {
    prefix: String,
    group: String,
}

impl Scenario {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let prefix = format!("T{stamp}_{n}_");
        Self {
            group: format!("{prefix}group"),
            prefix,
        }
    }

    fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn manifest(&self) -> String {
        let p = &self.prefix;
        format!(
            r#"
spin_manifest_version = 2

[application]
name = "kafka-probe"

[application.trigger.kafka]
partitions = 3
retries = 3
backoff_ms = 200
client = {{ "session.timeout.ms" = "6000", "max.poll.interval.ms" = "10000" }}

[variables]
redis_url = {{ default = "{REDIS}" }}

[[trigger.http]]
route = "/..."
component = "probe"

[[trigger.kafka]]
component = "probe"
topics = ["{p}EVENTS", "{p}PING"]
group = "{group}"
concurrency = 4

[component.probe]
source = "{{components}}/kafka_probe.wasm"
allowed_outbound_hosts = ["redis://127.0.0.1"]
variables = {{ redis_url = "{{{{ redis_url }}}}" }}
kafka_publish = ["{p}EVENTS", "{p}PING", "{p}PING_REPLY", "{p}SILENT"]
request_timeout_ms = 10000
"#,
            group = self.group
        )
    }

    fn host(&self) -> HostBuilder {
        self.host_of(&self.manifest())
    }

    /// A host whose probe lets one instance handle `messages` messages.
    fn host_reusing_instances(&self, messages: u32) -> HostBuilder {
        let manifest = self.manifest().replace(
            "request_timeout_ms = 10000",
            &format!("request_timeout_ms = 10000\ninstance_reuse = {messages}"),
        );
        self.host_of(&manifest)
    }

    fn host_of(&self, manifest: &str) -> HostBuilder {
        let p = &self.prefix;
        HostBuilder::new(manifest)
            .file(&format!("avro/{p}EVENTS.avsc"), EVENT)
            .file(&format!("avro/{p}PING.avsc"), PING)
            .file(&format!("avro/{p}PING_REPLY.avsc"), PING)
            .file(&format!("avro/{p}SILENT.avsc"), PING)
    }

    fn schemas(&self) -> Schemas {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(format!("{}EVENTS.avsc", self.prefix)),
            EVENT,
        )
        .expect("write");
        Schemas::load(dir.path()).expect("schemas")
    }

    async fn publish(&self, host: &Host, key: &str, value: Value) -> (u16, String) {
        post(
            &format!("{}/publish/{}EVENTS?key={key}", host.url, self.prefix),
            value.to_string(),
        )
        .await
    }

    fn id(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

fn brokers() -> String {
    std::env::var("JM_KAFKA_BROKERS")
        .expect("JM_KAFKA_BROKERS names the test broker (scripts/test.sh starts one)")
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(REDIS)
        .expect("redis")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

async fn counter(key: &str) -> i64 {
    let mut redis = redis().await;
    redis::cmd("GET")
        .arg(key)
        .query_async::<Option<i64>>(&mut redis)
        .await
        .expect("GET")
        .unwrap_or(0)
}

/// Waits until `key` reaches `want`, failing after `limit`.
async fn wait_for_counter(key: &str, want: i64, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let value = counter(key).await;
        if value >= want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{key} is {value}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("producer")
}

/// Reads `topic` from the start until `count` messages arrived or `limit` passed.
async fn read_topic(
    topic: &str,
    count: usize,
    limit: Duration,
) -> Vec<rdkafka::message::OwnedMessage> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", format!("reader-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut messages = Vec::new();
    let deadline = Instant::now() + limit;
    while messages.len() < count && Instant::now() < deadline {
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await {
            messages.push(m.detach());
        }
    }
    messages
}

fn header(message: &rdkafka::message::OwnedMessage, name: &str) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

const WAIT: Duration = Duration::from_secs(40);

#[tokio::test]
async fn a_published_message_is_handled_once() {
    let s = Scenario::new();
    let host = s.host().start();
    let id = s.id("once");
    let (status, body) = s
        .publish(&host, "k1", json!({"id": id, "action": "ok", "seq": 1}))
        .await;
    assert_eq!(status, 202, "{body}");
    wait_for_counter(&format!("{id}:effects"), 1, WAIT).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(counter(&format!("{id}:effects")).await, 1);
}

#[tokio::test]
async fn the_host_is_ready_once_its_kafka_trigger_holds_partitions() {
    let s = Scenario::new();
    let host = s.host().start();
    let deadline = Instant::now() + WAIT;
    loop {
        let ready = reqwest::get(format!("{}/readyz", host.admin))
            .await
            .expect("GET /readyz");
        if ready.status() == 200 {
            break;
        }
        assert_eq!(ready.status(), 503);
        assert!(Instant::now() < deadline, "never ready\n{}", host.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        host.log().contains("partitions assigned"),
        "ready before the trigger joined its group\n{}",
        host.log()
    );
}

#[tokio::test]
async fn request_reply_round_trips_and_times_out() {
    let s = Scenario::new();
    let host = s.host().start();
    let url = format!("{}/request/{}PING?timeout=30000", host.url, s.prefix);
    let (status, body) = post(&url, json!({"id": "r1", "text": "hi"}).to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json"),
        json!({"id": "r1", "text": "pong: hi"})
    );

    let started = Instant::now();
    let url = format!("{}/request/{}SILENT?timeout=500", host.url, s.prefix);
    let (status, body) = post(&url, json!({"id": "r2", "text": "anyone?"}).to_string()).await;
    assert_eq!((status, body.as_str()), (503, "no reply in time"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_handler_that_fails_twice_succeeds_after_backoff() {
    let s = Scenario::new();
    let host = s.host().start();
    let id = s.id("flaky");
    let started = Instant::now();
    s.publish(&host, "k1", json!({"id": id, "action": "flaky", "seq": 1}))
        .await;
    wait_for_counter(&format!("{id}:effects"), 1, WAIT).await;
    assert_eq!(counter(&format!("{id}:attempts")).await, 3);
    // Back-offs of 200 ms then 400 ms came between the three attempts.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_message_that_always_fails_is_dead_lettered_and_the_partition_goes_on() {
    let s = Scenario::new();
    let host = s.host().start();
    let (bad, good) = (s.id("bad"), s.id("good"));
    s.publish(
        &host,
        "same-key",
        json!({"id": bad, "action": "fail", "seq": 1}),
    )
    .await;
    s.publish(
        &host,
        "same-key",
        json!({"id": good, "action": "ok", "seq": 2}),
    )
    .await;
    wait_for_counter(&format!("{good}:effects"), 1, WAIT).await;
    assert_eq!(counter(&format!("{bad}:attempts")).await, 4);
    assert_eq!(counter(&format!("{bad}:effects")).await, 0);

    let dead = read_topic(&s.topic("EVENTS.DLT"), 1, WAIT).await;
    assert_eq!(dead.len(), 1);
    let m = &dead[0];
    assert_eq!(
        header(m, "error").as_deref(),
        Some("retry-later: always fails")
    );
    assert_eq!(header(m, "original-topic"), Some(s.topic("EVENTS")));
    assert_eq!(header(m, "attempts").as_deref(), Some("4"));
    assert!(header(m, "original-partition").is_some_and(|p| p.parse::<i32>().is_ok()));
    assert!(header(m, "original-offset").is_some_and(|o| o.parse::<i64>().is_ok()));
    assert!(header(m, "message-id").is_some());
    let value = s
        .schemas()
        .decode(&s.topic("EVENTS"), m.payload().expect("payload"))
        .expect("decode");
    assert!(value.contains(&bad), "{value}");
}

#[tokio::test]
async fn a_rejected_message_and_a_poison_value_go_to_the_dead_letter_topic_at_once() {
    let s = Scenario::new();
    let host = s.host().start();
    let rejected = s.id("rejected");
    s.publish(
        &host,
        "k",
        json!({"id": rejected, "action": "reject", "seq": 1}),
    )
    .await;
    let topic = s.topic("EVENTS");
    let record = FutureRecord::to(&topic)
        .key("k")
        .payload("this is not avro");
    producer()
        .send(record, Duration::from_secs(10))
        .await
        .expect("produce poison");

    let dead = read_topic(&s.topic("EVENTS.DLT"), 2, WAIT).await;
    assert_eq!(dead.len(), 2);
    let mut errors: Vec<(String, String)> = dead
        .iter()
        .map(|m| {
            (
                header(m, "error").unwrap_or_default(),
                header(m, "attempts").unwrap_or_default(),
            )
        })
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        vec![
            (
                "rejected: rejected by the probe".to_string(),
                "1".to_string()
            ),
            (
                "value is not Avro single-object encoded (no C3 01 marker)".to_string(),
                "0".to_string()
            ),
        ]
    );
    assert_eq!(counter(&format!("{rejected}:attempts")).await, 1);
}

/// Produces an `ok` event under the key `k`, with `message_id` as its `message-id` header.
async fn produce_event(s: &Scenario, id: &str, message_id: Option<&str>) {
    let value = json!({"id": id, "action": "ok", "seq": 1}).to_string();
    let bytes = s
        .schemas()
        .encode(&s.topic("EVENTS"), &value)
        .expect("encode");
    let topic = s.topic("EVENTS");
    let mut record = FutureRecord::to(&topic).key("k").payload(&bytes);
    if let Some(message_id) = message_id {
        record = record.headers(OwnedHeaders::new().insert(Header {
            key: "message-id",
            value: Some(message_id.as_bytes()),
        }));
    }
    producer()
        .send(record, Duration::from_secs(10))
        .await
        .expect("produce");
}

#[tokio::test]
async fn the_same_message_id_has_one_effect_whether_its_copies_arrive_together_or_later() {
    let s = Scenario::new();
    // A first start creates the topics and the group; the copies then queue up while no host
    // runs, so the next one receives them together, on one lane.
    let mut first = s.host().start();
    assert!(first.terminate().success());
    let id = s.id("dup");
    for _ in 0..3 {
        produce_event(&s, &id, Some(&id)).await;
    }
    let marker = s.id("after");
    produce_event(&s, &marker, None).await;
    let _host = s.host().start();
    wait_for_counter(&format!("{marker}:effects"), 1, WAIT).await;
    assert_eq!(counter(&format!("{id}:effects")).await, 1);

    produce_event(&s, &id, Some(&id)).await;
    let marker = s.id("later");
    produce_event(&s, &marker, None).await;
    wait_for_counter(&format!("{marker}:effects"), 1, WAIT).await;
    assert_eq!(counter(&format!("{id}:effects")).await, 1);
}

/// Relays TCP connections on `port` (0: any) to the machine's Redis until aborted, which
/// closes every relayed connection: Redis going away, as far as a client of the relay sees.
async fn relay_to_redis(port: u16) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the relay");
    let port = listener.local_addr().expect("relay address").port();
    let relay = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((mut client, _)) = listener.accept().await {
            connections.spawn(async move {
                let redis = tokio::net::TcpStream::connect("127.0.0.1:6379").await;
                if let Ok(mut redis) = redis {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut redis).await;
                }
            });
        }
    });
    (port, relay)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_handled_once_while_the_hosts_redis_is_away_and_after_it_is_back() {
    let s = Scenario::new();
    let (port, relay) = relay_to_redis(0).await;
    let host = s
        .host()
        .env("JM_REDIS_URL", &format!("redis://127.0.0.1:{port}"))
        .start();
    let handled_once = |name: &'static str| {
        let (s, host) = (&s, &host);
        async move {
            let id = s.id(name);
            let (status, body) = s
                .publish(host, name, json!({"id": id, "action": "ok", "seq": 1}))
                .await;
            assert_eq!(status, 202, "{body}");
            wait_for_counter(&format!("{id}:effects"), 1, WAIT).await;
            id
        }
    };
    let mut ids = vec![handled_once("before").await];
    relay.abort();
    let _ = relay.await;
    // De-duplication cannot reach Redis: the messages are handled all the same.
    ids.push(handled_once("away-1").await);
    ids.push(handled_once("away-2").await);
    let (_, _relay) = relay_to_redis(port).await;
    ids.push(handled_once("back").await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    for id in ids {
        assert_eq!(counter(&format!("{id}:effects")).await, 1, "{id}");
    }
    assert!(
        host.log().contains("de-duplication round trip failed"),
        "{}",
        host.log()
    );
}

#[tokio::test]
async fn publish_refuses_a_value_that_does_not_match_and_a_topic_not_granted() {
    let s = Scenario::new();
    let host = s.host().start();
    let (status, body) = s
        .publish(&host, "k", json!({"id": "x", "seq": "one"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.starts_with("invalid value: value does not match schema"),
        "{body}"
    );
    let (status, body) = s
        .publish(
            &host,
            "k",
            json!({"id": "x", "action": "ok", "seq": 1, "extra": 1}),
        )
        .await;
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            "invalid value: field `extra` is not in the schema of Event"
        )
    );
    let url = format!("{}/publish/{}PING_REPLY_NOT_GRANTED", host.url, s.prefix);
    let (status, body) = post(&url, json!({"id": "x", "text": "y"}).to_string()).await;
    assert_eq!(
        (status, body),
        (
            403,
            format!("topic `{}PING_REPLY_NOT_GRANTED` is not granted", s.prefix)
        )
    );
}

/// Publishes `events` events of the action `count` under one key (one lane, in order) and
/// answers how many such events the instance that handled each had seen.
async fn instance_counts(s: &Scenario, host: &Host, events: usize) -> Vec<i64> {
    let key = s.id("counted");
    let ids: Vec<String> = (0..events).map(|seq| s.id(&format!("c{seq}"))).collect();
    for (seq, id) in ids.iter().enumerate() {
        let (status, _) = s
            .publish(host, &key, json!({"id": id, "action": "count", "seq": seq}))
            .await;
        assert_eq!(status, 202);
    }
    let mut counts = Vec::new();
    for id in &ids {
        wait_for_counter(&format!("{id}:effects"), 1, WAIT).await;
        counts.push(counter(&format!("{id}:count")).await);
    }
    counts
}

#[tokio::test]
async fn each_message_gets_a_fresh_instance_unless_the_manifest_allows_reuse() {
    let (fresh, reusing) = (Scenario::new(), Scenario::new());
    let fresh_host = fresh.host().start();
    let reusing_host = reusing.host_reusing_instances(3).start();
    let counts = instance_counts(&fresh, &fresh_host, 5).await;
    assert_eq!(counts, [1, 1, 1, 1, 1], "{}", fresh_host.log());
    let counts = instance_counts(&reusing, &reusing_host, 5).await;
    assert_eq!(counts, [1, 2, 3, 1, 2], "{}", reusing_host.log());
}

#[tokio::test]
async fn order_is_kept_within_a_key_under_concurrency() {
    let s = Scenario::new();
    let host = s.host().start();
    let keys: Vec<String> = (0..4).map(|k| s.id(&format!("key{k}"))).collect();
    for seq in 0..24 {
        let key = &keys[seq % keys.len()];
        let action = if seq % 3 == 0 { "sleep-60" } else { "ok" };
        let id = s.id(&format!("m{seq}"));
        let (status, _) = s
            .publish(&host, key, json!({"id": id, "action": action, "seq": seq}))
            .await;
        assert_eq!(status, 202);
    }
    for seq in 0..24 {
        wait_for_counter(&format!("{}:effects", s.id(&format!("m{seq}"))), 1, WAIT).await;
    }
    let mut redis = redis().await;
    for (k, key) in keys.iter().enumerate() {
        let order: Vec<i64> = redis::cmd("LRANGE")
            .arg(format!("{key}:order"))
            .arg(0)
            .arg(-1)
            .query_async(&mut redis)
            .await
            .expect("LRANGE");
        let expected: Vec<i64> = (0..24)
            .filter(|s| s % keys.len() == k)
            .map(|s| s as i64)
            .collect();
        assert_eq!(order, expected, "order of {key}");
    }
}

#[tokio::test]
async fn a_host_killed_while_handling_hands_the_message_to_its_successor_once() {
    let s = Scenario::new();
    let mut host = s.host().start();
    let id = s.id("crash");
    s.publish(
        &host,
        "k",
        json!({"id": id, "action": "sleep-3000", "seq": 1}),
    )
    .await;
    wait_for_counter(&format!("{id}:attempts"), 1, WAIT).await;
    host.kill();
    assert_eq!(counter(&format!("{id}:effects")).await, 0);

    let _successor = s.host().start();
    wait_for_counter(&format!("{id}:effects"), 1, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(counter(&format!("{id}:effects")).await, 1);
}

#[tokio::test]
async fn a_second_host_in_the_group_takes_over_the_partitions() {
    let s = Scenario::new();
    let mut first = s.host().start();
    let second = s.host().start();
    for n in 0..6 {
        let id = s.id(&format!("before{n}"));
        s.publish(
            &first,
            &format!("k{n}"),
            json!({"id": id, "action": "ok", "seq": n}),
        )
        .await;
    }
    for n in 0..6 {
        wait_for_counter(&format!("{}:effects", s.id(&format!("before{n}"))), 1, WAIT).await;
    }
    first.kill();
    for n in 0..6 {
        let id = s.id(&format!("after{n}"));
        s.publish(
            &second,
            &format!("k{n}"),
            json!({"id": id, "action": "ok", "seq": n}),
        )
        .await;
    }
    for n in 0..6 {
        wait_for_counter(
            &format!("{}:effects", s.id(&format!("after{n}"))),
            1,
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(
            counter(&format!("{}:effects", s.id(&format!("before{n}")))).await,
            1
        );
    }
}

#[tokio::test]
async fn without_brokers_jm_up_starts_its_own() {
    let s = Scenario::new();
    let host = s.host().env_remove("JM_KAFKA_BROKERS").start();
    assert!(
        host.log()
            .contains("Started a local Kafka broker (Tansu) on 127.0.0.1:"),
        "{}",
        host.log()
    );
    let url = format!("{}/request/{}PING?timeout=30000", host.url, s.prefix);
    let (status, body) = post(&url, json!({"id": "local", "text": "hi"}).to_string()).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn reloading_a_kafka_component_while_messages_flow_handles_each_once() {
    let s = Scenario::new();
    let host = s.host().start();
    let wasm = std::fs::read(support::components().join("kafka_probe.wasm")).expect("probe");
    let client = reqwest::Client::new();
    for n in 0..30 {
        let id = s.id(&format!("flow{n}"));
        s.publish(
            &host,
            &format!("k{}", n % 5),
            json!({"id": id, "action": "sleep-20", "seq": n}),
        )
        .await;
        if n % 10 == 5 {
            let url = format!("{}/components/probe/reload", host.admin);
            let response = client
                .post(url)
                .body(wasm.clone())
                .send()
                .await
                .expect("reload");
            assert_eq!(response.status().as_u16(), 200);
        }
    }
    for n in 0..30 {
        wait_for_counter(&format!("{}:effects", s.id(&format!("flow{n}"))), 1, WAIT).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for n in 0..30 {
        assert_eq!(
            counter(&format!("{}:effects", s.id(&format!("flow{n}")))).await,
            1,
            "flow{n}"
        );
    }
    assert!(
        !host.log().contains("partitions released"),
        "the reload caused a rebalance"
    );
}

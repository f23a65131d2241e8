//! Native anchor and client for bench/kafka.sh: `produce` pre-loads Avro single-object values,
//! `consume` reads them back and decodes them as jm's Kafka trigger does (minus everything
//! else), `consume-dedup` adds what the trigger does for each message besides running the
//! component (a `message-id` check and record in Redis, on lanes by partition and key, commits
//! every 100 ms), and `http-latency` times sequential GETs on one keep-alive connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use apache_avro::{GenericSingleObjectReader, Schema};
use apache_avro::rabin::Rabin;
use apache_avro::types::{Record, Value};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers as _, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext, Message as _};

/// The allocator jm uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The schema of the benchmark topic; `kafka-native schema` prints it for `avro/<TOPIC>.avsc`.
const SCHEMA: &str = concat!(
    r#"{"type":"record","name":"BenchEvent","namespace":"jm.bench","doc":"A benchmark event","#,
    r#""fields":[{"name":"id","type":"string"},{"name":"seq","type":"long"},"#,
    r#"{"name":"payload","type":"string"}]}"#
);

/// The single-object encoding marker.
const MARKER: [u8; 2] = [0xC3, 0x01];

const USAGE: &str = "usage: kafka-native schema
       kafka-native produce TOPIC N          (env: PARTITIONS=3, MESSAGE_ID=1)
       kafka-native consume TOPIC GROUP N    (env: BATCH=100)
       kafka-native consume-dedup TOPIC GROUP N  (env: LANES=16, REDIS=redis://127.0.0.1:6379)
       kafka-native http-latency URL N       (env: WARMUP=20)
brokers come from JM_KAFKA_BROKERS";

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["schema"] => {
            println!("{SCHEMA}");
            Ok(())
        }
        ["produce", topic, n] => produce(topic, n.parse().context("N")?).await,
        ["consume", topic, group, n] => consume(topic, group, n.parse().context("N")?).await,
        ["consume-dedup", topic, group, n] => {
            consume_dedup(topic, group, n.parse().context("N")?).await
        }
        ["http-latency", url, n] => http_latency(url, n.parse().context("N")?).await,
        _ => bail!("{USAGE}"),
    }
}

fn brokers() -> Result<String> {
    std::env::var("JM_KAFKA_BROKERS").context("set JM_KAFKA_BROKERS to the broker's host:port")
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The bench schema, its CRC-64-AVRO fingerprint as written on the wire, and a reader of
/// values written with it (its named types resolved once, as the host does).
struct Codec {
    schema: Schema,
    print: [u8; 8],
    reader: GenericSingleObjectReader,
}

impl Codec {
    fn new() -> Result<Self> {
        let schema = Schema::parse_str(SCHEMA)?;
        let print = schema.fingerprint::<Rabin>().bytes.as_slice().try_into()?;
        let reader = GenericSingleObjectReader::new(schema.clone())?;
        Ok(Self {
            schema,
            print,
            reader,
        })
    }

    fn encode(&self, seq: i64) -> Result<Vec<u8>> {
        let mut record = Record::new(&self.schema).context("the schema is a record")?;
        record.put("id", format!("evt-{seq}"));
        record.put("seq", Value::Long(seq));
        record.put("payload", "x".repeat(64));
        let datum = apache_avro::to_avro_datum(&self.schema, record)?;
        let mut bytes = Vec::with_capacity(10 + datum.len());
        bytes.extend_from_slice(&MARKER);
        bytes.extend_from_slice(&self.print);
        bytes.extend_from_slice(&datum);
        Ok(bytes)
    }

    /// What the host does to a value before the handler runs: header and fingerprint check,
    /// Avro decode with the writer's schema (here the current one, so no resolution), JSON
    /// text for the component.
    fn decode(&self, bytes: &[u8]) -> Result<String> {
        if bytes.len() < 10 || bytes[..2] != MARKER {
            bail!("not single-object encoded");
        }
        if bytes[2..10] != self.print {
            bail!("unknown fingerprint");
        }
        let mut datum = bytes;
        let value = self.reader.read_value(&mut datum)?;
        if !datum.is_empty() {
            bail!("{} bytes left after the datum", datum.len());
        }
        Ok(serde_json::Value::try_from(value)?.to_string())
    }
}

/// Counts failed deliveries.
struct Deliveries(Arc<AtomicUsize>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Creates `topic` with `PARTITIONS` partitions (if missing) and produces `n` values to it,
/// keyed `k<i>`, each with a `message-id` header as jm's producer adds (unless MESSAGE_ID=0).
async fn produce(topic: &str, n: usize) -> Result<()> {
    let brokers = brokers()?;
    let partitions: i32 = env_or("PARTITIONS", 3);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for result in admin.create_topics([&new], &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => bail!("failed to create topic `{t}`: {code}"),
        }
    }

    let failed = Arc::new(AtomicUsize::new(0));
    let producer: ThreadedProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "200000")
        .create_with_context(Deliveries(failed.clone()))?;
    let codec = Codec::new()?;
    let with_id = env_or("MESSAGE_ID", 1) != 0;
    let start = Instant::now();
    for i in 0..n {
        let bytes = codec.encode(i as i64)?;
        let key = format!("k{i}");
        let id = uuid::Uuid::new_v4().to_string();
        let mut headers = OwnedHeaders::new();
        if with_id {
            headers = headers.insert(Header {
                key: "message-id",
                value: Some(id.as_bytes()),
            });
        }
        let mut record = BaseRecord::to(topic)
            .key(&key)
            .payload(&bytes)
            .headers(headers);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, back)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => bail!("produce failed: {e}"),
            }
        }
    }
    rdkafka::producer::Producer::flush(&producer, Duration::from_secs(120))?;
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} of {n} messages were not delivered");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "produced {n} messages to {topic} ({partitions} partitions) in {secs:.2} s: \
         {:.0} msgs/s",
        n as f64 / secs
    );
    Ok(())
}

/// A consumer of `topic` in `group` with the trigger's client settings, committing by hand.
fn subscribe(topic: &str, group: &str) -> Result<StreamConsumer> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers()?)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "50")
        .set("session.timeout.ms", "6000")
        .set("max.poll.interval.ms", "30000")
        .create()?;
    consumer.subscribe(&[topic])?;
    Ok(consumer)
}

/// Consumes `n` messages of `topic` in a fresh `group` with the trigger's client settings,
/// decoding each value as the host does and committing after every `BATCH` messages.
async fn consume(topic: &str, group: &str, n: usize) -> Result<()> {
    let batch: usize = env_or("BATCH", 100).max(1);
    let consumer = subscribe(topic, group)?;
    let codec = Codec::new()?;
    let subscribed = Instant::now();
    let mut first: Option<Instant> = None;
    let mut bytes_out = 0usize;
    for count in 1..=n {
        let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .with_context(|| format!("no message for 60 s after {} of {n}", count - 1))??;
        first.get_or_insert_with(Instant::now);
        let json = codec.decode(message.payload().unwrap_or_default())?;
        bytes_out += json.len();
        if count % batch == 0 {
            consumer.commit_consumer_state(CommitMode::Async)?;
        }
    }
    // The last batch may already be committed; librdkafka then answers `NoOffset`.
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) | Ok(()) => {}
        Err(error) => return Err(error.into()),
    }
    let first = first.unwrap_or(subscribed);
    let steady = first.elapsed().as_secs_f64();
    let total = subscribed.elapsed().as_secs_f64();
    let rate = (n.saturating_sub(1)) as f64 / steady;
    println!(
        "consumed {n} messages (commit every {batch}, {bytes_out} JSON bytes) in {total:.2} s \
         from subscribe, {steady:.2} s from the first message"
    );
    println!("RESULT rate={rate:.1}");
    Ok(())
}

/// Consumes `n` messages of `topic` in a fresh `group` doing for each what jm's trigger does
/// around its handler: on one of `LANES` lanes (by partition and key), in batches of what is
/// queued, skip the messages whose `message-id` Redis holds, decode the others and record
/// their ids with a time to live ([`handle_batch`]). Offsets are committed every 100 ms.
async fn consume_dedup(topic: &str, group: &str, n: usize) -> Result<()> {
    let lanes: usize = env_or("LANES", 16).max(1);
    let redis_url = std::env::var("REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = Writer::start(redis::Client::open(redis_url)?).await?;
    let consumer = Arc::new(subscribe(topic, group)?);
    let codec = Arc::new(Codec::new()?);
    let done = Arc::new(AtomicUsize::new(0));
    let all_done = Arc::new(tokio::sync::Notify::new());
    let mut senders = Vec::new();
    for _ in 0..lanes {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<rdkafka::message::OwnedMessage>(64);
        senders.push(tx);
        let (redis, codec, done, all_done) =
            (redis.clone(), codec.clone(), done.clone(), all_done.clone());
        let group = group.to_string();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(64);
            while rx.recv_many(&mut batch, 64).await > 0 {
                let handled = handle_batch(&batch, &group, &redis, &codec).await?;
                batch.clear();
                if done.fetch_add(handled, Ordering::Relaxed) + handled >= n {
                    all_done.notify_one();
                }
            }
            anyhow::Ok(())
        });
    }
    let committer = consumer.clone();
    let commits = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = committer.commit_consumer_state(CommitMode::Async);
        }
    });

    let subscribed = Instant::now();
    let finished = all_done.notified();
    tokio::pin!(finished);
    let mut first: Option<(Instant, f64)> = None;
    loop {
        let message = tokio::select! {
            () = &mut finished => break,
            message = tokio::time::timeout(Duration::from_secs(60), consumer.recv()) => {
                message.context("no message for 60 s")??
            }
        };
        if first.is_none() {
            first = Some((Instant::now(), cpu_seconds()?));
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&(message.partition(), message.key()), &mut hasher);
        let lane = (std::hash::Hasher::finish(&hasher) % lanes as u64) as usize;
        senders[lane].send(message.detach()).await?;
    }
    commits.abort();
    let (first, cpu_at_first) = first.unwrap_or((subscribed, 0.0));
    let steady = first.elapsed().as_secs_f64();
    let cpu = cpu_seconds()? - cpu_at_first;
    println!(
        "consumed {n} messages on {lanes} lanes with Redis de-duplication in {:.2} s from \
         subscribe, {steady:.2} s from the first message, {cpu:.2} s of CPU",
        subscribed.elapsed().as_secs_f64()
    );
    println!(
        "RESULT rate={:.1} cpu_us={:.1}",
        n.saturating_sub(1) as f64 / steady,
        cpu * 1e6 / n as f64
    );
    Ok(())
}

/// The CPU time this process has used, user and system, in seconds (Linux).
fn cpu_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("bad /proc/self/stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks = |i: usize| -> Result<f64> { Ok(fields.get(i).context("short stat")?.parse()?) };
    // utime and stime, fields 14 and 15 of proc(5), in clock ticks of 1/100 s.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// A batch of one lane as jm's trigger treats it, without the component: one round trip
/// asks which ids are recorded, each value not seen (nor repeated in the batch) is decoded,
/// and its id goes to the writer. Answers how many messages the batch held.
async fn handle_batch(
    batch: &[rdkafka::message::OwnedMessage],
    group: &str,
    redis: &Writer,
    codec: &Codec,
) -> Result<usize> {
    let keys: Vec<Option<String>> = batch
        .iter()
        .map(|message| {
            let id = message
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == "message-id"))
                .and_then(|h| h.value)?;
            Some(format!(
                "bench:handled:{group}:{}",
                String::from_utf8_lossy(id)
            ))
        })
        .collect();
    let seen = redis
        .check(keys.iter().flatten().cloned().collect())
        .await?;
    let mut seen = seen.into_iter();
    let mut first = std::collections::HashSet::new();
    for (message, key) in batch.iter().zip(&keys) {
        if let Some(key) = key
            && (seen.next().unwrap_or(false) || !first.insert(key))
        {
            continue;
        }
        codec.decode(message.payload().unwrap_or_default())?;
        if let Some(key) = key {
            redis.record(key.clone()).await?;
        }
    }
    Ok(batch.len())
}

/// One Redis connection fed by every lane, as jm's de-duplication writer does: what gathers
/// while a round trip is out goes as the next pipeline (`EXISTS` for checks, `SET EX` for
/// records, which nobody waits for).
#[derive(Clone)]
struct Writer(tokio::sync::mpsc::Sender<Ask>);

enum Ask {
    Check(Vec<String>, tokio::sync::oneshot::Sender<Vec<bool>>),
    Record(String),
}

impl Writer {
    async fn start(client: redis::Client) -> Result<Self> {
        let mut redis = redis::aio::ConnectionManager::new(client).await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Ask>(1024);
        tokio::spawn(async move {
            let mut asks = Vec::with_capacity(256);
            while rx.recv_many(&mut asks, 256).await > 0 {
                let mut pipe = redis::pipe();
                for ask in &asks {
                    match ask {
                        Ask::Check(keys, _) => keys.iter().for_each(|key| {
                            pipe.exists(key);
                        }),
                        Ask::Record(key) => {
                            pipe.set_ex(key, 1, 600).ignore();
                        }
                    }
                }
                let mut answers = pipe.query_async::<Vec<bool>>(&mut redis).await?.into_iter();
                for ask in asks.drain(..) {
                    if let Ask::Check(keys, answer) = ask {
                        let _ = answer
                            .send(keys.iter().map(|_| answers.next() == Some(true)).collect());
                    }
                }
            }
            anyhow::Ok(())
        });
        Ok(Self(tx))
    }

    async fn check(&self, keys: Vec<String>) -> Result<Vec<bool>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.0
            .send(Ask::Check(keys, answer))
            .await
            .ok()
            .context("writer gone")?;
        Ok(answered.await?)
    }

    async fn record(&self, key: String) -> Result<()> {
        self.0
            .send(Ask::Record(key))
            .await
            .ok()
            .context("writer gone")
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(authority: &str) -> Result<Sender> {
    let stream = tokio::net::TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends `WARMUP` then `n` sequential GETs to `url` on a keep-alive connection and prints
/// p50, p99 and max of the `n` timed ones (failures are counted, not timed).
async fn http_latency(url: &str, n: usize) -> Result<()> {
    let uri: http::Uri = url.parse()?;
    let authority = uri.authority().context("the URL has no host")?.to_string();
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let warmup: usize = env_or("WARMUP", 20);
    let mut sender = connect(&authority).await?;
    let mut times = Vec::with_capacity(n);
    let mut failures = 0;
    let mut last_failure = String::new();
    for i in 0..warmup + n {
        let request = http::Request::get(path.as_str())
            .header(http::header::HOST, authority.as_str())
            .body(Empty::<Bytes>::new())?;
        let start = Instant::now();
        let outcome: Result<(http::StatusCode, Bytes)> = async {
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let status = response.status();
            Ok((status, response.into_body().collect().await?.to_bytes()))
        }
        .await;
        let took = start.elapsed();
        let ok = match outcome {
            Ok((status, _)) if status.is_success() => true,
            Ok((status, body)) => {
                last_failure = format!("{status}: {}", String::from_utf8_lossy(&body));
                false
            }
            Err(e) => {
                last_failure = e.to_string();
                sender = connect(&authority).await?;
                false
            }
        };
        if i < warmup {
            continue;
        }
        if ok {
            times.push(took);
        } else {
            failures += 1;
        }
    }
    if times.is_empty() {
        bail!("every request failed; the last: {last_failure}");
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let rank = |q: f64| times[((q * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
    let (p50, p99, max) = (ms(rank(0.50)), ms(rank(0.99)), ms(rank(1.0)));
    println!(
        "{} timed GETs (after {warmup} warm-up): p50 {p50:.2} ms, p99 {p99:.2} ms, \
         max {max:.2} ms, {failures} failed",
        times.len()
    );
    if failures > 0 {
        println!("last failure: {last_failure}");
    }
    println!("RESULT p50={p50:.2} p99={p99:.2} max={max:.2} failures={failures}");
    Ok(())
}

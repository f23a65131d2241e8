//! The Kafka trigger: a consumer group per `[[trigger.kafka]]`, each message handled by a
//! fresh instance, offsets committed only after the handler finished, in partition order.
//!
//! 1. The poll loop reads a message, records it as pending for its partition, and queues it
//!    on one of `concurrency` lanes chosen by partition and key (order per key holds).
//! 2. A lane takes what is queued as a batch, skips messages already handled (by
//!    `message-id`, in Redis: one round trip per batch), decodes the value (a poison value goes
//!    to `<topic>.DLT` at once), runs the handler, retries with exponential back-off,
//!    dead-letters what never succeeds, and records the id ([`Dedup`]).
//! 3. When a message is done and its id recorded, the partition's commit point advances to its
//!    lowest pending offset, committed every 100 ms; revocation and shutdown wait for pending
//!    messages and commit before letting go.
//! 4. Shutdown leaves the group only once a join in progress has settled: some brokers (Tansu)
//!    keep a member that leaves in the middle of its join as the group's leader for good.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash as _, Hasher as _};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientContext, Message as _, Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};

use super::dedup::{self, Dedup};
use super::{DEAD_LETTER_SUFFIX, Kafka};
use crate::component::Slot;
use crate::manifest::KafkaTrigger;
use crate::trigger::kafka::{HandlerOutcome, Warm};

/// How long revocation and shutdown wait for in-flight messages.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How often handled offsets are committed.
const COMMIT_INTERVAL: Duration = Duration::from_millis(100);

/// How long shutdown waits for a join in progress to settle before leaving the group.
const JOIN_SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Messages queued per lane before the poll loop waits.
const LANE_DEPTH: usize = 64;

type Partition = (String, i32);

/// Offsets in flight per partition, and the commit point they allow.
#[derive(Default)]
struct Tracker {
    partitions: Mutex<HashMap<Partition, PartitionState>>,
    drained: Condvar,
}

#[derive(Default)]
struct PartitionState {
    pending: BTreeSet<i64>,
    next: i64,
    committed: i64,
}

impl PartitionState {
    fn commit_point(&self) -> i64 {
        self.pending.first().copied().unwrap_or(self.next)
    }
}

impl Tracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Partition, PartitionState>> {
        self.partitions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn received(&self, partition: Partition, offset: i64) {
        let mut partitions = self.lock();
        let state = partitions.entry(partition).or_default();
        state.pending.insert(offset);
        state.next = state.next.max(offset + 1);
    }

    /// Marks an offset done; wakes [`Tracker::drain`] when its partition has none left.
    fn finished(&self, partition: &Partition, offset: i64) {
        let mut partitions = self.lock();
        if let Some(state) = partitions.get_mut(partition)
            && state.pending.remove(&offset)
            && state.pending.is_empty()
        {
            self.drained.notify_all();
        }
    }

    /// The commit points that advanced since the last call, taken as committed.
    fn due(&self) -> Vec<(Partition, i64)> {
        let mut partitions = self.lock();
        partitions
            .iter_mut()
            .filter_map(|(partition, state)| {
                let point = state.commit_point();
                (point > state.committed).then(|| {
                    state.committed = point;
                    (partition.clone(), point)
                })
            })
            .collect()
    }

    /// Waits until no message of `wanted` is pending, then returns their commit points.
    fn drain(&self, wanted: &[Partition], timeout: Duration) -> Vec<(Partition, i64)> {
        let deadline = Instant::now() + timeout;
        let mut partitions = self.lock();
        loop {
            let busy = wanted
                .iter()
                .any(|p| partitions.get(p).is_some_and(|s| !s.pending.is_empty()));
            let left = deadline.saturating_duration_since(Instant::now());
            if !busy || left.is_zero() {
                break;
            }
            partitions = match self.drained.wait_timeout(partitions, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        wanted
            .iter()
            .filter_map(|p| partitions.remove(p).map(|s| (p.clone(), s.commit_point())))
            .filter(|(_, point)| *point > 0)
            .collect()
    }

    /// The last committed point of a partition, or 0.
    fn committed(&self, partition: &Partition) -> i64 {
        self.lock().get(partition).map_or(0, |s| s.committed)
    }

    fn all(&self) -> Vec<Partition> {
        self.lock().keys().cloned().collect()
    }
}

/// The consumer context: drains and commits a partition before it is revoked.
struct TriggerContext {
    tracker: Arc<Tracker>,
    group: String,
    /// True from subscribing, and from each revocation, until the group assigns partitions.
    joining: AtomicBool,
    /// The host's count of triggers yet to join, told once of this one's first assignment.
    first_join: Once,
    host_joining: Arc<Joining>,
}

impl ClientContext for TriggerContext {}

impl ConsumerContext for TriggerContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(list) = rebalance else {
            return;
        };
        self.joining.store(true, Ordering::Release);
        let wanted: Vec<Partition> = list
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        let points = self.tracker.drain(&wanted, DRAIN_TIMEOUT);
        if let Err(error) = commit(consumer, &points, CommitMode::Sync) {
            tracing::warn!(group = %self.group, %error, "commit before revocation failed");
        }
        tracing::info!(group = %self.group, partitions = wanted.len(), "partitions released");
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            self.joining.store(false, Ordering::Release);
            tracing::info!(group = %self.group, partitions = list.count(), "partitions assigned");
            self.first_join.call_once(|| self.host_joining.joined());
        }
    }
}

fn commit<C: rdkafka::consumer::Consumer<X>, X: ConsumerContext>(
    consumer: &C,
    points: &[(Partition, i64)],
    mode: CommitMode,
) -> Result<()> {
    if points.is_empty() {
        return Ok(());
    }
    let mut list = TopicPartitionList::new();
    for ((topic, partition), point) in points {
        list.add_partition_offset(topic, *partition, Offset::Offset(*point))?;
    }
    consumer.commit(&list, mode)?;
    Ok(())
}

/// How many Kafka triggers of the host still wait for their first partition assignment: the
/// host is ready once none does.
#[derive(Debug, Default)]
pub struct Joining(AtomicUsize);

impl Joining {
    /// Expects `triggers` triggers to join their groups.
    pub fn new(triggers: usize) -> Self {
        Self(AtomicUsize::new(triggers))
    }

    /// Whether every trigger has joined.
    pub fn done(&self) -> bool {
        self.0.load(Ordering::Acquire) == 0
    }

    fn joined(&self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Everything a lane needs to handle messages of one trigger.
struct Lane {
    kafka: Arc<Kafka>,
    slot: Arc<Slot>,
    dedup: Dedup,
    group: String,
    tracker: Arc<Tracker>,
}

/// Runs one Kafka trigger until `shutdown` turns true, then drains and commits.
pub async fn run(
    kafka: Arc<Kafka>,
    trigger: KafkaTrigger,
    slot: Arc<Slot>,
    dedup: Dedup,
    joining: Arc<Joining>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    tracing::debug!(group = %trigger.group, "kafka trigger starting");
    let tracker = Arc::new(Tracker::default());
    let context = TriggerContext {
        tracker: tracker.clone(),
        group: trigger.group.clone(),
        joining: AtomicBool::new(true),
        first_join: Once::new(),
        host_joining: joining,
    };
    let mut config = super::client_config(&kafka.brokers, &kafka.settings);
    config
        .set("group.id", &trigger.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    // A broker that answers a fetch only when its wait ends (Tansu does) adds up to this much
    // to every hop of a request-reply; Kafka itself answers as soon as data arrives.
    set_default(&mut config, "fetch.wait.max.ms", "10");
    set_default(&mut config, "session.timeout.ms", "6000");
    set_default(&mut config, "max.poll.interval.ms", "30000");
    let consumer: Arc<StreamConsumer<TriggerContext>> = Arc::new(
        config
            .create_with_context(context)
            .context("failed to create a Kafka consumer")?,
    );
    tracing::debug!(group = %trigger.group, "kafka consumer created");
    let topics: Vec<&str> = trigger.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).context("failed to subscribe")?;
    tracing::info!(
        group = %trigger.group,
        topics = ?trigger.topics,
        component = %trigger.component,
        "kafka trigger started"
    );

    let mut lanes = Vec::new();
    let mut workers = Vec::new();
    for _ in 0..trigger.concurrency.max(1) {
        let (tx, rx) = mpsc::channel::<OwnedMessage>(LANE_DEPTH);
        let lane = Lane {
            kafka: kafka.clone(),
            slot: slot.clone(),
            dedup: dedup.clone(),
            group: trigger.group.clone(),
            tracker: tracker.clone(),
        };
        lanes.push(tx);
        workers.push(tokio::spawn(lane.work(rx)));
    }

    let lag = tokio::spawn(report_lag(
        consumer.clone(),
        tracker.clone(),
        trigger.group.clone(),
    ));
    let committer = tokio::spawn(commit_periodically(
        consumer.clone(),
        tracker.clone(),
        trigger.group.clone(),
    ));
    loop {
        let message = tokio::select! {
            message = consumer.recv() => message,
            _ = shutdown.changed() => break,
        };
        let message = match message {
            Ok(message) => message.detach(),
            Err(error) => {
                tracing::warn!(group = %trigger.group, %error, "kafka consumer error");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        tracker.received(
            (message.topic().to_string(), message.partition()),
            message.offset(),
        );
        let lane = lane_of(&message, lanes.len());
        if lanes[lane].send(message).await.is_err() {
            break;
        }
    }

    lag.abort();
    committer.abort();
    drop(lanes);
    for worker in workers {
        let _ = worker.await;
    }
    let points = tracker.drain(&tracker.all(), DRAIN_TIMEOUT);
    commit(consumer.as_ref(), &points, CommitMode::Sync)?;
    settle_join(&consumer).await;
    tracing::info!(group = %trigger.group, "kafka trigger stopped");
    Ok(())
}

/// Waits, within [`JOIN_SETTLE_TIMEOUT`], until a join in progress ends, so that closing the
/// consumer leaves a settled group. Messages polled meanwhile are neither handled nor
/// committed: the partition's next owner gets them.
async fn settle_join(consumer: &StreamConsumer<TriggerContext>) {
    let deadline = Instant::now() + JOIN_SETTLE_TIMEOUT;
    while consumer.context().joining.load(Ordering::Acquire) && Instant::now() < deadline {
        let _ = tokio::time::timeout(Duration::from_millis(100), consumer.recv()).await;
    }
}

/// Commits, every [`COMMIT_INTERVAL`], the partitions whose commit point advanced: one request
/// for many handled messages. A crash loses at most that much progress, and de-duplication
/// keeps the redelivered messages from having a second effect.
async fn commit_periodically(
    consumer: Arc<StreamConsumer<TriggerContext>>,
    tracker: Arc<Tracker>,
    group: String,
) {
    loop {
        tokio::time::sleep(COMMIT_INTERVAL).await;
        let due = tracker.due();
        if let Err(error) = commit(consumer.as_ref(), &due, CommitMode::Async) {
            tracing::warn!(%group, %error, "offset commit failed");
        }
    }
}

/// How often the lag of each assigned partition is measured.
const LAG_INTERVAL: Duration = Duration::from_secs(10);

/// Sets `jm_kafka_lag` per assigned partition: the end of the partition minus the committed
/// point.
async fn report_lag(
    consumer: Arc<StreamConsumer<TriggerContext>>,
    tracker: Arc<Tracker>,
    group: String,
) {
    loop {
        tokio::time::sleep(LAG_INTERVAL).await;
        let consumer = consumer.clone();
        let ends = tokio::task::spawn_blocking(move || {
            let Ok(assignment) = consumer.assignment() else {
                return Vec::new();
            };
            assignment
                .elements()
                .iter()
                .filter_map(|e| {
                    let (_, high) = consumer
                        .fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(5))
                        .ok()?;
                    Some(((e.topic().to_string(), e.partition()), high))
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for ((topic, partition), high) in ends {
            let committed = tracker.committed(&(topic.clone(), partition));
            let partition = partition.to_string();
            let labels = [
                ("group", group.as_str()),
                ("topic", topic.as_str()),
                ("partition", partition.as_str()),
            ];
            crate::metrics::set("jm_kafka_lag", &labels, (high - committed).max(0) as f64);
        }
    }
}

fn set_default(config: &mut rdkafka::ClientConfig, key: &str, value: &str) {
    if config.get(key).is_none() {
        config.set(key, value);
    }
}

/// The `message-id` header of a message, as text.
fn message_id(message: &OwnedMessage) -> Option<String> {
    super::header(message, "message-id").map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// The lane of a message: by partition and key, so one key always takes the same lane.
fn lane_of(message: &OwnedMessage, lanes: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    message.partition().hash(&mut hasher);
    message.key().hash(&mut hasher);
    (hasher.finish() % lanes as u64) as usize
}

impl Lane {
    /// Handles the lane's messages in order, in batches of what is queued: one Redis round
    /// trip tells which of a batch were handled already (a copy within the batch counts too),
    /// and each handled message's id goes to Redis, before its offset may be committed,
    /// while the lane goes on with the next.
    async fn work(self, mut rx: mpsc::Receiver<OwnedMessage>) {
        // The instance kept for the next message, when the component allows reuse.
        let mut warm = None;
        let mut batch = Vec::with_capacity(LANE_DEPTH);
        while rx.recv_many(&mut batch, LANE_DEPTH).await > 0 {
            let keys: Vec<Option<String>> = batch
                .iter()
                .map(|m| message_id(m).map(|id| dedup::key(&self.group, &id)))
                .collect();
            let handled = self.dedup.handled(&keys).await;
            let skip: Vec<bool> = {
                let mut first = HashSet::new();
                keys.iter()
                    .zip(handled)
                    .map(|(key, handled)| {
                        handled || key.as_deref().is_some_and(|key| !first.insert(key))
                    })
                    .collect()
            };
            for ((message, key), skip) in batch.drain(..).zip(keys).zip(skip) {
                let partition = (message.topic().to_string(), message.partition());
                let offset = message.offset();
                if skip {
                    tracing::debug!(group = %self.group, ?key, "duplicate skipped");
                    self.tracker.finished(&partition, offset);
                    continue;
                }
                self.process(&message, &mut warm).await;
                crate::metrics::inc("jm_kafka_messages_total", &[("group", &self.group)]);
                match key {
                    Some(key) => {
                        let tracker = self.tracker.clone();
                        let done = move || tracker.finished(&partition, offset);
                        self.dedup.record(key, done).await;
                    }
                    None => self.tracker.finished(&partition, offset),
                }
            }
        }
    }

    /// Handles one message to its end: done or dead-lettered.
    async fn process(&self, message: &OwnedMessage, warm: &mut Option<Warm>) {
        let received = match self.kafka.receive(message) {
            Ok(received) => received,
            Err(reason) => return self.dead_letter(message, &reason.to_string(), 0).await,
        };

        let retries = self.kafka.settings.retries;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let reason = match self.attempt(&received, warm).await {
                HandlerOutcome::Ok => break,
                HandlerOutcome::Reject(reason) => {
                    self.dead_letter(message, &format!("rejected: {reason}"), attempt)
                        .await;
                    break;
                }
                HandlerOutcome::RetryLater(reason) => format!("retry-later: {reason}"),
                HandlerOutcome::Failed(reason) => reason,
            };
            if attempt > retries {
                self.dead_letter(message, &reason, attempt).await;
                break;
            }
            let backoff = self.kafka.settings.backoff * 2u32.saturating_pow(attempt - 1);
            tracing::debug!(
                group = %self.group,
                attempt,
                %reason,
                ?backoff,
                "message will be retried"
            );
            tokio::time::sleep(backoff).await;
        }
    }

    /// Runs one attempt on the component's current version.
    async fn attempt(&self, received: &super::Received, warm: &mut Option<Warm>) -> HandlerOutcome {
        let _in_flight = self.slot.stats.message();
        match self.slot.current().kafka.clone() {
            Some(handler) => handler.handle(received.clone(), warm).await,
            None => HandlerOutcome::Failed("the component has no Kafka handler".into()),
        }
    }

    /// Sends the message to `<topic>.DLT` with why and how often it failed; keeps trying
    /// while the broker refuses, since dropping it would lose it.
    async fn dead_letter(&self, message: &OwnedMessage, error: &str, attempts: u32) {
        let topic = format!("{}{DEAD_LETTER_SUFFIX}", message.topic());
        let mut headers = super::headers(message);
        headers.push(("error".into(), error.as_bytes().to_vec()));
        headers.push(("original-topic".into(), message.topic().as_bytes().to_vec()));
        headers.push((
            "original-partition".into(),
            message.partition().to_string().into_bytes(),
        ));
        headers.push((
            "original-offset".into(),
            message.offset().to_string().into_bytes(),
        ));
        headers.push(("attempts".into(), attempts.to_string().into_bytes()));
        let payload = message.payload().unwrap_or_default();
        let mut wait = Duration::from_millis(500);
        loop {
            match self
                .kafka
                .produce(&topic, message.key(), payload, &headers)
                .await
            {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(%topic, error = %e, "dead-letter produce failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
            }
        }
        crate::metrics::inc("jm_kafka_dead_letters_total", &[("topic", message.topic())]);
        tracing::warn!(
            group = %self.group,
            topic = message.topic(),
            partition = message.partition(),
            offset = message.offset(),
            error,
            attempts,
            "message dead-lettered"
        );
    }
}

//! Request-reply: every host reads every partition of the reply topics (assigned directly,
//! no consumer group to join) and hands each reply to the call waiting on its
//! `correlation-id`. Replies nobody waits for, such as those for another host, are ignored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};
use tokio::sync::oneshot;

use super::Received;

/// Calls waiting for a reply, by correlation id.
#[derive(Default)]
pub struct Replies {
    waiting: Mutex<HashMap<String, oneshot::Sender<Received>>>,
}

/// A registered wait; dropping it forgets the correlation id.
pub struct Waiter<'a> {
    replies: &'a Replies,
    id: String,
    /// Resolves with the reply.
    pub reply: oneshot::Receiver<Received>,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.replies.lock().remove(&self.id);
    }
}

impl Replies {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Received>>> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a wait for the reply to `correlation_id`.
    pub fn wait(&self, correlation_id: &str) -> Waiter<'_> {
        let (tx, reply) = oneshot::channel();
        self.lock().insert(correlation_id.to_string(), tx);
        Waiter {
            replies: self,
            id: correlation_id.to_string(),
            reply,
        }
    }

    fn deliver(&self, correlation_id: &str, message: Received) {
        if let Some(tx) = self.lock().remove(correlation_id) {
            let _ = tx.send(message);
        }
    }
}

/// Starts reading the reply topics from their ends; returns once every partition is assigned.
pub async fn listen(brokers: &str, topics: &[String], kafka: Arc<super::Kafka>) -> Result<()> {
    if topics.is_empty() {
        return Ok(());
    }
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("jm-replies-{}", kafka.host_id))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .context("failed to create the reply consumer")?;
    let mut assignment = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .with_context(|| format!("failed to read the partitions of `{topic}`"))?;
        for t in metadata.topics() {
            for p in t.partitions() {
                // Start at the current end, resolved now, so no reply sent later is missed.
                let (_, high) = consumer
                    .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                    .with_context(|| format!("failed to read the end of `{topic}`"))?;
                assignment.add_partition_offset(topic, p.id(), Offset::Offset(high))?;
            }
        }
    }
    consumer
        .assign(&assignment)
        .context("failed to assign reply partitions")?;
    tokio::spawn(async move {
        loop {
            match consumer.recv().await {
                Ok(message) => {
                    let Some(id) = super::header(&message, "correlation-id") else {
                        continue;
                    };
                    let id = String::from_utf8_lossy(&id).into_owned();
                    match kafka.receive(&message) {
                        Ok(received) => kafka.replies.deliver(&id, received),
                        Err(error) => tracing::warn!(
                            topic = message.topic(), %error, "undecodable reply ignored"
                        ),
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "reply consumer error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    Ok(())
}

//! Which message ids a group has handled, kept in Redis with a time to live.
//!
//! Every lane of every trigger goes through one writer task, which sends all that gathered
//! while its previous round trip was out as one pipeline (a group commit): a lane asks about a
//! whole batch of messages at once, and hands over each handled id as soon as its handler
//! returns, without waiting for Redis. The id's offset counts as done, and may be committed,
//! only once Redis has the record, so a crash loses only the records still queued or in
//! flight (normally one round trip's worth): those messages are handled again.

use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::sync::{mpsc, oneshot};

/// Requests waiting for the writer before lanes must wait for it.
const QUEUE: usize = 1024;

/// Requests sent in one pipeline at most.
const PIPELINE: usize = 256;

/// Which message ids a group has handled: a handle on the writer task.
#[derive(Clone)]
pub struct Dedup {
    requests: mpsc::Sender<Request>,
}

enum Request {
    /// Which of these keys are recorded.
    Check {
        keys: Vec<String>,
        answer: oneshot::Sender<Vec<bool>>,
    },
    /// Record this key, then tell `done`, whether Redis took it or not.
    Record {
        key: String,
        done: Box<dyn FnOnce() + Send>,
    },
}

impl Dedup {
    /// Connects to the Redis at `url` and starts the writer; records live `ttl`.
    pub async fn connect(url: &str, ttl: Duration) -> Result<Self> {
        let client = redis::Client::open(url).context("bad Redis url for de-duplication")?;
        let redis = crate::redis_client::connect(client)
            .await
            .context("failed to reach Redis for Kafka de-duplication")?;
        let (requests, queue) = mpsc::channel(QUEUE);
        tokio::spawn(write(redis, ttl.as_secs().max(1), queue));
        Ok(Self { requests })
    }

    /// Answers, for each record key ([`key`]), whether it is recorded; a message without an
    /// id, or a check Redis did not answer, counts as not handled.
    pub async fn handled(&self, keys: &[Option<String>]) -> Vec<bool> {
        let asked: Vec<String> = keys.iter().flatten().cloned().collect();
        let mut answers = Vec::new();
        if !asked.is_empty() {
            let (answer, answered) = oneshot::channel();
            if self
                .requests
                .send(Request::Check {
                    keys: asked,
                    answer,
                })
                .await
                .is_ok()
            {
                answers = answered.await.unwrap_or_default();
            }
        }
        let mut answers = answers.into_iter();
        keys.iter()
            .map(|key| key.is_some() && answers.next().unwrap_or(false))
            .collect()
    }

    /// Records `key` ([`key`]) as handled, then calls `done`; waits only when the writer is
    /// behind.
    pub async fn record(&self, key: String, done: impl FnOnce() + Send + 'static) {
        let request = Request::Record {
            key,
            done: Box::new(done),
        };
        if let Err(mpsc::error::SendError(request)) = self.requests.send(request).await {
            tracing::warn!("de-duplication writer gone; a handled message id is not recorded");
            if let Request::Record { done, .. } = request {
                done();
            }
        }
    }
}

/// The Redis key that records `group` handled the message `id`.
pub fn key(group: &str, id: &str) -> String {
    format!("jm:kafka:handled:{group}:{id}")
}

/// Sends the requests that gathered as one pipeline, answers them, and goes on until every
/// [`Dedup`] is dropped.
async fn write(
    mut redis: redis::aio::ConnectionManager,
    ttl_secs: u64,
    mut queue: mpsc::Receiver<Request>,
) {
    let mut requests = Vec::with_capacity(PIPELINE);
    while queue.recv_many(&mut requests, PIPELINE).await > 0 {
        let mut pipe = redis::pipe();
        for request in &requests {
            match request {
                Request::Record { key, .. } => {
                    pipe.set_ex(key, 1, ttl_secs).ignore();
                }
                Request::Check { keys, .. } => {
                    for key in keys {
                        pipe.exists(key);
                    }
                }
            }
        }
        // Each `SET` is ignored, so the answers are those of the `EXISTS`, in order.
        let mut answers = match pipe.query_async::<Vec<bool>>(&mut redis).await {
            Ok(answers) => answers.into_iter(),
            Err(error) => {
                tracing::warn!(
                    %error,
                    "de-duplication round trip failed; its messages count as not handled \
                     and its records are lost"
                );
                Vec::new().into_iter()
            }
        };
        for request in requests.drain(..) {
            match request {
                Request::Record { done, .. } => done(),
                Request::Check { keys, answer } => {
                    let seen = keys
                        .iter()
                        .map(|_| answers.next().unwrap_or(false))
                        .collect();
                    let _ = answer.send(seen);
                }
            }
        }
    }
}

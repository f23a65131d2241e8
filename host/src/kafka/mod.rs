//! Kafka: the producer components publish through, request-reply, and the shared state of
//! the Kafka triggers.
//!
//! Start-up: pick the brokers (configured, `JM_KAFKA_BROKERS`, or a local Tansu), create the
//! topics with schemas and their dead-letter topics, start the reply listener. Every value
//! is checked against its topic's Avro schema before it is produced.

pub mod broker;
pub mod consumer;
pub mod dedup;
pub mod reply;
pub mod schema;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use rdkafka::ClientConfig;
use rdkafka::message::{Header, Headers as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::manifest::KafkaSettings;
use schema::Schemas;

/// A message as the host hands it to a component.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value as JSON, decoded with the topic's current schema.
    pub value: String,
    /// Its headers in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Why a publish or request failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The value does not match the topic's schema.
    #[error("{0}")]
    InvalidValue(String),
    /// No reply came in time.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The broker refused the message or could not be reached.
    #[error("broker: {0}")]
    Broker(String),
}

/// The application's Kafka connection.
pub struct Kafka {
    /// The bootstrap servers.
    pub brokers: String,
    /// Settings from the manifest.
    pub settings: KafkaSettings,
    /// Topic schemas.
    pub schemas: Arc<Schemas>,
    /// A name for this host, unique in the fleet, used for its reply consumer.
    pub host_id: String,
    producer: FutureProducer,
    replies: reply::Replies,
}

/// The suffix of dead-letter topics.
pub const DEAD_LETTER_SUFFIX: &str = ".DLT";

impl Kafka {
    /// Connects to `brokers`, creates the topics, and starts listening for replies.
    pub async fn start(brokers: String, settings: KafkaSettings) -> Result<Arc<Self>> {
        let schemas = Arc::new(Schemas::load(&settings.schemas)?);
        let mut topics: Vec<String> = Vec::new();
        for (topic, _) in schemas.topics() {
            topics.push(topic.clone());
            topics.push(format!("{topic}{DEAD_LETTER_SUFFIX}"));
        }
        broker::create_topics(&brokers, &topics, settings.partitions).await?;

        let mut config = client_config(&brokers, &settings);
        config
            .set("linger.ms", "0")
            .set("acks", "all")
            .set("enable.idempotence", "true");
        let producer: FutureProducer = config
            .create()
            .context("failed to create the Kafka producer")?;
        let kafka = Arc::new(Self {
            brokers: brokers.clone(),
            settings,
            schemas: schemas.clone(),
            host_id: uuid::Uuid::new_v4().simple().to_string(),
            producer,
            replies: reply::Replies::default(),
        });
        let reply_topics: Vec<String> = schemas
            .topics()
            .map(|(t, _)| t.clone())
            .filter(|t| t.ends_with("_REPLY"))
            .collect();
        reply::listen(&brokers, &reply_topics, kafka.clone()).await?;
        Ok(kafka)
    }

    /// Checks `value` against the topic's schema and produces it, adding `message-id`.
    pub async fn publish(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: &str,
        headers: &[(String, Vec<u8>)],
    ) -> Result<(), PublishError> {
        let bytes = self
            .schemas
            .encode(topic, value)
            .map_err(PublishError::InvalidValue)?;
        self.produce(topic, key, &bytes, headers).await
    }

    /// Produces bytes as they are, adding `message-id` unless `headers` has one.
    pub async fn produce(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        bytes: &[u8],
        headers: &[(String, Vec<u8>)],
    ) -> Result<(), PublishError> {
        let mut owned = OwnedHeaders::new_with_capacity(headers.len() + 1);
        if !headers.iter().any(|(name, _)| name == "message-id") {
            let id = uuid::Uuid::new_v4().to_string();
            owned = owned.insert(Header {
                key: "message-id",
                value: Some(id.as_bytes()),
            });
        }
        for (name, value) in headers {
            owned = owned.insert(Header {
                key: name,
                value: Some(value),
            });
        }
        let mut record = FutureRecord::to(topic).payload(bytes).headers(owned);
        if let Some(key) = key {
            record = record.key(key);
        }
        self.producer
            .send(record, Duration::from_secs(10))
            .await
            .map(drop)
            .map_err(|(error, _)| PublishError::Broker(error.to_string()))
    }

    /// Publishes a request and waits for its reply on `<topic>_REPLY`.
    pub async fn request(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: &str,
        headers: &[(String, Vec<u8>)],
        timeout: Duration,
    ) -> Result<Received, PublishError> {
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let reply_topic = format!("{topic}_REPLY");
        let mut headers = headers.to_vec();
        headers.push(("correlation-id".into(), correlation_id.clone().into_bytes()));
        headers.push(("reply-topic".into(), reply_topic.into_bytes()));
        let mut waiter = self.replies.wait(&correlation_id);
        self.publish(topic, key, value, &headers).await?;
        match tokio::time::timeout(timeout, &mut waiter.reply).await {
            Ok(Ok(reply)) => Ok(reply),
            _ => Err(PublishError::Timeout(timeout)),
        }
    }

    /// Decodes a message from the wire for a component.
    pub fn receive<M: rdkafka::Message>(
        &self,
        message: &M,
    ) -> Result<Received, schema::DecodeError> {
        let value = self
            .schemas
            .decode(message.topic(), message.payload().unwrap_or_default())?;
        Ok(Received {
            topic: message.topic().to_string(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            value,
            headers: headers(message),
        })
    }
}

/// The client settings every Kafka client of the host shares.
pub fn client_config(brokers: &str, settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for (key, value) in &settings.client {
        config.set(key, value);
    }
    config
}

/// The headers of a message as name and value pairs.
pub fn headers<M: rdkafka::Message>(message: &M) -> Vec<(String, Vec<u8>)> {
    let Some(headers) = message.headers() else {
        return Vec::new();
    };
    headers
        .iter()
        .map(|h| {
            (
                h.key.to_string(),
                h.value.map(<[u8]>::to_vec).unwrap_or_default(),
            )
        })
        .collect()
}

/// The value of the first header called `name`.
pub fn header<M: rdkafka::Message>(message: &M, name: &str) -> Option<Vec<u8>> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value.map(<[u8]>::to_vec))
}

//! Kafka for components: typed publish, request-reply and message handlers over the host's
//! `jm:kafka` interfaces. Values are serde types; the host checks them against the topic's
//! Avro schema and carries them as Avro on the wire.
//!
//! A handler implements [`Handler`] and is exported with [`export_handler!`].

use serde::Serialize;
use serde::de::DeserializeOwned;

#[doc(hidden)]
pub mod wit {
    #![allow(missing_docs, reason = "generated code")]
    spin_sdk::wit_bindgen::generate!({
        world: "jm:kafka/component",
        path: "../../wit/kafka",
        runtime_path: "::spin_sdk::wit_bindgen::rt",
        pub_export_macro: true,
        default_bindings_module: "::jm_kafka::wit",
        export_macro_name: "export_kafka_handler",
    });
}

pub use wit::exports::jm::kafka::handler::{Guest as Handler, Outcome};
pub use wit::jm::kafka::types::{Error, Message};

/// Exports `$t`, which implements [`Handler`], as the component's Kafka handler.
#[macro_export]
macro_rules! export_handler {
    ($t:ident) => {
        $crate::wit::export_kafka_handler!($t);
    };
}

/// Headers as the host takes them.
pub type Headers = Vec<(String, Vec<u8>)>;

/// Why a typed call failed.
#[derive(Debug)]
pub enum KafkaError {
    /// The host refused or failed the call.
    Kafka(Error),
    /// A value could not be turned into or read from JSON.
    Json(serde_json::Error),
}

impl std::fmt::Display for KafkaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Kafka(Error::TopicNotAllowed(t)) => write!(f, "topic `{t}` is not granted"),
            Self::Kafka(Error::InvalidValue(why)) => write!(f, "invalid value: {why}"),
            Self::Kafka(Error::Timeout) => write!(f, "no reply in time"),
            Self::Kafka(Error::Broker(why)) => write!(f, "broker: {why}"),
            Self::Json(e) => write!(f, "json: {e}"),
        }
    }
}

impl std::error::Error for KafkaError {}

impl KafkaError {
    /// Whether the call failed because no reply came in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Kafka(Error::Timeout))
    }
}

/// Publishes `value` to `topic` with an optional key.
pub async fn publish<T: Serialize>(
    topic: &str,
    key: Option<&str>,
    value: &T,
) -> Result<(), KafkaError> {
    publish_with(topic, key, value, Vec::new()).await
}

/// Publishes `value` to `topic` with extra headers.
pub async fn publish_with<T: Serialize>(
    topic: &str,
    key: Option<&str>,
    value: &T,
    headers: Headers,
) -> Result<(), KafkaError> {
    let value = serde_json::to_string(value).map_err(KafkaError::Json)?;
    let key = key.map(|k| k.as_bytes().to_vec());
    wit::jm::kafka::producer::publish(topic.to_string(), key, value, headers)
        .await
        .map_err(KafkaError::Kafka)
}

/// Sends a request to `topic` and waits for the reply on `<topic>_REPLY`, at most
/// `timeout_ms`.
pub async fn request<T: Serialize, R: DeserializeOwned>(
    topic: &str,
    key: Option<&str>,
    value: &T,
    timeout_ms: u32,
) -> Result<R, KafkaError> {
    let value = serde_json::to_string(value).map_err(KafkaError::Json)?;
    let key = key.map(|k| k.as_bytes().to_vec());
    let reply =
        wit::jm::kafka::producer::request(topic.to_string(), key, value, Vec::new(), timeout_ms)
            .await
            .map_err(KafkaError::Kafka)?;
    serde_json::from_str(&reply.value).map_err(KafkaError::Json)
}

impl Message {
    /// The value as a typed record.
    pub fn value_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.value)
    }

    /// The first header called `name`, as text.
    pub fn header(&self, name: &str) -> Option<String> {
        let (_, value) = self.headers.iter().find(|(n, _)| n == name)?;
        String::from_utf8(value.clone()).ok()
    }

    /// The key as text.
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
    }

    /// Replies to a request: publishes `value` to its `reply-topic` with its `correlation-id`.
    pub async fn reply<T: Serialize>(&self, value: &T) -> Result<(), KafkaError> {
        let (Some(topic), Some(id)) = (self.header("reply-topic"), self.header("correlation-id"))
        else {
            return Err(KafkaError::Kafka(Error::InvalidValue(
                "the message is not a request".into(),
            )));
        };
        let headers = vec![("correlation-id".to_string(), id.into_bytes())];
        publish_with(&topic, self.key_str(), value, headers).await
    }
}

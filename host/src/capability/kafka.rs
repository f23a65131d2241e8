//! `jm:kafka/producer`: publish and request-reply for components, limited to the topics their
//! manifest entry lists under `kafka_publish`.

use std::time::Duration;

use wasmtime::component::Accessor;

use super::{Spin, SpinView};
use crate::bindings::kafka::{Error, Message, producer};
use crate::kafka::{Kafka, PublishError, Received};

/// Checks the grant and returns the Kafka connection, or the error the component sees.
fn kafka_for<T>(accessor: &Accessor<T, Spin>, topic: &str) -> Result<std::sync::Arc<Kafka>, Error> {
    accessor.with(|mut access| {
        let ctx = access.get().ctx;
        if !ctx.grants.kafka_publish.iter().any(|t| t == topic) {
            return Err(Error::TopicNotAllowed(topic.to_string()));
        }
        ctx.resources
            .kafka
            .clone()
            .ok_or_else(|| Error::Broker("Kafka is not configured".into()))
    })
}

fn to_wit(error: PublishError) -> Error {
    match error {
        PublishError::InvalidValue(reason) => Error::InvalidValue(reason),
        PublishError::Timeout(_) => Error::Timeout,
        PublishError::Broker(reason) => Error::Broker(reason),
    }
}

fn to_message(received: Received) -> Message {
    Message {
        topic: received.topic,
        partition: received.partition,
        offset: received.offset,
        key: received.key,
        value: received.value,
        headers: received.headers,
    }
}

impl producer::Host for SpinView<'_> {}

impl<T> producer::HostWithStore<T> for Spin {
    async fn publish(
        accessor: &Accessor<T, Self>,
        topic: String,
        key: Option<Vec<u8>>,
        value: String,
        headers: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let kafka = match kafka_for(accessor, &topic) {
            Ok(kafka) => kafka,
            Err(e) => return Ok(Err(e)),
        };
        Ok(kafka
            .publish(&topic, key.as_deref(), &value, &headers)
            .await
            .map_err(to_wit))
    }

    async fn request(
        accessor: &Accessor<T, Self>,
        topic: String,
        key: Option<Vec<u8>>,
        value: String,
        headers: Vec<(String, Vec<u8>)>,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<Message, Error>> {
        let kafka = match kafka_for(accessor, &topic) {
            Ok(kafka) => kafka,
            Err(e) => return Ok(Err(e)),
        };
        let timeout = Duration::from_millis(timeout_ms.into());
        let reply = kafka
            .request(&topic, key.as_deref(), &value, &headers, timeout)
            .await;
        Ok(reply.map(to_message).map_err(to_wit))
    }
}

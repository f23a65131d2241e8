//! Running one Kafka message on a fresh instance of the component that exports
//! `jm:kafka/handler`, under the component's deadline and memory limit.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use wasmtime::Store;
use wasmtime::component::InstancePre;

use crate::bindings::kafka::{ComponentPre, Message, Outcome};
use crate::kafka::Received;
use crate::state::{ComponentEnv, InstanceState};

/// What became of one attempt at a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerOutcome {
    /// Handled.
    Ok,
    /// The component asked to try again later.
    RetryLater(String),
    /// The component refused the message for good.
    Reject(String),
    /// The component trapped, timed out or could not start.
    Failed(String),
}

/// A component that handles Kafka messages.
pub struct KafkaHandler {
    pre: ComponentPre<InstanceState>,
    env: Arc<ComponentEnv>,
    timeout: Duration,
}

impl KafkaHandler {
    /// Prepares the handler export of a pre-linked component.
    pub fn new(
        pre: InstancePre<InstanceState>,
        env: Arc<ComponentEnv>,
        timeout: Duration,
    ) -> Result<Self> {
        let pre = ComponentPre::new(pre).map_err(anyhow::Error::from)?;
        Ok(Self { pre, env, timeout })
    }

    /// The component's name.
    pub fn component(&self) -> &str {
        &self.env.grants.component
    }

    /// Runs `message` on a new instance.
    pub async fn handle(&self, message: Received) -> HandlerOutcome {
        match tokio::time::timeout(self.timeout, self.run(message)).await {
            Ok(Ok(Outcome::Ok)) => HandlerOutcome::Ok,
            Ok(Ok(Outcome::RetryLater(reason))) => HandlerOutcome::RetryLater(reason),
            Ok(Ok(Outcome::Reject(reason))) => HandlerOutcome::Reject(reason),
            Ok(Err(error)) => {
                tracing::debug!(component = self.component(), blame = "guest", error = %format!("{error:#}"), "handler failed");
                HandlerOutcome::Failed(format!("handler failed: {error}"))
            }
            Err(_) => HandlerOutcome::Failed(format!("handler timed out after {:?}", self.timeout)),
        }
    }

    async fn run(&self, message: Received) -> wasmtime::Result<Outcome> {
        let engine = self.pre.instance_pre().engine();
        let mut store = Store::new(engine, InstanceState::new(&self.env));
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_async_yield_and_update(1);
        store.set_epoch_deadline(1);
        let instance = self.pre.instantiate_async(&mut store).await?;
        let message = Message {
            topic: message.topic,
            partition: message.partition,
            offset: message.offset,
            key: message.key,
            value: message.value,
            headers: message.headers,
        };
        store
            .run_concurrent(async move |accessor| {
                instance
                    .jm_kafka_handler()
                    .call_handle(accessor, message)
                    .await
            })
            .await?
    }
}

//! Running one Kafka message on an instance of the component that exports
//! `jm:kafka/handler`, under the component's deadline and memory limit: a fresh instance per
//! message, unless the manifest's `instance_reuse` lets a lane keep one for several messages.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use wasmtime::Store;
use wasmtime::component::InstancePre;

use crate::bindings::kafka::{Component, ComponentPre, Message, Outcome};
use crate::kafka::Received;
use crate::manifest::ComponentSpec;
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
    /// Messages one instance may handle, one after another.
    reuse: u32,
}

/// An instance a lane keeps for its next messages.
pub struct Warm {
    /// The version it was made from: a reload retires it.
    handler: Arc<KafkaHandler>,
    store: Store<InstanceState>,
    instance: Component,
    /// Messages it may still handle.
    left: u32,
}

impl KafkaHandler {
    /// Prepares the handler export of a pre-linked component; `spec` gives its deadline and
    /// how many messages one instance may handle.
    pub fn new(
        pre: InstancePre<InstanceState>,
        env: Arc<ComponentEnv>,
        spec: &ComponentSpec,
    ) -> Result<Self> {
        let pre = ComponentPre::new(pre).map_err(anyhow::Error::from)?;
        Ok(Self {
            pre,
            env,
            timeout: spec.request_timeout,
            reuse: spec.instance_reuse.max(1),
        })
    }

    /// The component's name.
    pub fn component(&self) -> &str {
        &self.env.grants.component
    }

    /// Runs `message` on the lane's kept instance when `warm` holds one of this version with
    /// messages left, else on a new instance, which `warm` keeps when reuse allows. A trap or
    /// timeout ends the instance.
    pub async fn handle(
        self: &Arc<Self>,
        message: Received,
        warm: &mut Option<Warm>,
    ) -> HandlerOutcome {
        let kept = warm
            .take()
            .filter(|w| Arc::ptr_eq(&w.handler, self) && w.left > 0);
        let run = async {
            let mut warm = match kept {
                Some(warm) => warm,
                None => self.instantiate().await?,
            };
            let outcome = Self::call(&mut warm, message).await?;
            warm.left -= 1;
            Ok::<_, wasmtime::Error>((outcome, warm))
        };
        match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok((outcome, kept))) => {
                *warm = (kept.left > 0).then_some(kept);
                match outcome {
                    Outcome::Ok => HandlerOutcome::Ok,
                    Outcome::RetryLater(reason) => HandlerOutcome::RetryLater(reason),
                    Outcome::Reject(reason) => HandlerOutcome::Reject(reason),
                }
            }
            Ok(Err(error)) => {
                tracing::debug!(
                    component = self.component(),
                    blame = "guest",
                    error = %format!("{error:#}"),
                    "handler failed"
                );
                HandlerOutcome::Failed(format!("handler failed: {error}"))
            }
            Err(_) => HandlerOutcome::Failed(format!("handler timed out after {:?}", self.timeout)),
        }
    }

    /// Makes a new instance under the component's memory limit and epoch deadline.
    pub async fn instantiate(self: &Arc<Self>) -> wasmtime::Result<Warm> {
        let engine = self.pre.instance_pre().engine();
        let mut store = Store::new(engine, InstanceState::new(&self.env));
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_async_yield_and_update(1);
        store.set_epoch_deadline(1);
        let instance = self.pre.instantiate_async(&mut store).await?;
        Ok(Warm {
            handler: self.clone(),
            store,
            instance,
            left: self.reuse,
        })
    }

    /// Calls the handler of `warm` with one message, without the component's deadline.
    pub async fn call(warm: &mut Warm, message: Received) -> wasmtime::Result<Outcome> {
        let instance = &warm.instance;
        let message = Message {
            topic: message.topic,
            partition: message.partition,
            offset: message.offset,
            key: message.key,
            value: message.value,
            headers: message.headers,
        };
        warm.store
            .run_concurrent(async move |accessor| {
                instance
                    .jm_kafka_handler()
                    .call_handle(accessor, message)
                    .await
            })
            .await?
    }
}

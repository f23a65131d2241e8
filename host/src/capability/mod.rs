//! Capabilities lent to components: the Spin interfaces, each checked against the manifest.
//!
//! Every capability has the same shape: shared host state in [`Resources`] (pools, stores),
//! per-component grants in [`Grants`], and a `host.rs`-style trait implementation reached
//! through [`SpinView`], the slice of the store data the bindings see.

pub mod allowed_hosts;
pub mod kafka;
pub mod key_value;
pub mod outbound_http;
pub mod postgres;
pub mod postgres_values;
pub mod redis;
pub mod variables;

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker, ResourceTable};

use crate::bindings;
use crate::manifest::ComponentSpec;
use allowed_hosts::AllowedHosts;

/// Host state shared by every instance of every component.
pub struct Resources {
    /// Postgres pools, one per address.
    pub postgres: postgres::Pools,
    /// Redis connections, one per address.
    pub redis: redis::Clients,
    /// Key-value stores by label.
    pub key_value: key_value::Stores,
    /// The Kafka connection, when the application uses Kafka.
    pub kafka: Option<Arc<crate::kafka::Kafka>>,
}

/// What one component may reach, resolved from its manifest entry at load.
pub struct Grants {
    /// The component's name.
    pub component: String,
    /// Hosts the component may reach.
    pub allowed_hosts: AllowedHosts,
    /// Key-value labels the component may open.
    pub key_value_stores: Vec<String>,
    /// The component's variables with templates expanded.
    pub variables: BTreeMap<String, String>,
    /// Topics the component may publish to.
    pub kafka_publish: Vec<String>,
}

impl Grants {
    /// Resolves a component's grants against the application's variable values.
    pub fn new(spec: &ComponentSpec, app_values: &BTreeMap<String, String>) -> Self {
        let variables = spec
            .variables
            .iter()
            .map(|(k, t)| (k.clone(), variables::expand(t, app_values)))
            .collect();
        Self {
            component: spec.name.clone(),
            allowed_hosts: spec.allowed_outbound_hosts.clone(),
            key_value_stores: spec.key_value_stores.clone(),
            variables,
            kafka_publish: spec.kafka_publish.clone(),
        }
    }
}

/// The capability part of one instance's store data.
pub struct SpinCtx {
    /// Shared host state.
    pub resources: Arc<Resources>,
    /// The component's grants.
    pub grants: Arc<Grants>,
}

/// What a capability's host functions see of the store: the resource table and the context.
pub struct SpinView<'a> {
    /// The instance's resource table.
    pub table: &'a mut ResourceTable,
    /// The instance's capability context.
    pub ctx: &'a SpinCtx,
}

/// The [`HasData`] marker under which the Spin interfaces are linked.
pub struct Spin;

impl HasData for Spin {
    type Data<'a> = SpinView<'a>;
}

/// Adds every Spin interface to `linker`, reaching the store data through `view`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> SpinView<'_>,
) -> wasmtime::Result<()> {
    bindings::postgres::add_to_linker::<T, Spin>(linker, view)?;
    bindings::redis::add_to_linker::<T, Spin>(linker, view)?;
    bindings::key_value::add_to_linker::<T, Spin>(linker, view)?;
    bindings::variables::add_to_linker::<T, Spin>(linker, view)?;
    bindings::kafka::producer::add_to_linker::<T, Spin>(linker, view)?;
    Ok(())
}

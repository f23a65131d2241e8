//! The data of one instance's store: WASI, `wasi:http`, the Spin capabilities and limits.
//!
//! A fresh [`InstanceState`] is made for every request or message, from the component's
//! shared [`ComponentEnv`], so nothing leaks between requests.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::capability::outbound_http::OutboundHttp;
use crate::capability::{Grants, Resources, SpinCtx, SpinView};
use crate::log_stream::LogStream;

/// What every instance of one component shares: its grants, environment and limits.
pub struct ComponentEnv {
    /// The component's grants.
    pub grants: Arc<Grants>,
    /// Shared host state.
    pub resources: Arc<Resources>,
    /// WASI environment variables.
    pub environment: BTreeMap<String, String>,
    /// Linear-memory limit of one instance, in bytes.
    pub memory_limit: u64,
    /// Host folders mounted read-write: host path and path inside the component.
    pub volumes: Vec<(std::path::PathBuf, String)>,
}

/// The store data of one instance.
pub struct InstanceState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundHttp,
    spin: SpinCtx,
    /// The limits the store enforces.
    pub limits: StoreLimits,
}

impl InstanceState {
    /// Makes the state of a new instance of the component `env` describes.
    pub fn new(env: &ComponentEnv) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.envs(&env.environment.iter().collect::<Vec<_>>());
        wasi.stdout(LogStream::stdout(&env.grants.component));
        wasi.stderr(LogStream::stderr(&env.grants.component));
        for (host, guest) in &env.volumes {
            // Checked at load; a folder removed since then only costs the instance its mount.
            let mounted = wasi.preopened_dir(host, guest, FsPerms::ReadWrite);
            if let Err(error) = mounted {
                tracing::warn!(component = %env.grants.component, %error, "volume not mounted");
            }
        }
        let limits = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(env.memory_limit).unwrap_or(usize::MAX))
            .trap_on_grow_failure(true)
            .build();
        Self {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: OutboundHttp(env.grants.clone()),
            spin: SpinCtx {
                resources: env.resources.clone(),
                grants: env.grants.clone(),
            },
            limits,
        }
    }

    /// The view the Spin capabilities see.
    pub fn spin(&mut self) -> SpinView<'_> {
        SpinView {
            table: &mut self.table,
            ctx: &self.spin,
        }
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

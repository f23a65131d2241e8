//! The Job Manager host: runs Spin components from a `spin.toml` on wasmtime, lending them
//! HTTP, Postgres, Redis, key-value and variables, each checked against the manifest.
//!
//! The `jm` binary parses the command line and drives [`app::App`], [`build`] and [`migrate`].

pub mod admin;
pub mod app;
pub mod bindings;
pub mod build;
pub mod capability;
pub mod cli;
pub mod component;
pub mod engine;
pub mod fleet;
pub mod kafka;
pub mod log_stream;
pub mod manifest;
pub mod metrics;
pub mod migrate;
pub mod redis_client;
pub mod runtime_config;
pub mod state;
pub mod trigger;
pub mod watch;

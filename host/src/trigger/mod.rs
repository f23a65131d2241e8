//! Triggers: what makes a component run, each run on a fresh instance: HTTP requests, Kafka
//! messages and scheduled jobs.

pub mod auth;
pub mod http;
pub mod kafka;
pub mod rate_limit;
pub mod routes;
pub mod timer;

//! Triggers: what makes a component run. HTTP requests today, each on a fresh instance.

pub mod auth;
pub mod http;
pub mod kafka;
pub mod routes;

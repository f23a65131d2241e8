//! The operator commands that talk to a running host's admin API: `jm components`,
//! `jm reload` and `jm rollback`.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Sends one request to the admin API and returns the JSON answer, or the error it gave.
async fn call(admin: SocketAddr, method: &str, path: &str, body: Vec<u8>) -> Result<Value> {
    let stream = tokio::net::TcpStream::connect(admin)
        .await
        .with_context(|| format!("no host answers on {admin} (is `jm up` running?)"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", admin.to_string());
    if let Ok(token) = std::env::var("JM_ADMIN_TOKEN") {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body)))?)
        .await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        let message = value["error"].as_str().unwrap_or("no details").to_string();
        bail!("{message} ({status})");
    }
    Ok(value)
}

/// `jm components`: prints each component's version and counters, and the fleet's versions.
pub async fn components(admin: SocketAddr) -> Result<()> {
    let value = call(admin, "GET", "/components", Vec::new()).await?;
    println!(
        "{:<16} {:<13} {:>9} {:>9} {:>9} {:>9}  LOADED",
        "COMPONENT", "VERSION", "REQ-NOW", "REQ-DONE", "MSG-NOW", "MSG-DONE"
    );
    for c in value["components"].as_array().into_iter().flatten() {
        println!(
            "{:<16} {:<13} {:>9} {:>9} {:>9} {:>9}  {}",
            c["name"].as_str().unwrap_or_default(),
            c["version"].as_str().unwrap_or_default(),
            c["requests"]["inFlight"],
            c["requests"]["handled"],
            c["messages"]["inFlight"],
            c["messages"]["handled"],
            c["loadedAt"].as_str().unwrap_or_default(),
        );
    }
    if let Some(hosts) = value["fleet"].as_array() {
        println!("\nFLEET");
        for host in hosts {
            let versions: Vec<String> = host["components"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, version)| format!("{name}={}", version.as_str().unwrap_or_default()))
                .collect();
            println!(
                "{} ({}): {}",
                host["host"].as_str().unwrap_or_default(),
                host["admin"].as_str().unwrap_or_default(),
                versions.join(" ")
            );
        }
    }
    Ok(())
}

/// `jm reload NAME [--wasm FILE]`.
pub async fn reload(admin: SocketAddr, name: &str, wasm: Option<&Path>) -> Result<()> {
    let body = match wasm {
        Some(path) => {
            std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?
        }
        None => Vec::new(),
    };
    let value = call(admin, "POST", &format!("/components/{name}/reload"), body).await?;
    println!(
        "{name} now runs {}",
        value["version"].as_str().unwrap_or_default()
    );
    Ok(())
}

/// `jm rollback NAME`.
pub async fn rollback(admin: SocketAddr, name: &str) -> Result<()> {
    let value = call(
        admin,
        "POST",
        &format!("/components/{name}/rollback"),
        Vec::new(),
    )
    .await?;
    println!(
        "{name} is back on {}",
        value["version"].as_str().unwrap_or_default()
    );
    Ok(())
}

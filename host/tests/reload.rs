//! End-to-end tests of hot reload, rollback and fleet reload: swaps under load drop nothing,
//! a broken build is refused while the old version serves, and one command reaches every host.

#![expect(
    clippy::expect_used,
    reason = "test helpers stop the test with the failed step's message"
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{HostBuilder, components, get};

const GREETER: &str = r#"
spin_manifest_version = 2

[application]
name = "reload"

[[trigger.http]]
route = "/..."
component = "greeter"

[component.greeter]
source = "{components}/hello.wasm"
"#;

async fn admin(host: &support::Host, method: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let request = reqwest::Client::new().request(
        method.parse().expect("method"),
        format!("{}{path}", host.admin),
    );
    let response = request.body(body).send().await.expect("admin call");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn wasm(name: &str) -> Vec<u8> {
    std::fs::read(components().join(name)).expect("test component")
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_under_load_drops_nothing_and_the_new_body_appears() {
    let host = HostBuilder::new(GREETER).start();
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed, new_body) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (url, stop, ok, failed, new_body) = (
            host.url.clone(),
            stop.clone(),
            ok.clone(),
            failed.clone(),
            new_body.clone(),
        );
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                match client.get(format!("{url}/load")).send().await {
                    Ok(r) if r.status() == 200 => {
                        let body = r.text().await.unwrap_or_default();
                        if body.starts_with("p2 GET /load") {
                            new_body.fetch_add(1, Ordering::Relaxed);
                        } else if body != "Hello, world!" {
                            failed.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (status, body) = admin(
        &host,
        "POST",
        "/components/greeter/reload",
        wasm("p2_echo.wasm"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("worker");
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "failed requests");
    assert!(
        ok.load(Ordering::Relaxed) > 50,
        "too few requests: {}",
        ok.load(Ordering::Relaxed)
    );
    assert!(
        new_body.load(Ordering::Relaxed) > 0,
        "the new version never answered"
    );
}

#[tokio::test]
async fn a_broken_build_is_refused_while_the_old_version_serves_and_rollback_goes_back() {
    let host = HostBuilder::new(GREETER).start();
    let (status, body) = admin(
        &host,
        "POST",
        "/components/greeter/reload",
        b"not wasm at all".to_vec(),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("not a valid component")),
        "{body}"
    );
    assert_eq!(
        get(&format!("{}/x", host.url)).await,
        (200, "Hello, world!".into())
    );

    let (status, body) = admin(&host, "POST", "/components/greeter/rollback", Vec::new()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("component `greeter` has no earlier version"))
    );

    let (status, _) = admin(
        &host,
        "POST",
        "/components/greeter/reload",
        wasm("p2_echo.wasm"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        get(&format!("{}/x", host.url)).await,
        (200, "p2 GET /x\n".into())
    );
    let (_, listed) = admin(&host, "GET", "/components", Vec::new()).await;
    let greeter = &listed["components"][0];
    assert_eq!(greeter["name"], "greeter");
    assert_eq!(greeter["source"], "upload");
    assert_eq!(greeter["earlier"].as_array().map(Vec::len), Some(1));

    let (status, _) = admin(&host, "POST", "/components/greeter/rollback", Vec::new()).await;
    assert_eq!(status, 200);
    assert_eq!(
        get(&format!("{}/x", host.url)).await,
        (200, "Hello, world!".into())
    );
    let metrics = reqwest::get(format!("{}/metrics", host.admin))
        .await
        .expect("metrics");
    let metrics = metrics.text().await.expect("text");
    for line in [
        "jm_http_requests_total{component=\"greeter\",status=\"2xx\"} 3",
        "jm_reloads_total{component=\"greeter\",result=\"ok\"} 2",
        "jm_reloads_total{component=\"greeter\",result=\"refused\"} 2",
        "jm_http_request_duration_seconds_count{component=\"greeter\"} 3",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
}

#[tokio::test]
async fn the_cli_lists_reloads_and_rolls_back() {
    let host = HostBuilder::new(GREETER).start();
    let admin = host.admin.trim_start_matches("http://").to_string();
    let jm = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_jm"))
            .args(args)
            .output()
            .expect("jm");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (ok, out) = jm(&["components", "--admin", &admin]);
    assert!(ok && out.contains("greeter"), "{out}");
    let p2 = components().join("p2_echo.wasm");
    let (ok, out) = jm(&[
        "reload",
        "greeter",
        "--wasm",
        &p2.display().to_string(),
        "--admin",
        &admin,
    ]);
    assert!(ok && out.starts_with("greeter now runs "), "{out}");
    let (ok, out) = jm(&["rollback", "greeter", "--admin", &admin]);
    assert!(ok && out.starts_with("greeter is back on "), "{out}");
    let (ok, out) = jm(&["rollback", "greeter", "--admin", &admin]);
    assert!(!ok && out.contains("has no earlier version"), "{out}");
}

const FLEET: &str = r#"
spin_manifest_version = 2

[application]
name = "fleet-{run}"

[[trigger.http]]
route = "/..."
component = "greeter"

[component.greeter]
source = "{components}/hello.wasm"
kafka_publish = ["FLEET_UNUSED"]
"#;

#[tokio::test]
async fn one_reload_command_reaches_every_host_of_the_fleet() {
    let run = format!(
        "{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    );
    let manifest = FLEET.replace("{run}", &run);
    let first = HostBuilder::new(&manifest).file("avro/.keep", "").start();
    let second = HostBuilder::new(&manifest).file("avro/.keep", "").start();
    let (status, body) = admin(
        &first,
        "POST",
        "/components/greeter/reload",
        wasm("p2_echo.wasm"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, text) = get(&format!("{}/fleet", second.url)).await;
        if text == "p2 GET /fleet\n" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second host still answers {text:?}\n{}",
            second.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, listed) = admin(&second, "GET", "/components", Vec::new()).await;
    let fleet = listed["fleet"].as_array().expect("fleet view");
    assert_eq!(fleet.len(), 2, "{listed}");

    // A host that joins later starts on the version the fleet swapped to...
    let third = HostBuilder::new(&manifest).file("avro/.keep", "").start();
    assert_eq!(
        get(&format!("{}/late", third.url)).await,
        (200, "p2 GET /late\n".into())
    );
    // ...unless it was deployed with another build: a new deployment wins over an old swap.
    let redeployed = manifest.replace("hello.wasm", "kitchen.wasm");
    let fourth = HostBuilder::new(&redeployed).file("avro/.keep", "").start();
    assert_eq!(
        get(&format!("{}/count", fourth.url)).await,
        (200, "1".into()),
        "{}",
        fourth.log()
    );
}

#[tokio::test]
async fn scheduled_work_runs_on_one_host_of_the_fleet() {
    let run = format!(
        "timer-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    );
    let manifest = format!(
        r#"
spin_manifest_version = 2

[application]
name = "{run}"

[[trigger.timer]]
component = "kitchen"
every = "500ms"
path = "/stdout"

[component.kitchen]
source = "{{components}}/kitchen.wasm"
"#
    );
    let first = HostBuilder::new(&manifest).start();
    let second = HostBuilder::new(&manifest).start();
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let count = |log: String| log.matches("kitchen says hi").count();
    let (a, b) = (count(first.log()), count(second.log()));
    // Six ticks in all: twelve runs if both hosts ran each tick.
    assert!((4..=8).contains(&(a + b)), "first ran {a}, second ran {b}");
}

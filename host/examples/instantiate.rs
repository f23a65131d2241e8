//! What one Kafka message costs the host with nothing else running: a component's handler
//! called `N` times on one thread, each time on a fresh instance (or one kept for
//! `INSTANCE_REUSE` messages), with the time per message printed: wasmtime's instantiation,
//! the call and the store's teardown, without the broker, Redis or other threads. A second
//! pass times those three phases of a fresh instance apart.
//!
//! Run: `cargo run --release -p jm-host --example instantiate -- COMPONENT.wasm [N]`
//! (`bench/README.md` says where `bench/kafka.sh` leaves `kafka_bench.wasm`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use jm_host::capability::{Grants, Resources};
use jm_host::component::{Loader, Slot};
use jm_host::kafka::Received;
use jm_host::manifest::Manifest;
use jm_host::state::ComponentEnv;
use jm_host::trigger::kafka::{HandlerOutcome, KafkaHandler};

/// The allocator `jm` uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let wasm = args
        .next()
        .context("usage: instantiate COMPONENT.wasm [N]")?;
    let n: u32 = args.next().map_or(Ok(20_000), |n| n.parse())?;
    let reuse: u32 = std::env::var("INSTANCE_REUSE").map_or(Ok(1), |r| r.parse())?;

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("spin.toml");
    let wasm = std::path::absolute(wasm)?;
    let text = format!(
        "spin_manifest_version = 2\n[application]\nname = \"instantiate\"\n\
         [[trigger.kafka]]\ncomponent = \"c\"\ntopics = [\"BENCH\"]\n\
         [component.c]\nsource = {:?}\ninstance_reuse = {reuse}\n",
        wasm.display().to_string()
    );
    let manifest = Manifest::parse(&path, &text)?;
    let spec = manifest.components["c"].clone();

    let engine = jm_host::engine::new(spec.memory_limit)?;
    jm_host::engine::spawn_epoch_ticker(&engine);
    let loader = Arc::new(Loader {
        linker: jm_host::app::linker(&engine)?,
        engine,
        cache: jm_host::engine::cache_dir(),
    });
    let env = Arc::new(ComponentEnv {
        grants: Arc::new(Grants::new(&spec, &Default::default())),
        resources: Arc::new(Resources {
            postgres: Default::default(),
            redis: Default::default(),
            key_value: Default::default(),
            kafka: None,
        }),
        environment: spec.environment.clone(),
        memory_limit: spec.memory_limit,
        volumes: Vec::new(),
    });
    let slot = Slot::load(loader, spec, env, (false, true))?;
    let handler = slot.current().kafka.clone().context("no Kafka handler")?;

    let message = |offset| Received {
        topic: "BENCH".into(),
        partition: 0,
        offset,
        key: None,
        value: r#"{"id":"1","text":"hello"}"#.into(),
        headers: vec![("message-id".into(), b"0123456789abcdef".to_vec())],
    };
    let mut warm = None;
    for offset in 0..1000 {
        handler.handle(message(offset), &mut warm).await;
    }
    let started = Instant::now();
    for offset in 0..i64::from(n) {
        let outcome = handler.handle(message(offset), &mut warm).await;
        anyhow::ensure!(
            outcome == HandlerOutcome::Ok,
            "message {offset}: {outcome:?}"
        );
    }
    let elapsed = started.elapsed();
    println!(
        "{n} messages, instance_reuse {reuse}: {:.2} µs per message, {:.0} messages/s on one thread",
        elapsed.as_secs_f64() * 1e6 / f64::from(n),
        f64::from(n) / elapsed.as_secs_f64()
    );

    // The same work on fresh instances, each phase timed on its own.
    let mut phases = [Duration::ZERO; 3];
    for offset in 0..i64::from(n) {
        let started = Instant::now();
        let mut instance = handler.instantiate().await?;
        let instantiated = Instant::now();
        KafkaHandler::call(&mut instance, message(offset)).await?;
        let called = Instant::now();
        drop(instance);
        let dropped = Instant::now();
        phases[0] += instantiated - started;
        phases[1] += called - instantiated;
        phases[2] += dropped - called;
    }
    let [instantiate, call, teardown] = phases.map(|d| d.as_secs_f64() * 1e6 / f64::from(n));
    println!(
        "a fresh instance: instantiate {instantiate:.2} µs, call {call:.2} µs, \
         teardown {teardown:.2} µs"
    );
    Ok(())
}
